-- wrk script of `make bench`'s HTTP rows (bench/run.py): POST each body of a file exactly once.
--
-- wrk -t N -c N -d 3600s -s bench/wrk_post.lua URL -- FOLDER CONTENT-TYPE
--
-- One connection per wrk thread. Thread k (numbered by setup, from 1) reads FOLDER/bodies-k.txt,
-- one request body a line (an event, or a batch as a JSON array), and posts them in order to
-- /v1/events, the next once the previous is answered: every body is posted once, since a repeated
-- event is the cheap path of a duplicate. After its last answer the thread writes
-- FOLDER/done-k.txt ("answers non-2xx first-non-2xx-status") and stops. wrk itself only stops
-- at -d or on SIGINT: bench/run.py sends SIGINT once every done file is there, then reads the
-- JSON line done() prints (latency percentiles in microseconds, wrk's counters).

local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("id", counter)
end

function init(args)
   folder, kind = args[1], args[2]
   requests, answered, bad, first_bad = {}, 0, 0, 0
   for line in io.lines(folder .. "/bodies-" .. id .. ".txt") do
      requests[#requests + 1] = wrk.format("POST", "/v1/events", {["Content-Type"] = kind}, line)
   end
   sent = 0
end

function request()
   -- never past the last body: the thread stops on its last answer, before asking for more
   sent = math.min(sent + 1, #requests)
   return requests[sent]
end

function response(status, headers, body)
   answered = answered + 1
   if status < 200 or status > 299 then
      bad = bad + 1
      if first_bad == 0 then first_bad = status end
   end
   if answered == #requests then
      local out = io.open(folder .. "/done-" .. id .. ".txt", "w")
      out:write(answered .. " " .. bad .. " " .. first_bad .. "\n")
      out:close()
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      '{"wrk_requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
      '"max_us": %d, "mean_us": %.1f, "connect_errors": %d, "read_errors": %d, ' ..
      '"write_errors": %d, "status_errors": %d, "timeouts": %d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status,
      e.timeout))
end
