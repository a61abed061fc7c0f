-- lunet.nn.Linear: the dense layer y = x W^T + b, input [N,in], weight [out,in], bias
-- [out], over lunet_linear_* (GEMM).
--
--   nn.Linear(400, 120)                       -- LeNet's first dense layer
--   nn.Linear(84, 10, {bias = false, seed = 7})
--
-- As PyTorch: weight and bias initialised U(-1/sqrt(in), 1/sqrt(in)).
-- Options: bias (true), seed (lunet.next_seed()).
local lunet = require("lunet")
local Module = require("lunet.nn.module")

local C = lunet.C

local Linear = Module:extend("Linear")

local OPTIONS = { bias = true, seed = true }

local function is_int(v)
  return type(v) == "number" and v == math.floor(v) and math.abs(v) < 2 ^ 31
end

function Linear:_positive(what, v)
  if not is_int(v) or v < 1 then self:error("%s must be a positive integer, got %s", what, tostring(v)) end
  return v
end

function Linear:_check_options(opts)
  if type(opts) ~= "table" then self:error("options must be a table like {bias = false}, got %s", type(opts)) end
  for k in pairs(opts) do
    if not OPTIONS[k] then self:error("unknown option '%s' (bias, seed)", tostring(k)) end
  end
  if opts.bias ~= nil and type(opts.bias) ~= "boolean" then
    self:error("bias must be true or false, got %s", tostring(opts.bias))
  end
  if opts.seed ~= nil and (not is_int(opts.seed) or opts.seed < 0) then
    self:error("seed must be a non-negative integer, got %s", tostring(opts.seed))
  end
end

function Linear:init(in_features, out_features, opts)
  Module.init(self)
  opts = opts or {}
  self.in_features = self:_positive("in_features", in_features)
  self.out_features = self:_positive("out_features", out_features)
  self:_check_options(opts)
  self:init_parameters({ out_features, in_features }, opts.bias ~= false and { out_features } or nil,
                       in_features, opts.seed)
  self._layout = string.format("[N,%d]", in_features)
end

function Linear:describe()
  return string.format("Linear(%d, %d%s)", self.in_features, self.out_features,
                       self.bias and "" or ", no bias")
end

function Linear:output_shape(shape)
  if type(shape) ~= "table" or #shape ~= 2 or shape[2] ~= self.in_features then
    self:error("expected input %s, got %s", self._layout,
               type(shape) == "table" and lunet.shape_str(shape) or type(shape))
  end
  return { shape[1], self.out_features }
end

function Linear:forward(x)
  self:check_input(x, 2, self._layout)
  local y = self:buffer("output", self:output_shape(x:shape()))
  lunet.check(C.lunet_linear_forward(x.handle, self.weight.handle,
                                     self.bias and self.bias.handle or nil, y.handle))
  return y
end

-- Accumulates into grad_weight and grad_bias; returns the gradient of the input.
-- opts.input_grad = false: skip the gradient of x and return nil.
function Linear:backward(x, grad_y, opts)
  self:check_input(x, 2, self._layout)
  self:check_grad_output(grad_y, self:output_shape(x:shape()))
  local grad_x = not (opts and opts.input_grad == false) and self:buffer("grad_input", x:shape()) or nil
  lunet.check(C.lunet_linear_backward(x.handle, self.weight.handle, grad_y.handle, grad_x and grad_x.handle,
                                      self.grad_weight.handle,
                                      self.bias and self.grad_bias.handle or nil))
  return grad_x
end

return Linear
