-- wrk script: cycles through the tile paths in $TILE_LIST (one a line),
-- for bench/tiles.sh.
local paths = {}
for line in io.lines(os.getenv("TILE_LIST")) do
  paths[#paths + 1] = line
end
local i = 0

request = function()
  i = i + 1
  return wrk.format("GET", paths[((i - 1) % #paths) + 1])
end
