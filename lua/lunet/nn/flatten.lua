-- lunet.nn.Flatten: [N, d2, d3, ...] -> [N, d2*d3*...] as a view of the same storage
-- (no kernel, no copy); backward views grad_output back as the input's shape.
--
--   nn.Flatten()   -- e.g. LeNet's [N,16,5,5] -> [N,400]
local lunet = require("lunet")
local Module = require("lunet.nn.module")

local Flatten = Module:extend("Flatten")

function Flatten:init(...)
  Module.init(self)
  if select("#", ...) > 0 then self:error("takes no arguments") end
  self._views = {}
end

function Flatten:describe() return "Flatten()" end

function Flatten:output_shape(shape)
  if type(shape) ~= "table" or #shape < 2 then
    self:error("expected input [N,...] with at least 2 dimensions, got %s",
               type(shape) == "table" and lunet.shape_str(shape) or type(shape))
  end
  local n = 1
  for i = 2, #shape do n = n * shape[i] end
  return { shape[1], n }
end

-- A view of t with `shape`, cached per (t, key) so a training step makes no new handle.
function Flatten:_view(key, t, shape)
  local cache = self._views[key]
  if cache and cache.source == t and cache.view:has_shape(shape) then return cache.view end
  local view = t:view(shape)
  self._views[key] = { source = t, view = view }
  return view
end

function Flatten:forward(x)
  if not lunet.is_tensor(x) then self:error("expected a Tensor [N,...] as input, got %s", type(x)) end
  return self:_view("output", x, self:output_shape(x:shape()))
end

function Flatten:backward(x, grad_y)
  if not lunet.is_tensor(x) then self:error("expected a Tensor [N,...] as input, got %s", type(x)) end
  self:check_grad_output(grad_y, self:output_shape(x:shape()))
  return self:_view("grad_input", grad_y, x:shape())
end

return Flatten
