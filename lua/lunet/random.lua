-- lunet.random: the seed counter that makes initialisation and dropout reproducible.
-- lunet.manual_seed(s) restarts it; every module or op that needs randomness draws
-- its own seed with next_seed(), so the same script with the same seed gives the
-- same numbers.
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

-- For checkpoints: where the counter stands, and a way back there.
function M.get_state() return { base = base, counter = counter } end
function M.set_state(s) base, counter = s.base, s.counter end

return M
