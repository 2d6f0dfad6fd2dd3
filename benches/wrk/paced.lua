-- Requests paced to a constant rate, for `pipeline-bench --scenario
-- query` (GETs) and `--scenario ingest` (POSTs of events) (wrk 4.1, whose
-- Lua is LuaJIT; wrk has no constant-rate mode).
--
--   wrk -t THREADS -c CONNECTIONS -d SECONDS --latency -s paced.lua URL -- PATHS RATE THREADS
--
-- PATHS: one request a line, `KEY<TAB>PATH?QUERY` for a GET or
-- `KEY<TAB>PATH<TAB>BODY` for a POST of a JSON body (one line, no tab)
-- (KEY goes into an `Authorization: Bearer` header); the threads start at
-- evenly spaced lines and walk the list in order, wrapping around.
-- RATE: requests a second of all threads together. Each thread hands out
-- send times RATE/THREADS a second apart: a connection that finished its
-- previous request waits (wrk's `delay()`) for the next free send time;
-- when every connection is busy past a send time, that send time is
-- skipped (the rate achieved then falls short, and pipeline-bench
-- reports it). wrk's latency runs from sending to the whole response.
-- done() prints one line `pipeline-bench-wrk {JSON}` with the counts and
-- latency percentiles in microseconds.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } pipeline_bench_timespec;
int clock_gettime(int clock_id, pipeline_bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local clock = ffi.new("pipeline_bench_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

local requests = {}
local next_request = 1
local interval_ms = 0
local next_send = nil

function init(args)
  local paths, rate, threads = args[1], tonumber(args[2]), tonumber(args[3])
  if not (paths and rate and threads and rate > 0 and threads > 0) then
    error("usage: wrk ... -s paced.lua URL -- PATHS RATE THREADS")
  end
  for line in io.lines(paths) do
    local key, path, body = line:match("^([^\t]+)\t([^\t]+)\t(.+)$")
    if key then
      requests[#requests + 1] = wrk.format("POST", path,
        { Authorization = "Bearer " .. key, ["Content-Type"] = "application/json" }, body)
    else
      key, path = line:match("^([^\t]+)\t(.+)$")
      if key then
        requests[#requests + 1] = wrk.format("GET", path, { Authorization = "Bearer " .. key })
      end
    end
  end
  if #requests == 0 then
    error("no requests in " .. paths)
  end
  interval_ms = 1000 * threads / rate
  next_request = math.floor(#requests * thread_index / threads) + 1
end

function delay()
  local now = now_ms()
  local send = next_send or now
  if send < now then
    send = now
  end
  next_send = send + interval_ms
  return send - now
end

function request()
  local r = requests[next_request]
  next_request = next_request % #requests + 1
  return r
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'pipeline-bench-wrk {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"mean_us":%.1f,"max_us":%d,"p50_us":%d,"p90_us":%d,"p95_us":%d,"p99_us":%d,"p999_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency:percentile(99.9)))
end
