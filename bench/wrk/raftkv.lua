-- wrk script for raftkv's REST API (see common.lua for the arguments).
--   put/load: PUT /kv/<key> with a value_bytes body;  get: GET /kv/<key>[?consistency=serializable]
local common = dofile((os.getenv("BENCH_LUA_DIR") or "bench/wrk") .. "/common.lua")

function init(args)
  o = common.parse_args(args)
  value = common.value(o.value_bytes)
  put_headers = { ["Content-Type"] = "application/octet-stream" }
  counter = 0
  if o.mode == "get" then
    local suffix = (o.serializable == 1) and "?consistency=serializable" or ""
    reads = {}
    for i = 0, o.keys - 1 do
      reads[i + 1] = wrk.format("GET", "/kv/" .. common.preloaded_key(o.prefix, i) .. suffix)
    end
    math.randomseed(12345 + tid)
  elseif o.mode == "load" then
    common.load_init(o)
    delay = common.load_delay
    response = function(status, headers, body) common.load_response(status, body) end
  elseif o.mode ~= "put" then
    error("unknown mode " .. o.mode)
  end
end

function request()
  if o.mode == "put" then
    counter = counter + 1
    return wrk.format("PUT", "/kv/" .. o.prefix .. tid .. "-" .. counter, put_headers, value)
  elseif o.mode == "get" then
    return reads[math.random(#reads)]
  end
  if common.load_is_probe() then return wrk.format("GET", "/health") end
  local i = common.load_take()
  if i == nil then return wrk.format("GET", "/health") end
  return wrk.format("PUT", "/kv/" .. common.preloaded_key(o.prefix, i), put_headers, value)
end
