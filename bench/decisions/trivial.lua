-- wrk script: the anchor, GET /healthz (a handler that returns "ok"), through the same
-- router and middleware as the decisions. Requests come from prepared strings through a
-- `request` function, as in decide.lua, so that wrk spends the same per request on both.
local requests = {}

init = function(args)
  for i = 1, 1000 do
    requests[i] = wrk.format("GET", "/healthz")
  end
end

local n = 0
request = function()
  n = n % 1000 + 1
  return requests[n]
end

done = function(summary, latency, requests)
  io.write(string.format("p50 %.3f ms, p99 %.3f ms, errors %d\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
