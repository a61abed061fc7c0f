-- lunet.nn.Sequential: layers applied one after another.
local lunet = require("lunet")
local Module = require("lunet.nn.module")

local Sequential = Module:extend("Sequential")

function Sequential:init(...)
  Module.init(self)
  self.modules = {}
  self.inputs = {}
  for i = 1, select("#", ...) do self:add((select(i, ...))) end
end

local function is_module(m)
  return type(m) == "table" and type(m.forward) == "function" and type(m.backward) == "function"
end

-- name (optional): what the layer's parameters are called instead of its position,
-- e.g. add(nn.Conv2d(1, 6, 5), "conv1") gives "conv1.weight".
function Sequential:add(m, name)
  if not is_module(m) then
    self:error("add: expected a module (e.g. nn.Linear(4, 2)) as layer %d, got %s",
               #self.modules + 1, type(m))
  end
  if name ~= nil and (type(name) ~= "string" or not name:match("^[%w_]+$")) then
    self:error("add: a layer name must be a string of letters, digits and _, got %s", tostring(name))
  end
  self.modules[#self.modules + 1] = m
  self.names = self.names or {}
  self.names[#self.modules] = name
  return self
end

function Sequential:size() return #self.modules end
function Sequential:get(i) return self.modules[i] end

-- Layers first..last (1-based, inclusive; negative counts from the end) as a new
-- Sequential that SHARES the layers and their weights with this one: for cutting a
-- trained trunk off a network. Layer names are kept.
function Sequential:slice(first, last)
  local n = #self.modules
  last = last or n
  if first < 0 then first = n + 1 + first end
  if last < 0 then last = n + 1 + last end
  if first ~= math.floor(first) or last ~= math.floor(last) or first < 1 or last > n or first > last then
    self:error("slice: expected 1 <= first <= last <= %d, got %s, %s", n, tostring(first), tostring(last))
  end
  local part = Sequential()
  for i = first, last do part:add(self.modules[i], self.names and self.names[i]) end
  return part
end

function Sequential:forward(x)
  if not lunet.is_tensor(x) then self:error("expected a Tensor as input, got %s", type(x)) end
  for i, m in ipairs(self.modules) do
    self.inputs[i] = x
    x = m:forward(x)
  end
  self.output = x
  return x
end

-- x must be the input of the last forward: the layers' inputs are kept from it.
-- opts.input_grad = false: the gradient of x is not wanted (training: x is data), so the
-- first layer may skip computing it; the result is then nil or unspecified.
function Sequential:backward(x, grad_y, opts)
  if x ~= self.inputs[1] then
    self:error("backward: call forward(x) with the same input first")
  end
  for i = #self.modules, 1, -1 do
    grad_y = self.modules[i]:backward(self.inputs[i], grad_y, i == 1 and opts or nil)
  end
  return grad_y
end

function Sequential:output_shape(shape)
  for _, m in ipairs(self.modules) do shape = m:output_shape(shape) end
  return shape
end

-- Names like "1.weight", "3.bias" (the layer's position, or the name given to add), as in
-- a PyTorch state_dict.
function Sequential:parameters()
  local list = {}
  for i, m in ipairs(self.modules) do
    local prefix = self.names and self.names[i] or tostring(i)
    for _, p in ipairs(m:parameters()) do
      list[#list + 1] = { name = prefix .. "." .. p.name, value = p.value, grad = p.grad }
    end
  end
  return list
end

function Sequential:train()
  self.training = true
  for _, m in ipairs(self.modules) do m:train() end
  return self
end

function Sequential:eval()
  self.training = false
  for _, m in ipairs(self.modules) do m:eval() end
  return self
end

function Sequential:describe()
  return string.format("Sequential(%d layers)", #self.modules)
end

return Sequential
