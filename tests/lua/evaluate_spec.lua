-- scripts/evaluate.lua: its errors always, and, when MNIST is found (LUNET_TEST_MNIST), the
-- accuracy and confusion matrix of a model the spec trains itself.
local models = require("lunet.models")
local lio = require("lunet.io")
local tu = require("testutil")

local MNIST = os.getenv("LUNET_TEST_MNIST")
local SCRIPT = "scripts/evaluate.lua"
local tmp = tu.tmpdir("evaluate-spec")

-- Runs a script with LuaJIT; returns its stdout, stderr and exit status.
local function run(script, args) return tu.run(script, args, { tmp = tmp }) end

-- The numbers a run printed: accuracy, correct, total, confusion rows, per-class rows.
local function parse(out)
  local r = { confusion = {}, per_class = {} }
  local acc, correct, total = out:match("\naccuracy: (%d+%.%d%d)%% %((%d+)/(%d+)%)\n")
  r.accuracy, r.correct, r.total = tonumber(acc), tonumber(correct), tonumber(total)
  local section
  for line in out:gmatch("[^\n]+") do
    if line:match("^confusion matrix") then section = "confusion"
    elseif line:match("^per%-class accuracy") then section = "per_class"
    elseif section == "confusion" and line:match("^%s+%d+%s+%d") then
      local nums = {}
      for v in line:gmatch("%d+") do nums[#nums + 1] = tonumber(v) end
      if #nums == 10 then           -- the header: the predicted classes
        r.header = nums
      else                          -- the true class, then the counts
        r.confusion[#r.confusion + 1] = { class = nums[1], unpack(nums, 2) }
      end
    elseif section == "per_class" then
      local c, pct, right, n = line:match("^  (%d)%s+(%d+%.%d%d)%% %((%d+)/(%d+)%)$")
      if c then r.per_class[#r.per_class + 1] = { tonumber(c), tonumber(pct), tonumber(right), tonumber(n) } end
    end
  end
  return r
end

describe("scripts/evaluate.lua errors", function()
  local model = tmp .. "/untrained.safetensors"
  setup(function() models.lenet5():save(model, { dataset = "mnist" }) end)

  it("has --help", function()
    local out, _, status = run(SCRIPT, { "--help" })
    assert.are.equal(0, status)
    assert.matches("usage: luajit scripts/evaluate.lua --model FILE [options]", out, 1, true)
    assert.matches("--confusion PNG", out, 1, true)
    assert.matches("--batch-size NUMBER", out, 1, true)
  end)

  it("needs --model, a sensible --batch-size and no stray arguments", function()
    local out, err, status = run(SCRIPT, {})
    assert.are.equal(2, status)
    assert.are.equal("", out)
    assert.are.equal("evaluate: --model FILE is required (see --help)\n", err)
    _, err, status = run(SCRIPT, { "--model", model, "--batch-size", "0" })
    assert.are.equal(2, status)
    assert.are.equal("evaluate: --batch-size must be a positive integer, got 0 (see --help)\n", err)
    _, err, status = run(SCRIPT, { "--model", model, "extra.png" })
    assert.are.equal(2, status)
    assert.are.equal("evaluate: unexpected argument 'extra.png' (see --help)\n", err)
    _, err, status = run(SCRIPT, { "--model", model, "--dataset", "cifar" })
    assert.are.equal(2, status)
    assert.are.equal("--dataset must be one of mnist, fashion, got 'cifar'\n", err)
  end)

  it("names a missing or mismatched model file", function()
    local missing = tmp .. "/none.safetensors"
    local out, err, status = run(SCRIPT, { "--model", missing })
    assert.are.equal(1, status)
    assert.are.equal("", out)
    assert.are.equal("evaluate: Sequential: load: safetensors: cannot open " .. missing
                     .. ": No such file or directory\n", err)
    local five = tmp .. "/five.safetensors"
    models.lenet5({ num_classes = 5 }):save(five)
    _, err, status = run(SCRIPT, { "--model", five })
    assert.are.equal(1, status)
    assert.are.equal("evaluate: Sequential: load: fc3.weight: file has [5,84], model has [10,84]\n", err)
    local ckpt = tmp .. "/checkpoint.safetensors"
    lio.save_tensors(ckpt, { { name = "model.conv1.weight", value = models.lenet5():get(1).weight } })
    _, err, status = run(SCRIPT, { "--model", ckpt })
    assert.are.equal(1, status)
    assert.are.equal("evaluate: Sequential: load: " .. ckpt .. " has no tensor 'conv1.weight'\n", err)
    local text = tmp .. "/notes.safetensors"
    local f = io.open(text, "w"); f:write("hello\n"); f:close()
    _, err, status = run(SCRIPT, { "--model", text })
    assert.are.equal(1, status)
    assert.matches("^evaluate: Sequential: load: safetensors: .*notes%.safetensors", err)
  end)

  it("names a device that does not exist", function()
    local out, err, status = run(SCRIPT, { "--model", model, "--device", "99" })
    assert.are.equal(1, status)
    assert.are.equal("", out)
    assert.matches('^evaluate: device selector "99": no device with that index', err)
  end)

  it("names missing data", function()
    local nowhere = tmp .. "/no-data"
    local out, err, status = run(SCRIPT, { "--model", model, "--data", nowhere })
    assert.are.equal(1, status)
    assert.are.equal("", out)
    assert.are.equal("evaluate: MNIST not found in " .. nowhere .. ": run scripts/setup.sh, or set "
                     .. "LUNET_MNIST_DIR, or pass --data DIR (looked for t10k-images-idx3-ubyte.gz or "
                     .. "t10k-images-idx3-ubyte)\n", err)
    _, err, status = run(SCRIPT, { "--model", model, "--data", nowhere, "--dataset", "fashion" })
    assert.are.equal(1, status)
    assert.matches("^evaluate: Fashion%-MNIST not found in " .. nowhere:gsub("%p", "%%%0"), err)
  end)
end)

describe("scripts/evaluate.lua on a trained model", function()
  if not MNIST or MNIST == "" or not io.open(MNIST .. "/t10k-labels-idx1-ubyte.gz", "rb") then
    local why = (MNIST and MNIST ~= "") and ("MNIST not found in LUNET_TEST_MNIST=" .. MNIST)
                or "LUNET_TEST_MNIST is not set (ctest sets it when ../shared/data/mnist or data/mnist exists)"
    why = why .. ": skipping the tests that train and evaluate a model"
    print("# " .. why)
    it("evaluates a trained model (needs MNIST)", function() pending(why) end)
    return
  end

  local model = tmp .. "/lenet/model.safetensors"
  setup(function()
    local out, err, status = run("scripts/train_lenet.lua", { "--data", MNIST, "--limit", "6000",
      "--epochs", "2", "--out", tmp .. "/lenet" })
    assert(status == 0, "training failed:\n" .. out .. err)
  end)

  it("prints accuracy > 90%, a 10x10 confusion matrix of the 10,000 test images, per-class accuracy", function()
    local png = tmp .. "/confusion.png"
    local out, err, status = run(SCRIPT, { "--model", model, "--data", MNIST, "--confusion", png })
    assert.are.equal(0, status, err)
    assert.are.equal("", err)
    assert.matches("\nmodel: " .. model:gsub("%p", "%%%0") .. " %(LeNet%-5, 61706 parameters, trained on mnist%)\n", out)
    assert.matches("\ndata: MNIST test, 10000 images\n", out)
    local r = parse(out)
    assert.is_true(r.accuracy > 90, out)
    assert.are.equal(10000, r.total)
    assert.are.same({ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, r.header)
    assert.are.equal(10, #r.confusion, out)
    local sum, diagonal = 0, 0
    local test_counts = { 980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009 }   -- MNIST's test split
    for i, row in ipairs(r.confusion) do
      assert.are.equal(i - 1, row.class)
      assert.are.equal(10, #row)
      local row_sum = 0
      for j = 1, 10 do row_sum = row_sum + row[j] end
      assert.are.equal(test_counts[i], row_sum)
      sum, diagonal = sum + row_sum, diagonal + row[i]
      -- per-class accuracy agrees with the matrix
      local pc = r.per_class[i]
      assert.are.same({ i - 1, row[i], row_sum }, { pc[1], pc[3], pc[4] })
      assert.is_true(math.abs(pc[2] - 100 * row[i] / row_sum) < 0.006)
    end
    assert.are.equal(10000, sum)
    assert.are.equal(r.correct, diagonal)
    assert.is_true(math.abs(r.accuracy - diagonal / 100) < 0.006)
    assert.matches("\nwrote: " .. png:gsub("%p", "%%%0") .. "\n$", out)
    local img = lio.read_png(png)
    assert.are.equal(3, img.channels)
    assert.is_true(img.width > 400 and img.height > 400)

    -- the same numbers with another batch size (partial last batch) and the dataset named
    local out2, _, status2 = run(SCRIPT, { "--model", model, "--data", MNIST, "--batch-size", "333",
                                           "--dataset", "mnist" })
    assert.are.equal(0, status2)
    local r2 = parse(out2)
    assert.are.same(r.confusion, r2.confusion)
    assert.are.equal(r.correct, r2.correct)
  end)

  it("says so when the model was trained on another dataset", function()
    local renamed = tmp .. "/as-fashion.safetensors"
    local net = models.lenet5()
    net:load(model)
    net:save(renamed, { dataset = "fashion" })
    local out, _, status = run(SCRIPT, { "--model", renamed, "--data", MNIST, "--dataset", "mnist" })
    assert.are.equal(0, status)
    assert.matches("\nnote: the model was trained on fashion, evaluated here on mnist\n", out)
    assert.is_true(parse(out).accuracy > 90)
  end)
end)
