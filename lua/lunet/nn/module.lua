-- lunet.nn.module: the base class of every layer, in the spirit of Torch's nn.Module.
--
-- A layer sets self.weight/self.bias (and grad_weight/grad_bias) in init, and
-- implements forward(x), backward(x, grad_y) and output_shape(input_shape).
-- backward accumulates parameter gradients and returns the gradient of the input.
-- Outputs live in cached buffers (self:buffer), so a training step does not allocate;
-- an output stays valid until the module's next forward.
local lunet = require("lunet")

local Module = { __name = "Module" }
Module.__index = Module

-- A subclass: local Conv2d = Module:extend("Conv2d"); Conv2d(...) makes an instance.
function Module:extend(name)
  local cls = {}
  for k, v in pairs(self) do
    if type(k) == "string" and k:sub(1, 2) == "__" then cls[k] = v end   -- metamethods
  end
  cls.__index = cls
  cls.__name = name
  cls.super = self
  return setmetatable(cls, {
    __index = self,
    __call = function(c, ...)
      local obj = setmetatable({}, c)
      obj:init(...)
      return obj
    end,
  })
end

function Module:init()
  self.training = true
  self._buffers = {}
end

function Module:__tostring() return self:describe() end

function Module:describe() return self.__name end

-- Raise "<Name>: <message>" (no position: the message says what was wrong).
function Module:error(fmt, ...)
  error(self.__name .. ": " .. string.format(fmt, ...), 0)
end

-- x must be a Tensor with `ndim` dimensions; `layout` ("[N,C,H,W]") goes in the message.
function Module:check_input(x, ndim, layout)
  if not lunet.is_tensor(x) then
    self:error("expected a Tensor %s as input, got %s", layout, type(x))
  end
  if x:ndim() ~= ndim then
    self:error("expected input %s, got %s", layout, lunet.shape_str(x:shape()))
  end
end

-- grad_y must be a Tensor of the output's shape.
function Module:check_grad_output(grad_y, shape)
  if not lunet.is_tensor(grad_y) then
    self:error("backward: expected grad_output Tensor %s, got %s", lunet.shape_str(shape), type(grad_y))
  end
  if not grad_y:has_shape(shape) then
    self:error("backward: grad_output has shape %s, expected %s",
               lunet.shape_str(grad_y:shape()), lunet.shape_str(shape))
  end
end

-- A cached Tensor of this shape under `key`, made anew only when the shape changes.
function Module:buffer(key, shape)
  local b = self._buffers[key]
  if b == nil or not b:has_shape(shape) then
    b = lunet.zeros(shape)
    self._buffers[key] = b
  end
  return b
end

function Module:forward() self:error("forward is not implemented") end
function Module:backward() self:error("backward is not implemented") end
function Module:output_shape(input_shape) return input_shape end

-- {name=, value=Tensor, grad=Tensor} for each parameter, in a fixed order.
function Module:parameters()
  local list = {}
  if self.weight then list[#list + 1] = { name = "weight", value = self.weight, grad = self.grad_weight } end
  if self.bias then list[#list + 1] = { name = "bias", value = self.bias, grad = self.grad_bias } end
  return list
end

function Module:zero_grad()
  for _, p in ipairs(self:parameters()) do p.grad:fill(0) end
  return self
end

function Module:num_parameters()
  local n = 0
  for _, p in ipairs(self:parameters()) do n = n + p.value:numel() end
  return n
end

-- {name=, value=Tensor} for each parameter, named as :parameters() names them.
function Module:state_dict()
  local list = {}
  for i, p in ipairs(self:parameters()) do list[i] = { name = p.name, value = p.value } end
  return list
end

-- Write the parameters to path as safetensors (atomically), with metadata "format"="pt"
-- (as PyTorch's safetensors files have) and "lunet"=<version>, plus `metadata` if given.
function Module:save(path, metadata)
  local meta = { format = "pt", lunet = lunet.version }
  for k, v in pairs(metadata or {}) do meta[k] = v end
  local ok, err = pcall(require("lunet.io").save_tensors, path, self:state_dict(), meta)
  if not ok then self:error("save: %s", tostring(err)) end
  return self
end

-- Load parameters saved by :save. The file must hold exactly the model's tensor names
-- with the same shapes; this is checked before any parameter changes.
function Module:load(path)
  local ok, f = pcall(require("lunet.io").open_tensors, path)
  if not ok then self:error("load: %s", tostring(f)) end
  local params = self:state_dict()
  local problem
  local wanted = {}
  for _, p in ipairs(params) do
    wanted[p.name] = true
    if not problem and not f:has(p.name) then
      problem = string.format("%s has no tensor '%s'", path, p.name)
    elseif not problem and not p.value:has_shape(f:shape(p.name)) then
      problem = string.format("%s: file has %s, model has %s", p.name, lunet.shape_str(f:shape(p.name)),
                              lunet.shape_str(p.value:shape()))
    end
  end
  for _, name in ipairs(f:names()) do
    if not problem and not wanted[name] then
      problem = string.format("%s holds tensor '%s', which the model does not have", path, name)
    end
  end
  if not problem then
    ok, problem = pcall(function()
      for _, p in ipairs(params) do f:read_into(p.name, p.value) end
    end)
    problem = not ok and tostring(problem) or nil
  end
  f:close()
  if problem then self:error("load: %s", problem) end
  return self
end

function Module:train() self.training = true; return self end
function Module:eval() self.training = false; return self end

-- Initialise weight and bias as PyTorch does: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
function Module:init_parameters(weight_shape, bias_shape, fan_in, seed)
  local bound = 1 / math.sqrt(fan_in)
  seed = seed or lunet.next_seed()
  self.weight = lunet.uniform(weight_shape, -bound, bound, seed)
  self.grad_weight = lunet.zeros(weight_shape)
  if bias_shape then
    self.bias = lunet.uniform(bias_shape, -bound, bound, seed + 0x5bd1e995)
    self.grad_bias = lunet.zeros(bias_shape)
  end
end

-- One row per layer (output shape and parameter count) and the total. input_shape is
-- the shape of ONE sample, without the batch dimension: {1, 32, 32} for LeNet-5.
function Module:summary(input_shape)
  return require("lunet.nn.summary").summary(self, input_shape)
end

return Module
