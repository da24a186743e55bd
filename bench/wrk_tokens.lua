-- wrk script: POST the body from a file, each request with the next unused JWT from a file (one per line).
-- Threads take every n-th token, so no token (jti) is ever sent twice. Prints its figures as JSON when done.
local threads, counter = {}, 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local tokens_file, body_file, thread_count = args[1], args[2], tonumber(args[3])
  local f = io.open(body_file, "rb"); body = f:read("*a"); f:close()
  tokens, index = {}, 0
  if tokens_file ~= "-" then
    local n = 0
    for line in io.lines(tokens_file) do
      if n % thread_count == id then tokens[#tokens + 1] = line end
      n = n + 1
    end
  end
end

function request()
  local headers = { ["Content-Type"] = "application/json" }
  if #tokens > 0 then
    index = index + 1
    headers["Authorization"] = "Bearer " .. tokens[index]
  end
  return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
  local failed = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format('{"requests": %d, "seconds": %f, "p50_ms": %f, "p99_ms": %f, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, failed))
end
