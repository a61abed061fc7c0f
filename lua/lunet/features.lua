-- lunet.features: activations of a frozen trunk, computed once, stored on disk, and
-- served back from the device as a dataset -- for training a new head without running
-- the trunk again (transfer learning from stored activations).
--
--   local features = require("lunet.features")
--   local trunk = net:slice(1, 7)                          -- conv/pool/flatten: 400 features
--   local fd, info = features.ensure(trunk, dataset, "cache/train")   -- cached, else extracted
--   for x, y, count in fd:batches(128, { seed = 1 }) do ... end        -- x [B,400], y [B]
--
--   features.trunk_hash(trunk)               -- 16 hex digits: the trunk's layers and exact weights
--   features.extract(trunk, dataset, path, { batch_size = 500, chunk_rows = 10000 })
--   features.cached(trunk, dataset, path)    -- FeatureDataset, or nil and the reason
--   features.load(path)                      -- FeatureDataset (raises when incomplete or corrupt)
--   features.balanced_rows(dataset, per_class, seed)   -- a seeded, class-balanced choice of rows
--   features.subset(dataset, rows)           -- those rows as a new dataset (gathered on the device)
--
-- ON-DISK FORMAT (version 1). `path` is a directory holding safetensors files (F32,
-- little-endian; readable by safetensors.torch.load_file):
--
--   path/part-0000.safetensors, path/part-0001.safetensors, ...   one file per chunk of
--       at most chunk_rows rows (default 10,000), written as extraction goes, so that no
--       more than one chunk of activations is ever held in host memory:
--     "features"  [n, D]  row r is the trunk's output (flattened) for dataset row first_row + r
--     "labels"    [n]     the class of each row (0-based, as floats)
--     metadata: format = "lunet.features", version = "1", chunk = index (0-based decimal),
--       num_chunks, first_row, rows = n, count = N (rows in the whole cache),
--       trunk_hash, trunk (the description below), feature_shape (one sample's output
--       shape, e.g. "400" or "16,5,5"), feature_dim = D, dataset, split,
--       fnv1a64 = checksum of the chunk's data (see below).
--   path/index.safetensors   the manifest, written LAST (atomically, like every file
--       here): a cache without it is incomplete.
--     "chunk_rows" [C]   the number of rows of each chunk
--     metadata: format = "lunet.features", version = "1", count = N, num_chunks = C,
--       chunk_size (the nominal rows per chunk), feature_shape, feature_dim, trunk_hash,
--       trunk, dataset (the Dataset's name, e.g. "MNIST train"), split ("train",
--       "test" or ""), num_classes, labels_fnv1a64 (checksum of the dataset's labels as
--       uint8 bytes: a dataset with other rows or labels no longer matches),
--       chunk_checksums (the C chunks' fnv1a64, comma-separated, in order).
--
-- Checksums are 64-bit FNV-1a, written as 16 lower-case hex digits. A chunk's fnv1a64
-- covers the bytes of its "features" data followed by those of its "labels" data, as
-- stored in the file. trunk_hash covers, for each layer in order, the line "<name>
-- <describe()>\n" (name: the layer's name given to Sequential:add, else its 1-based
-- position; nested Sequentials are opened up as "<outer>.<inner>"), then for each
-- parameter "<name> <shape>\n" and its float32 bytes; the description stored as `trunk`
-- is those layer lines, e.g. "conv1 Conv2d(1, 6, 5x5, stride 1, pad 2)\n2 ReLU()\n...".
--
-- A cache is used only when the index and every chunk open, agree with each other
-- (counts, shapes, chunk numbers, trunk hash) and match their checksums, and when the
-- trunk hash and the dataset (name, rows, labels checksum) are those asked for;
-- otherwise features.cached says why and features.ensure extracts again.
local lunet = require("lunet")
local data = require("lunet.data")
local lio = require("lunet.io")
local bit = require("bit")
local ffi, C = lunet.ffi, lunet.C

local M = {}

local FORMAT, VERSION = "lunet.features", "1"
local MAX_ROWS = 16777216   -- 2^24: row numbers stay exact as floats (as in lunet.data)

local function fail(who, fmt, ...)
  error(who .. ": " .. string.format(fmt, ...), 0)
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function is_dir(path)
  local ok = os.execute("test -d " .. quote(path))
  return ok == true or ok == 0
end

local function part_path(path, c) return string.format("%s/part-%04d.safetensors", path, c) end
local function index_path(path) return path .. "/index.safetensors" end
M.part_path, M.index_path = part_path, index_path

-- ---- checksums ---------------------------------------------------------------------------

local FNV_OFFSET, FNV_PRIME = 0xcbf29ce484222325ULL, 0x100000001b3ULL

-- FNV-1a 64 of nbytes at ptr, continuing from h.
local function fnv1a(h, ptr, nbytes)
  local b = ffi.cast("const uint8_t*", ptr)
  for i = 0, nbytes - 1 do h = bit.bxor(h, b[i]) * FNV_PRIME end
  return h
end

local function hex(h) return bit.tohex(h, 16) end

-- FNV-1a 64 (hex) of a byte string or of nbytes at a pointer.
function M.fnv1a64(s, nbytes)
  if type(s) == "string" then return hex(fnv1a(FNV_OFFSET, s, #s)) end
  return hex(fnv1a(FNV_OFFSET, s, nbytes))
end

-- ---- the trunk ---------------------------------------------------------------------------

local function check_trunk(who, trunk)
  if type(trunk) ~= "table" or type(trunk.forward) ~= "function" or type(trunk.parameters) ~= "function" then
    fail(who, "expected a trunk module (e.g. net:slice(1, 7)), got %s", type(trunk))
  end
end

-- The layers as lines "<name> <describe()>" (nested Sequentials are opened up).
local function layer_lines(m, prefix, lines)
  if type(m.modules) == "table" then
    for i, sub in ipairs(m.modules) do
      local name = (m.names and m.names[i]) or tostring(i)
      local p = prefix == "" and name or (prefix .. "." .. name)
      if type(sub.modules) == "table" then
        lines[#lines + 1] = p .. " " .. sub:describe()
        layer_lines(sub, p, lines)
      else
        lines[#lines + 1] = p .. " " .. sub:describe()
      end
    end
  else
    lines[#lines + 1] = (prefix == "" and "1" or prefix) .. " " .. m:describe()
  end
  return lines
end

-- The trunk's description, one layer per line.
function M.describe_trunk(trunk)
  check_trunk("features.describe_trunk", trunk)
  return table.concat(layer_lines(trunk, "", {}), "\n")
end

-- A hash (16 hex digits) of the trunk's structure and the exact bytes of its weights.
function M.trunk_hash(trunk)
  check_trunk("features.trunk_hash", trunk)
  local h = FNV_OFFSET
  for _, line in ipairs(layer_lines(trunk, "", {})) do
    local s = line .. "\n"
    h = fnv1a(h, s, #s)
  end
  for _, p in ipairs(trunk:parameters()) do
    local s = p.name .. " " .. lunet.shape_str(p.value:shape()) .. "\n"
    h = fnv1a(h, s, #s)
    local n = p.value:numel()
    h = fnv1a(h, p.value:tobuffer(), 4 * n)
  end
  return hex(h)
end

-- ---- datasets ----------------------------------------------------------------------------

local function check_dataset(who, ds)
  if type(ds) ~= "table" or type(ds.n) ~= "number" or ds.host_labels == nil
      or type(ds.batches) ~= "function" or not lunet.is_tensor(ds.images) then
    fail(who, "expected a dataset from lunet.data (with n, images, host_labels and batches), got %s",
         type(ds) == "table" and tostring(ds) or type(ds))
  end
end

local function split_of(ds)
  local s = type(ds.name) == "string" and ds.name:match("(%a+)$")
  if s == "train" or s == "test" then return s end
  return ""
end

local function labels_checksum(ds)
  return M.fnv1a64(ds.host_labels, ds.n)
end

-- What a cache must say about the dataset to be its cache.
local function dataset_identity(ds)
  return { dataset = tostring(ds.name or ""), count = ds.n, labels_fnv1a64 = labels_checksum(ds) }
end

local function is_int(v, low) return type(v) == "number" and v == math.floor(v) and v >= low and v < math.huge end

-- ---- FeatureDataset -----------------------------------------------------------------------

-- A dataset of activations on the device: features [N, D] (also reachable as `images`,
-- so that lunet.data's Dataset methods serve it: batches, num_batches, labels_table),
-- labels [N], host_labels (uint8_t[N]), and what the cache said: trunk_hash, trunk,
-- feature_shape, dataset, split, path.
local FeatureDataset = setmetatable({}, { __index = data.Dataset })
FeatureDataset.__index = FeatureDataset
FeatureDataset.__name = "FeatureDataset"
M.FeatureDataset = FeatureDataset

function FeatureDataset:__tostring()
  return string.format("FeatureDataset(%s: %d x %d, %d classes, trunk %s)", tostring(self.dataset),
                       self.n, self.dim, self.num_classes, tostring(self.trunk_hash))
end

-- ---- extraction --------------------------------------------------------------------------

local function shape_csv(shape)
  local parts = {}
  for i, d in ipairs(shape) do parts[i] = tostring(d) end
  return table.concat(parts, ",")
end

-- Removes the index (first: from then on the old cache is invalid) and every chunk file.
local function remove_cache_files(path)
  os.remove(index_path(path))
  local names = {}
  local p = io.popen("ls -1 " .. quote(path) .. " 2>/dev/null")
  if p then
    for name in p:lines() do
      if name:match("^part%-%d+%.safetensors$") then names[#names + 1] = name end
    end
    p:close()
  end
  for _, name in ipairs(names) do os.remove(path .. "/" .. name) end
end

local function write_chunk(path, c, buf, labels, rows, dim, meta)
  local out = ffi.new("lunet_st_writer*[1]")
  lunet.check(C.lunet_st_writer_create(out))
  local w = ffi.gc(out[0], C.lunet_st_writer_free)
  local ok, err = pcall(function()
    local keys = {}
    for k in pairs(meta) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do lunet.check(C.lunet_st_writer_set_metadata(w, k, tostring(meta[k]))) end
    lunet.check(C.lunet_st_writer_add(w, "features", 2, ffi.new("int64_t[2]", rows, dim), buf))
    lunet.check(C.lunet_st_writer_add(w, "labels", 1, ffi.new("int64_t[1]", rows), labels))
    lunet.check(C.lunet_st_writer_save(w, part_path(path, c)))
  end)
  C.lunet_st_writer_free(ffi.gc(w, nil))
  if not ok then error(err, 0) end
end

local function check_extract_options(who, opts)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then fail(who, "options must be a table, got %s", type(opts)) end
  for _, k in ipairs({ "batch_size", "chunk_rows" }) do
    if opts[k] ~= nil and not is_int(opts[k], 1) then
      fail(who, "%s must be a positive integer, got %s", k, tostring(opts[k]))
    end
  end
  if opts.progress ~= nil and type(opts.progress) ~= "function" then
    fail(who, "progress must be a function(done, total), got %s", type(opts.progress))
  end
  return opts
end

-- Runs the trunk once over the dataset (in order, in eval mode) and writes the
-- activations into the directory `path` as described at the top, one chunk at a time.
-- Any earlier cache in path is removed first. Options: batch_size (500), chunk_rows
-- (10000), progress (function(done, total), called after each batch).
-- Returns {path=, count=, dim=, feature_shape=, chunks=, trunk_hash=, seconds=}.
function M.extract(trunk, dataset, path, opts)
  local who = "features.extract"
  check_trunk(who, trunk)
  check_dataset(who, dataset)
  if type(path) ~= "string" or path == "" then fail(who, "path must be a directory name, got %s", type(path)) end
  opts = check_extract_options(who, opts)
  local batch_size, chunk_rows = opts.batch_size or 500, opts.chunk_rows or 10000
  if dataset.n > MAX_ROWS then fail(who, "%d rows, more than %d", dataset.n, MAX_ROWS) end
  if exists(path) and not is_dir(path) then fail(who, "%s exists and is not a directory", path) end
  os.execute("mkdir -p " .. quote(path))
  if not is_dir(path) then fail(who, "cannot create the directory %s", path) end
  local t0 = require("lunet.progress").now()

  local hash, description = M.trunk_hash(trunk), M.describe_trunk(trunk)
  local sample = {}
  for i, d in ipairs(dataset.sample_shape) do sample[i] = d end
  local okshape, out_shape = pcall(function()
    local s = { 1 }
    for i, d in ipairs(sample) do s[i + 1] = d end
    return trunk:output_shape(s)
  end)
  if not okshape then fail(who, "the trunk does not take the dataset's samples %s: %s",
                           lunet.shape_str(sample), tostring(out_shape)) end
  local feature_shape = {}
  for i = 2, #out_shape do feature_shape[#feature_shape + 1] = out_shape[i] end
  local dim = 1
  for _, d in ipairs(feature_shape) do dim = dim * d end

  local n = dataset.n
  local chunks = math.ceil(n / chunk_rows)
  local identity = dataset_identity(dataset)
  local common = {
    format = FORMAT, version = VERSION, trunk_hash = hash, trunk = description,
    feature_shape = shape_csv(feature_shape), feature_dim = dim, count = n,
    dataset = identity.dataset, split = split_of(dataset), num_chunks = chunks,
  }
  remove_cache_files(path)

  local rows_here = math.min(chunk_rows, n)
  local buf = ffi.new("float[?]", rows_here * dim)          -- one chunk of activations
  local labels = ffi.new("float[?]", rows_here)
  local batch = ffi.new("float[?]", math.min(batch_size, n) * dim)
  local checksums, chunk_sizes = {}, {}
  local c, fill, first_row, done = 0, 0, 0, 0

  local function flush()
    local h = fnv1a(FNV_OFFSET, buf, 4 * fill * dim)
    h = hex(fnv1a(h, labels, 4 * fill))
    local meta = { chunk = c, first_row = first_row, rows = fill, fnv1a64 = h }
    for k, v in pairs(common) do meta[k] = v end
    write_chunk(path, c, buf, labels, fill, dim, meta)
    checksums[c + 1], chunk_sizes[c + 1] = h, fill
    c, first_row, fill = c + 1, first_row + fill, 0
  end

  local was_training = trunk.training
  trunk:eval()
  local ok, err = pcall(function()
    for x, _, count in dataset:batches(batch_size, { shuffle = false }) do
      local y = trunk:forward(x)
      if y:dim(1) ~= count or y:numel() ~= count * dim then
        fail(who, "the trunk gave %s for a batch of %d, expected %d x %d values",
             lunet.shape_str(y:shape()), count, count, dim)
      end
      y:tobuffer(batch)
      local taken = 0
      while taken < count do
        local k = math.min(count - taken, chunk_rows - fill)
        ffi.copy(buf + fill * dim, batch + taken * dim, 4 * k * dim)
        for r = 0, k - 1 do labels[fill + r] = dataset.host_labels[done + taken + r] end
        fill, taken = fill + k, taken + k
        if fill == chunk_rows then flush() end
      end
      done = done + count
      if opts.progress then opts.progress(done, n) end
    end
    if fill > 0 then flush() end
    if c ~= chunks then fail(who, "wrote %d chunks, expected %d", c, chunks) end
    local index_meta = {
      chunk_size = chunk_rows, num_classes = dataset.num_classes,
      labels_fnv1a64 = identity.labels_fnv1a64, chunk_checksums = table.concat(checksums, ","),
    }
    for k, v in pairs(common) do index_meta[k] = v end
    local sizes = ffi.new("float[?]", chunks)
    for i = 1, chunks do sizes[i - 1] = chunk_sizes[i] end
    local out = ffi.new("lunet_st_writer*[1]")
    lunet.check(C.lunet_st_writer_create(out))
    local w = ffi.gc(out[0], C.lunet_st_writer_free)
    local okw, errw = pcall(function()
      local keys = {}
      for k in pairs(index_meta) do keys[#keys + 1] = k end
      table.sort(keys)
      for _, k in ipairs(keys) do lunet.check(C.lunet_st_writer_set_metadata(w, k, tostring(index_meta[k]))) end
      lunet.check(C.lunet_st_writer_add(w, "chunk_rows", 1, ffi.new("int64_t[1]", chunks), sizes))
      lunet.check(C.lunet_st_writer_save(w, index_path(path)))
    end)
    C.lunet_st_writer_free(ffi.gc(w, nil))
    if not okw then error(errw, 0) end
  end)
  if was_training then trunk:train() end
  if not ok then fail(who, "%s: %s", path, (tostring(err):gsub("^features%.extract: ", ""))) end
  return { path = path, count = n, dim = dim, feature_shape = feature_shape, chunks = chunks,
           trunk_hash = hash, seconds = require("lunet.progress").now() - t0 }
end

-- ---- reading back ------------------------------------------------------------------------

local function open_file(p)
  local ok, f = pcall(lio.open_tensors, p)
  if not ok then return nil, tostring(f) end
  return f
end

local function meta_number(f, key)
  local v = f:metadata(key)
  local n = v and tonumber(v)
  if not n or not is_int(n, 0) then return nil end
  return n
end

-- The index of the cache at path: a table, or nil and the reason.
local function read_index(path)
  local ip = index_path(path)
  if not exists(ip) then
    return nil, string.format("no feature cache in %s (no index.safetensors)", path)
  end
  local f, err = open_file(ip)
  if not f then return nil, "the index is corrupt: " .. err end
  local idx = {}
  local problem
  if f:metadata("format") ~= FORMAT then
    problem = string.format("%s is not a feature cache index (format %s, expected %s)", ip,
                            tostring(f:metadata("format")), FORMAT)
  elseif f:metadata("version") ~= VERSION then
    problem = string.format("the cache has format version %s, this lunet reads version %s",
                            tostring(f:metadata("version")), VERSION)
  end
  if not problem then
    for _, k in ipairs({ "count", "num_chunks", "feature_dim", "num_classes", "chunk_size" }) do
      idx[k] = meta_number(f, k)
      if not idx[k] then problem = string.format("the index has no valid %s", k) break end
    end
  end
  if not problem then
    for _, k in ipairs({ "trunk_hash", "trunk", "feature_shape", "dataset", "split",
                         "labels_fnv1a64", "chunk_checksums" }) do
      idx[k] = f:metadata(k)
      if not idx[k] then problem = string.format("the index has no %s", k) break end
    end
  end
  if not problem then
    if not f:has("chunk_rows") or #f:shape("chunk_rows") ~= 1 or f:shape("chunk_rows")[1] ~= idx.num_chunks then
      problem = string.format("the index's chunk_rows is not a list of %d chunk sizes", idx.num_chunks)
    else
      local sizes = f:read_floats("chunk_rows")
      idx.chunk_rows, idx.checksums = {}, {}
      local total = 0
      for c = 1, idx.num_chunks do
        idx.chunk_rows[c] = sizes[c - 1]
        total = total + sizes[c - 1]
      end
      for h in idx.chunk_checksums:gmatch("[^,]+") do idx.checksums[#idx.checksums + 1] = h end
      if total ~= idx.count then
        problem = string.format("the index's chunks hold %d rows, its count is %d", total, idx.count)
      elseif #idx.checksums ~= idx.num_chunks then
        problem = string.format("the index has %d chunk checksums for %d chunks", #idx.checksums, idx.num_chunks)
      end
    end
  end
  f:close()
  if problem then return nil, problem end
  idx.feature_shape_list = {}
  for d in idx.feature_shape:gmatch("[^,]+") do idx.feature_shape_list[#idx.feature_shape_list + 1] = tonumber(d) end
  return idx
end

-- Reads every chunk (checked against the index and its checksum) into a FeatureDataset,
-- or returns nil and the reason.
local function read_chunks(path, idx)
  local n, dim = idx.count, idx.feature_dim
  if n < 1 then return nil, "the cache has no rows" end
  local feats = ffi.new("float[?]", n * dim)
  local labels = ffi.new("float[?]", n)
  local row = 0
  for c = 0, idx.num_chunks - 1 do
    local p = part_path(path, c)
    local rows = idx.chunk_rows[c + 1]
    if not exists(p) then return nil, string.format("chunk %d is missing (%s)", c, p) end
    local f, err = open_file(p)
    if not f then return nil, string.format("chunk %d is corrupt: %s", c, err) end
    local problem
    local fi, li = C.lunet_st_find(f.handle, "features"), C.lunet_st_find(f.handle, "labels")
    if fi < 0 or li < 0 then
      problem = "it lacks the tensor \"features\" or \"labels\""
    elseif lunet.shape_str(f:shape("features")) ~= lunet.shape_str({ rows, dim }) then
      problem = string.format("features has shape %s, the index says [%d,%d]",
                              lunet.shape_str(f:shape("features")), rows, dim)
    elseif lunet.shape_str(f:shape("labels")) ~= lunet.shape_str({ rows }) then
      problem = string.format("labels has shape %s, the index says [%d]", lunet.shape_str(f:shape("labels")), rows)
    elseif f:metadata("trunk_hash") ~= idx.trunk_hash then
      problem = string.format("it was made by trunk %s, the index says %s", tostring(f:metadata("trunk_hash")),
                              idx.trunk_hash)
    elseif meta_number(f, "chunk") ~= c or meta_number(f, "first_row") ~= row then
      problem = string.format("it says it is chunk %s from row %s, expected chunk %d from row %d",
                              tostring(f:metadata("chunk")), tostring(f:metadata("first_row")), c, row)
    end
    if not problem then
      local okr, errr = pcall(function()
        lunet.check(C.lunet_st_read(f.handle, fi, feats + row * dim, rows * dim))
        lunet.check(C.lunet_st_read(f.handle, li, labels + row, rows))
      end)
      if not okr then problem = tostring(errr) end
    end
    if not problem then
      local h = hex(fnv1a(fnv1a(FNV_OFFSET, feats + row * dim, 4 * rows * dim), labels + row, 4 * rows))
      if h ~= idx.checksums[c + 1] or h ~= f:metadata("fnv1a64") then
        problem = string.format("its data has checksum %s, the index says %s", h, idx.checksums[c + 1])
      end
    end
    f:close()
    if problem then return nil, string.format("chunk %d is corrupt (%s): %s", c, p, problem) end
    row = row + rows
  end
  local host_labels = ffi.new("uint8_t[?]", n)
  for i = 0, n - 1 do
    local v = labels[i]
    if v ~= math.floor(v) or v < 0 or v >= idx.num_classes then
      return nil, string.format("row %d has label %s, expected 0..%d", i, tostring(v), idx.num_classes - 1)
    end
    host_labels[i] = v
  end
  local features = lunet.tensor(feats, { n, dim })
  return setmetatable({
    name = idx.dataset .. " features",
    dataset = idx.dataset, split = idx.split,
    n = n, dim = dim,
    shape = { n, dim }, sample_shape = { dim },
    feature_shape = idx.feature_shape_list,
    num_classes = idx.num_classes,
    features = features, images = features,
    labels = lunet.tensor(labels, { n }),
    host_labels = host_labels,
    trunk_hash = idx.trunk_hash, trunk = idx.trunk,
    labels_fnv1a64 = idx.labels_fnv1a64,
    path = path,
    _batches = {},
  }, FeatureDataset)
end

-- The FeatureDataset stored at path; raises an error saying what is missing or corrupt.
function M.load(path)
  if type(path) ~= "string" or path == "" then
    fail("features.load", "path must be a directory name, got %s", type(path))
  end
  local idx, why = read_index(path)
  local fd
  if idx then fd, why = read_chunks(path, idx) end
  if not fd then fail("features.load", "%s: %s", path, why) end
  return fd
end

-- The FeatureDataset at path when it is complete, intact, made by this trunk (same
-- hash) from this dataset (same name, rows and labels); else nil and the reason, which
-- starts with "trunk changed" or "dataset changed" when those differ.
function M.cached(trunk, dataset, path)
  local who = "features.cached"
  check_trunk(who, trunk)
  check_dataset(who, dataset)
  if type(path) ~= "string" or path == "" then fail(who, "path must be a directory name, got %s", type(path)) end
  local idx, why = read_index(path)
  if not idx then return nil, why end
  local hash = M.trunk_hash(trunk)
  if idx.trunk_hash ~= hash then
    return nil, string.format("trunk changed: the cache was made by trunk %s, this trunk is %s", idx.trunk_hash, hash)
  end
  local id = dataset_identity(dataset)
  if idx.dataset ~= id.dataset or idx.count ~= id.count or idx.labels_fnv1a64 ~= id.labels_fnv1a64 then
    return nil, string.format("dataset changed: the cache holds %d rows of %q (labels %s), the dataset has %d rows of %q (labels %s)",
                              idx.count, idx.dataset, idx.labels_fnv1a64, id.count, id.dataset, id.labels_fnv1a64)
  end
  return read_chunks(path, idx)
end

-- features.cached when it is valid, else features.extract then features.load.
-- Returns the FeatureDataset and {rebuilt=bool, reason=why it was rebuilt, seconds=}.
function M.ensure(trunk, dataset, path, opts)
  local t0 = require("lunet.progress").now()
  local fd, why = M.cached(trunk, dataset, path)
  if fd then return fd, { rebuilt = false, seconds = require("lunet.progress").now() - t0 } end
  M.extract(trunk, dataset, path, opts)
  fd = M.load(path)
  return fd, { rebuilt = true, reason = why, seconds = require("lunet.progress").now() - t0 }
end

-- ---- choosing and gathering rows ---------------------------------------------------------

-- Park-Miller "minimal standard" generator: exact in doubles, the same everywhere.
local function minstd(seed)
  local x = (math.floor(seed) % 2147483646) + 1
  return function(k)   -- an integer in 0..k-1
    x = (x * 48271) % 2147483647
    return x % k
  end
end

-- Up to per_class rows of each class (0-based row numbers, ascending), chosen by a seeded
-- shuffle within each class; per_class = "all" takes every row. With the same seed a
-- smaller budget's rows are a subset of a larger one's. A class with fewer rows gives
-- all it has. Returns the rows and the count taken per class (1-based by class + 1).
function M.balanced_rows(dataset, per_class, seed)
  local who = "features.balanced_rows"
  if type(dataset) ~= "table" or dataset.host_labels == nil or type(dataset.n) ~= "number"
      or type(dataset.num_classes) ~= "number" then
    fail(who, "expected a dataset with n, num_classes and host_labels, got %s", type(dataset))
  end
  if per_class ~= "all" and not is_int(per_class, 1) then
    fail(who, "per_class must be a positive integer or \"all\", got %s", tostring(per_class))
  end
  seed = seed or 1
  if not is_int(seed, 0) then fail(who, "seed must be a non-negative integer, got %s", tostring(seed)) end
  local by_class = {}
  for k = 1, dataset.num_classes do by_class[k] = {} end
  for i = 0, dataset.n - 1 do
    local list = by_class[dataset.host_labels[i] + 1]
    if list then list[#list + 1] = i end
  end
  local rows, counts = {}, {}
  for k, list in ipairs(by_class) do
    local rand = minstd(seed * 1000003 + k)
    for i = #list, 2, -1 do
      local j = rand(i) + 1
      list[i], list[j] = list[j], list[i]
    end
    local take = per_class == "all" and #list or math.min(per_class, #list)
    for i = 1, take do rows[#rows + 1] = list[i] end
    counts[k] = take
  end
  table.sort(rows)
  return rows, counts
end

-- The rows (0-based row numbers) of a lunet.data Dataset or a FeatureDataset as a new
-- dataset of the same kind, gathered on the device (the original is unchanged).
function M.subset(dataset, rows)
  local who = "features.subset"
  check_dataset(who, dataset)
  if type(rows) ~= "table" or #rows == 0 then
    fail(who, "rows must be a non-empty list of row numbers (0-based), got %s",
         type(rows) == "table" and "an empty table" or type(rows))
  end
  local m = #rows
  local idx = ffi.new("float[?]", m)
  local host = ffi.new("uint8_t[?]", m)
  for i, r in ipairs(rows) do
    if not is_int(r, 0) or r >= dataset.n then
      fail(who, "row %d is %s, expected an integer in 0..%d", i, tostring(r), dataset.n - 1)
    end
    idx[i - 1] = r
    host[i - 1] = dataset.host_labels[r]
  end
  local indices = lunet.tensor(idx, { m })
  local shape = { m }
  for d, v in ipairs(dataset.sample_shape) do shape[d + 1] = v end
  local images, labels = lunet.zeros(shape), lunet.zeros({ m })
  lunet.check(C.lunet_gather_rows(dataset.images.handle, indices.handle, 0, m, images.handle))
  lunet.check(C.lunet_gather_rows(dataset.labels.handle, indices.handle, 0, m, labels.handle))
  local sub = {}
  for k, v in pairs(dataset) do sub[k] = v end
  sub.n, sub.shape, sub.images, sub.labels, sub.host_labels = m, shape, images, labels, host
  if sub.features then sub.features = images end
  sub._batches, sub._perm, sub._perm_host = {}, nil, nil
  sub.parent_rows = rows
  return setmetatable(sub, getmetatable(dataset))
end

return M
