-- wrk script: single features by random id from the benchmark layer.
local layer = os.getenv("BENCH_LAYER") or "points_1m"
local n = tonumber(os.getenv("BENCH_N") or "1000000")
function init(args)
  math.randomseed(20261122)
end
request = function()
  return wrk.format("GET", string.format("/collections/%s/items/%d", layer, math.random(1, n)))
end
