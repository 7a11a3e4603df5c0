-- bench/scale: the i-th route's store-path hash: "s" and i in Nix base32, 31 digits. ScaleUpstream
-- answers any valid hash, so these are N distinct routes.
local alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
local digits = {}
for k = 1, 32 do digits[k] = alphabet:sub(k, k) end
function route_hash(i)
  local out = {}
  for k = 31, 1, -1 do
    out[k] = digits[(i % 32) + 1]
    i = math.floor(i / 32)
  end
  return "s" .. table.concat(out)
end
