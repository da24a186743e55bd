-- wrk script: POST bodies from a file. Arguments: body file, tokens file or "-", static bearer token or "-",
-- content type, thread count. The body file holds one body, or several separated by the byte 0x1E: requests cycle
-- through them (each thread from its own offset). With a tokens file each request carries the next unused JWT
-- (threads take every n-th line, so no jti is sent twice); "__EVENT__" in the body becomes the next event number
-- (threads interleave). Prints its figures as one JSON line when done.
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local f = io.open(args[1], "rb"); local all = f:read("*a"); f:close()
  bodies = {}
  for part in string.gmatch(all, "[^\30]+") do bodies[#bodies + 1] = part end
  body = bodies[1]
  templated = string.find(body, "__EVENT__", 1, true) ~= nil
  static_token, content_type, thread_count = args[3], args[4], tonumber(args[5])
  tokens, index, sent, picked = {}, 0, 0, 0
  if args[2] ~= "-" then
    local n = 0
    for line in io.lines(args[2]) do
      if n % thread_count == id then tokens[#tokens + 1] = line end
      n = n + 1
    end
  end
end

function request()
  local headers = { ["Content-Type"] = content_type }
  if #tokens > 0 then
    index = index + 1  -- past the last token no header is sent: the 401s show up as errors
    if index <= #tokens then headers["Authorization"] = "Bearer " .. tokens[index] end
  elseif static_token ~= "-" then
    headers["Authorization"] = "Bearer " .. static_token
  end
  local payload = body
  if #bodies > 1 then
    picked = picked + 1
    payload = bodies[((picked + id * 7) % #bodies) + 1]
  end
  if templated then
    sent = sent + 1
    payload = string.gsub(body, "__EVENT__", tostring(sent * thread_count + id))
  end
  return wrk.format("POST", nil, headers, payload)
end

function done(summary, latency, requests)
  local failed = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format('{"requests": %d, "seconds": %f, "p50_ms": %f, "p99_ms": %f, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, failed))
end
