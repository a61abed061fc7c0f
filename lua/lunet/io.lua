-- lunet.io: tensors in safetensors files, and PNG images.
--
--   local lio = require("lunet.io")
--   lio.save_tensors("acts.safetensors", {{name = "x", value = t}}, {epoch = "3"})
--   local list, metadata = lio.load_tensors("acts.safetensors")   -- {{name=, shape=, value=Tensor}, ...}
--   local f = lio.open_tensors("model.safetensors"); f:read_into("1.weight", w); f:close()
--   local img = lio.read_png("digit.png")   -- {width=, height=, channels=, pixels=float*} (HWC, [0,1])
--   lio.write_png("out.png", 28, 28, 1, values)
--
-- Files are written atomically: a temporary file, then a rename over the target.
local lunet = require("lunet")
local ffi, C = lunet.ffi, lunet.C

local M = {}

local function fail(who, fmt, ...)
  error(who .. ": " .. string.format(fmt, ...), 0)
end

local function check_path(who, path)
  if type(path) ~= "string" or path == "" then
    fail(who, "path must be a non-empty string, got %s", type(path))
  end
end

-- {{name=, value=Tensor}, ...} from a list in that form or a map name -> Tensor (by name).
local function tensor_list(who, tensors)
  if type(tensors) ~= "table" then
    fail(who, "expected a list of {name=, value=Tensor} or a map name -> Tensor, got %s", type(tensors))
  end
  local list = {}
  if #tensors > 0 then
    for i, item in ipairs(tensors) do
      if type(item) ~= "table" or type(item.name) ~= "string" then
        fail(who, "item %d must be {name=string, value=Tensor}", i)
      end
      list[i] = { name = item.name, value = item.value }
    end
  else
    for name, value in pairs(tensors) do
      if type(name) ~= "string" then fail(who, "map keys must be tensor names (strings), got %s", type(name)) end
      list[#list + 1] = { name = name, value = value }
    end
    table.sort(list, function(a, b) return a.name < b.name end)
  end
  for _, item in ipairs(list) do
    if not lunet.is_tensor(item.value) then
      fail(who, "'%s' is a %s, expected a Tensor", item.name, type(item.value))
    end
  end
  return list
end

local function set_metadata(who, w, metadata)
  if metadata == nil then return end
  if type(metadata) ~= "table" then fail(who, "metadata must be a table of strings, got %s", type(metadata)) end
  local keys = {}
  for k, v in pairs(metadata) do
    if type(k) ~= "string" or (type(v) ~= "string" and type(v) ~= "number") then
      fail(who, "metadata must map strings to strings, got %s = %s", tostring(k), type(v))
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    lunet.check(C.lunet_st_writer_set_metadata(w, k, tostring(metadata[k])))
  end
end

-- Write tensors (see tensor_list) and string metadata to path, atomically.
function M.save_tensors(path, tensors, metadata)
  local who = "io.save_tensors"
  check_path(who, path)
  local list = tensor_list(who, tensors)
  local out = ffi.new("lunet_st_writer*[1]")
  lunet.check(C.lunet_st_writer_create(out))
  local w = ffi.gc(out[0], C.lunet_st_writer_free)
  set_metadata(who, w, metadata)
  for _, item in ipairs(list) do
    lunet.check(C.lunet_st_writer_add_tensor(w, item.name, item.value.handle))
  end
  lunet.check(C.lunet_st_writer_save(w, path))
  C.lunet_st_writer_free(ffi.gc(w, nil))
end

-- ---- reading: an open file -------------------------------------------------------------

local TensorFile = {}
TensorFile.__index = TensorFile

function M.open_tensors(path)
  check_path("io.open_tensors", path)
  local out = ffi.new("lunet_st_file*[1]")
  lunet.check(C.lunet_st_open(path, out))
  return setmetatable({ handle = ffi.gc(out[0], C.lunet_st_close), path = path }, TensorFile)
end

function TensorFile:_check_open()
  if self.handle == nil then fail("io.open_tensors", "%s is closed", self.path) end
end

-- Index (0-based) of the tensor called name; an error naming the file when absent.
function TensorFile:_index(name)
  self:_check_open()
  local i = C.lunet_st_find(self.handle, tostring(name))
  if i < 0 then fail("io.open_tensors", "%s holds no tensor '%s'", self.path, tostring(name)) end
  return i
end

-- Tensor names in the order of their data in the file.
function TensorFile:names()
  self:_check_open()
  local list = {}
  for i = 0, C.lunet_st_count(self.handle) - 1 do
    list[#list + 1] = ffi.string(C.lunet_st_name(self.handle, i))
  end
  return list
end

function TensorFile:has(name)
  self:_check_open()
  return C.lunet_st_find(self.handle, tostring(name)) >= 0
end

function TensorFile:shape(name)
  local i = self:_index(name)
  local shape = {}
  for d = 0, C.lunet_st_ndim(self.handle, i) - 1 do
    shape[#shape + 1] = tonumber(C.lunet_st_dim(self.handle, i, d))
  end
  return shape
end

local function numel(shape)
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  return n
end

-- Upload tensor `name` into t; its shape must be the file's.
function TensorFile:read_into(name, t)
  local shape = self:shape(name)
  if not lunet.is_tensor(t) then fail("io.read_into", "'%s': expected a Tensor, got %s", name, type(t)) end
  if not t:has_shape(shape) then
    fail("io.read_into", "'%s' has shape %s in %s, but the tensor has shape %s", name,
         lunet.shape_str(shape), self.path, lunet.shape_str(t:shape()))
  end
  lunet.check(C.lunet_st_read_tensor(self.handle, self:_index(name), t.handle))
  return t
end

-- A new Tensor (1 to 4 dimensions) holding tensor `name`.
function TensorFile:read(name)
  local shape = self:shape(name)
  if #shape < 1 or #shape > 4 or numel(shape) == 0 then
    fail("io.read", "'%s' has shape %s; a Tensor needs 1 to 4 non-zero dimensions (use read_floats)",
         name, lunet.shape_str(shape))
  end
  return self:read_into(name, lunet.zeros(shape))
end

-- The values of tensor `name` as a new float[?] array (any shape), and its element count.
function TensorFile:read_floats(name)
  local i = self:_index(name)
  local n = numel(self:shape(name))
  local buf = ffi.new("float[?]", math.max(n, 1))
  lunet.check(C.lunet_st_read(self.handle, i, buf, n))
  return buf, n
end

-- The metadata value for key, or nil.
function TensorFile:metadata(key)
  self:_check_open()
  local v = C.lunet_st_metadata(self.handle, tostring(key))
  if v == nil then return nil end
  return ffi.string(v)
end

function TensorFile:close()
  if self.handle ~= nil then
    C.lunet_st_close(ffi.gc(self.handle, nil))
    self.handle = nil
  end
end

-- Every tensor of the file: {{name=, shape=, value=Tensor}, ...} in file order (tensors
-- that cannot be a Tensor, such as scalars, get data=float[?] instead of value), and
-- the metadata the file has for `keys` (a list of names) as the second result.
function M.load_tensors(path, keys)
  local f = M.open_tensors(path)
  local list = {}
  local ok, err = pcall(function()
    for _, name in ipairs(f:names()) do
      local shape = f:shape(name)
      local item = { name = name, shape = shape }
      if #shape >= 1 and #shape <= 4 and numel(shape) > 0 then
        item.value = f:read(name)
      else
        item.data = f:read_floats(name)
      end
      list[#list + 1] = item
    end
  end)
  local metadata = {}
  for _, k in ipairs(keys or {}) do metadata[k] = f:metadata(k) end
  f:close()
  if not ok then error(err, 0) end
  return list, metadata
end

-- ---- PNG -------------------------------------------------------------------------------

-- {width=, height=, channels= (1 grey or 3 RGB; alpha dropped), pixels=float* HWC in [0,1]}
function M.read_png(path)
  check_path("io.read_png", path)
  local w, h, c = ffi.new("int[1]"), ffi.new("int[1]"), ffi.new("int[1]")
  local px = ffi.new("float*[1]")
  lunet.check(C.lunet_png_read(path, w, h, c, px))
  return { width = w[0], height = h[0], channels = c[0], pixels = ffi.gc(px[0], C.lunet_png_free) }
end

-- values: a flat Lua table (HWC), an FFI float pointer, or a Tensor of width*height*channels values.
function M.write_png(path, width, height, channels, values)
  local who = "io.write_png"
  check_path(who, path)
  for _, v in ipairs({ { "width", width }, { "height", height }, { "channels", channels } }) do
    if type(v[2]) ~= "number" or v[2] ~= math.floor(v[2]) or v[2] < 1 then
      fail(who, "%s must be a positive integer, got %s", v[1], tostring(v[2]))
    end
  end
  if channels ~= 1 and channels ~= 3 and channels ~= 4 then
    fail(who, "channels must be 1, 3 or 4, got %d", channels)
  end
  local n = width * height * channels
  local buf
  if lunet.is_tensor(values) then
    if values:numel() ~= n then
      fail(who, "the Tensor has %d values, %dx%dx%d needs %d", values:numel(), width, height, channels, n)
    end
    buf = values:tobuffer()
  elseif type(values) == "table" then
    if #values ~= n then
      fail(who, "%d values given, %dx%dx%d needs %d", #values, width, height, channels, n)
    end
    buf = ffi.new("float[?]", n)
    for i = 1, n do buf[i - 1] = values[i] end
  elseif type(values) == "cdata" then
    buf = ffi.cast("const float*", values)
  else
    fail(who, "values must be a table, a float pointer or a Tensor, got %s", type(values))
  end
  lunet.check(C.lunet_png_write(path, width, height, channels, buf))
end

return M
