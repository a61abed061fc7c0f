-- scripts/train_lenet.lua end to end on real MNIST: outputs, determinism, resume.
local lio = require("lunet.io")

local mnist = os.getenv("LUNET_MNIST_DIR")
local tmp = (os.getenv("LUNET_TEST_TMP") or "/tmp") .. "/train_spec"

local function sh(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end

local function train(out, extra)
  os.execute("rm -rf '" .. out .. "'")
  local cmd = string.format("luajit scripts/train_lenet.lua --data '%s' --limit 1600 --epochs 3 --batch-size 50 "
                            .. "--seed 7 --out '%s' %s > '%s.log' 2>&1", mnist, out, extra or "", out)
  return sh(cmd)
end

local function read_all(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function weights(path)
  local f = lio.open_tensors(path)
  local all = {}
  for _, name in ipairs(f:names()) do
    local buf, n = f:read_floats(name)
    local t = {}
    for i = 0, n - 1 do t[i + 1] = buf[i] end
    all[name] = t
  end
  f:close()
  return all
end

-- metrics.csv without the seconds column
local function losses(dir)
  local rows = {}
  for line in read_all(dir .. "/metrics.csv"):gmatch("[^\n]+") do
    rows[#rows + 1] = line:match("^(.*),[^,]*$")
  end
  return rows
end

local function needs_mnist()
  if not mnist then
    pending("MNIST not found: set LUNET_MNIST_DIR or run scripts/setup.sh")
    return true
  end
end

describe("train_lenet.lua", function()
  setup(function() os.execute("mkdir -p '" .. tmp .. "'") end)

  it("writes the model, checkpoint, metrics and plots, and says where", function()
    if needs_mnist() then return end
    assert.is_true(train(tmp .. "/a"), read_all(tmp .. "/a.log"))
    local log = read_all(tmp .. "/a.log")
    for _, name in ipairs({ "model.safetensors", "checkpoint.safetensors", "metrics.csv", "curves.png", "confusion.png" }) do
      assert.is_truthy(log:find(tmp .. "/a/" .. name, 1, true), name .. " not reported:\n" .. log)
      assert.is_truthy(io.open(tmp .. "/a/" .. name, "rb"), name .. " missing")
    end
    local rows = losses(tmp .. "/a")
    assert.are.equal("epoch,train_loss,train_accuracy,test_accuracy", rows[1])
    assert.are.equal(4, #rows)
    local test_acc = tonumber(read_all(tmp .. "/a/metrics.csv"):match("\n3,[^,]+,[^,]+,([^,]+),"))
    assert.is_true(test_acc > 0.85, "test accuracy after 3 short epochs: " .. tostring(test_acc))
    -- PyTorch's state-dict names and shapes
    local f = lio.open_tensors(tmp .. "/a/model.safetensors")
    assert.are.same({ "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias",
                      "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias" }, f:names())
    assert.are.same({ 6, 1, 5, 5 }, f:shape("conv1.weight"))
    assert.are.same({ 120, 400 }, f:shape("fc1.weight"))
    assert.are.equal("pt", f:metadata("format"))
    f:close()
  end)

  it("gives the same losses and weights for the same seed", function()
    if needs_mnist() then return end
    assert.is_true(train(tmp .. "/b"), read_all(tmp .. "/b.log"))
    assert.are.same(losses(tmp .. "/a"), losses(tmp .. "/b"))
    assert.are.same(weights(tmp .. "/a/model.safetensors"), weights(tmp .. "/b/model.safetensors"))
  end)

  it("ends an interrupted and resumed run with the weights of an uninterrupted one", function()
    if needs_mnist() then return end
    assert.is_true(train(tmp .. "/c", "--stop-after 1"), read_all(tmp .. "/c.log"))
    assert.are.equal(2, #losses(tmp .. "/c"))
    local cmd = string.format("luajit scripts/train_lenet.lua --data '%s' --limit 1600 --epochs 3 --batch-size 50 "
                              .. "--seed 7 --resume '%s' > '%s/resume.log' 2>&1", mnist, tmp .. "/c", tmp)
    assert.is_true(sh(cmd), read_all(tmp .. "/resume.log"))
    assert.is_truthy(read_all(tmp .. "/resume.log"):find("resuming .* after epoch 1"))
    assert.are.same(weights(tmp .. "/a/model.safetensors"), weights(tmp .. "/c/model.safetensors"))
    assert.are.same(losses(tmp .. "/a"), losses(tmp .. "/c"))
  end)

  it("refuses to resume with another optimizer, and explains a missing checkpoint", function()
    if needs_mnist() then return end
    local cmd = string.format("luajit scripts/train_lenet.lua --data '%s' --optimizer adam --seed 7 --resume '%s' > '%s/bad.log' 2>&1",
                              mnist, tmp .. "/c", tmp)
    assert.is_false(sh(cmd))
    assert.is_truthy(read_all(tmp .. "/bad.log"):find("the checkpoint was made with --optimizer sgd, not adam", 1, true))
    cmd = string.format("luajit scripts/train_lenet.lua --data '%s' --resume '%s/nothing-here' > '%s/bad2.log' 2>&1",
                        mnist, tmp, tmp)
    assert.is_false(sh(cmd))
    assert.is_truthy(read_all(tmp .. "/bad2.log"):find("checkpoint.safetensors", 1, true))
  end)

  it("says where MNIST comes from when it is missing", function()
    local cmd = string.format("luajit scripts/train_lenet.lua --data '%s/no-mnist' --out '%s/x' > '%s/nodata.log' 2>&1", tmp, tmp, tmp)
    assert.is_false(sh(cmd))
    local log = read_all(tmp .. "/nodata.log")
    assert.is_truthy(log:find("MNIST not found", 1, true), log)
    assert.is_truthy(log:find("setup.sh", 1, true), log)
  end)
end)
