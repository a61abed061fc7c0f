-- lunet.data: IDX datasets on the device and batches gathered there. A tiny MNIST-style
-- dataset is written into a temporary directory (train raw, test gzip-compressed); the
-- real MNIST is used too when it is found.
local lunet = require("lunet")
local data = require("lunet.data")
local bit = require("bit")
local ffi = lunet.ffi

teardown(function() lunet.synchronize() end)

pcall(ffi.cdef, [[
int setenv(const char *name, const char *value, int overwrite);
int unsetenv(const char *name);
typedef struct data_spec_timeval { long tv_sec; long tv_usec; } data_spec_timeval;
int gettimeofday(data_spec_timeval *tv, void *tz);
]])

local function wall_seconds()
  local tv = ffi.new("data_spec_timeval")
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) + tonumber(tv.tv_usec) * 1e-6
end

-- ---- writing IDX files ----

local function be32(v)
  return string.char(bit.band(bit.rshift(v, 24), 255), bit.band(bit.rshift(v, 16), 255),
                     bit.band(bit.rshift(v, 8), 255), bit.band(v, 255))
end

local function le32(v)
  return string.char(bit.band(v, 255), bit.band(bit.rshift(v, 8), 255),
                     bit.band(bit.rshift(v, 16), 255), bit.band(bit.rshift(v, 24), 255))
end

local function crc32(s)
  local c = bit.bnot(0)
  for i = 1, #s do
    c = bit.bxor(c, s:byte(i))
    for _ = 1, 8 do c = bit.bxor(bit.rshift(c, 1), bit.band(0xedb88320, -bit.band(c, 1))) end
  end
  return bit.bnot(c)
end

-- One gzip member of stored deflate blocks (the files here are far below 64 KiB).
local function gzip(s)
  assert(#s < 65536)
  local n = #s
  return "\31\139\8\0\0\0\0\0\0\3" .. "\1" .. string.char(n % 256, math.floor(n / 256))
         .. string.char(255 - n % 256, 255 - math.floor(n / 256)) .. s .. le32(crc32(s)) .. le32(n)
end

local write = require("testutil").write

local N, H, W = 10, 3, 4
local LABELS = { 3, 1, 4, 1, 5, 9, 2, 6, 5, 3 }

-- Pixel k (0-based) of sample i: the first pixel, (i * 13) mod 256, tells the samples apart.
local function pixel(i, k) return (i * 13 + k * 7) % 256 end

local function image_file(n)
  local parts = { be32(0x803), be32(n), be32(H), be32(W) }
  for i = 0, n - 1 do
    local row = {}
    for k = 0, H * W - 1 do row[#row + 1] = string.char(pixel(i, k)) end
    parts[#parts + 1] = table.concat(row)
  end
  return table.concat(parts)
end

local function label_file(labels)
  local parts = { be32(0x801), be32(#labels) }
  for _, l in ipairs(labels) do parts[#parts + 1] = string.char(l) end
  return table.concat(parts)
end

local function temp_dir()
  local name = os.tmpname()
  os.remove(name)
  os.execute("mkdir -p '" .. name .. "'")
  return name
end

local dir = temp_dir()
write(dir .. "/train-images-idx3-ubyte", image_file(N))
write(dir .. "/train-labels-idx1-ubyte", label_file(LABELS))
write(dir .. "/t10k-images-idx3-ubyte.gz", gzip(image_file(4)))
write(dir .. "/t10k-labels-idx1-ubyte.gz", gzip(label_file({ 7, 2, 1, 0 })))

local half = temp_dir()   -- images but no labels
write(half .. "/train-images-idx3-ubyte", image_file(N))

local broken = temp_dir()  -- labels file cut short
write(broken .. "/train-images-idx3-ubyte", image_file(N))
write(broken .. "/train-labels-idx1-ubyte", label_file(LABELS):sub(1, 12))

teardown(function()
  for _, d in ipairs({ dir, half, broken }) do os.execute("rm -rf '" .. d .. "'") end
end)

-- ---- helpers ----

local fails_with = require("testutil").fails_with   -- the message must contain the text

local function close(a, b, tol)
  assert.are.equal(#b, #a)
  for i = 1, #a do
    assert.is_true(math.abs(a[i] - b[i]) <= tol, string.format("[%d]: %.7g vs %.7g", i, a[i], b[i]))
  end
end

-- Sample ids (0-based) and labels of one epoch, from the first pixel of each row (the
-- dataset must be loaded with normalize = false).
local function epoch(ds, batch_size, opts)
  local ids, labels, counts = {}, {}, {}
  for x, y, count in ds:batches(batch_size, opts) do
    counts[#counts + 1] = count
    assert.are.same({ count, 1, H, W }, x:shape())
    assert.are.same({ count }, y:shape())
    local xv, yv = x:totable(), y:totable()
    for r = 0, count - 1 do
      local first = math.floor(xv[r * H * W + 1] * 255 + 0.5)
      ids[#ids + 1] = first / 13
      labels[#labels + 1] = yv[r + 1]
    end
  end
  return ids, labels, counts
end

local function raw(opts)
  opts = opts or {}
  opts.normalize = false
  return data.mnist(dir, "train", opts)
end

-- ---- specs ----

describe("data.mnist on a tiny dataset", function()
  it("loads images [N,1,H,W] and labels [N] onto the device", function()
    local ds = raw()
    assert.are.equal(N, ds.n)
    assert.are.equal(N, ds:size())
    assert.are.same({ N, 1, H, W }, ds.shape)
    assert.are.same({ 1, H, W }, ds.sample_shape)
    assert.are.same({ N, 1, H, W }, ds.images:shape())
    assert.are.equal(10, ds.num_classes)
    assert.are.same(LABELS, ds.labels:totable())
    assert.are.same(LABELS, ds:labels_table())
    local want = {}
    for i = 0, N - 1 do
      for k = 0, H * W - 1 do want[#want + 1] = pixel(i, k) / 255 end
    end
    close(ds.images:totable(), want, 1e-6)
    assert.are.equal("Dataset(MNIST train: 10 x [1,3,4], 10 classes)", tostring(ds))
  end)

  it("normalises with MNIST's mean and std by default, or as asked", function()
    local cases = {
      { nil, 0.1307, 0.3081 },
      { true, 0.1307, 0.3081 },
      { { mean = 0.5, std = 0.25 }, 0.5, 0.25 },
    }
    for _, case in ipairs(cases) do
      local ds = data.mnist(dir, "train", { normalize = case[1], limit = 2 })
      local want = {}
      for i = 0, 1 do
        for k = 0, H * W - 1 do want[#want + 1] = (pixel(i, k) / 255 - case[2]) / case[3] end
      end
      close(ds.images:totable(), want, 1e-5)
      assert.are.same(LABELS[1], ds.labels:totable()[1])   -- labels are never normalised
    end
  end)

  it("reads the gzip-compressed test split", function()
    local ds = data.mnist(dir, "test", { normalize = false })
    assert.are.equal(4, ds.n)
    assert.are.same({ 7, 2, 1, 0 }, ds:labels_table())
    assert.is_true(math.abs(13 / 255 - ds.images:totable()[H * W + 1]) < 1e-7)
    assert.is_truthy(ds.images_path:match("%.gz$"))
  end)

  it("keeps the first `limit` samples", function()
    local ds = raw({ limit = 4 })
    assert.are.equal(4, ds.n)
    assert.are.same({ 3, 1, 4, 1 }, ds:labels_table())
    assert.are.same({ 4, 1, H, W }, ds.images:shape())
    assert.are.equal(N, raw({ limit = 1000 }).n)
  end)

  it("keeps only some classes, relabelled to 0..k-1 when asked", function()
    local ds = raw({ classes = { 1, 3 } })
    assert.are.same({ 3, 1, 1, 3 }, ds:labels_table())    -- samples 0, 1, 3, 9
    assert.are.equal(10, ds.num_classes)
    local firsts = {}
    local v = ds.images:totable()
    for r = 0, 3 do firsts[#firsts + 1] = math.floor(v[r * H * W + 1] * 255 + 0.5) / 13 end
    assert.are.same({ 0, 1, 3, 9 }, firsts)
    local rel = raw({ classes = { 1, 3 }, relabel = true })
    assert.are.same({ 1, 0, 0, 1 }, rel:labels_table())
    assert.are.same({ 1, 0, 0, 1 }, rel.labels:totable())
    assert.are.equal(2, rel.num_classes)
    local limited = raw({ classes = { 5, 9 }, relabel = true, limit = 2 })
    assert.are.same({ 0, 1 }, limited:labels_table())       -- samples 4 and 5
  end)

  it("covers every sample exactly once per epoch, with the right labels", function()
    local ds = raw()
    for _, b in ipairs({ 1, 3, 4, 10, 64 }) do
      local ids, labels, counts = epoch(ds, b, { seed = 7 })
      table.sort(ids)
      assert.are.same({ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, ids)
      assert.are.equal(math.ceil(N / b), #counts)
      assert.are.equal(ds:num_batches(b), #counts)
    end
    local ids, labels, counts = epoch(ds, 3, { seed = 11 })
    assert.are.same({ 3, 3, 3, 1 }, counts)
    for k = 1, N do assert.are.equal(LABELS[ids[k] + 1], labels[k]) end
  end)

  it("shuffles deterministically: same seed same order, another seed another order", function()
    local ds = raw()
    local a = epoch(ds, 4, { seed = 1 })
    local b = epoch(ds, 4, { seed = 1 })
    local c = epoch(ds, 4, { seed = 2 })
    assert.are.same(a, b)
    assert.are_not.same(a, c)
    assert.are_not.same({ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, a)
    assert.are.same({ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, (epoch(ds, 4, { shuffle = false })))
    lunet.manual_seed(5)
    local d = epoch(ds, 4)
    lunet.manual_seed(5)
    assert.are.same(d, (epoch(ds, 4)))    -- the default seed follows lunet.manual_seed
  end)

  it("drops the last partial batch when asked", function()
    local ds = raw()
    local ids, _, counts = epoch(ds, 3, { seed = 3, drop_last = true })
    assert.are.same({ 3, 3, 3 }, counts)
    assert.are.equal(9, #ids)
    assert.are.equal(3, ds:num_batches(3, true))
    local _, _, none = epoch(ds, 11, { drop_last = true })
    assert.are.same({}, none)
  end)

  it("reuses its batch tensors and gathers with two launches per batch", function()
    local ds = raw()
    local xs, ys = {}, {}
    local before = lunet.stats().kernel_launches
    for x, y in ds:batches(4, { seed = 1 }) do xs[#xs + 1], ys[#ys + 1] = x, y end
    local launches = lunet.stats().kernel_launches - before
    assert.are.equal(6, launches)
    assert.are.equal(xs[1], xs[2])
    assert.are.equal(ys[1], ys[2])
    assert.are_not.equal(xs[2], xs[3])          -- the partial batch has its own pair
    local again = {}
    for x in ds:batches(4, { seed = 2 }) do again[#again + 1] = x end
    assert.are.equal(xs[1], again[1])
    assert.are.equal(xs[3], again[3])
  end)

  it("reads any pair of IDX files with data.idx", function()
    local ds = data.idx(dir .. "/train-images-idx3-ubyte", dir .. "/train-labels-idx1-ubyte",
                        { limit = 3, normalize = false })
    assert.are.equal(3, ds.n)
    assert.are.equal(10, ds.num_classes)        -- the largest label in the file (9) + 1
    assert.are.same({ 3, 1, 4 }, ds:labels_table())
    local small = data.idx(dir .. "/t10k-images-idx3-ubyte.gz", dir .. "/t10k-labels-idx1-ubyte.gz")
    assert.are.equal(8, small.num_classes)
  end)

  it("finds MNIST through LUNET_MNIST_DIR or in the checkout", function()
    local saved = os.getenv("LUNET_MNIST_DIR")
    ffi.C.setenv("LUNET_MNIST_DIR", dir, 1)
    assert.are.equal(dir, data.mnist_dir())
    assert.are.equal(N, data.mnist(nil, "train").n)
    ffi.C.unsetenv("LUNET_MNIST_DIR")
    assert.is_truthy(data.mnist_dir():match("/data/mnist$"))
    if saved then ffi.C.setenv("LUNET_MNIST_DIR", saved, 1) end
  end)
end)

describe("data errors", function()
  it("says where MNIST comes from when the directory or a file is missing", function()
    local nowhere = dir .. "/no-such-dir"
    local ok, err = pcall(data.mnist, nowhere, "train")
    assert.is_false(ok)
    assert.are.equal("MNIST not found in " .. nowhere .. ": run scripts/setup.sh, or set "
                     .. "LUNET_MNIST_DIR, or pass --data DIR (looked for "
                     .. "train-images-idx3-ubyte.gz or train-images-idx3-ubyte)", err)
    fails_with("MNIST not found in " .. half .. ": run scripts/setup.sh, or set LUNET_MNIST_DIR, "
               .. "or pass --data DIR (looked for train-labels-idx1-ubyte.gz", data.mnist, half,
               "train")
    fails_with("MNIST not found in " .. half, data.mnist, half, "test")
    fails_with("Fashion-MNIST not found in " .. nowhere
               .. ": install Debian's dataset-fashion-mnist, or pass its directory",
               data.fashion_mnist, nowhere, "train")
  end)

  it("rejects a bad split", function()
    fails_with('data.mnist: split must be "train" or "test", got "valid"', data.mnist, dir, "valid")
    fails_with('data.fashion_mnist: split must be "train" or "test", got 3', data.fashion_mnist,
               dir, 3)
  end)

  it("rejects bad batch sizes and batch options", function()
    local ds = raw()
    fails_with("Dataset:batches: batch_size must be a positive integer, got 0", ds.batches, ds, 0)
    fails_with("Dataset:batches: batch_size must be a positive integer, got 2.5", ds.batches, ds, 2.5)
    fails_with("Dataset:batches: batch_size must be a positive integer, got nil", ds.batches, ds)
    fails_with("Dataset:batches: seed must be a non-negative integer, got -1", ds.batches, ds, 2,
               { seed = -1 })
    fails_with("Dataset:batches: options must be a table, got string", ds.batches, ds, 2, "x")
  end)

  it("rejects bad dataset options", function()
    fails_with("data.mnist: limit must be a positive integer, got 0", data.mnist, dir, "train",
               { limit = 0 })
    fails_with("data.mnist: classes must be a non-empty list of labels 0..255", data.mnist, dir,
               "train", { classes = {} })
    fails_with("data.mnist: classes must be a non-empty list of labels 0..255", data.mnist, dir,
               "train", { classes = { 1, 300 } })
    fails_with("data.mnist: no sample has a label in classes {0,8}", data.mnist, dir, "train",
               { classes = { 0, 8 } })
    fails_with("data.mnist: relabel needs a list of classes", data.mnist, dir, "train",
               { relabel = true })
    fails_with("data.mnist: normalize must be true, false or {mean=, std=} with std > 0, got "
               .. "{mean=0.5, std=0}", data.mnist, dir, "train", { normalize = { mean = 0.5, std = 0 } })
    fails_with("data.idx: expected the paths of an image file and a label file, got string and nil",
               data.idx, "a")
  end)

  it("passes on the loader's message for a broken or mismatched file", function()
    fails_with("idx_load: " .. broken .. "/train-labels-idx1-ubyte: truncated: dimensions 10 need "
               .. "18 bytes (8 of header + 10 of data), found 12", data.mnist, broken, "train")
    fails_with("idx_load_pair: 10 images but 4 labels", data.idx,
               dir .. "/train-images-idx3-ubyte", dir .. "/t10k-labels-idx1-ubyte.gz")
    fails_with("idx_load: cannot read " .. dir .. "/nothing: No such file or directory", data.idx,
               dir .. "/nothing", dir .. "/train-labels-idx1-ubyte")
  end)
end)

-- ---- the real MNIST, when it is there ----

local function find_mnist()
  for _, d in ipairs({ os.getenv("LUNET_MNIST_DIR") or "", data.mnist_dir(), "../shared/data/mnist" }) do
    if d ~= "" and (io.open(d .. "/train-images-idx3-ubyte.gz", "rb")
                    or io.open(d .. "/train-images-idx3-ubyte", "rb")) then
      return d
    end
  end
  return nil
end

describe("data.mnist on the real MNIST", function()
  it("loads 60,000 training and 10,000 test images quickly, and batches them", function()
    local mnist = find_mnist()
    if not mnist then
      print("skipped: MNIST not found (set LUNET_MNIST_DIR)")
      return
    end
    local t0 = wall_seconds()
    local train = data.mnist(mnist, "train")
    lunet.synchronize()
    local seconds = wall_seconds() - t0
    print(string.format("MNIST train from %s: %d images loaded onto the device in %.2f s",
                        mnist, train.n, seconds))
    assert.is_true(seconds < 10, "loading took " .. seconds .. " s")
    assert.are.equal(60000, train.n)
    assert.are.same({ 60000, 1, 28, 28 }, train.images:shape())
    local labels = train:labels_table()
    assert.are.same({ 5, 0, 4, 1, 9 }, { labels[1], labels[2], labels[3], labels[4], labels[5] })
    local counts = {}
    for _, l in ipairs(labels) do counts[l + 1] = (counts[l + 1] or 0) + 1 end
    assert.are.same({ 5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949 }, counts)

    local test = data.mnist(mnist, "test")
    assert.are.equal(10000, test.n)
    assert.are.same({ 7, 2, 1, 0, 4 }, { test.host_labels[0], test.host_labels[1],
                                          test.host_labels[2], test.host_labels[3],
                                          test.host_labels[4] })
    -- pixel values normalised: background (0) maps to -mean/std, ink (255) to (1-mean)/std
    local first = test.images:view({ 10000, 784 }):totable()
    local low, high = math.huge, -math.huge
    for i = 1, 784 do low, high = math.min(low, first[i]), math.max(high, first[i]) end
    assert.is_true(math.abs(low - (-0.1307 / 0.3081)) < 1e-5)
    assert.is_true(high > 2.5 and high <= (1 - 0.1307) / 0.3081 + 1e-5)

    -- one shuffled batch: labels agree with the host copy at the permutation's rows
    local it = train:batches(64, { seed = 3 })
    local x, y, count = it()
    assert.are.equal(64, count)
    assert.are.same({ 64, 1, 28, 28 }, x:shape())
    local perm = train._perm:totable()
    local yv = y:totable()
    for r = 1, 64 do assert.are.equal(labels[perm[r] + 1], yv[r]) end
  end)
end)
