-- wrk script: POST a notification Bundle whose event number is unique per request (no request is a duplicate).
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local f = io.open(args[1], "rb"); template = f:read("*a"); f:close()
  token = args[2]
  sent = 0
end

function request()
  sent = sent + 1
  local number = tostring(id * 100000000 + sent)
  local body = string.gsub(template, "__EVENT__", number)
  return wrk.format("POST", nil, { ["Content-Type"] = "application/fhir+json", ["Authorization"] = "Bearer " .. token }, body)
end

function done(summary, latency, requests)
  local failed = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format('{"requests": %d, "seconds": %f, "p50_ms": %f, "p99_ms": %f, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, failed))
end
