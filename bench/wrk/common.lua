-- Shared by raftkv.lua and etcd.lua: thread ids, argument parsing, base64, key naming, and the
-- done() hook that prints one machine-readable BENCH_RESULT line for bench/wrk.ts.
--
-- Arguments (after wrk's "--"), as name=value:
--   mode=put     unique keys <prefix><thread>-<n>, for the whole duration
--   mode=get     reads of the preloaded keys <prefix><8-digit i>, i in [0, keys), at random
--   mode=load    writes the keys <prefix><8-digit i>, i in [0, count), split over the threads,
--                then stops its thread once every write is answered
--   prefix=S  value_bytes=N  keys=N  count=N  threads=N  serializable=0|1

local M = {}

local next_tid = 0
local threads = {}

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

function M.parse_args(args)
  local o = { mode = "put", prefix = "k", value_bytes = 256, keys = 1000, count = 0,
    threads = 1, serializable = 0 }
  for _, a in ipairs(args) do
    local k, v = a:match("^([%w_]+)=(.*)$")
    if k == nil then error("bad script argument: " .. a) end
    if type(o[k]) == "number" then o[k] = tonumber(v) else o[k] = v end
  end
  return o
end

function M.value(n)
  local unit = "0123456789abcdefghijklmnopqrstuv"
  return string.rep(unit, math.floor(n / #unit)) .. unit:sub(1, n % #unit)
end

function M.preloaded_key(prefix, i)
  return prefix .. string.format("%08d", i)
end

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local b64 = {}
for i = 1, 64 do b64[i - 1] = b64chars:sub(i, i) end

function M.base64(s)
  local out = {}
  local n = #s
  for i = 1, n, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = a * 65536 + (b or 0) * 256 + (c or 0)
    out[#out + 1] = b64[math.floor(v / 262144) % 64]
    out[#out + 1] = b64[math.floor(v / 4096) % 64]
    out[#out + 1] = (b ~= nil) and b64[math.floor(v / 64) % 64] or "="
    out[#out + 1] = (c ~= nil) and b64[v % 64] or "="
  end
  return table.concat(out)
end

-- Load mode bookkeeping, per thread: the key indices tid, tid + threads, ... below count.
function M.load_init(o)
  load_next = tid
  load_step = o.threads
  load_count = o.count
  load_sent = 0
  load_answered = 0
  load_ok = 0
  local assigned = 0
  if tid < o.count then assigned = math.floor((o.count - 1 - tid) / o.threads) + 1 end
  load_assigned = assigned
end

-- Next key index to write, or nil when this thread has sent all of its keys.
function M.load_take()
  if load_next >= load_count then return nil end
  local i = load_next
  load_next = load_next + load_step
  load_sent = load_sent + 1
  return i
end

-- wrk calls request() once on thread 0 before the run to look for pipelining; that call must not
-- take a key, or the key would never be written.
function M.load_is_probe()
  if tid == 0 and not load_probed then
    load_probed = true
    return true
  end
  return false
end

-- A connection that finds no key left sends GET /health instead; its answer is not counted.
function M.load_response(status, body)
  if body ~= nil and body:find('"health"', 1, true) then return end
  load_answered = load_answered + 1
  if status >= 200 and status < 300 then load_ok = load_ok + 1 end
  if load_answered >= load_assigned and not load_stopped then
    -- wrk's main thread sleeps for the whole -d duration: tell the harness (which then sends
    -- SIGINT) that this thread is finished.
    load_stopped = true
    io.stderr:write("BENCH_LOAD_DONE " .. tid .. "\n")
    io.stderr:flush()
    wrk.thread:stop()
  end
end

-- Idle connections wait once their thread has sent every key (instead of sending filler).
function M.load_delay()
  if load_next >= load_count then return 1000 end
  return 0
end

function done(summary, latency, requests)
  local e = summary.errors
  local sent, ok = 0, 0
  for _, t in ipairs(threads) do
    sent = sent + (t:get("load_sent") or 0)
    ok = ok + (t:get("load_ok") or 0)
  end
  io.write(string.format(
    'BENCH_RESULT {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d},' ..
    '"load":{"sent":%d,"ok":%d}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), sent, ok))
end

return M
