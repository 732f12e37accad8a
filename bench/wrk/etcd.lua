-- wrk script for etcd's v3 JSON gateway (see common.lua for the arguments).
--   put/load: POST /v3/kv/put {"key","value"} (base64);  get: POST /v3/kv/range {"key"[,"serializable"]}
local common = dofile((os.getenv("BENCH_LUA_DIR") or "bench/wrk") .. "/common.lua")

function init(args)
  o = common.parse_args(args)
  value64 = common.base64(common.value(o.value_bytes))
  json_headers = { ["Content-Type"] = "application/json" }
  counter = 0
  if o.mode == "get" then
    local extra = (o.serializable == 1) and ',"serializable":true' or ""
    reads = {}
    for i = 0, o.keys - 1 do
      local body = '{"key":"' .. common.base64(common.preloaded_key(o.prefix, i)) .. '"' .. extra .. "}"
      reads[i + 1] = wrk.format("POST", "/v3/kv/range", json_headers, body)
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

local function put(key)
  local body = '{"key":"' .. common.base64(key) .. '","value":"' .. value64 .. '"}'
  return wrk.format("POST", "/v3/kv/put", json_headers, body)
end

function request()
  if o.mode == "put" then
    counter = counter + 1
    return put(o.prefix .. tid .. "-" .. counter)
  elseif o.mode == "get" then
    return reads[math.random(#reads)]
  end
  if common.load_is_probe() then return wrk.format("GET", "/health") end
  local i = common.load_take()
  if i == nil then return wrk.format("GET", "/health") end
  return put(common.preloaded_key(o.prefix, i))
end
