-- lunet.signals (the synthetic 1-D dataset) and scripts/train_conv1d.lua: the signals'
-- shapes, classes and determinism, a small signals run that must learn (> 80% in a few
-- seconds), the MNIST-as-sequences run (when LUNET_MNIST_DIR is set), the files written,
-- and the script's errors.
local lunet = require("lunet")
local signals = require("lunet.signals")
local lio = require("lunet.io")
local tu = require("testutil")

local MNIST = os.getenv("LUNET_MNIST_DIR")
local tmp = tu.tmpdir("conv1d-spec")

local slurp = tu.slurp

-- Runs scripts/train_conv1d.lua; returns stdout, stderr, the exit status and the seconds it took.
local function run(args) return tu.run("scripts/train_conv1d.lua", args, { tmp = tmp }) end

local function near(want, got, tol, what)
  tol = tol or 1e-5
  assert(math.abs(want - got) <= tol,
         string.format("%sexpected %.9g, got %.9g", what and (what .. ": ") or "", want, got))
end

local fails_with = tu.fails_exactly   -- the whole message must match

-- metrics.csv as a list of rows of numbers (the header checked).
local function read_metrics(path)
  local lines = {}
  for line in slurp(path):gmatch("[^\n]+") do lines[#lines + 1] = line end
  assert.are.equal("epoch,train_loss,test_accuracy,seconds", lines[1])
  local rows = {}
  for i = 2, #lines do
    local r = {}
    for v in lines[i]:gmatch("[^,]+") do r[#r + 1] = tonumber(v) end
    rows[#rows + 1] = r
  end
  return rows
end

describe("lunet.signals", function()
  it("makes [N,1,128] device signals with balanced labels 0..4", function()
    local x, y, labels = signals.generate(20, { seed = 3 })
    assert.are.same({ 20, 1, 128 }, x:shape())
    assert.are.same({ 20 }, y:shape())
    local yt = y:totable()
    for i = 1, 20 do
      assert.are.equal((i - 1) % 5, labels[i])
      assert.are.equal(labels[i], yt[i])
    end
    assert.are.same({ "sine", "square", "sawtooth", "triangle", "noise" }, signals.CLASSES)
    local ds = signals.dataset(12, { seed = 3, length = 32 })
    assert.are.same({ 12, 1, 32 }, ds.images:shape())
    assert.are.equal(5, ds.num_classes)
    local seen = 0
    for bx, by, count in ds:batches(5, { seed = 1 }) do
      assert.are.same({ count, 1, 32 }, bx:shape())
      assert.are.equal(count, by:numel())
      seen = seen + count
    end
    assert.are.equal(12, seen)
  end)

  it("draws each class's wave with the seeded frequency, phase and amplitude", function()
    local v, labels = signals.generate_host(10, { seed = 7, noise = 0, length = 64 })
    local L = 64
    for i = 0, 9 do
      local lo, hi, sum = math.huge, -math.huge, 0
      local levels = {}
      for t = 0, L - 1 do
        local s = v[i * L + t]
        lo, hi, sum = math.min(lo, s), math.max(hi, s), sum + s
        levels[string.format("%.5f", s)] = true
      end
      local class = signals.CLASSES[labels[i] + 1]
      if class == "square" then   -- exactly two levels, +A and -A, A in [0.5, 1.5]
        local n = 0
        for _ in pairs(levels) do n = n + 1 end
        assert.are.equal(2, n)
        near(hi, -lo, 1e-6)
        assert.is_true(hi >= 0.5 and hi <= 1.5, "amplitude " .. hi)
      elseif class ~= "noise" then   -- bounded by the amplitude, and crossing zero
        assert.is_true(hi <= 1.5 + 1e-6 and lo >= -1.5 - 1e-6, class)
        assert.is_true(hi > 0 and lo < 0, class .. " crosses zero")
      end
      if class == "sawtooth" then   -- rises by 2A * cycles / L per step, except at the wrap
        local rises = 0
        for t = 1, L - 1 do if v[i * L + t] > v[i * L + t - 1] then rises = rises + 1 end end
        assert.is_true(rises >= L - 1 - 8, "a sawtooth rises almost everywhere")
      end
    end
    -- the noise class: zero mean, standard deviation A/2 in [0.25, 0.75]
    local s, s2 = 0, 0
    for t = 0, L - 1 do s, s2 = s + v[4 * L + t], s2 + v[4 * L + t] ^ 2 end
    local sd = math.sqrt(s2 / L - (s / L) ^ 2)
    assert.is_true(sd > 0.15 and sd < 1.0, "noise sd " .. sd)
  end)

  it("is deterministic: the same seed gives the same signals, another seed others", function()
    local a = signals.generate_host(6, { seed = 11 })
    local b = signals.generate_host(6, { seed = 11 })
    local c = signals.generate_host(6, { seed = 12 })
    local same, differ = true, false
    for i = 0, 6 * 128 - 1 do
      same = same and a[i] == b[i]
      differ = differ or a[i] ~= c[i]
    end
    assert.is_true(same)
    assert.is_true(differ)
    near(a[5], signals.generate(6, { seed = 11 }):totable()[6], 1e-6)
  end)

  it("rejects bad arguments", function()
    fails_with("signals.generate: n must be a positive integer, got 0", signals.generate, 0)
    fails_with("signals.generate: n must be a positive integer, got 2.5", signals.generate_host, 2.5)
    fails_with("signals.generate: unknown option 'size' (length, seed, noise, min_cycles, max_cycles, min_amplitude, max_amplitude)",
               signals.generate, 4, { size = 3 })
    fails_with("signals.generate: length must be an integer of at least 8, got 4", signals.generate, 4, { length = 4 })
    fails_with("signals.generate: seed must be a non-negative integer, got -1", signals.generate, 4, { seed = -1 })
    fails_with("signals.generate: noise must be >= 0, got -0.5", signals.generate, 4, { noise = -0.5 })
    fails_with("signals.generate: noise must be a number, got x", signals.generate, 4, { noise = "x" })
    fails_with("signals.generate: cycles must satisfy 0 < min_cycles <= max_cycles <= length/2 (64), got 8 and 2",
               signals.generate, 4, { min_cycles = 8, max_cycles = 2 })
    fails_with("signals.generate: amplitudes must satisfy 0 < min_amplitude <= max_amplitude, got 0 and 1",
               signals.generate, 4, { min_amplitude = 0, max_amplitude = 1 })
    fails_with("signals.generate: options must be a table, got string", signals.generate, 4, "seed=1")
  end)
end)

describe("scripts/train_conv1d.lua", function()
  it("learns the signals task (> 80% test accuracy) in under 30 s and writes its files", function()
    local dir = tmp .. "/signals"
    local out, err, status, seconds = run({ "--task", "signals", "--limit", "4000", "--epochs", "4", "--out", dir })
    assert.are.equal(0, status, err .. out)
    assert.is_true(seconds < 30, string.format("took %.1f s", seconds))
    local rows = read_metrics(dir .. "/metrics.csv")
    assert.are.equal(4, #rows)
    for i, r in ipairs(rows) do
      assert.are.equal(i, r[1])
      assert.is_true(r[2] > 0 and r[2] < 2, "train loss " .. r[2])
      assert.is_true(r[4] > 0, "seconds")
    end
    assert.is_true(rows[4][3] > 0.8, string.format("test accuracy %.4f", rows[4][3]))
    assert.is_true(rows[4][2] < rows[1][2], "the loss goes down")
    assert.truthy(out:find(string.format("  test acc %6.2f%%", 100 * rows[4][3]), 1, true), out)
    assert.truthy(out:find("signals: 4000 training and 2000 test signals of length 128, 5 classes", 1, true), out)
    local img = lio.read_png(dir .. "/filters.png")
    assert.is_true(img.width >= 400 and img.height >= 300)
    -- model.safetensors holds the first layer's 16 filters of 9 taps
    local f = lio.open_tensors(dir .. "/model.safetensors")
    assert.are.same({ 16, 1, 9 }, f:shape("1.weight"))
    assert.are.equal("signals", f:metadata("task"))
    f:close()
    for _, name in ipairs({ "metrics.csv", "filters.png", "model.safetensors" }) do
      assert.truthy(out:find(dir .. "/" .. name, 1, true), name)
    end
  end)

  it("gives the same numbers for the same seed", function()
    local a = tmp .. "/seed-a"
    local b = tmp .. "/seed-b"
    for _, dir in ipairs({ a, b }) do
      local _, err, status = run({ "--task", "signals", "--limit", "500", "--epochs", "1", "--seed", "5", "--out", dir })
      assert.are.equal(0, status, err)
    end
    local ra, rb = read_metrics(a .. "/metrics.csv"), read_metrics(b .. "/metrics.csv")
    assert.are.equal(ra[1][2], rb[1][2])
    assert.are.equal(ra[1][3], rb[1][3])
  end)

  local mnist_it = MNIST and it or pending
  mnist_it("trains on MNIST read as sequences (--limit 2000 --epochs 1)" ..
           (MNIST and "" or ": LUNET_MNIST_DIR is not set"), function()
    local dir = tmp .. "/mnist"
    local out, err, status = run({ "--task", "mnist-rows", "--limit", "2000", "--epochs", "1", "--out", dir })
    assert.are.equal(0, status, err .. out)
    assert.truthy(out:find("MNIST as sequences: 2000 training and 10000 test images, each [28 channels (rows), 28 steps (columns)]", 1, true), out)
    local rows = read_metrics(dir .. "/metrics.csv")
    assert.are.equal(1, #rows)
    assert.is_true(rows[1][3] > 0.5, string.format("test accuracy %.4f after one epoch on 2000 images", rows[1][3]))
    local f = lio.open_tensors(dir .. "/model.safetensors")
    assert.are.same({ 64, 28, 3 }, f:shape("1.weight"))
    f:close()
    assert.truthy(lio.read_png(dir .. "/filters.png").width > 0)
  end)

  it("says what is wrong with bad arguments", function()
    local cases = {
      { { "--task", "audio" }, 2, "--task must be one of mnist-rows, signals, got 'audio'" },
      { { "--epochs", "0" }, 2, "train_conv1d: --epochs must be a positive integer, got 0 (see --help)" },
      { { "--limit", "2.5" }, 2, "train_conv1d: --limit must be a positive integer, got 2.5 (see --help)" },
      { { "--batch-size", "-4" }, 2, "train_conv1d: --batch-size must be a positive integer, got -4 (see --help)" },
      { { "--seed", "-1" }, 2, "train_conv1d: --seed must be a non-negative integer, got -1 (see --help)" },
      { { "--lr", "0" }, 2, "train_conv1d: --lr must be positive, got 0 (see --help)" },
      { { "--epochs", "many" }, 2, "--epochs expects a number, got 'many'" },
      { { "extra" }, 2, "train_conv1d: unexpected argument 'extra' (see --help)" },
      { { "--task", "mnist-rows", "--data", tmp .. "/nowhere", "--out", tmp .. "/nowhere-out" }, 1,
        "train_conv1d: MNIST not found in " .. tmp .. "/nowhere" },
      { { "--device", "no-such-device-xyz", "--out", tmp .. "/nodev" }, 1, "no-such-device-xyz" },
    }
    for _, c in ipairs(cases) do
      local out, err, status = run(c[1])
      assert.are.equal(c[2], status, table.concat(c[1], " ") .. ": " .. err .. out)
      assert.truthy(err:find(c[3], 1, true), "expected '" .. c[3] .. "' in: " .. err)
    end
  end)

  it("has --help", function()
    local out, _, status = run({ "--help" })
    assert.are.equal(0, status)
    for _, s in ipairs({ "usage: luajit scripts/train_conv1d.lua", "--task STRING", "--epochs", "--limit N",
                         "--seed", "--out DIR", "--device", "channel i is pixel row i", "filters.png" }) do
      assert.truthy(out:find(s, 1, true), s)
    end
  end)
end)
