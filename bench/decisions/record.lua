-- wrk script: POST /v1/consent for 100,000 subjects (newsletter given or withdrawn, analytics
-- cookies given or refused), to fill the ledger before the decisions are measured; also the
-- ledger's append rate through HTTP with concurrent callers (grouped by the writer).
local requests = {}

init = function(args)
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("KEY"),
  }
  for i = 1, 2000 do
    local body = string.format(
      '{"subject":"user-%d","method":"banner","notice_version":"2026-03","ip":"203.0.113.%d","user_agent":"wrk","choices":[{"purpose":"newsletter","state":"%s"},{"purpose":"ads","state":"given"},{"cookie_category":"analytics","state":"%s"}]}',
      i, i % 250, (i % 4 == 0) and "withdrawn" or "given", (i % 2 == 0) and "given" or "refused")
    requests[i] = body
  end
  wrk.headers = headers
end

local n = 0
local offset = math.random(0, 49) * 2000
request = function()
  n = n % 2000 + 1
  local body = requests[n]:gsub('"user%-(%d+)"', function(d) return '"user-' .. (tonumber(d) + offset) % 100000 .. '"' end)
  return wrk.format("POST", "/v1/consent", nil, body)
end

done = function(summary, latency, requests)
  io.write(string.format("p50 %.3f ms, p99 %.3f ms, errors %d\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
