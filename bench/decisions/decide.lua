-- wrk script: POST /v1/decisions with a service key, cycling through 1,000 prepared requests
-- (100,000 subjects, four purposes and a cookie category). KEY comes from the environment.
local requests = {}

init = function(args)
  local targets = {
    '"purpose":"newsletter"', '"purpose":"ads"', '"purpose":"orders"',
    '"purpose":"fraud","categories":["online.ip_address"]', '"cookie_category":"analytics"',
  }
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("KEY"),
  }
  for i = 1, 1000 do
    local body = string.format('{"subject":"user-%d",%s}', (i * 7919) % 100000, targets[i % #targets + 1])
    requests[i] = wrk.format("POST", "/v1/decisions", headers, body)
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
