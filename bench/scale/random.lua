-- bench/scale hits: wrk -s random.lua URL -- N. Every request asks for one of the first N route
-- hashes, uniformly at random; N = 1 is the one-hot-key baseline (the same script, the same cost
-- in wrk).
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:match("@?(.*/)") .. "?.lua"
require "hash"
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  n = tonumber(args[1])
  math.randomseed(os.time() + 7919 * id)
end
function request()
  return wrk.format("GET", "/" .. route_hash(math.random(0, n - 1)) .. ".narinfo")
end
