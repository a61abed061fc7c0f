-- lunet: OpenCL convolutional networks from LuaJIT.
--   local lunet = require("lunet")
--   local x = lunet.tensor({1, 2, 3, 4}, {1, 1, 2, 2})
-- See README.md for the API in brief.
local clib = require("lunet.clib")
local context = require("lunet.context")
local tensor = require("lunet.tensor")
local random = require("lunet.random")
local tuning = require("lunet.tuning")

local lunet = {
  ffi = clib.ffi,
  C = clib.C,
  check = clib.check,
  library_path = clib.path,
  version = clib.ffi.string(clib.C.lunet_version()),

  Tensor = tensor.Tensor,
  tensor = tensor.tensor,
  zeros = tensor.zeros,
  full = tensor.full,
  randn = tensor.randn,
  uniform = tensor.uniform,
  is_tensor = tensor.is_tensor,
  shape_str = tensor.shape_str,
  check_shape = tensor.check_shape,

  manual_seed = random.manual_seed,
  next_seed = random.next_seed,
  random_state = random.get_state,       -- for checkpoints
  set_random_state = random.set_state,

  devices = context.devices,      -- list of {index=, platform=, name=, type=, memory=, ...}
  device = context.device,        -- the device in use
  set_device = context.open,      -- choose by index or name, before creating tensors
  context = context.get,          -- the lunet_context* of the device in use
  stats = context.stats,          -- kernel launches, compiles, pool use
  tuning = tuning,                -- kernel parameters of the device (scripts/tune.lua)
}

-- Wait for all queued device work (for timing; never needed for correctness).
function lunet.synchronize()
  clib.check(clib.C.lunet_context_finish(context.get()))
end

return lunet
