-- wrk script: the anchor, GET /healthz (a handler that returns "ok"), through the same
-- router and middleware as the decisions.
done = function(summary, latency, requests)
  io.write(string.format("p50 %.3f ms, p99 %.3f ms, errors %d\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
