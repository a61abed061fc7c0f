-- lunet.data: datasets that live on the device, and shuffled batches gathered there.
--
--   local data = require("lunet.data")
--   local train = data.mnist(nil, "train")            -- $LUNET_MNIST_DIR or <checkout>/data/mnist
--   for x, y, count in train:batches(64, { seed = 1 }) do ... end
--
-- A Dataset holds all images as ONE device tensor [N,1,H,W] (normalised on the device from
-- the uploaded bytes) and the labels as a device tensor [N] of floats, plus a host copy of
-- the labels for metrics. A batch is a gather by a device-side permutation (uploaded once
-- per epoch): no host copy of pixels during training, and two kernel launches per batch.
local lunet = require("lunet")
local bit = require("bit")
local ffi, C = lunet.ffi, lunet.C

local data = {}

local MNIST_STATS = { mean = 0.1307, std = 0.3081 }
local FASHION_STATS = { mean = 0.2860, std = 0.3530 }
local FASHION_DIR = "/usr/share/datasets/fashion-mnist"   -- Debian's dataset-fashion-mnist
local MAX_SAMPLES = 16777216   -- 2^24: row numbers stay exact in a float permutation

local FILES = {
  train = { "train-images-idx3-ubyte", "train-labels-idx1-ubyte" },
  test = { "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte" },
}

local function fail(who, fmt, ...)
  error(who .. ": " .. string.format(fmt, ...), 0)
end

local function dirname(path) return path:match("^(.*)/[^/]*$") or "." end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- <checkout> is three levels above this file: <checkout>/lua/lunet/data.lua
local function checkout_root()
  local source = debug.getinfo(1, "S").source
  if source:sub(1, 1) ~= "@" then return "." end
  return dirname(dirname(dirname(source:sub(2))))
end

-- Where MNIST is looked for by default: $LUNET_MNIST_DIR, else <checkout>/data/mnist.
function data.mnist_dir()
  local env = os.getenv("LUNET_MNIST_DIR")
  if env and env ~= "" then return env end
  return checkout_root() .. "/data/mnist"
end

local function is_integer(v, low)
  return type(v) == "number" and v == math.floor(v) and v >= low and v < math.huge
end

-- ---- options -------------------------------------------------------------------------

-- scale and shift that turn a byte b into (b/255 - mean) / std.
local function normalisation(who, normalize, default_stats)
  if normalize == nil or normalize == true then normalize = default_stats end
  if normalize == false then return 1 / 255, 0, false end
  if type(normalize) ~= "table" or type(normalize.mean) ~= "number"
      or type(normalize.std) ~= "number" or not (normalize.std > 0) then
    fail(who, "normalize must be true, false or {mean=, std=} with std > 0, got %s",
         type(normalize) == "table" and ("{mean=" .. tostring(normalize.mean) .. ", std="
                                         .. tostring(normalize.std) .. "}") or tostring(normalize))
  end
  return 1 / 255 / normalize.std, -normalize.mean / normalize.std,
         { mean = normalize.mean, std = normalize.std }
end

local function check_options(who, opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then fail(who, "options must be a table, got %s", type(opts)) end
  if opts.limit ~= nil and not is_integer(opts.limit, 1) then
    fail(who, "limit must be a positive integer, got %s", tostring(opts.limit))
  end
  if opts.classes ~= nil then
    local ok = type(opts.classes) == "table" and #opts.classes > 0
    for _, c in ipairs(ok and opts.classes or {}) do ok = ok and is_integer(c, 0) and c <= 255 end
    if not ok then
      fail(who, "classes must be a non-empty list of labels 0..255, like {0,1,2,3,4}")
    end
  end
  if opts.relabel and not opts.classes then fail(who, "relabel needs a list of classes") end
  return opts
end

-- ---- choosing the samples ------------------------------------------------------------

-- 0-based indices of the samples to keep (nil: the first n, in order).
local function selected_rows(who, labels, total, opts)
  local limit = opts.limit or total
  if not opts.classes then return nil, math.min(limit, total) end
  local keep = {}
  for _, c in ipairs(opts.classes) do keep[c] = true end
  local rows = {}
  for i = 0, total - 1 do
    if #rows >= limit then break end
    if keep[labels[i]] then rows[#rows + 1] = i end
  end
  if #rows == 0 then
    fail(who, "no sample has a label in classes {%s}", table.concat(opts.classes, ","))
  end
  return rows, #rows
end

-- Copies the chosen rows (row_bytes each) into a new compact byte array.
local function compact(src, rows, row_bytes)
  local out = ffi.new("uint8_t[?]", #rows * row_bytes)
  for k, i in ipairs(rows) do ffi.copy(out + (k - 1) * row_bytes, src + i * row_bytes, row_bytes) end
  return out
end

-- The labels as the dataset sees them (classes mapped to 0..k-1 when relabel is set).
local function relabelled(labels, n, opts)
  if not opts.relabel then return labels end
  local map = {}
  for k, c in ipairs(opts.classes) do map[c] = k - 1 end
  local out = ffi.new("uint8_t[?]", n)
  for i = 0, n - 1 do out[i] = map[labels[i]] end
  return out
end

local function device_tensor(shape, bytes, count, scale, shift)
  local t = lunet.zeros(shape)
  lunet.check(C.lunet_tensor_from_bytes(t.handle, bytes, count, scale, shift))
  return t
end

-- ---- Dataset ---------------------------------------------------------------------------

local Dataset = {}
Dataset.__index = Dataset
Dataset.__name = "Dataset"
data.Dataset = Dataset

local function sample_shape(who, images)
  if images.ndim == 1 then fail(who, "the image file has 1 dimension; expected [N,H,W] or [N,D]") end
  if images.ndim == 3 then return { 1, tonumber(images.dims[1]), tonumber(images.dims[2]) } end
  local s = {}
  for d = 1, images.ndim - 1 do s[d] = tonumber(images.dims[d]) end
  return s
end

-- Builds the Dataset from the loaded files (host arrays freed by the caller).
local function build(who, images, labels, opts, info)
  local total = tonumber(images.count)
  local per_sample = sample_shape(who, images)
  local row_bytes = 1
  for _, d in ipairs(per_sample) do row_bytes = row_bytes * d end
  local rows, n = selected_rows(who, labels.data, total, opts)
  if n > MAX_SAMPLES then fail(who, "%d samples, more than %d (use limit)", n, MAX_SAMPLES) end
  local pixels = rows and compact(images.data, rows, row_bytes) or images.data
  local host_labels = ffi.new("uint8_t[?]", n)
  ffi.copy(host_labels, rows and compact(labels.data, rows, 1) or labels.data, n)
  host_labels = relabelled(host_labels, n, opts)
  local scale, shift, stats = normalisation(who, opts.normalize, info.stats)
  local shape = { n }
  for d, v in ipairs(per_sample) do shape[d + 1] = v end
  local max_label = 0   -- over the whole file, so that limit does not change num_classes
  for i = 0, total - 1 do max_label = math.max(max_label, labels.data[i]) end
  return setmetatable({
    name = info.name,
    n = n,
    shape = shape,
    sample_shape = per_sample,
    num_classes = opts.num_classes or (opts.relabel and #opts.classes) or info.num_classes
                  or (max_label + 1),
    normalize = stats,
    images = device_tensor(shape, pixels, n * row_bytes, scale, shift),
    labels = device_tensor({ n }, host_labels, n, 1, 0),
    host_labels = host_labels,   -- uint8_t[n], 0-based
    _batches = {},               -- batch size -> {x=, y=}
  }, Dataset)
end

local function load(who, images_path, labels_path, opts, info)
  opts = check_options(who, opts)
  local images, labels = ffi.new("lunet_idx"), ffi.new("lunet_idx")
  lunet.check(C.lunet_idx_load_pair(images_path, labels_path, images, labels))
  local ok, result = pcall(build, who, images, labels, opts, info)
  C.lunet_idx_free(images)
  C.lunet_idx_free(labels)
  if not ok then error(result, 0) end
  result.images_path, result.labels_path = images_path, labels_path
  return result
end

function Dataset:__tostring()
  return string.format("Dataset(%s: %d x %s, %d classes)", self.name, self.n,
                       lunet.shape_str(self.sample_shape), self.num_classes)
end

function Dataset:size() return self.n end

-- The labels as a Lua table (1-based positions, 0-based class numbers).
function Dataset:labels_table()
  local t = {}
  for i = 1, self.n do t[i] = self.host_labels[i - 1] end
  return t
end

-- Number of batches in one epoch.
function Dataset:num_batches(batch_size, drop_last)
  if drop_last then return math.floor(self.n / batch_size) end
  return math.ceil(self.n / batch_size)
end

local xorshift128 = require("lunet.random").xorshift128

-- The epoch's order as a device tensor [n]: seeded Fisher-Yates, or 0..n-1.
function Dataset:_permutation(shuffle, seed)
  local n = self.n
  local host = self._perm_host or ffi.new("float[?]", n)
  self._perm_host = host
  for i = 0, n - 1 do host[i] = i end
  if shuffle then
    local rand = xorshift128(seed)
    for i = n - 1, 1, -1 do
      local j = rand() % (i + 1)
      host[i], host[j] = host[j], host[i]
    end
  end
  self._perm = self._perm or lunet.zeros({ n })
  self._perm:set(host)
  return self._perm
end

-- The cached pair of batch tensors for `count` samples.
function Dataset:_batch_pair(count)
  local pair = self._batches[count]
  if not pair then
    local xshape = { count }
    for d, v in ipairs(self.sample_shape) do xshape[d + 1] = v end
    pair = { x = lunet.zeros(xshape), y = lunet.zeros({ count }) }
    self._batches[count] = pair
  end
  return pair
end

local function check_batch_options(batch_size, opts)
  local who = "Dataset:batches"
  if not is_integer(batch_size, 1) then
    fail(who, "batch_size must be a positive integer, got %s", tostring(batch_size))
  end
  if opts ~= nil and type(opts) ~= "table" then fail(who, "options must be a table, got %s", type(opts)) end
  opts = opts or {}
  if opts.seed ~= nil and not is_integer(opts.seed, 0) then
    fail(who, "seed must be a non-negative integer, got %s", tostring(opts.seed))
  end
  return opts
end

-- An iterator over one epoch: for x, y, count in ds:batches(64, {seed = 1}) do ... end
-- x [B, ...] and y [B] are device tensors reused from batch to batch (the last, partial
-- batch has its own pair): use them before asking for the next batch. Options: shuffle
-- (default true), seed (default lunet.next_seed()), drop_last (default false).
function Dataset:batches(batch_size, opts)
  opts = check_batch_options(batch_size, opts)
  local shuffle = opts.shuffle ~= false
  local perm = self:_permutation(shuffle, shuffle and (opts.seed or lunet.next_seed()) or 0)
  local n, offset = self.n, 0
  local stop = opts.drop_last and n - n % batch_size or n
  return function()
    if offset >= stop then return nil end
    local count = math.min(batch_size, n - offset)
    local pair = self:_batch_pair(count)
    lunet.check(C.lunet_gather_rows(self.images.handle, perm.handle, offset, count, pair.x.handle))
    lunet.check(C.lunet_gather_rows(self.labels.handle, perm.handle, offset, count, pair.y.handle))
    offset = offset + count
    return pair.x, pair.y, count
  end
end

-- ---- constructors ----------------------------------------------------------------------

-- Any pair of IDX files (KMNIST, EMNIST, ...). normalize defaults to MNIST's mean and std.
function data.idx(images_path, labels_path, opts)
  local who = "data.idx"
  if type(images_path) ~= "string" or type(labels_path) ~= "string" then
    fail(who, "expected the paths of an image file and a label file, got %s and %s",
         type(images_path), type(labels_path))
  end
  return load(who, images_path, labels_path, opts,
              { name = images_path:match("[^/]*$"), stats = MNIST_STATS })
end

-- dir/name.gz, else dir/name; nil when neither exists.
local function find_file(dir, name)
  for _, path in ipairs({ dir .. "/" .. name .. ".gz", dir .. "/" .. name }) do
    if exists(path) then return path end
  end
  return nil
end

-- The four standard file names, for MNIST and the datasets that copy its layout.
local function standard(who, dir, split, opts, info, hint)
  if split == nil then split = "train" end
  local files = FILES[split]
  if not files then
    fail(who, "split must be \"train\" or \"test\", got %s",
         type(split) == "string" and ('"' .. split .. '"') or tostring(split))
  end
  local paths = {}
  for k, name in ipairs(files) do
    paths[k] = find_file(dir, name)
    if not paths[k] then
      error(string.format("%s not found in %s: %s (looked for %s.gz or %s)", info.title, dir, hint,
                          name, name), 0)
    end
  end
  info.name = info.title .. " " .. split
  return load(who, paths[1], paths[2], opts, info)
end

-- MNIST from dir (default data.mnist_dir()); split "train" (60,000) or "test" (10,000).
function data.mnist(dir, split, opts)
  dir = dir or data.mnist_dir()
  return standard("data.mnist", dir, split, opts,
                  { title = "MNIST", stats = MNIST_STATS, num_classes = 10 },
                  "run scripts/setup.sh, or set LUNET_MNIST_DIR, or pass --data DIR")
end

-- Fashion-MNIST (default dir: Debian's dataset-fashion-mnist), with its own mean and std.
function data.fashion_mnist(dir, split, opts)
  dir = dir or FASHION_DIR
  return standard("data.fashion_mnist", dir, split, opts,
                  { title = "Fashion-MNIST", stats = FASHION_STATS, num_classes = 10 },
                  "install Debian's dataset-fashion-mnist, or pass its directory")
end

return data
