-- lunet.nn activations: ReLU, Tanh, Sigmoid, elementwise over inputs of any shape,
-- over lunet_activation_forward/backward (kernels/act.cl).
--
--   nn.ReLU()   nn.Tanh()   nn.Sigmoid()
local lunet = require("lunet")
local Module = require("lunet.nn.module")

local C = lunet.C

local Activation = Module:extend("Activation")

function Activation:init(...)
  Module.init(self)
  if select("#", ...) > 0 then self:error("takes no arguments") end
end

function Activation:describe() return self.__name .. "()" end

-- Any shape goes: the output has the input's shape.
function Activation:output_shape(shape)
  if type(shape) ~= "table" then self:error("expected an input shape table, got %s", type(shape)) end
  local copy = {}
  for i = 1, #shape do copy[i] = shape[i] end
  return copy
end

function Activation:_check_tensor(x)
  if not lunet.is_tensor(x) then self:error("expected a Tensor as input, got %s", type(x)) end
end

function Activation:forward(x)
  self:_check_tensor(x)
  local y = self:buffer("output", x:shape())
  lunet.check(C.lunet_activation_forward(self._act, x.handle, y.handle))
  return y
end

-- Uses the forward input x: relu' = x > 0, tanh' = 1 - tanh(x)^2, sigmoid' = s(1 - s).
function Activation:backward(x, grad_y)
  self:_check_tensor(x)
  self:check_grad_output(grad_y, x:shape())
  local grad_x = self:buffer("grad_input", x:shape())
  lunet.check(C.lunet_activation_backward(self._act, x.handle, grad_y.handle, grad_x.handle))
  return grad_x
end

local function activation_class(name, act)
  local cls = Activation:extend(name)
  cls._act = act
  return cls
end

return {
  ReLU = activation_class("ReLU", C.LUNET_ACT_RELU),
  Tanh = activation_class("Tanh", C.LUNET_ACT_TANH),
  Sigmoid = activation_class("Sigmoid", C.LUNET_ACT_SIGMOID),
}
