-- wrk script: items pages with a random bbox around the benchmark layer's
-- clusters (examples/bench_layer.rs), limit=1000. Seeded per thread so runs
-- repeat.
local centres = { {139.745, 35.715}, {139.70, 35.69}, {139.77, 35.70}, {139.73, 35.66} }
local layer = os.getenv("BENCH_LAYER") or "points_1m"
local limit = os.getenv("BENCH_LIMIT") or "1000"
local w = tonumber(os.getenv("BENCH_BBOX_W") or "0.006")
local h = tonumber(os.getenv("BENCH_BBOX_H") or "0.005")
local extra = os.getenv("BENCH_EXTRA") or ""
local counter = 0

function init(args)
  math.randomseed(20261122 + (wrk.thread and tonumber(tostring(wrk.thread):match("0x(%x+)") or "0", 16) % 1000 or 0))
end

request = function()
  counter = counter + 1
  local c = centres[(counter % 4) + 1]
  local x = c[1] + (math.random() - 0.5) * 0.03
  local y = c[2] + (math.random() - 0.5) * 0.024
  local path = string.format("/collections/%s/items?limit=%s&bbox=%.6f,%.6f,%.6f,%.6f%s",
    layer, limit, x, y, x + w, y + h, extra)
  return wrk.format("GET", path)
end

-- Bytes per response (headers included) for bench/http.sh's compression rows.
function done(summary, latency, requests)
  if summary.requests > 0 then
    io.write(string.format("bytes/response: %.0f\n", summary.bytes / summary.requests))
  end
end
