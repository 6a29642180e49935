-- wrk script for bench/stores.sh: items pages of one collection with a
-- random bbox (BENCH_BBOX_W × BENCH_BBOX_H degrees) placed uniformly inside
-- BENCH_EXTENT ("xmin,ymin,xmax,ymax", the layer's extent), limit=1000.
-- Seeded by thread number, so that runs against different servers ask the
-- same sequence of boxes.
local layer = os.getenv("BENCH_LAYER") or "residents"
local limit = os.getenv("BENCH_LIMIT") or "1000"
local w = tonumber(os.getenv("BENCH_BBOX_W") or "0.006")
local h = tonumber(os.getenv("BENCH_BBOX_H") or "0.005")
local extra = os.getenv("BENCH_EXTRA") or ""
local extent = {}
for v in string.gmatch(os.getenv("BENCH_EXTENT") or "139.72,35.70,139.78,35.73", "[^,]+") do
  extent[#extent + 1] = tonumber(v)
end
local xspan = math.max(extent[3] - extent[1] - w, 0)
local yspan = math.max(extent[4] - extent[2] - h, 0)

local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  math.randomseed(20261208 + (id or 0))
end

request = function()
  local x = extent[1] + math.random() * xspan
  local y = extent[2] + math.random() * yspan
  local path = string.format("/collections/%s/items?limit=%s&bbox=%.6f,%.6f,%.6f,%.6f%s",
    layer, limit, x, y, x + w, y + h, extra)
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  if summary.requests > 0 then
    io.write(string.format("bytes/response: %.0f\n", summary.bytes / summary.requests))
    io.write(string.format("errors: %d\n", summary.errors.status + summary.errors.connect
      + summary.errors.read + summary.errors.write + summary.errors.timeout))
  end
end
