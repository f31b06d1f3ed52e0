-- wrk script for bench/capture.py: POSTs capture envelopes of N thumbs events, each event with
-- a fresh UUIDv4 event_id, and reports a JSON line ("WRK_JSON {...}") when done.
--
--   wrk -t2 -c8 -d10s -s bench/wrk_events.lua URL -- <public key> <token file> <events per request>
--
-- Each request speaks for one end user: a token picked at random from the file (one per line,
-- each bound to its own user), as one page's widget sends its user's events.
--
-- An id is 78 random bits (seeded from /dev/urandom per thread), the thread number and a
-- per-thread counter: unique across threads and requests by construction, and across runs by
-- chance.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

local function random_seed()
  local seed = os.time() + thread_number * 7919
  local urandom = io.open("/dev/urandom", "rb")
  if urandom then
    local bytes = urandom:read(4)
    urandom:close()
    seed = seed + bytes:byte(1) * 16777216 + bytes:byte(2) * 65536
      + bytes:byte(3) * 256 + bytes:byte(4)
  end
  return seed
end

function init(args)
  math.randomseed(random_seed())
  local key, token_file = args[1], args[2]
  tokens = {}
  for line in io.lines(token_file) do
    if line ~= "" then table.insert(tokens, line) end
  end
  batch = tonumber(args[3] or "1")
  counter = 0
  sent_events, responses, ok, non_2xx, accepted, duplicates, rejected = 0, 0, 0, 0, 0, 0, 0
  first_error = ""
  head = '{"key":"' .. key .. '","events":['
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

local function uuid4()
  counter = counter + 1
  return string.format(
    "%08x-%04x-4%03x-%04x-%04x%08x",
    math.random(0, 0xffffffff),
    math.random(0, 0xffff),
    thread_number % 0x1000,
    0x8000 + math.random(0, 0x3fff),
    math.random(0, 0xffff),
    counter
  )
end

function request()
  local events = {}
  local tail = '","trace_id":"t1","token":"' .. tokens[math.random(#tokens)]
    .. '","kind":"thumbs","value":1}'
  for i = 1, batch do
    events[i] = '{"event_id":"' .. uuid4() .. tail
  end
  sent_events = sent_events + batch
  return wrk.format(nil, nil, nil, head .. table.concat(events, ",") .. "]}")
end

function response(status, headers, body)
  responses = responses + 1
  if status < 200 or status > 299 then
    non_2xx = non_2xx + 1
    if first_error == "" then
      first_error = status .. " " .. string.sub(body or "", 1, 300)
    end
    return
  end
  ok = ok + 1
  -- The capture endpoint's counts; the baseline answers {"ok":true} and has none.
  accepted = accepted + (tonumber(string.match(body, '"accepted":%s*(%d+)')) or 0)
  duplicates = duplicates + (tonumber(string.match(body, '"duplicates":%s*(%d+)')) or 0)
  rejected = rejected + (tonumber(string.match(body, '"rejected":%s*(%d+)')) or 0)
end

local function json_string(s)
  return '"' .. string.gsub(s, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

function done(summary, latency, requests)
  local totals = {
    sent_events = 0, responses = 0, ok = 0, non_2xx = 0,
    accepted = 0, duplicates = 0, rejected = 0,
  }
  local errors = {}
  for _, thread in ipairs(threads) do
    for name, value in pairs(totals) do
      totals[name] = value + (thread:get(name) or 0)
    end
    local error = thread:get("first_error")
    if error and error ~= "" then
      table.insert(errors, json_string(error))
    end
  end
  local fields = {}
  for name, value in pairs(totals) do
    table.insert(fields, string.format('"%s": %d', name, value))
  end
  for _, name in ipairs({ "connect", "read", "write", "timeout" }) do
    table.insert(fields, string.format('"socket_%s": %d', name, summary.errors[name]))
  end
  table.insert(fields, string.format('"requests": %d', summary.requests))
  table.insert(fields, string.format('"duration_us": %d', summary.duration))
  for _, p in ipairs({ 50, 90, 99 }) do
    table.insert(fields, string.format('"p%d_us": %d', p, latency:percentile(p)))
  end
  table.insert(fields, string.format('"mean_us": %.1f', latency.mean))
  table.insert(fields, string.format('"max_us": %d', latency.max))
  table.insert(fields, '"errors": [' .. table.concat(errors, ", ") .. "]")
  io.write("WRK_JSON {", table.concat(fields, ", "), "}\n")
end
