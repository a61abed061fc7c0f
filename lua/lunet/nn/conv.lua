-- lunet.nn convolution layers: Conv2d (input [N,C,H,W], weight [O,C,KH,KW]) and Conv1d
-- (input [N,C,L], weight [O,C,K]), over lunet_conv2d_* / lunet_conv1d_* (im2col + GEMM).
--
--   nn.Conv2d(1, 6, 5, {padding = 2})                    -- LeNet's first layer on 28x28
--   nn.Conv2d(3, 8, {3, 5}, {stride = {2, 1}, padding = {1, 2}, bias = false})
--   nn.Conv1d(4, 8, 3, {stride = 2, padding = 1})
--
-- As PyTorch: cross-correlation, output size floor((n + 2p - k) / s) + 1, weight and
-- bias initialised U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = C*KH*KW.
-- Options: stride (1), padding (0), bias (true), seed (lunet.next_seed()).
local lunet = require("lunet")
local Module = require("lunet.nn.module")
local window = require("lunet.nn.window")
local is_int, show = window.is_int, window.show

local ffi, C = lunet.ffi, lunet.C

local Conv = Module:extend("Conv")
window.install(Conv)

local OPTIONS = { stride = true, padding = true, bias = true, seed = true }

function Conv:_positive(what, v)
  if not is_int(v) or v < 1 then self:error("%s must be a positive integer, got %s", what, show(v)) end
  return v
end

function Conv:_check_options(opts)
  if type(opts) ~= "table" then
    self:error("options must be a table like {stride = 1, padding = 0}, got %s", type(opts))
  end
  for k in pairs(opts) do
    if not OPTIONS[k] then self:error("unknown option '%s' (stride, padding, bias, seed)", tostring(k)) end
  end
  if opts.bias ~= nil and type(opts.bias) ~= "boolean" then
    self:error("bias must be true or false, got %s", show(opts.bias))
  end
  if opts.seed ~= nil and (not is_int(opts.seed) or opts.seed < 0) then
    self:error("seed must be a non-negative integer, got %s", show(opts.seed))
  end
end

function Conv:init(in_channels, out_channels, kernel_size, opts)
  Module.init(self)
  opts = opts or {}
  self.in_channels = self:_positive("in_channels", in_channels)
  self.out_channels = self:_positive("out_channels", out_channels)
  self.kernel_size = self:_pair("kernel_size", kernel_size, 1)
  self:_check_options(opts)
  self.stride = self:_pair("stride", opts.stride or 1, 1)
  self.padding = self:_pair("padding", opts.padding or 0, 0)
  local k = self.kernel_size
  local weight_shape = self._dims == 2 and { out_channels, in_channels, k[1], k[2] }
                                       or { out_channels, in_channels, k[2] }
  self:init_parameters(weight_shape, opts.bias ~= false and { out_channels } or nil,
                       in_channels * k[1] * k[2], opts.seed)
  self._layout = self._dims == 2 and string.format("[N,%d,H,W]", in_channels)
                                 or string.format("[N,%d,L]", in_channels)
  self._params = ffi.new("lunet_conv_params", { self.stride[1], self.stride[2],
                                                self.padding[1], self.padding[2] })
end

function Conv:describe()
  return string.format("%s(%d, %d, %s, stride %s, pad %s%s)", self.__name, self.in_channels,
                       self.out_channels, self:_sizes(self.kernel_size),
                       self:_sizes(self.stride, true), self:_sizes(self.padding, true),
                       self.bias and "" or ", no bias")
end

-- {N,O,OH,OW} (2-D) or {N,O,OL} (1-D) for an input of `shape`.
function Conv:output_shape(shape)
  local ndim = self._dims + 2
  if type(shape) ~= "table" or #shape ~= ndim or shape[2] ~= self.in_channels then
    self:error("expected input %s, got %s", self._layout,
               type(shape) == "table" and lunet.shape_str(shape) or type(shape))
  end
  local k, s, p = self.kernel_size, self.stride, self.padding
  local h, w = self._dims == 2 and shape[3] or 1, shape[ndim]
  if h + 2 * p[1] < k[1] or w + 2 * p[2] < k[2] then
    local input = self._dims == 2 and (h .. "x" .. w) or tostring(w)
    self:error("kernel %s does not fit input %s with padding %s", self:_sizes(k), input,
               self:_sizes(p, true))
  end
  local oh = math.floor((h + 2 * p[1] - k[1]) / s[1]) + 1
  local ow = math.floor((w + 2 * p[2] - k[2]) / s[2]) + 1
  if self._dims == 2 then return { shape[1], self.out_channels, oh, ow } end
  return { shape[1], self.out_channels, ow }
end

function Conv:forward(x)
  self:check_input(x, self._dims + 2, self._layout)
  local y = self:buffer("output", self:output_shape(x:shape()))
  lunet.check(self._forward(x.handle, self.weight.handle, self.bias and self.bias.handle or nil,
                            y.handle, self._params))
  return y
end

-- Accumulates into grad_weight and grad_bias; returns the gradient of the input.
-- opts.input_grad = false: skip the gradient of x (the first layer of a network needs
-- none) and return nil.
function Conv:backward(x, grad_y, opts)
  self:check_input(x, self._dims + 2, self._layout)
  self:check_grad_output(grad_y, self:output_shape(x:shape()))
  local grad_x = not (opts and opts.input_grad == false) and self:buffer("grad_input", x:shape()) or nil
  lunet.check(self._backward(x.handle, self.weight.handle, grad_y.handle, grad_x and grad_x.handle,
                             self.grad_weight.handle,
                             self.bias and self.grad_bias.handle or nil, self._params))
  return grad_x
end

local function conv_class(name, dims)
  local cls = Conv:extend(name)
  cls._dims = dims
  cls._forward = dims == 2 and C.lunet_conv2d_forward or C.lunet_conv1d_forward
  cls._backward = dims == 2 and C.lunet_conv2d_backward or C.lunet_conv1d_backward
  return cls
end

return {
  Conv2d = conv_class("Conv2d", 2),
  Conv1d = conv_class("Conv1d", 1),
}
