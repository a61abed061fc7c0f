-- lunet.viz and scripts/visualize.lua: t-SNE separates well-separated clusters, PCA finds
-- a known dominant direction, scatter plots and image grids write the pixels they should,
-- and the script writes its five PNGs from a briefly trained LeNet-5 (when MNIST is found:
-- LUNET_MNIST_DIR, which ctest sets) and fails clearly on a missing model or bad options.
local lunet = require("lunet")
local lio = require("lunet.io")
local viz = require("lunet.viz")
local plot = require("lunet.plot")
local tu = require("testutil")

local MNIST = os.getenv("LUNET_MNIST_DIR")
if MNIST == "" then MNIST = nil end
local tmp = tu.tmpdir("viz-spec")

-- Runs a script with LuaJIT from another directory; returns stdout, stderr, exit status.
local function run(script, args) return tu.run(script, args, { tmp = tmp, cwd = "/tmp" }) end

local fails_with = tu.fails_exactly   -- the whole message must match

local function near(want, got, tol, what)
  assert(math.abs(want - got) <= tol,
         string.format("%s: expected %.9g, got %.9g (tolerance %g)", what or "value", want, got, tol))
end

-- A seeded uniform generator in [0, 1) (independent of math.random).
local function rng(seed)
  local s = seed
  return function()
    s = (s * 1103515245 + 12345) % 2147483648
    return s / 2147483648
  end
end

local function gaussian(r)
  return math.sqrt(-2 * math.log(1 - r())) * math.cos(2 * math.pi * r())
end

-- n points per cluster around `k` centres in d dimensions, centres `spread` apart.
local function clusters(k, n, d, spread, seed)
  local r = rng(seed)
  local rows, labels = {}, {}
  for c = 1, k do
    local centre = {}
    for j = 1, d do centre[j] = (j == c and spread or 0) + r() end
    for _ = 1, n do
      local row = {}
      for j = 1, d do row[j] = centre[j] + gaussian(r) end
      rows[#rows + 1] = row
      labels[#labels + 1] = c - 1
    end
  end
  return rows, labels
end

local function flat_tensor(rows)
  local flat = {}
  for _, row in ipairs(rows) do for _, v in ipairs(row) do flat[#flat + 1] = v end end
  return lunet.tensor(flat, { #rows, #rows[1] })
end

-- Share of points whose nearest other point has the same label (computed here, not by viz).
local function nn_agreement(points, labels)
  local same = 0
  for i, a in ipairs(points) do
    local best, bj = math.huge, nil
    for j, b in ipairs(points) do
      if j ~= i then
        local d = (a[1] - b[1]) ^ 2 + (a[2] - b[2]) ^ 2
        if d < best then best, bj = d, j end
      end
    end
    if labels[bj] == labels[i] then same = same + 1 end
  end
  return same / #points
end

-- The PNG's pixel (x, y) (0-based) as a table of channel values in [0, 1].
local function pixel(img, x, y)
  local t = {}
  for c = 0, img.channels - 1 do t[c + 1] = img.pixels[(y * img.width + x) * img.channels + c] end
  return t
end

describe("viz.tsne", function()
  it("separates 3 well-separated Gaussian clusters of 40 points in 10-D", function()
    local rows, labels = clusters(3, 40, 10, 12, 7)
    local pts, info = viz.tsne(flat_tensor(rows), { perplexity = 20, iterations = 500, seed = 3 })
    assert.are.equal(120, #pts)
    for _, p in ipairs(pts) do
      assert.is_true(p[1] == p[1] and p[2] == p[2] and math.abs(p[1]) < 1e4 and math.abs(p[2]) < 1e4)
    end
    local agreement = nn_agreement(pts, labels)
    assert(agreement > 0.9, "nearest-neighbour label agreement " .. agreement .. ", expected > 0.9")
    near(agreement, viz.neighbour_agreement(pts, labels), 1e-12, "viz.neighbour_agreement")
    -- each cluster's centroid lies far from the others, relative to the clusters' spread
    local cx, cy, spread = { 0, 0, 0 }, { 0, 0, 0 }, 0
    for i, p in ipairs(pts) do
      local c = labels[i] + 1
      cx[c], cy[c] = cx[c] + p[1] / 40, cy[c] + p[2] / 40
    end
    for i, p in ipairs(pts) do
      local c = labels[i] + 1
      spread = math.max(spread, math.sqrt((p[1] - cx[c]) ^ 2 + (p[2] - cy[c]) ^ 2))
    end
    for a = 1, 3 do
      for b = a + 1, 3 do
        local gap = math.sqrt((cx[a] - cx[b]) ^ 2 + (cy[a] - cy[b]) ^ 2)
        assert(gap > spread, string.format("clusters %d and %d: centroids %.3g apart, spread %.3g", a, b, gap, spread))
      end
    end
    assert.is_true(info.kl > 0 and info.kl < 2, "KL " .. info.kl)
    assert.are.equal(500, info.iterations)
    assert.are.equal(200, info.learning_rate)
    assert.is_true(info.seconds >= info.affinity_seconds and info.affinity_seconds >= 0)
  end)

  it("gives the same points for the same seed, from a Tensor or a table of rows", function()
    local rows = clusters(2, 15, 4, 8, 11)
    local a = viz.tsne(flat_tensor(rows), { perplexity = 5, iterations = 60, seed = 9 })
    local b = viz.tsne(rows, { perplexity = 5, iterations = 60, seed = 9 })
    assert.are.same(a, b)
    local c = viz.tsne(rows, { perplexity = 5, iterations = 60, seed = 10 })
    assert.are_not.same(a, c)
    local calls = {}
    viz.tsne(rows, { perplexity = 5, iterations = 120, seed = 1, learning_rate = "auto",
                     progress = function(it, total) calls[#calls + 1] = it .. "/" .. total end })
    assert.are.same({ "50/120", "100/120", "120/120" }, calls)
  end)

  it("rejects bad input with a message naming it", function()
    local x = lunet.zeros({ 10, 3 })
    fails_with("viz.tsne: expected features as a Tensor [N,D] or a table of rows, got string", viz.tsne, "x")
    fails_with("viz.tsne: expected features [N,D], got a Tensor [30]", viz.tsne, lunet.zeros({ 30 }))
    fails_with("viz.tsne: perplexity must be at least 1 and less than N - 1 = 9 (N = 10 points), got 30",
               viz.tsne, x)
    fails_with("viz.tsne: perplexity must be a positive number, got -1", viz.tsne, x, { perplexity = -1 })
    fails_with("viz.tsne: iterations must be a positive integer, got 2.5", viz.tsne, x,
               { perplexity = 3, iterations = 2.5 })
    fails_with("viz.tsne: learning_rate must be a positive number or \"auto\", got fast", viz.tsne, x,
               { perplexity = 3, learning_rate = "fast" })
    fails_with("viz.tsne: seed must be a non-negative integer, got -4", viz.tsne, x, { perplexity = 3, seed = -4 })
    fails_with("viz.tsne: momentum must be in [0, 1), got 1", viz.tsne, x, { perplexity = 3, momentum = 1 })
    fails_with("viz.tsne: needs at least 3 points, got 2", viz.tsne, lunet.zeros({ 2, 3 }), { perplexity = 1 })
    fails_with("viz.tsne: row 2 has 1 values, row 1 has 2", viz.tsne, { { 1, 2 }, { 3 } })
    fails_with("viz.tsne: options must be a table, got number", viz.tsne, x, 5)
  end)
end)

describe("viz.pca", function()
  it("recovers a known dominant direction", function()
    local r = rng(5)
    local u = { 1, 2, -2, 0, 4 }   -- length 5
    for j = 1, 5 do u[j] = u[j] / 5 end
    local rows = {}
    for i = 1, 400 do
      local t = 10 * gaussian(r)
      local row = {}
      for j = 1, 5 do row[j] = 3 + t * u[j] + 0.1 * gaussian(r) end
      rows[i] = row
    end
    local pcs, info = viz.pca(rows, 2)
    local dot = 0
    for j = 1, 5 do dot = dot + info.components[1][j] * u[j] end
    near(1, dot, 1e-3, "component 1 . u (its largest entry is positive, as u's)")
    assert(info.explained[1] > 0.99, "PC1 explains " .. info.explained[1])
    assert(info.explained[2] < 0.01, "PC2 explains " .. info.explained[2])
    local norm2, dot12 = 0, 0
    for j = 1, 5 do
      norm2 = norm2 + info.components[2][j] ^ 2
      dot12 = dot12 + info.components[1][j] * info.components[2][j]
    end
    near(1, norm2, 1e-9, "|component 2|^2")
    near(0, dot12, 1e-9, "component 1 . component 2")
    -- the coordinates are the centred rows projected on the components
    for _, i in ipairs({ 1, 17, 400 }) do
      local s = 0
      for j = 1, 5 do s = s + (rows[i][j] - info.mean[j]) * info.components[1][j] end
      near(s, pcs[i][1], 1e-9, "row " .. i .. " PC1")
    end
    assert.are.equal(400, #pcs)
    assert.are.equal(2, #pcs[1])
  end)

  it("gives exact variances and axes on a small symmetric set, from a Tensor", function()
    -- (+-3, 0) and (0, +-1): variance 6 along x and 2/3 along y (divided by N - 1 = 3)
    local x = lunet.tensor({ 3, 0, -3, 0, 0, 1, 0, -1 }, { 4, 2 })
    local pcs, info = viz.pca(x, 2)
    near(6, info.variance[1], 1e-9, "variance 1")
    near(2 / 3, info.variance[2], 1e-9, "variance 2")
    near(0.9, info.explained[1], 1e-9, "explained 1")
    near(1, info.components[1][1], 1e-12, "component 1 x")
    near(1, math.abs(info.components[2][2]), 1e-12, "component 2 y")
    near(3, pcs[1][1], 1e-9, "point 1 on PC1")
    near(-3, pcs[2][1], 1e-9, "point 2 on PC1")
    near(0, pcs[3][1], 1e-9, "point 3 on PC1")
    near(1, math.abs(pcs[3][2]), 1e-9, "point 3 on PC2")
  end)

  it("rejects bad input", function()
    fails_with("viz.pca: k must be an integer from 1 to D = 2, got 3", viz.pca, { { 1, 2 }, { 3, 4 } }, 3)
    fails_with("viz.pca: needs at least 2 rows, got 1", viz.pca, { { 1, 2 } })
    fails_with("viz.pca: row 2, column 1 is a string, expected a number", viz.pca, { { 1 }, { "a" } }, 1)
    fails_with("viz.pca: expected features [N,D], got a Tensor [2,2,2]", viz.pca, lunet.zeros({ 2, 2, 2 }))
    fails_with("viz.pca: expected features as a Tensor [N,D] or a table of rows, got a table without rows",
               viz.pca, { 1, 2, 3 })
  end)
end)

describe("viz.scatter", function()
  it("draws one colour per class, with a legend, as an RGB PNG", function()
    local path = tmp .. "/scatter.png"
    local pts, labels = {}, {}
    for i = 1, 30 do
      pts[i] = { (i % 3) * 10 + 0.01 * i, math.floor((i - 1) / 10) }
      labels[i] = i % 3
    end
    assert.are.equal(path, viz.scatter(path, pts, labels, { title = "three classes", xlabel = "a", ylabel = "b" }))
    local img = lio.read_png(path)
    assert.are.same({ 760, 640, 3 }, { img.width, img.height, img.channels })
    -- legend swatches: classes 0, 1, 2 in the palette's first three colours, at the right
    local lx, ly = 75 + (760 - 75 - 90) + 14 + 6, 45 + 10
    for c = 1, 3 do
      local got, want = pixel(img, lx, ly + 20 * (c - 1)), plot.palette[c]
      for k = 1, 3 do near(want[k], got[k], 2 / 255, "legend " .. (c - 1) .. " channel " .. k) end
    end
    -- there is no fourth swatch
    local below = pixel(img, lx, ly + 60)
    assert.are.same({ 1, 1, 1 }, below)
    -- the lowest-leftmost point (i = 3: x 0.03, y 0, class 0) is drawn in class 0's colour,
    -- blended with white (alpha 0.75): its centre is at the plot's margin, 4% in
    local cx = 75 + 0.04 / 1.08 * (760 - 75 - 90)
    local cy = 45 + (640 - 45 - 60) * (1 - 0.04 / 1.08)
    -- some pixel within 3 px of it is class 0's colour over white, w c + (1 - w), w >= 0.5
    -- (points overlap there, so w is not simply 0.75)
    local found = false
    local want = plot.palette[1]
    for dx = -3, 3 do
      for dy = -3, 3 do
        local p = pixel(img, math.floor(cx + 0.5) + dx, math.floor(cy + 0.5) + dy)
        local w = (1 - p[1]) / (1 - want[1])
        local ok = w >= 0.5 and w <= 1.01
        for k = 2, 3 do ok = ok and math.abs(p[k] - (1 - w * (1 - want[k]))) <= 0.03 end
        found = found or ok
      end
    end
    assert.is_true(found, "no point of class 0's colour near the lowest left point")
  end)

  it("works without labels and rejects bad input", function()
    local path = tmp .. "/plain.png"
    viz.scatter(path, { { 0, 0 }, { 1, 1 } }, nil, { width = 300, height = 200 })
    local img = lio.read_png(path)
    assert.are.same({ 300, 200 }, { img.width, img.height })
    fails_with("viz.scatter: labels must be a list of 2 labels (one per point), got 1 labels",
               viz.scatter, path, { { 0, 0 }, { 1, 1 } }, { 1 })
    fails_with("viz.scatter: point 2 must be {x, y} with two numbers", viz.scatter, path, { { 0, 0 }, { 1 } })
    fails_with("viz.scatter: points must be a non-empty list of {x, y}, got an empty table", viz.scatter, path, {})
    fails_with("viz.scatter: path must be a non-empty string, got nil", viz.scatter, nil, { { 0, 0 } })
    fails_with("viz.scatter: width and height must be integers of at least 200, got 50 and 640",
               viz.scatter, path, { { 0, 0 } }, nil, { width = 50 })
    fails_with("viz.scatter: cannot write /nonexistent-dir/x.png", viz.scatter, "/nonexistent-dir/x.png", { { 0, 0 } })
  end)
end)

describe("viz.image_grid", function()
  it("normalises each tile, upscales by nearest neighbour and separates tiles", function()
    local path = tmp .. "/grid.png"
    -- two 2x2 tiles from a Tensor [2,1,2,2]: 0..3 and a constant tile (drawn black)
    local t = lunet.tensor({ 0, 1, 2, 3, 5, 5, 5, 5 }, { 2, 1, 2, 2 })
    local _, info = viz.image_grid(path, t, { scale = 2, pad = 1 })
    assert.are.same({ rows = 1, cols = 2, width = 11, height = 6, scale = 2 }, info)
    local img = lio.read_png(path)
    assert.are.same({ 11, 6, 1 }, { img.width, img.height, img.channels })
    local rows = {}
    for y = 0, 5 do
      local row = {}
      for x = 0, 10 do row[x + 1] = math.floor(img.pixels[y * 11 + x] * 3 + 0.5) end   -- thirds
      rows[y + 1] = table.concat(row, " ")
    end
    assert.are.same({
      "3 3 3 3 3 3 3 3 3 3 3",
      "3 0 0 1 1 3 0 0 0 0 3",
      "3 0 0 1 1 3 0 0 0 0 3",
      "3 2 2 3 3 3 0 0 0 0 3",
      "3 2 2 3 3 3 0 0 0 0 3",
      "3 3 3 3 3 3 3 3 3 3 3",
    }, rows)
  end)

  it("lays out tables of rows and {width, height, pixels} images, by rows and cols", function()
    local path = tmp .. "/grid2.png"
    local images = {}
    for k = 1, 5 do images[k] = { width = 3, height = 1, pixels = { 0, k, 2 * k } } end
    images[6] = { { 1, 0, 1 } }
    local _, info = viz.image_grid(path, images, { rows = 2, pad = 2, separator = 0 })
    assert.are.same({ rows = 2, cols = 3, width = 3 * 63 + 8, height = 2 * 21 + 6, scale = 21 }, info)
    local img = lio.read_png(path)
    assert.are.same({ 197, 48 }, { img.width, img.height })
    near(0, img.pixels[0], 0, "separator")
    -- tile 6 (row 2, column 3) is 1 0 1: its middle third is black, its left white
    local y = 2 + 21 + 2 + 10
    near(1, img.pixels[y * 197 + 2 + 2 * (63 + 2) + 5], 0, "tile 6 left")
    near(0, img.pixels[y * 197 + 2 + 2 * (63 + 2) + 31], 0, "tile 6 middle")
    -- tile 2 is 0 2 4 -> 0, 0.5, 1 (0.5 stored as 128/255)
    near(128 / 255, img.pixels[10 * 197 + 2 + 65 + 31], 1e-6, "tile 2 middle")
  end)

  it("rejects bad input", function()
    local path = tmp .. "/bad.png"
    fails_with("viz.image_grid: image 2 is 2x1 but image 1 is 1x1; all must have one size",
               viz.image_grid, path, { { { 1 } }, { { 1, 2 } } })
    fails_with("viz.image_grid: a grid of 1 rows and 1 columns holds 1 images, not 2",
               viz.image_grid, path, { { { 1 } }, { { 2 } } }, { rows = 1, cols = 1 })
    fails_with("viz.image_grid: image 1: 3 pixels given, 2x2 needs 4", viz.image_grid, path,
               { { width = 2, height = 2, pixels = { 1, 2, 3 } } })
    fails_with("viz.image_grid: images must be a Tensor [..,H,W] or a non-empty list of images, got number",
               viz.image_grid, path, 7)
    fails_with("viz.image_grid: a Tensor of images needs at least 2 dimensions [..,H,W], got [4]",
               viz.image_grid, path, lunet.zeros({ 4 }))
    fails_with("viz.image_grid: scale must be a positive integer, got 0", viz.image_grid, path, { { { 1 } } }, { scale = 0 })
    fails_with("viz.image_grid: separator must be a grey level in [0, 1], got 2", viz.image_grid, path,
               { { { 1 } } }, { separator = 2 })
    fails_with("viz.image_grid: image 1 has 3 channels, expected 1 (grey)", viz.image_grid, path,
               { { width = 1, height = 1, channels = 3, pixels = { 1, 1, 1 } } })
  end)
end)

describe("viz.neighbour_agreement", function()
  it("counts points whose nearest neighbour shares their label", function()
    local pts = { { 0, 0 }, { 0.1, 0 }, { 5, 5 }, { 5.1, 5 }, { 0, 3 } }   -- the last is nearest (0, 0)
    near(0.8, viz.neighbour_agreement(pts, { "a", "a", "b", "b", "b" }), 1e-12)
    near(0.4, viz.neighbour_agreement(pts, { "a", "b", "b", "b", "b" }), 1e-12)
    fails_with("viz.neighbour_agreement: labels are needed", viz.neighbour_agreement, pts)
  end)
end)

describe("scripts/visualize.lua", function()
  local pipe = io.popen("pwd")
  local pwd = pipe:read("*l")   -- busted runs in the checkout (ctest's WORKING_DIRECTORY)
  pipe:close()
  local script = pwd .. "/scripts/visualize.lua"

  it("has --help", function()
    local out, _, status = run(script, { "--help" })
    assert.are.equal(0, status)
    for _, opt in ipairs({ "--model FILE", "--data DIR", "--n N", "--perplexity", "--iterations",
                           "--image INDEX", "--out DIR", "--untrained", "--seed", "--device" }) do
      assert.is_truthy(out:find(opt, 1, true), "--help lacks " .. opt)
    end
  end)

  it("says how to get a model when none is given, and rejects bad options", function()
    local cases = {
      { {}, "visualize: no model given: pass --model FILE" },
      { { "--model", tmp .. "/absent.safetensors" }, "visualize: --model " .. tmp
        .. "/absent.safetensors does not exist or cannot be read (train one first: luajit scripts/train_lenet.lua)" },
      { { "--untrained", "--model", "x" }, "visualize: give --model FILE or --untrained, not both" },
      { { "--untrained", "--n", "banana" }, "--n expects a number, got 'banana'" },
      { { "--untrained", "--n", "2" }, "visualize: --n must be an integer from 3 to 10000, got 2" },
      { { "--untrained", "--n", "100.5" }, "visualize: --n must be an integer from 3 to 10000, got 100.5" },
      { { "--untrained", "--iterations", "0" }, "visualize: --iterations must be an integer from 1 to 100000, got 0" },
      { { "--untrained", "--image", "10000" }, "visualize: --image must be an integer from 0 to 9999, got 10000" },
      { { "--untrained", "--n", "50", "--perplexity", "49" },
        "visualize: --perplexity must be at least 1 and less than N - 1 = 49 (--n 50), got 49" },
      { { "--untrained", "--learning-rate", "-1" }, "visualize: --learning-rate must be positive, got -1" },
      { { "--untrained", "--colour", "red" }, "unknown option --colour (see --help)" },
    }
    for _, c in ipairs(cases) do
      local _, err, status = run(script, c[1])
      assert.are.equal(2, status, table.concat(c[1], " ") .. ": " .. err)
      assert.is_truthy(err:find(c[2], 1, true), "expected '" .. c[2] .. "', got: " .. err)
    end
    local _, err = run(script, {})
    assert.is_truthy(err:find("train one first: luajit scripts/train_lenet.lua", 1, true), err)
    assert.is_truthy(err:find("--untrained", 1, true), err)
  end)

  it("names the problem with a model file that does not fit LeNet-5", function()
    local path = tmp .. "/wrong.safetensors"
    lio.save_tensors(path, { { name = "conv1.weight", value = lunet.zeros({ 3, 1, 5, 5 }) } })
    local _, err, status = run(script, { "--model", path, "--data", MNIST or tmp })
    assert.are.equal(2, status)
    assert.is_truthy(err:find("visualize: cannot load --model " .. path .. ": Sequential: load:", 1, true), err)
    local f = io.open(tmp .. "/garbage.safetensors", "wb"); f:write("not a safetensors file"); f:close()
    _, err, status = run(script, { "--model", tmp .. "/garbage.safetensors" })
    assert.are.equal(2, status)
    assert.is_truthy(err:find("visualize: cannot load --model", 1, true), err)
  end)

  it("fails clearly when MNIST is not where --data says", function()
    local _, err, status = run(script, { "--untrained", "--data", tmp .. "/no-mnist-here" })
    assert.are.equal(2, status)
    assert.is_truthy(err:find("MNIST not found in " .. tmp .. "/no-mnist-here", 1, true), err)
  end)

  if not MNIST then
    it("writes PNGs from a briefly trained model (needs MNIST)", function()
      pending("MNIST not found: set LUNET_MNIST_DIR (ctest sets it when ../shared/data/mnist or data/mnist exists)")
    end)
    return
  end

  local model_dir = tmp .. "/lenet"
  setup(function()
    local out, err, status = run(pwd .. "/scripts/train_lenet.lua",
                                 { "--data", MNIST, "--limit", "3000", "--epochs", "1", "--out", model_dir })
    assert(status == 0, "train_lenet failed: " .. out .. err)
  end)

  local function check_pngs(dir, n_points)
    local want = {
      ["pca.png"] = { 760, 640, 3 }, ["tsne.png"] = { 760, 640, 3 },
      ["filters.png"] = { 6 * 60 + 7 * 2, 60 + 4, 1 },            -- 6 tiles of 5x5 at x12
      ["featuremaps-conv1.png"] = { 6 * 84 + 7 * 2, 84 + 4, 1 },  -- 6 of 28x28 at x3
      ["featuremaps-conv2.png"] = { 8 * 60 + 9 * 2, 2 * 60 + 3 * 2, 1 },  -- 16 of 10x10 at x6
    }
    for name, dims in pairs(want) do
      local img = lio.read_png(dir .. "/" .. name)
      assert.are.same(dims, { img.width, img.height, img.channels }, name)
      -- not blank: some pixel differs from the first
      local first, varied = img.pixels[0], false
      for k = 0, img.width * img.height * img.channels - 1, 7 do varied = varied or img.pixels[k] ~= first end
      assert.is_true(varied, name .. " is blank")
    end
    assert(n_points)
  end

  it("writes the five PNGs from a briefly trained model, and prints files and timings", function()
    local out_dir = tmp .. "/viz-trained"
    local out, err, status = run(script, { "--model", model_dir .. "/model.safetensors", "--data", MNIST,
                                           "--n", "300", "--iterations", "250", "--out", out_dir,
                                           "--image", "7" })
    assert(status == 0, "visualize failed: " .. out .. err)
    check_pngs(out_dir, 300)
    for _, name in ipairs({ "pca.png", "tsne.png", "filters.png", "featuremaps-conv1.png", "featuremaps-conv2.png" }) do
      assert.is_truthy(out:find("wrote " .. out_dir .. "/" .. name, 1, true), name .. " not printed in: " .. out)
    end
    assert.is_truthy(out:find("t%-SNE: perplexity 30, 250 iterations, learning rate 200: affinities [0-9.]+ s, "
                              .. "descent [0-9.]+ s, total [0-9.]+ s; KL%(P||Q%) [0-9.]+"), out)
    assert.is_truthy(out:find("PCA: [0-9.]+ s; PC1 and PC2 explain"), out)
    assert.is_truthy(out:find("features: 300 x 84 from layer 11", 1, true), out)
    assert.is_truthy(out:find("test image 7 (a 9)", 1, true), out)   -- MNIST's test image 7 is a 9
    -- even this barely trained network's t-SNE groups digits far better than chance (10
    -- classes: about 10%; the 47-step model of the setup reaches about 60% test accuracy)
    local agreement = tonumber(out:match("t%-SNE:.-nearest%-neighbour label agreement ([0-9.]+)%%"))
    assert(agreement and agreement > 25, "t-SNE agreement " .. tostring(agreement))
  end)

  it("writes them for an untrained network into --out, by default beside the model otherwise", function()
    local out_dir = tmp .. "/viz-untrained"
    local out, err, status = run(script, { "--untrained", "--data", MNIST, "--n", "100",
                                           "--iterations", "50", "--out", out_dir, "--seed", "4" })
    assert(status == 0, "visualize --untrained failed: " .. out .. err)
    assert.is_truthy(out:find("untrained LeNet-5; 100 MNIST test images", 1, true), out)
    check_pngs(out_dir, 100)
    out, err, status = run(script, { "--model", model_dir .. "/model.safetensors", "--data", MNIST,
                                     "--n", "60", "--iterations", "20", "--perplexity", "10" })
    assert(status == 0, "visualize failed: " .. out .. err)
    check_pngs(model_dir .. "/viz", 60)
  end)
end)
