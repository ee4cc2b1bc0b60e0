-- wrk script: staff intake of access requests that wait for approval, so the figure is the
-- intake path alone (authentication, validation, one store transaction with the request,
-- its event and its audit record). KEY comes from the environment.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
wrk.body = '{"kind":"access","identities":{"email":"luisg@embraer.com.br"},"needs_approval":true}'

local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  io.write(string.format("p50 %.2f ms, p99 %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
