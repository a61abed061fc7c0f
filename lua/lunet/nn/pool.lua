-- lunet.nn pooling layers: MaxPool2d, AvgPool2d (input [N,C,H,W]) and MaxPool1d,
-- AvgPool1d (input [N,C,L]), over lunet_pool2d_* / lunet_pool1d_* (kernels/pool.cl).
--
--   nn.MaxPool2d(2)                                -- 2x2 windows, stride 2
--   nn.AvgPool2d({3, 2}, {stride = 1, padding = {1, 0}})
--   nn.MaxPool1d(3, {stride = 2, padding = 1})
--
-- As PyTorch (ceil_mode=False): the stride defaults to the window size, the output size
-- is floor((n + 2p - k) / s) + 1, padding is at most half the window, max pooling
-- ignores the padding and average pooling divides by the window size.
local lunet = require("lunet")
local Module = require("lunet.nn.module")
local window = require("lunet.nn.window")

local ffi, C = lunet.ffi, lunet.C

local Pool = Module:extend("Pool")
window.install(Pool)

function Pool:init(kernel_size, opts)
  Module.init(self)
  opts = opts or {}
  if type(opts) ~= "table" then self:error("options must be a table like {stride = 2}, got %s", type(opts)) end
  local k = self:_pair("kernel size", kernel_size, 1)
  local s = self:_pair("stride", opts.stride == nil and kernel_size or opts.stride, 1)
  local p = self:_pair("padding", opts.padding or 0, 0)
  if p[1] > math.floor(k[1] / 2) or p[2] > math.floor(k[2] / 2) then
    self:error("padding %s must be at most half the kernel size %s",
               self:_sizes(p), self:_sizes(k))
  end
  self.kernel_size, self.stride, self.padding = k, s, p
  self._params = ffi.new("lunet_pool_params", {
    self._mode, k[1], k[2], s[1], s[2], p[1], p[2] })
end

function Pool:describe()
  return string.format("%s(%s, stride %s, pad %s)", self.__name, self:_sizes(self.kernel_size),
                       self:_sizes(self.stride, true), self:_sizes(self.padding, true))
end

-- {N,C,OH,OW} (2-D) or {N,C,OL} (1-D).
function Pool:output_shape(shape)
  local ndim = self._dims + 2
  if type(shape) ~= "table" or #shape ~= ndim then
    self:error("expected input %s, got %s", self._layout,
               type(shape) == "table" and lunet.shape_str(shape) or type(shape))
  end
  local k, s, p = self.kernel_size, self.stride, self.padding
  local h = self._dims == 2 and shape[3] or 1
  local w = shape[ndim]
  if h + 2 * p[1] < k[1] or w + 2 * p[2] < k[2] then
    self:error("input %s is smaller than the window %s (padding %s)", lunet.shape_str(shape),
               self:_sizes(k), self:_sizes(p))
  end
  local oh = math.floor((h + 2 * p[1] - k[1]) / s[1]) + 1
  local ow = math.floor((w + 2 * p[2] - k[2]) / s[2]) + 1
  if self._dims == 2 then return { shape[1], shape[2], oh, ow } end
  return { shape[1], shape[2], ow }
end

function Pool:forward(x)
  self:check_input(x, self._dims + 2, self._layout)
  local y = self:buffer("output", self:output_shape(x:shape()))
  lunet.check(self._forward(x.handle, y.handle, self._params))
  return y
end

function Pool:backward(x, grad_y)
  self:check_input(x, self._dims + 2, self._layout)
  self:check_grad_output(grad_y, self:output_shape(x:shape()))
  local grad_x = self:buffer("grad_input", x:shape())
  lunet.check(self._backward(x.handle, grad_y.handle, grad_x.handle, self._params))
  return grad_x
end

local function pool_class(name, mode, dims)
  local cls = Pool:extend(name)
  cls._mode = mode
  cls._dims = dims
  cls._layout = dims == 2 and "[N,C,H,W]" or "[N,C,L]"
  cls._forward = dims == 2 and C.lunet_pool2d_forward or C.lunet_pool1d_forward
  cls._backward = dims == 2 and C.lunet_pool2d_backward or C.lunet_pool1d_backward
  return cls
end

return {
  MaxPool2d = pool_class("MaxPool2d", C.LUNET_POOL_MAX, 2),
  AvgPool2d = pool_class("AvgPool2d", C.LUNET_POOL_AVG, 2),
  MaxPool1d = pool_class("MaxPool1d", C.LUNET_POOL_MAX, 1),
  AvgPool1d = pool_class("AvgPool1d", C.LUNET_POOL_AVG, 1),
}
