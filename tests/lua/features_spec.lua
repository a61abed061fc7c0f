-- lunet.features: activations of a frozen trunk stored on disk in chunks and served back
-- from the device. A small MNIST-like IDX dataset (random pixels, known labels) is written
-- into a temporary directory, so nothing here needs the real MNIST.
local lunet = require("lunet")
local data = require("lunet.data")
local features = require("lunet.features")
local lio = require("lunet.io")
local models = require("lunet.models")
local nn = require("lunet.nn")
local bit = require("bit")
local tu = require("testutil")
local ffi = lunet.ffi

teardown(function() lunet.synchronize() end)

local tmp = tu.tmpdir("features-spec")

local function be32(v)
  return string.char(bit.band(bit.rshift(v, 24), 255), bit.band(bit.rshift(v, 16), 255),
                     bit.band(bit.rshift(v, 8), 255), bit.band(v, 255))
end

local write = tu.write

local function read_all(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local N = 250   -- rows; with chunk_rows 100: chunks of 100, 100 and 50
local function label_of(i) return (i * 7 + math.floor(i / 3)) % 10 end

-- images [N,28,28] of pseudo-random bytes, labels label_of(i)
local function make_dataset()
  local img = { be32(0x00000803), be32(N), be32(28), be32(28) }
  local x = 12345
  local bytes = {}
  for i = 1, N * 28 * 28 do
    x = (x * 1103515245 + 12345) % 2147483648
    bytes[i] = string.char(math.floor(x / 65536) % 256)
  end
  img[#img + 1] = table.concat(bytes)
  write(tmp .. "/images-idx3-ubyte", table.concat(img))
  local lab = { be32(0x00000801), be32(N) }
  for i = 0, N - 1 do lab[#lab + 1] = string.char(label_of(i)) end
  write(tmp .. "/labels-idx1-ubyte", table.concat(lab))
end
make_dataset()

local function dataset(opts)
  return data.idx(tmp .. "/images-idx3-ubyte", tmp .. "/labels-idx1-ubyte", opts)
end

local function trunk_of(seed)
  lunet.manual_seed(seed)
  return models.lenet5():slice(1, 7)
end

-- exact comparison of two float arrays, bit for bit
local function same_bits(a, b, n)
  local ua, ub = ffi.cast("const uint32_t*", a), ffi.cast("const uint32_t*", b)
  for i = 0, n - 1 do
    if ua[i] ~= ub[i] then return false, i end
  end
  return true
end

local fails_with = tu.fails_with   -- the message must contain the text

describe("features.fnv1a64 and trunk_hash", function()
  it("computes 64-bit FNV-1a (published test vectors)", function()
    assert.are.equal("cbf29ce484222325", features.fnv1a64(""))
    assert.are.equal("af63dc4c8601ec8c", features.fnv1a64("a"))
    assert.are.equal("85944171f73967e8", features.fnv1a64("foobar"))
    local buf = ffi.new("uint8_t[6]", { 102, 111, 111, 98, 97, 114 })
    assert.are.equal("85944171f73967e8", features.fnv1a64(buf, 6))
  end)

  it("depends on the structure and on every weight's exact bits", function()
    local a, b = trunk_of(5), trunk_of(5)
    local h = features.trunk_hash(a)
    assert.matches("^%x+$", h)
    assert.are.equal(16, #h)
    assert.are.equal(h, features.trunk_hash(b))
    assert.are_not.equal(h, features.trunk_hash(trunk_of(6)))
    -- one weight changed by one unit in the last place
    local w = b:get(4).weight
    local v = w:tobuffer()
    local u = ffi.cast("uint32_t*", v)
    u[17] = u[17] + 1
    w:set(v)
    assert.are_not.equal(h, features.trunk_hash(b))
    -- structure: one layer fewer, and a described layer line per layer
    lunet.manual_seed(5)
    local net = models.lenet5()
    assert.are_not.equal(features.trunk_hash(net:slice(1, 7)), features.trunk_hash(net:slice(1, 6)))
    assert.are.equal("conv1 Conv2d(1, 6, 5x5, stride 1, pad 2)\n2 ReLU()\n3 MaxPool2d(2x2, stride 2, pad 0)\n"
                     .. "conv2 Conv2d(6, 16, 5x5, stride 1, pad 0)\n5 ReLU()\n6 MaxPool2d(2x2, stride 2, pad 0)\n"
                     .. "7 Flatten()", features.describe_trunk(net:slice(1, 7)))
  end)

  it("rejects what is not a module", function()
    fails_with("features.trunk_hash: expected a trunk module (e.g. net:slice(1, 7)), got number",
               features.trunk_hash, 3)
  end)
end)

describe("features.extract and load", function()
  local ds, trunk, path, info
  setup(function()
    ds = dataset()
    trunk = trunk_of(11)
    path = tmp .. "/cache-a"
    trunk:train()
    info = features.extract(trunk, ds, path, { batch_size = 64, chunk_rows = 100 })
  end)

  it("reports what it wrote, in eval mode, leaving the trunk's mode as it was", function()
    assert.are.equal(N, info.count)
    assert.are.equal(400, info.dim)
    assert.are.same({ 400 }, info.feature_shape)
    assert.are.equal(3, info.chunks)
    assert.are.equal(features.trunk_hash(trunk), info.trunk_hash)
    assert.is_true(info.seconds >= 0)
    assert.is_true(trunk.training)
  end)

  it("round-trips the activations bit for bit against a direct forward of the trunk", function()
    local fd = features.load(path)
    assert.are.equal(N, fd.n)
    assert.are.equal(400, fd.dim)
    assert.are.same({ N, 400 }, fd.features:shape())
    assert.are.equal(fd.features, fd.images)
    assert.are.same({ 400 }, fd.sample_shape)
    assert.are.equal(10, fd.num_classes)
    assert.are.equal(features.trunk_hash(trunk), fd.trunk_hash)
    local got = fd.features:tobuffer()
    trunk:eval()
    local row = 0
    for x, _, count in ds:batches(64, { shuffle = false }) do
      local want = trunk:forward(x):tobuffer()
      local same, at = same_bits(want, got + row * 400, count * 400)
      assert.is_true(same, "value " .. tostring(at) .. " of the batch at row " .. row .. " differs")
      row = row + count
    end
    trunk:train()
    assert.are.equal(N, row)
    local labels = fd.labels:totable()
    for i = 0, N - 1 do
      assert.are.equal(label_of(i), fd.host_labels[i])
      assert.are.equal(label_of(i), labels[i + 1])
    end
    -- the activations are not trivial: ReLU then max-pool gives zeros and positives
    local zeros, positives = 0, 0
    for i = 0, N * 400 - 1 do
      if got[i] == 0 then zeros = zeros + 1 elseif got[i] > 0 then positives = positives + 1 end
    end
    assert.are.equal(N * 400, zeros + positives)
    assert.is_true(positives > N * 40, "positives: " .. positives)
  end)

  it("gives batches that cover every row exactly once, with its label", function()
    local fd = features.load(path)
    local all = fd.features:tobuffer()
    local want = {}
    for i = 0, N - 1 do
      local key = ffi.string(all + i * 400, 1600)
      want[key] = (want[key] or 0) + 1
    end
    local seen, batches = 0, 0
    for x, y, count in fd:batches(32, { seed = 3 }) do
      batches = batches + 1
      assert.are.same({ count, 400 }, x:shape())
      local xb, yb = x:tobuffer(), y:tobuffer()
      for i = 0, count - 1 do
        local key = ffi.string(xb + i * 400, 1600)
        assert.is_truthy(want[key], "a batch row that is no row of the dataset")
        want[key] = want[key] - 1
        -- find the row's label: the first row with these features
        for r = 0, N - 1 do
          if ffi.string(all + r * 400, 1600) == key then assert.are.equal(fd.host_labels[r], yb[i]) break end
        end
      end
      seen = seen + count
    end
    assert.are.equal(N, seen)
    assert.are.equal(8, batches)   -- 7 x 32 + 26
    for _, left in pairs(want) do assert.are.equal(0, left) end
    assert.are.equal(8, fd:num_batches(32))
    assert.matches("^FeatureDataset%(images%-idx3%-ubyte: 250 x 400, 10 classes, trunk %x+%)$", tostring(fd))
  end)

  it("writes the manifest and chunk metadata as documented", function()
    local idx = lio.open_tensors(path .. "/index.safetensors")
    assert.are.same({ "chunk_rows" }, idx:names())
    assert.are.same({ 100, 100, 50 }, idx:read("chunk_rows"):totable())
    local hash = features.trunk_hash(trunk)
    local expect = {
      format = "lunet.features", version = "1", count = "250", num_chunks = "3", chunk_size = "100",
      feature_shape = "400", feature_dim = "400", trunk_hash = hash, trunk = features.describe_trunk(trunk),
      dataset = "images-idx3-ubyte", split = "", num_classes = "10",
      labels_fnv1a64 = features.fnv1a64(ds.host_labels, N),
    }
    for k, v in pairs(expect) do assert.are.equal(v, idx:metadata(k), "index metadata " .. k) end
    local checksums = {}
    for h in idx:metadata("chunk_checksums"):gmatch("[^,]+") do checksums[#checksums + 1] = h end
    idx:close()
    assert.are.equal(3, #checksums)
    local first = 0
    for c, rows in ipairs({ 100, 100, 50 }) do
      local p = string.format("%s/part-%04d.safetensors", path, c - 1)
      assert.are.equal(p, features.part_path(path, c - 1))
      local f = lio.open_tensors(p)
      assert.are.same({ "features", "labels" }, f:names())
      assert.are.same({ rows, 400 }, f:shape("features"))
      assert.are.same({ rows }, f:shape("labels"))
      local chunk_expect = {
        format = "lunet.features", version = "1", chunk = tostring(c - 1), num_chunks = "3",
        first_row = tostring(first), rows = tostring(rows), count = "250", trunk_hash = hash,
        trunk = expect.trunk, feature_shape = "400", feature_dim = "400", dataset = "images-idx3-ubyte",
        split = "", fnv1a64 = checksums[c],
      }
      for k, v in pairs(chunk_expect) do assert.are.equal(v, f:metadata(k), "chunk " .. (c - 1) .. " metadata " .. k) end
      -- fnv1a64: the features' bytes, then the labels' bytes
      local fb = f:read_floats("features")
      local lb = f:read_floats("labels")
      local both = ffi.new("float[?]", rows * 401)
      ffi.copy(both, fb, rows * 1600)
      ffi.copy(both + rows * 400, lb, rows * 4)
      assert.are.equal(checksums[c], features.fnv1a64(both, rows * 1604))
      for r = 0, rows - 1 do assert.are.equal(label_of(first + r), lb[r]) end
      f:close()
      first = first + rows
    end
    -- the files themselves are little-endian F32 safetensors
    assert.matches('"features":{"dtype":"F32","shape":[100,400]', read_all(path .. "/part-0000.safetensors"):sub(1, 4000), 1, true)
  end)
end)

describe("features.cached and ensure", function()
  local function fresh(name, seed)
    local ds, trunk = dataset(), trunk_of(seed or 21)
    local path = tmp .. "/" .. name
    features.extract(trunk, ds, path, { batch_size = 100, chunk_rows = 100 })
    return ds, trunk, path
  end

  it("returns the stored activations while the trunk and data are the same", function()
    local ds, trunk, path = fresh("cache-b")
    local fd, why = features.cached(trunk, ds, path)
    assert.is_nil(why)
    assert.are.equal(N, fd.n)
    local again, info = features.ensure(trunk, ds, path)
    assert.is_false(info.rebuilt)
    assert.are.same(fd.features:totable(), again.features:totable())
  end)

  it("says 'trunk changed' after one weight changes, and ensure rebuilds", function()
    local ds, trunk, path = fresh("cache-c")
    local before = features.load(path).features:totable()
    local w = trunk:get(1).weight
    local v = w:tobuffer()
    v[0] = v[0] + 0.25
    w:set(v)
    local fd, why = features.cached(trunk, ds, path)
    assert.is_nil(fd)
    assert.matches("^trunk changed: the cache was made by trunk %x+, this trunk is %x+$", why)
    local rebuilt, info = features.ensure(trunk, ds, path, { chunk_rows = 100 })
    assert.is_true(info.rebuilt)
    assert.matches("^trunk changed", info.reason)
    assert.are_not.same(before, rebuilt.features:totable())
    assert.are.equal(features.trunk_hash(trunk), rebuilt.trunk_hash)
    assert.is_not_nil(features.cached(trunk, ds, path))
  end)

  it("says 'dataset changed' for other rows or labels", function()
    local _, trunk, path = fresh("cache-d")
    local fd, why = features.cached(trunk, dataset({ limit = 200 }), path)
    assert.is_nil(fd)
    assert.matches("^dataset changed: the cache holds 250 rows of \"images%-idx3%-ubyte\"", why)
    fd, why = features.cached(trunk, dataset({ classes = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, relabel = true }), path)
    assert.is_not_nil(fd, why)   -- the same rows and labels
    local other = dataset()
    other.host_labels[3] = (other.host_labels[3] + 1) % 10
    fd, why = features.cached(trunk, other, path)
    assert.is_nil(fd)
    assert.matches("^dataset changed", why)
  end)

  it("detects a deleted chunk, a corrupt chunk, a truncated chunk and a missing index", function()
    local ds, trunk, path = fresh("cache-e")
    os.remove(path .. "/part-0001.safetensors")
    local fd, why = features.cached(trunk, ds, path)
    assert.is_nil(fd)
    assert.are.equal("chunk 1 is missing (" .. path .. "/part-0001.safetensors)", why)
    fails_with("features.load: " .. path .. ": chunk 1 is missing (" .. path .. "/part-0001.safetensors)",
               features.load, path)
    local fixed, info = features.ensure(trunk, ds, path, { chunk_rows = 100 })
    assert.is_true(info.rebuilt)
    assert.are.equal(N, fixed.n)
    assert.is_not_nil(features.cached(trunk, ds, path))

    -- one byte of data flipped: the checksum tells
    local p2 = path .. "/part-0002.safetensors"
    local s = read_all(p2)
    local at = #s - 500
    write(p2, s:sub(1, at - 1) .. string.char((s:byte(at) + 1) % 256) .. s:sub(at + 1))
    fd, why = features.cached(trunk, ds, path)
    assert.is_nil(fd)
    assert.matches("^chunk 2 is corrupt %(.*part%-0002%.safetensors%): its data has checksum %x+, the index says %x+$", why)

    -- truncated: the safetensors reader tells
    write(p2, s:sub(1, #s - 1000))
    fd, why = features.cached(trunk, ds, path)
    assert.is_nil(fd)
    assert.matches("^chunk 2 is corrupt: ", why)

    -- a chunk from another cache, of the right size, in its place
    local _, _, other = fresh("cache-e2", 99)
    os.execute(string.format("cp '%s/part-0002.safetensors' '%s'", other, p2))
    fd, why = features.cached(trunk, ds, path)
    assert.is_nil(fd)
    assert.matches("^chunk 2 is corrupt .*: it was made by trunk %x+, the index says %x+$", why)

    os.remove(path .. "/index.safetensors")
    fd, why = features.cached(trunk, ds, path)
    assert.is_nil(fd)
    assert.are.equal("no feature cache in " .. path .. " (no index.safetensors)", why)
    write(path .. "/index.safetensors", "not a safetensors file")
    fd, why = features.cached(trunk, ds, path)
    assert.is_nil(fd)
    assert.matches("^the index is corrupt: ", why)
  end)

  it("an interrupted extraction leaves no valid cache (the index goes first, comes last)", function()
    local ds, trunk, path = fresh("cache-f")
    local ok, err = pcall(features.extract, trunk, ds, path, {
      batch_size = 50, chunk_rows = 100,
      progress = function(done) if done >= 150 then error("interrupted", 0) end end,
    })
    assert.is_false(ok)
    assert.are.equal("features.extract: " .. path .. ": interrupted", err)
    local fd, why = features.cached(trunk, ds, path)
    assert.is_nil(fd)
    assert.matches("no index.safetensors", why, 1, true)
    assert.is_nil(io.open(path .. "/part-0002.safetensors", "rb"))
  end)
end)

describe("features.balanced_rows and subset", function()
  it("chooses per-class rows by seed, nested across budgets, and gathers them on the device", function()
    local ds = dataset()
    local rows, counts = features.balanced_rows(ds, 3, 7)
    assert.are.equal(30, #rows)
    assert.are.same({ 3, 3, 3, 3, 3, 3, 3, 3, 3, 3 }, counts)
    for i = 2, #rows do assert.is_true(rows[i] > rows[i - 1]) end
    local per = {}
    for _, r in ipairs(rows) do per[label_of(r)] = (per[label_of(r)] or 0) + 1 end
    for c = 0, 9 do assert.are.equal(3, per[c]) end
    assert.are.same(rows, (features.balanced_rows(ds, 3, 7)))
    assert.are_not.same(rows, (features.balanced_rows(ds, 3, 8)))
    local bigger = features.balanced_rows(ds, 10, 7)
    local set = {}
    for _, r in ipairs(bigger) do set[r] = true end
    for _, r in ipairs(rows) do assert.is_true(set[r], "row " .. r .. " not in the larger budget") end
    local all, all_counts = features.balanced_rows(ds, "all", 7)
    assert.are.equal(N, #all)
    local total = 0
    for _, c in ipairs(all_counts) do total = total + c end
    assert.are.equal(N, total)
    local _, capped = features.balanced_rows(ds, 1000, 7)
    assert.are.same(all_counts, capped)

    local trunk = trunk_of(31)
    local path = tmp .. "/cache-g"
    features.extract(trunk, ds, path)
    local fd = features.load(path)
    local sub = features.subset(fd, rows)
    assert.are.equal(getmetatable(fd), getmetatable(sub))
    assert.are.equal(30, sub.n)
    assert.are.same({ 30, 400 }, sub.features:shape())
    assert.are.equal(sub.features, sub.images)
    local full, part = fd.features:tobuffer(), sub.features:tobuffer()
    local labels = sub.labels:totable()
    for i, r in ipairs(rows) do
      assert.is_true(same_bits(full + r * 400, part + (i - 1) * 400, 400))
      assert.are.equal(label_of(r), sub.host_labels[i - 1])
      assert.are.equal(label_of(r), labels[i])
    end
    local isub = features.subset(ds, rows)
    assert.are.equal(data.Dataset, getmetatable(isub))
    assert.are.same({ 30, 1, 28, 28 }, isub.images:shape())
    local img, simg = ds.images:tobuffer(), isub.images:tobuffer()
    assert.is_true(same_bits(img + rows[5] * 784, simg + 4 * 784, 784))
    local n = 0
    for _, _, count in isub:batches(8, { seed = 1 }) do n = n + count end
    assert.are.equal(30, n)
    assert.are.equal(N, fd.n)   -- the original is unchanged
  end)
end)

describe("features errors", function()
  it("names what was expected and what was given", function()
    local ds, trunk = dataset(), trunk_of(41)
    fails_with("features.extract: expected a trunk module (e.g. net:slice(1, 7)), got string",
               features.extract, "trunk", ds, tmp .. "/x")
    fails_with("features.extract: expected a dataset from lunet.data (with n, images, host_labels and batches), got table",
               features.extract, trunk, {}, tmp .. "/x")
    fails_with("features.extract: path must be a directory name, got nil", features.extract, trunk, ds, nil)
    fails_with("features.extract: batch_size must be a positive integer, got 0",
               features.extract, trunk, ds, tmp .. "/x", { batch_size = 0 })
    fails_with("features.extract: chunk_rows must be a positive integer, got 2.5",
               features.extract, trunk, ds, tmp .. "/x", { chunk_rows = 2.5 })
    fails_with("features.extract: progress must be a function(done, total), got string",
               features.extract, trunk, ds, tmp .. "/x", { progress = "yes" })
    write(tmp .. "/a-file", "x")
    fails_with("features.extract: " .. tmp .. "/a-file exists and is not a directory",
               features.extract, trunk, ds, tmp .. "/a-file")
    local rgb_trunk = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())
    fails_with("features.extract: the trunk does not take the dataset's samples [1,28,28]: Conv2d: expected input [N,3,H,W]",
               features.extract, rgb_trunk, ds, tmp .. "/x")
    fails_with("features.load: " .. tmp .. "/nowhere: no feature cache in " .. tmp .. "/nowhere (no index.safetensors)",
               features.load, tmp .. "/nowhere")
    fails_with("features.load: path must be a directory name, got number", features.load, 5)
    fails_with("features.cached: expected a dataset from lunet.data", features.cached, trunk, 5, tmp .. "/x")
    fails_with("features.balanced_rows: per_class must be a positive integer or \"all\", got 0",
               features.balanced_rows, ds, 0)
    fails_with("features.balanced_rows: seed must be a non-negative integer, got -1",
               features.balanced_rows, ds, 2, -1)
    fails_with("features.subset: rows must be a non-empty list of row numbers (0-based), got an empty table",
               features.subset, ds, {})
    fails_with("features.subset: row 2 is 250, expected an integer in 0..249", features.subset, ds, { 0, 250 })
  end)
end)
