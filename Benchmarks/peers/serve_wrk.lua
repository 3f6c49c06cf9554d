-- wrk script for the serve benchmark: POSTs the multipart bodies in $SERVE_BODIES (files made by
-- serve_bench.py, one request body each), in turn, and prints one JSON line of results.
local bodies = {}
local boundary = "fusionlab-bench-boundary"
local dir = os.getenv("SERVE_BODIES")
for i = 0, 63 do
  local f = io.open(dir .. "/body-" .. i .. ".bin", "rb")
  if f == nil then break end
  bodies[#bodies + 1] = f:read("*all")
  f:close()
end
local counter = 0
request = function()
  counter = counter + 1
  local body = bodies[(counter % #bodies) + 1]
  return wrk.format("POST", "/v1/predict", {["Content-Type"] = "multipart/form-data; boundary=" .. boundary}, body)
end
done = function(summary, latency, requests)
  io.write(string.format('{"requests": %d, "seconds": %.3f, "rps": %.1f, "p50_ms": %.3f, "p99_ms": %.3f, "errors": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
