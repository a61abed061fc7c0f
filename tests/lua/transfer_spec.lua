-- scripts/transfer_learning.lua: --quick end to end on real MNIST (pending without it),
-- the reuse of the stored activations and of the source model, --source-model, and the
-- error paths (bad options, missing data, a wrong source model, Fashion-MNIST absent).
local lio = require("lunet.io")
local tu = require("testutil")

local MNIST = os.getenv("LUNET_MNIST_DIR")
local tmp = tu.tmpdir("transfer-spec")

local slurp = tu.slurp

-- Runs the script; returns stdout, stderr, exit status and seconds.
local function run(args) return tu.run("scripts/transfer_learning.lua", args, { tmp = tmp }) end

local function needs_mnist()
  if not MNIST then
    pending("MNIST not found: set LUNET_MNIST_DIR (ctest does when ../shared/data/mnist or data/mnist exists)")
    return true
  end
end

-- results.csv as a list of {budget=, method=, accuracy=, seconds=}
local function results(dir)
  local text = slurp(dir .. "/results.csv")
  local lines = {}
  for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
  assert.are.equal("budget,method,accuracy,seconds", lines[1])
  local rows = {}
  for i = 2, #lines do
    local b, m, a, s = lines[i]:match("^([^,]+),([^,]+),([^,]+),([^,]+)$")
    assert.is_truthy(b, "bad line: " .. lines[i])
    rows[#rows + 1] = { budget = b, method = m, accuracy = tonumber(a), seconds = tonumber(s) }
  end
  return rows
end

describe("transfer_learning.lua --quick", function()
  local out = tmp .. "/quick"
  local stdout, stderr, status, seconds

  setup(function()
    if MNIST then stdout, stderr, status, seconds = run({ "--quick", "--seed", "3", "--out", out }) end
  end)

  it("runs end to end in CI time and says what it wrote", function()
    if needs_mnist() then return end
    assert.are.equal(0, status, stdout .. stderr)
    assert.is_true(seconds < 60, "took " .. seconds .. " s")
    for _, name in ipairs({ "results.csv", "accuracy.png", "source_model.safetensors" }) do
      assert.is_truthy(stdout:find(out .. "/" .. name, 1, true), name .. " not reported:\n" .. stdout)
      assert.is_truthy(io.open(out .. "/" .. name, "rb"), name .. " missing")
    end
    assert.are.equal("\137PNG", slurp(out .. "/accuracy.png"):sub(1, 4))
    assert.is_truthy(stdout:find("train: extracted 1500 x 400 activations", 1, true), stdout)
    assert.is_truthy(stdout:find("test: extracted 1000 x 400 activations", 1, true), stdout)
    assert.is_truthy(stdout:find("labels +images +method +accuracy +seconds +steps"), stdout)
  end)

  it("writes the 3 methods x budgets rows, accuracies in [0,1], the head beating chance", function()
    if needs_mnist() then return end
    local rows = results(out)
    assert.are.equal(9, #rows)
    local i = 0
    for _, budget in ipairs({ "5", "20", "all" }) do
      for _, method in ipairs({ "head", "finetune", "scratch" }) do
        i = i + 1
        assert.are.equal(budget, rows[i].budget)
        assert.are.equal(method, rows[i].method)
        assert.is_true(rows[i].accuracy >= 0 and rows[i].accuracy <= 1, "accuracy " .. rows[i].accuracy)
        assert.is_true(rows[i].seconds >= 0)
      end
    end
    -- 5 classes: chance is 0.2. The head on stored activations does far better, and with
    -- every label better than with 5 per class.
    assert.is_true(rows[1].accuracy > 0.5, "head, 5 labels per class: " .. rows[1].accuracy)
    assert.is_true(rows[7].accuracy > 0.8, "head, all labels: " .. rows[7].accuracy)
    assert.is_true(rows[7].accuracy > rows[1].accuracy)
  end)

  it("stores the activations as lunet.features documents", function()
    if needs_mnist() then return end
    local f = lio.open_tensors(out .. "/features/digits-train/index.safetensors")
    assert.are.equal("lunet.features", f:metadata("format"))
    assert.are.equal("1500", f:metadata("count"))
    assert.are.equal("400", f:metadata("feature_dim"))
    assert.are.equal("MNIST train", f:metadata("dataset"))
    assert.are.equal("train", f:metadata("split"))
    assert.are.equal("5", f:metadata("num_classes"))
    f:close()
    local p = lio.open_tensors(out .. "/features/digits-test/part-0000.safetensors")
    assert.are.same({ 1000, 400 }, p:shape("features"))
    assert.are.equal("test", p:metadata("split"))
    p:close()
  end)

  it("reuses the source model and the stored activations, and gives the same numbers", function()
    if needs_mnist() then return end
    local first = slurp(out .. "/results.csv")
    local stdout2, stderr2, status2 = run({ "--quick", "--seed", "3", "--out", out })
    assert.are.equal(0, status2, stdout2 .. stderr2)
    assert.is_truthy(stdout2:find("source model (reused " .. out .. "/source_model.safetensors)", 1, true), stdout2)
    assert.is_truthy(stdout2:find("train: reused the stored activations in " .. out .. "/features/digits-train", 1, true),
                     stdout2)
    assert.is_truthy(stdout2:find("test: reused the stored activations", 1, true), stdout2)
    local a, b = results(out), nil
    b = {}
    for line in first:gmatch("[^\n]+") do b[#b + 1] = line:match("^([^,]+,[^,]+,[^,]+)") end
    for i, r in ipairs(a) do
      assert.are.equal(b[i + 1], string.format("%s,%s,%.6f", r.budget, r.method, r.accuracy))
    end
  end)

  it("takes --source-model, and rebuilds the stored activations for another trunk", function()
    if needs_mnist() then return end
    local out2 = tmp .. "/given-source"
    local stdout2, stderr2, status2 = run({ "--quick", "--seed", "3", "--source-model", out .. "/source_model.safetensors",
                                            "--cache", out .. "/features", "--cut", "9",
                                            "--labels-per-class", "10", "--out", out2 })
    assert.are.equal(0, status2, stdout2 .. stderr2)
    assert.is_truthy(stdout2:find("source model (loaded from " .. out .. "/source_model.safetensors)", 1, true), stdout2)
    assert.is_truthy(stdout2:find("120 features per image", 1, true), stdout2)
    assert.is_truthy(stdout2:find("train: extracted 1500 x 120 activations in [0-9.]+ s into .* %(stored anew: trunk changed"),
                     stdout2)
    local rows = results(out2)
    assert.are.equal(3, #rows)
    assert.are.equal("10", rows[1].budget)
  end)

  it("explains a source model that is not a 5-output LeNet-5", function()
    if needs_mnist() then return end
    local wrong = tmp .. "/wrong.safetensors"
    require("lunet.models").lenet5():save(wrong)   -- 10 outputs
    local _, err, st = run({ "--quick", "--source-model", wrong, "--out", tmp .. "/wrong" })
    assert.are.equal(2, st)
    assert.is_truthy(err:find("--source-model " .. wrong .. ": Sequential: load: fc3.weight: file has [10,84], model has [5,84]",
                              1, true), err)
    assert.is_truthy(err:find("expected a LeNet-5 with 5 outputs trained on digits 0-4", 1, true), err)
    _, err, st = run({ "--quick", "--source-model", tmp .. "/none.safetensors", "--out", tmp .. "/wrong" })
    assert.are.equal(2, st)
    assert.is_truthy(err:find("cannot open " .. tmp .. "/none.safetensors: No such file or directory", 1, true), err)
  end)

  it("transfers to Fashion-MNIST (10 classes) with --target fashion, cut after fc2 (84 features)", function()
    if needs_mnist() then return end
    local f = io.open("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz", "rb")
    if not f then
      pending("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
      return
    end
    f:close()
    local out2 = tmp .. "/fashion-ok"
    local stdout2, stderr2, status2 = run({ "--quick", "--target", "fashion", "--cut", "11", "--labels-per-class", "5",
                                            "--out", out2 })
    assert.are.equal(0, status2, stdout2 .. stderr2)
    assert.is_truthy(stdout2:find("target: Fashion-MNIST, 10 classes, 1500 training and 1000 test images", 1, true), stdout2)
    assert.is_truthy(stdout2:find("84 features per image", 1, true), stdout2)
    local rows = results(out2)
    assert.are.equal(3, #rows)
    -- 10 classes: chance is 0.1
    assert.is_true(rows[1].accuracy > 0.3, "head, 5 labels per class: " .. rows[1].accuracy)
  end)

  it("says to install dataset-fashion-mnist when Fashion-MNIST is absent", function()
    if needs_mnist() then return end
    local _, err, st = run({ "--quick", "--target", "fashion", "--target-data", tmp .. "/no-fashion",
                             "--out", tmp .. "/fashion" })
    assert.are.equal(2, st)
    assert.is_truthy(err:find("Fashion-MNIST not found in " .. tmp .. "/no-fashion", 1, true), err)
    assert.is_truthy(err:find("apt-get install dataset-fashion-mnist", 1, true), err)
  end)
end)

describe("transfer_learning.lua options and errors", function()
  it("--help lists the options", function()
    local stdout, _, status = run({ "--help" })
    assert.are.equal(0, status)
    for _, o in ipairs({ "--out DIR", "--source-model FILE", "--epochs-source", "--cut N", "--target",
                         "--labels-per-class LIST", "--seed", "--device", "--data DIR", "--quick", "--cache DIR" }) do
      assert.is_truthy(stdout:find(o, 1, true), o .. " missing from --help:\n" .. stdout)
    end
    assert.is_truthy(stdout:find("(default: 10,100,1000,all; with --quick 5,20,all)", 1, true))
  end)

  it("rejects bad values with a message naming the option and the value", function()
    local cases = {
      { { "--cut", "4" }, "--cut must be 7 to 11 (7: after the conv/pool/flatten layers, 9: after fc1, 11: after fc2), got 4" },
      { { "--cut", "12" }, "--cut must be 7 to 11" },
      { { "--labels-per-class", "10,ten" }, "--labels-per-class must list positive integers or 'all', like 10,100,all; got 'ten' in '10,ten'" },
      { { "--labels-per-class", "0" }, "got '0' in '0'" },
      { { "--labels-per-class", "10,all,10" }, "--labels-per-class lists 10 twice" },
      { { "--epochs-source", "1.5" }, "--epochs-source must be a positive integer, got 1.5" },
      { { "--seed", "-1" }, "--seed must be a non-negative integer, got -1" },
      { { "--target", "cifar" }, "--target must be one of digits, fashion, got 'cifar'" },
      { { "--epochs-source", "many" }, "--epochs-source expects a number, got 'many'" },
      { { "--bogus" }, "unknown option --bogus" },
    }
    for _, c in ipairs(cases) do
      local _, err, status = run(c[1])
      assert.are.equal(2, status, table.concat(c[1], " "))
      assert.is_truthy(err:find(c[2], 1, true), "for " .. table.concat(c[1], " ") .. ": " .. err)
    end
  end)

  it("says where MNIST comes from when it is missing", function()
    local _, err, status = run({ "--data", tmp .. "/no-mnist", "--out", tmp .. "/nodata" })
    assert.are.equal(2, status)
    assert.is_truthy(err:find("MNIST not found in " .. tmp .. "/no-mnist", 1, true), err)
    assert.is_truthy(err:find("setup.sh", 1, true), err)
  end)
end)
