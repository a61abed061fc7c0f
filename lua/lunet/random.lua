-- lunet.random: the seed counter that makes initialisation and dropout reproducible.
-- lunet.manual_seed(s) restarts it; every module or op that needs randomness draws
-- its own seed with next_seed(), so the same script with the same seed gives the
-- same numbers.
local bit = require("bit")

local M = {}
local counter = 0
local base = 0

function M.manual_seed(seed)
  if type(seed) ~= "number" or seed ~= math.floor(seed) or seed < 0 then
    error("lunet.manual_seed: seed must be a non-negative integer, got " .. tostring(seed), 0)
  end
  base = seed
  counter = 0
end

function M.next_seed()
  counter = counter + 1
  return base * 1000003 + counter
end

-- A 32-bit xorshift128 generator of uniform integers in [0, 2^32) from a seed (shifts and
-- xors only: the same numbers on every machine). `salt` ({x, z, w}) picks an independent
-- stream for the same seed; the default is the one lunet.data shuffles with.
function M.xorshift128(seed, salt)
  salt = salt or { 0x1d872b41, 0x6c078965, 0x2545f491 }
  local x, y = bit.tobit(seed % 4294967296), bit.tobit(math.floor(seed / 4294967296))
  local z, w = bit.tobit(salt[2]), bit.tobit(salt[3])
  x = bit.bxor(x, salt[1])
  local function next_u32()
    local t = bit.bxor(x, bit.lshift(x, 11))
    x, y, z = y, z, w
    w = bit.bxor(w, bit.rshift(w, 19), t, bit.rshift(t, 8))
    return w % 4294967296
  end
  for _ = 1, 16 do next_u32() end   -- mix the seed in
  return next_u32
end

-- For checkpoints: where the counter stands, and a way back there.
function M.get_state() return { base = base, counter = counter } end
function M.set_state(s) base, counter = s.base, s.counter end

return M
