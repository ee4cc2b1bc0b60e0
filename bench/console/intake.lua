-- wrk script: fills a store with requests through the API (staff intake, each with its
-- event and its audit record), each thread stopping after its share of PLEDGE_BENCH_REQUESTS.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")

local kinds = {"access", "erasure", "rectification", "portability", "objection", "restriction"}
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

init = function(args)
  share = tonumber(os.getenv("SHARE"))
  sent = 0
end

request = function()
  sent = sent + 1
  if sent > share then
    wrk.thread:stop()
  end
  local kind = kinds[(sent % #kinds) + 1]
  -- A rectification says what to change, or intake refuses it (422).
  local changes = ""
  if kind == "rectification" then
    changes = ',"changes":{"city":"Aarhus"}'
  end
  local body = string.format(
    '{"kind":"%s","identities":{"email":"person%d.%d@example.com"},"needs_approval":true%s}',
    kind, sent, math.random(1, 1000000000), changes)
  return wrk.format(nil, nil, nil, body)
end
