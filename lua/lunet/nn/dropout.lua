-- lunet.nn.Dropout: inverted dropout over lunet_dropout_forward/backward (kernels/dropout.cl).
--
--   nn.Dropout(0.5)
--
-- In training mode each forward zeroes elements with probability p and scales the rest
-- by 1 / (1 - p); the mask is a hash of a seed and the element index, the seed drawn
-- from lunet.next_seed() per forward (so lunet.manual_seed makes it reproducible) and
-- kept for backward, which regenerates the same mask. In eval mode it is the identity
-- (forward returns its input, backward its grad_output).
-- opts.mask_seed fixes the seed of every forward (one mask for all calls: gradient checks).
local lunet = require("lunet")
local Module = require("lunet.nn.module")

local C = lunet.C

local Dropout = Module:extend("Dropout")

function Dropout:init(p, opts)
  Module.init(self)
  if p == nil then p = 0.5 end
  if type(p) ~= "number" or not (p >= 0 and p < 1) then
    self:error("p must be a number in [0, 1), got %s", tostring(p))
  end
  opts = opts or {}
  if opts.mask_seed ~= nil and (type(opts.mask_seed) ~= "number" or opts.mask_seed < 0
                                or opts.mask_seed ~= math.floor(opts.mask_seed)) then
    self:error("mask_seed must be a non-negative integer, got %s", tostring(opts.mask_seed))
  end
  self.p = p
  self.mask_seed = opts.mask_seed
  self.seed = nil   -- the seed of the last training forward
end

function Dropout:describe() return string.format("Dropout(p=%g)", self.p) end

function Dropout:output_shape(shape)
  if type(shape) ~= "table" then self:error("expected an input shape table, got %s", type(shape)) end
  local copy = {}
  for i = 1, #shape do copy[i] = shape[i] end
  return copy
end

function Dropout:forward(x)
  if not lunet.is_tensor(x) then self:error("expected a Tensor as input, got %s", type(x)) end
  if not self.training or self.p == 0 then return x end
  self.seed = self.mask_seed or lunet.next_seed()
  local y = self:buffer("output", x:shape())
  lunet.check(C.lunet_dropout_forward(x.handle, y.handle, self.p, self.seed))
  return y
end

function Dropout:backward(x, grad_y)
  if not lunet.is_tensor(x) then self:error("expected a Tensor as input, got %s", type(x)) end
  self:check_grad_output(grad_y, x:shape())
  if not self.training or self.p == 0 then return grad_y end
  if self.seed == nil then self:error("backward: call forward first (training mode)") end
  local grad_x = self:buffer("grad_input", x:shape())
  lunet.check(C.lunet_dropout_backward(grad_y.handle, grad_x.handle, self.p, self.seed))
  return grad_x
end

return Dropout
