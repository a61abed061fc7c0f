-- lunet.tensor: the Tensor object, a float32 array of 1 to 4 dimensions on the device.
-- Its memory goes back to the library's buffer pool when the Tensor is collected.
local clib = require("lunet.clib")
local context = require("lunet.context")
local ffi, C = clib.ffi, clib.C

local Tensor = {}
Tensor.__index = Tensor
Tensor.__name = "Tensor"

local M = { Tensor = Tensor }

function M.shape_str(shape)
  local parts = {}
  for i = 1, #shape do parts[i] = tostring(shape[i]) end
  return "[" .. table.concat(parts, ",") .. "]"
end

local function describe(v)
  if type(v) == "table" and getmetatable(v) == Tensor then return "Tensor" .. M.shape_str(v:shape()) end
  return type(v)
end
M.describe = describe

-- Validate a shape table: 1 to 4 positive integers. Returns numel.
function M.check_shape(who, shape)
  if type(shape) ~= "table" then
    error(string.format("%s: shape must be a table like {N,C,H,W}, got %s", who, type(shape)), 0)
  end
  if #shape < 1 or #shape > 4 then
    error(string.format("%s: a shape has 1 to 4 dimensions, got %d", who, #shape), 0)
  end
  local n = 1
  for i = 1, #shape do
    local d = shape[i]
    if type(d) ~= "number" or d ~= math.floor(d) or d < 1 then
      error(string.format("%s: dimension %d of the shape must be a positive integer, got %s",
                          who, i, tostring(d)), 0)
    end
    n = n * d
  end
  return n
end

local function wrap(handle, shape)
  return setmetatable({ handle = ffi.gc(handle, C.lunet_tensor_free), _shape = shape }, Tensor)
end

local function copy_shape(shape)
  local s = {}
  for i = 1, #shape do s[i] = shape[i] end
  return s
end

local function create(who, shape)
  M.check_shape(who, shape)
  local dims = ffi.new("int64_t[4]", shape)
  local out = ffi.new("lunet_tensor*[1]")
  clib.check(C.lunet_tensor_create(context.get(), #shape, dims, out))
  return wrap(out[0], copy_shape(shape))
end

-- A float buffer holding `values` (a flat Lua table or an FFI float pointer) for n elements.
local function host_floats(who, values, n, shape)
  if type(values) == "cdata" then return ffi.cast("const float*", values) end
  if type(values) ~= "table" then
    error(string.format("%s: values must be a flat table of numbers or a float pointer, got %s",
                        who, type(values)), 0)
  end
  if #values ~= n then
    error(string.format("%s: %d values given for shape %s (%d elements)", who, #values,
                        M.shape_str(shape), n), 0)
  end
  local buf = ffi.new("float[?]", n)
  for i = 1, n do
    local v = values[i]
    if type(v) ~= "number" then
      error(string.format("%s: value %d is a %s, expected a number", who, i, type(v)), 0)
    end
    buf[i - 1] = v
  end
  return buf
end

function M.tensor(values, shape)
  if shape == nil and type(values) == "table" then shape = { #values } end
  local n = M.check_shape("lunet.tensor", shape)
  local buf = host_floats("lunet.tensor", values, n, shape)
  local t = create("lunet.tensor", shape)
  clib.check(C.lunet_tensor_upload(t.handle, buf, n))
  return t
end

function M.zeros(shape) return create("lunet.zeros", shape) end

function M.full(shape, value)
  local t = create("lunet.full", shape)
  t:fill(value)
  return t
end

function M.randn(shape, seed, mean, std)
  local t = create("lunet.randn", shape)
  clib.check(C.lunet_tensor_randn(t.handle, seed or require("lunet.random").next_seed(),
                                  mean or 0, std or 1))
  return t
end

function M.uniform(shape, low, high, seed)
  local t = create("lunet.uniform", shape)
  clib.check(C.lunet_tensor_rand_uniform(t.handle, seed or require("lunet.random").next_seed(),
                                         low or 0, high or 1))
  return t
end

function M.is_tensor(v) return type(v) == "table" and getmetatable(v) == Tensor end

function Tensor:shape() return copy_shape(self._shape) end
function Tensor:ndim() return #self._shape end
function Tensor:dim(i) return self._shape[i] end
function Tensor:numel()
  local n = 1
  for i = 1, #self._shape do n = n * self._shape[i] end
  return n
end

-- Same shape as `shape` (a table)?
function Tensor:has_shape(shape)
  if #shape ~= #self._shape then return false end
  for i = 1, #shape do if shape[i] ~= self._shape[i] then return false end end
  return true
end

-- Values as a new float[?] array (0-based), or into `buf` when given.
function Tensor:tobuffer(buf)
  local n = self:numel()
  buf = buf or ffi.new("float[?]", n)
  clib.check(C.lunet_tensor_download(self.handle, buf, n))
  return buf
end

function Tensor:totable()
  local n = self:numel()
  local buf = self:tobuffer()
  local t = {}
  for i = 1, n do t[i] = buf[i - 1] end
  return t
end

function Tensor:set(values)
  local n = self:numel()
  clib.check(C.lunet_tensor_upload(self.handle, host_floats("Tensor:set", values, n, self._shape), n))
  return self
end

function Tensor:fill(value)
  if type(value) ~= "number" then
    error("Tensor:fill: value must be a number, got " .. type(value), 0)
  end
  clib.check(C.lunet_tensor_fill(self.handle, value))
  return self
end

function Tensor:copy(src)
  if not M.is_tensor(src) then error("Tensor:copy: source must be a Tensor, got " .. type(src), 0) end
  clib.check(C.lunet_tensor_copy(self.handle, src.handle))
  return self
end

function Tensor:view(shape)
  local n = M.check_shape("Tensor:view", shape)
  if n ~= self:numel() then
    error(string.format("Tensor:view: cannot view %s (%d elements) as %s (%d elements)",
                        M.shape_str(self._shape), self:numel(), M.shape_str(shape), n), 0)
  end
  local dims = ffi.new("int64_t[4]", shape)
  local out = ffi.new("lunet_tensor*[1]")
  clib.check(C.lunet_tensor_view(self.handle, #shape, dims, out))
  return wrap(out[0], copy_shape(shape))
end

-- A new tensor with the same shape and values.
function Tensor:clone()
  return create("Tensor:clone", self._shape):copy(self)
end

function Tensor:__tostring()
  local n = self:numel()
  local head = {}
  if n <= 8 then
    local v = self:totable()
    for i = 1, n do head[i] = string.format("%.4g", v[i]) end
    return string.format("Tensor%s {%s}", M.shape_str(self._shape), table.concat(head, ", "))
  end
  return string.format("Tensor%s", M.shape_str(self._shape))
end

return M
