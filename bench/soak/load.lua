-- wrk script of the soak test: one stream of the mixed load, chosen by SOAK_KIND, paced by
-- SOAK_DELAY_MS (each connection waits that long after a response before its next request,
-- so a stream's rate is about connections * 1000 / (delay + latency)). Counts every status
-- and prints them at the end as one line: `<kind> statuses 200=N 202=N ...`.
--
--   decide   POST /v1/decisions, a service key: 10,000 subjects, three purposes
--   consent  POST /v1/consent, a service key: the newsletter given or withdrawn
--   intake   POST /v1/requests, staff: access requests that wait for approval (intake alone)
--   access   POST /v1/requests, staff, verified: access requests the workers run to an export
--   public   POST /public/requests: public intake from 256 IPv6 /64s (through the
--            trusted-proxy header) and 500 e-mail addresses in turn (soak.sh raises the
--            limits for them: the rate limiter's tables fill in the first seconds, so
--            what they hold, bounded as it is, does not read as growth after warm-up)
local kind = os.getenv("SOAK_KIND")
local delay_ms = tonumber(os.getenv("SOAK_DELAY_MS") or "0")
local key = os.getenv("KEY") or ""
local emails = {}
for e in (os.getenv("SOAK_EMAILS") or "luisg@embraer.com.br"):gmatch("[^,]+") do
  emails[#emails + 1] = e
end
-- Global, so that done() can read each thread's copy with thread:get.
statuses = {}
local n = 0
-- Each wrk thread has its own Lua state: a random prefix keeps their addresses apart.
local tag = 0

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
  tag = math.random(0, 65535)
end

local function staff(body)
  return wrk.format("POST", "/v1/requests", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
  }, body)
end

local purposes = { "newsletter", "accounts-orders", "support" }

request = function()
  n = n + 1
  if kind == "decide" then
    local body = string.format('{"subject":"user-%d","purpose":"%s"}',
      (n * 7919) % 10000, purposes[n % #purposes + 1])
    return wrk.format("POST", "/v1/decisions", {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. key,
    }, body)
  elseif kind == "consent" then
    local body = string.format(
      '{"subject":"user-%d","method":"banner","notice_version":"2026-03","ip":"203.0.113.%d","user_agent":"soak","choices":[{"purpose":"newsletter","state":"%s"}]}',
      (n * 104729 + tag) % 10000, n % 250, (n % 3 == 0) and "withdrawn" or "given")
    return wrk.format("POST", "/v1/consent", {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. key,
    }, body)
  elseif kind == "intake" then
    return staff(string.format(
      '{"kind":"access","identities":{"email":"%s"},"needs_approval":true}',
      emails[n % #emails + 1]))
  elseif kind == "access" then
    return staff(string.format(
      '{"kind":"access","identities":{"email":"%s"},"verified":true}',
      emails[n % #emails + 1]))
  elseif kind == "public" then
    local body = string.format('{"kind":"access","email":"soak-%d@example.test"}', n % 500)
    return wrk.format("POST", "/public/requests", {
      ["Content-Type"] = "application/json",
      ["X-Forwarded-For"] = string.format("2001:db8:%x:%x::1", tag, n % 256),
    }, body)
  end
  error("SOAK_KIND must be decide, consent, intake, access or public, not " .. tostring(kind))
end

delay = function()
  return delay_ms
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

local threads = {}

setup = function(thread)
  threads[#threads + 1] = thread
end

done = function(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    for status, count in pairs(t:get("statuses")) do
      all[status] = (all[status] or 0) + count
    end
  end
  local keys = {}
  for status in pairs(all) do keys[#keys + 1] = status end
  table.sort(keys)
  local line = kind .. " statuses"
  for _, status in ipairs(keys) do
    line = line .. string.format(" %d=%d", status, all[status])
  end
  io.write(line .. "\n")
  io.write(string.format("%s p50 %.2f ms, p99 %.2f ms, socket errors %d, timeouts %d\n", kind,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write, summary.errors.timeout))
end
