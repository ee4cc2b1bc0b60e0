-- wrk script: POST /public/requests/{unknown}/verify, a public route that takes a token of
-- the per-client limit (public.verify_per_ip) and then looks the request up in the store (it
-- answers 404). The client address comes from X-Forwarded-For (the server trusts it in this
-- benchmark), chosen by CLIENTS:
--   one     the same address on every request: one bucket
--   one64   a new address on every request, all in one IPv6 /64: still one bucket
--   many    a new /64 on every request: a new bucket every time (the flood of the issue)
local clients = os.getenv("CLIENTS") or "one"
local n = 0
local tag = 0
statuses = {}

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
  tag = math.random(0, 65535)
end

local body = '{"code":"12345678"}'

request = function()
  n = n + 1
  local address
  if clients == "many" then
    address = string.format("2001:db8:%x:%x::1", (tag + math.floor(n / 65536)) % 65536, n % 65536)
  elseif clients == "one64" then
    address = string.format("2001:db8:1:2:%x:%x::1", math.floor(n / 65536) % 65536, n % 65536)
  else
    address = "2001:db8:1:2::1"
  end
  return wrk.format("POST", "/public/requests/req_00000000000000000000/verify", {
    ["Content-Type"] = "application/json",
    ["X-Forwarded-For"] = address,
  }, body)
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
  local line = clients .. " statuses"
  for status, count in pairs(all) do
    line = line .. string.format(" %d=%d", status, count)
  end
  io.write(line .. "\n")
  io.write(string.format("%s p50 %.2f ms, p99 %.2f ms\n", clients,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
