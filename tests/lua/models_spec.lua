-- lunet.models (LeNet-5, AlexNet, VGG-16), the summary with multiply-adds,
-- scripts/summary.lua, and scripts/torchvision_to_safetensors.py (when PyTorch is found:
-- $LUNET_TEST_PYTHON or /usr/bin/python3 with python3-torch).
local lunet = require("lunet")
local nn = require("lunet.nn")
local models = require("lunet.models")
local summary = require("lunet.nn.summary")
local tu = require("testutil")

local PYTHON = os.getenv("LUNET_TEST_PYTHON") or "/usr/bin/python3"
local REFERENCE = os.getenv("LUNET_TEST_REFERENCE") or "../shared/reference"
local tmp = tu.tmpdir("models-spec")

local q = tu.q

-- Runs scripts/summary.lua; returns its stdout, stderr and exit status.
local function run_script(args) return tu.run("scripts/summary.lua", args, { tmp = tmp }) end

-- Python never gets the sanitizer runtime that LD_PRELOAD gives luajit in the ASan build.
local function python(args) return tu.sh("env -u LD_PRELOAD " .. tu.command(PYTHON, args), tmp) end

local fails_with = tu.fails_exactly   -- the whole message must match

local function names_and_shapes(net)
  local list = {}
  for _, p in ipairs(net:parameters()) do list[#list + 1] = p.name .. " " .. lunet.shape_str(p.value:shape()) end
  return list
end

local function param(net, name)
  for _, p in ipairs(net:parameters()) do if p.name == name then return p.value end end
  error("no parameter " .. name)
end

describe("models.lenet5", function()
  it("has the course's 61,706 parameters, layer by layer, and its multiply-adds", function()
    local net = models.lenet5()
    assert.are.equal(61706, net:num_parameters())
    local rows, params, macs = summary.rows(net, { 1, 28, 28 })
    local per_layer, per_layer_macs, names = {}, {}, {}
    for _, r in ipairs(rows) do
      if r.params > 0 then
        per_layer[#per_layer + 1] = r.params
        per_layer_macs[#per_layer_macs + 1] = r.macs
        names[#names + 1] = r.path
      end
    end
    assert.are.same({ "conv1", "conv2", "fc1", "fc2", "fc3" }, names)
    assert.are.same({ 156, 2416, 48120, 10164, 850 }, per_layer)
    -- conv1 on 28x28 padded by 2: 28*28 outputs x 6 filters x 1*5*5; conv2: 10*10*16*6*25.
    assert.are.same({ 28 * 28 * 6 * 25, 10 * 10 * 16 * 6 * 25, 400 * 120, 120 * 84, 84 * 10 }, per_layer_macs)
    assert.are.same({ 117600, 240000, 48000, 10080, 840 }, per_layer_macs)
    assert.are.equal(61706, params)
    assert.are.equal(416520, macs)
  end)

  it("counts the same on the course's 32x32 input (no padding)", function()
    local rows, params, macs = summary.rows(models.lenet5({ input_size = 32 }), { 1, 32, 32 })
    assert.are.equal(61706, params)
    assert.are.equal(117600, rows[1].macs)
    assert.are.equal(416520, macs)
  end)

  it("prints the breakdown and both totals in the summary", function()
    local s = models.lenet5():summary({ 1, 28, 28 })
    local lines = {}
    for line in s:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal(12 + 5, #lines)
    assert.is_truthy(lines[1]:match("^#%s+name%s+layer%s+output%s+parameters%s+MACs$"), lines[1])
    assert.is_truthy(lines[4]:match("^1%s+conv1%s+Conv2d%(1, 6, 5x5, stride 1, pad 2%)%s+6x28x28%s+156%s+117,600$"), lines[4])
    assert.is_truthy(lines[7]:match("^4%s+conv2%s+Conv2d%(6, 16, 5x5.-%s+16x10x10%s+2,416%s+240,000$"), lines[7])
    assert.is_truthy(lines[11]:match("^8%s+fc1%s+Linear%(400, 120%)%s+120%s+48,120%s+48,000$"), lines[11])
    assert.is_truthy(lines[13]:match("^10%s+fc2%s+Linear%(120, 84%)%s+84%s+10,164%s+10,080$"), lines[13])
    assert.is_truthy(lines[15]:match("^12%s+fc3%s+Linear%(84, 10%)%s+10%s+850%s+840$"), lines[15])
    assert.is_truthy(lines[17]:match("^%s+total%s+61,706%s+416,520$"), lines[17])
  end)
end)

describe("models.alexnet", function()
  local net
  setup(function() net = models.alexnet() end)
  teardown(function() net = nil; collectgarbage() end)

  it("has torchvision's 61,100,840 parameters and its state_dict names and shapes", function()
    assert.are.equal(61100840, net:num_parameters())
    assert.are.same({
      "features.0.weight [64,3,11,11]", "features.0.bias [64]",
      "features.3.weight [192,64,5,5]", "features.3.bias [192]",
      "features.6.weight [384,192,3,3]", "features.6.bias [384]",
      "features.8.weight [256,384,3,3]", "features.8.bias [256]",
      "features.10.weight [256,256,3,3]", "features.10.bias [256]",
      "classifier.1.weight [4096,9216]", "classifier.1.bias [4096]",
      "classifier.4.weight [4096,4096]", "classifier.4.bias [4096]",
      "classifier.6.weight [1000,4096]", "classifier.6.bias [1000]",
    }, names_and_shapes(net))
  end)

  it("flattens 256x6x6 = 9216 features into the classifier and gives 1000 logits", function()
    assert.are.same({ 2, 256, 6, 6 }, net:get(1):output_shape({ 2, 3, 224, 224 }))
    assert.are.same({ 2, 1000 }, net:output_shape({ 2, 3, 224, 224 }))
    local rows, params, macs = summary.rows(net, { 3, 224, 224 })
    assert.are.equal(21, #rows)   -- 13 features, flatten, 7 classifier: no pooling at 224
    assert.are.equal("features.0", rows[1].path)
    assert.are.equal(55 * 55 * 64 * 3 * 11 * 11, rows[1].macs)   -- 70,276,800
    assert.are.same({ 1, 64, 55, 55 }, rows[1].output)
    assert.are.equal("flatten", rows[14].path)
    assert.are.same({ 1, 9216 }, rows[14].output)
    assert.are.equal("classifier.6", rows[21].path)
    assert.are.equal(61100840, params)
    assert.are.equal(714188480, macs)
    assert.is_truthy(net:summary({ 3, 224, 224 }):match("total%s+61,100,840%s+714,188,480"))
  end)

  it("runs one 224x224 image forward in eval mode to 1000 finite logits", function()
    net:eval()
    local y = net:forward(lunet.randn({ 1, 3, 224, 224 }, 3)):totable()
    assert.are.equal(1000, #y)
    local spread = 0
    for _, v in ipairs(y) do
      assert.is_true(v == v and math.abs(v) < 1e3)
      spread = math.max(spread, math.abs(v - y[1]))
    end
    assert.is_true(spread > 0)
    local again = net:forward(lunet.randn({ 1, 3, 224, 224 }, 3)):totable()
    assert.are.same(y, again)   -- eval mode: dropout is off, the same input gives the same logits
  end)
end)

describe("models.vgg16", function()
  it("has torchvision's 138,357,544 parameters, names, shapes and multiply-adds", function()
    local net = models.vgg16()
    assert.are.equal(138357544, net:num_parameters())
    local list = names_and_shapes(net)
    assert.are.equal(32, #list)   -- 13 convolutions and 3 dense layers, weight and bias each
    assert.are.equal("features.0.weight [64,3,3,3]", list[1])
    assert.are.equal("features.2.weight [64,64,3,3]", list[3])
    assert.are.equal("features.28.weight [512,512,3,3]", list[25])
    assert.are.equal("classifier.0.weight [4096,25088]", list[27])
    assert.are.equal("classifier.3.weight [4096,4096]", list[29])
    assert.are.equal("classifier.6.weight [1000,4096]", list[31])
    assert.are.equal("classifier.6.bias [1000]", list[32])
    local rows, params, macs = summary.rows(net, { 3, 224, 224 })
    assert.are.equal(31 + 1 + 7, #rows)
    assert.are.equal("features.30", rows[31].path)
    assert.are.same({ 1, 512, 7, 7 }, rows[31].output)
    assert.are.same({ 1, 25088 }, rows[32].output)
    assert.are.equal(138357544, params)
    assert.are.equal(15470264320, macs)
    net = nil
    collectgarbage()
  end)

  it("takes num_classes and an input whose feature maps average-pool to 7x7", function()
    local net = models.vgg16({ num_classes = 10, input_size = 448 })
    assert.are.equal(138357544 - 990 * 4096 - 990, net:num_parameters())
    assert.are.same({ "features", "avgpool", "flatten", "classifier" }, net.names)
    assert.are.equal("AvgPool2d(2x2, stride 2, pad 0)", net:get(2):describe())
    assert.are.same({ 3, 10 }, net:output_shape({ 3, 3, 448, 448 }))
    assert.are.same({ 10, 4096 }, param(net, "classifier.6.weight"):shape())
    net = nil
    collectgarbage()
  end)
end)

describe("zoo options", function()
  it("gives AlexNet any number of classes", function()
    local net = models.alexnet({ num_classes = 10, dropout = 0.25 })
    assert.are.equal(61100840 - 990 * 4096 - 990, net:num_parameters())
    assert.are.same({ 10, 4096 }, param(net, "classifier.6.weight"):shape())
    assert.are.equal("Dropout(p=0.25)", net:get(3):get(1):describe())
    net = nil
    collectgarbage()
  end)

  it("rejects bad options and input sizes with messages that say what works", function()
    local ada6 = "(torchvision's AdaptiveAvgPool2d((6, 6)) is a plain AvgPool2d here): input sizes 223 to 254 give 6x6"
    local ada7 = "(torchvision's AdaptiveAvgPool2d((7, 7)) is a plain AvgPool2d here): input sizes 224 to 255 give 7x7"
    fails_with("alexnet: input_size 100 gives 2x2 feature maps; they must be 6x6 or a whole multiple of that " .. ada6,
               models.alexnet, { input_size = 100 })
    fails_with("alexnet: input_size 32 is too small: its feature maps shrink to nothing; they must be 6x6 or a "
               .. "whole multiple of that " .. ada6, models.alexnet, { input_size = 32 })
    fails_with("vgg16: input_size 256 gives 8x8 feature maps; they must be 7x7 or a whole multiple of that " .. ada7,
               models.vgg16, { input_size = 256 })
    fails_with("vgg16: input_size 16 is too small: its feature maps shrink to nothing; they must be 7x7 or a "
               .. "whole multiple of that " .. ada7, models.vgg16, { input_size = 16 })
    fails_with("alexnet: num_classes must be a positive integer, got 0", models.alexnet, { num_classes = 0 })
    fails_with("vgg16: num_classes must be a positive integer, got 2.5", models.vgg16, { num_classes = 2.5 })
    fails_with("vgg16: input_size must be a positive integer, got big", models.vgg16, { input_size = "big" })
    fails_with("alexnet: dropout must be a number in [0, 1), got 1", models.alexnet, { dropout = 1 })
    fails_with("alexnet: unknown option 'classes' (num_classes, input_size, dropout)", models.alexnet, { classes = 10 })
    fails_with("vgg16: options must be a table like {num_classes = 1000, input_size = 224}, got number",
               models.vgg16, 10)
  end)
end)

describe("summary", function()
  it("opens nested Sequentials and names rows by their state_dict prefix", function()
    local inner = nn.Sequential():add(nn.Linear(4, 3), "0"):add(nn.ReLU(), "1")
    local net = nn.Sequential():add(nn.Conv1d(2, 4, 3), "conv"):add(nn.Flatten()):add(inner, "head")
    local rows, params, macs = summary.rows(net, { 2, 3 })
    assert.are.same({ "conv", "2", "head.0", "head.1" }, { rows[1].path, rows[2].path, rows[3].path, rows[4].path })
    assert.are.equal(1 * 4 * 2 * 3, rows[1].macs)   -- OL*O*C*K
    assert.are.equal(4 * 3, rows[3].macs)
    assert.are.equal(2 * 4 * 3 + 4 + 4 * 3 + 3, params)
    assert.are.equal(24 + 12, macs)
  end)

  it("marks a layer whose cost it does not know and leaves it out of the total", function()
    local Custom = nn.Module:extend("Custom")
    function Custom:init() nn.Module.init(self); self.weight = lunet.zeros({ 3 }); self.grad_weight = lunet.zeros({ 3 }) end
    local net = nn.Sequential(nn.Linear(2, 3), Custom())
    local rows, params, macs, unknown = summary.rows(net, { 2 })
    assert.is_nil(rows[2].macs)
    assert.are.equal(6, macs)
    assert.are.equal(1, unknown)
    assert.are.equal(9 + 3, params)
    assert.is_truthy(net:summary({ 2 }):match("total%s+12%s+6 %(%+1 unknown%)"))
    assert.is_truthy(net:summary({ 2 }):match("\n2%s+2%s+Custom%s+3%s+3%s+%?\n"))
  end)

  it("rejects a bad input shape", function()
    local ok, err = pcall(summary.rows, models.lenet5(), { 1, 20, 20 })
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("Linear: expected input [N,400], got [1,144]", 1, true), tostring(err))
  end)
end)

describe("scripts/summary.lua", function()
  it("has --help", function()
    local out, _, status = run_script({ "--help" })
    assert.are.equal(0, status)
    assert.is_truthy(out:find("usage: luajit scripts/summary.lua lenet5|alexnet|vgg16 [options]", 1, true))
    for _, o in ipairs({ "--num-classes N", "--input-size S", "--forward", "--device" }) do
      assert.is_truthy(out:find(o, 1, true), o .. " missing from:\n" .. out)
    end
  end)

  it("prints LeNet-5's table with the course's counts", function()
    local out, err, status = run_script({ "lenet5" })
    assert.are.equal(0, status, err)
    assert.is_truthy(out:find("lenet5, input 1x28x28, 10 classes", 1, true), out)
    assert.is_truthy(out:match("conv1%s+Conv2d%(1, 6, 5x5, stride 1, pad 2%)%s+6x28x28%s+156%s+117,600"), out)
    assert.is_truthy(out:match("total%s+61,706%s+416,520"), out)
    assert.is_nil(out:find("forward of", 1, true))
  end)

  it("prints VGG-16's and AlexNet's totals, with --num-classes and --input-size", function()
    local out, err, status = run_script({ "vgg16" })
    assert.are.equal(0, status, err)
    assert.is_truthy(out:match("total%s+138,357,544%s+15,470,264,320"), out)
    out, err, status = run_script({ "alexnet", "--num-classes", "10", "--input-size", "227" })
    assert.are.equal(0, status, err)
    assert.is_truthy(out:find("alexnet, input 3x227x227, 10 classes", 1, true), out)
    assert.is_truthy(out:match("classifier%.6%s+Linear%(4096, 10%)%s+10%s+40,970%s+40,960"), out)
    assert.is_truthy(out:match("total%s+57,044,810%s"), out)
  end)

  it("times a forward pass and reports memory with --forward", function()
    local out, err, status = run_script({ "alexnet", "--forward" })
    assert.are.equal(0, status, err)
    local ms = out:match("forward of one 3x224x224 image on [^\n]+: ([%d.]+) ms %(median of 3 runs after a warm%-up")
    assert.is_truthy(ms, out)
    assert.is_true(tonumber(ms) > 0)
    -- weights 61,100,840 * 4 bytes = 233.1 MiB; activations from the shapes: the input and the
    -- outputs of convolutions, ReLUs, pools and dense layers (not Flatten's view, not Dropout).
    local act = 3 * 224 * 224 + 2 * (64 * 55 * 55 + 192 * 27 * 27 + 384 * 13 * 13 + 256 * 13 * 13 * 2)
                + 64 * 27 * 27 + 192 * 13 * 13 + 256 * 6 * 6 + 2 * 4096 * 2 + 1000
    local want = string.format("device memory, weights + activations: %.1f MiB = 233.1 MiB + %.1f MiB",
                               (61100840 + act) * 4 / 2 ^ 20, act * 4 / 2 ^ 20)
    assert.is_truthy(out:find(want, 1, true), want .. "\nnot in:\n" .. out)
    local rss = tonumber(out:match("host peak RSS %(VmHWM%): ([%d.]+) MiB"))
    assert.is_truthy(rss, out)
    assert.is_true(rss > 1, out)
  end)

  it("rejects a missing, unknown or second model and bad numbers", function()
    local cases = {
      { {}, "summary: name a model: lenet5, alexnet, vgg16 (see --help)" },
      { { "resnet" }, "summary: unknown model 'resnet': expected one of lenet5, alexnet, vgg16 (see --help)" },
      { { "lenet5", "vgg16" }, "summary: expected one model name, got 2: lenet5 vgg16 (see --help)" },
      { { "vgg16", "--num-classes", "0" }, "summary: --num-classes must be a positive integer, got 0 (see --help)" },
      { { "vgg16", "--input-size", "1.5" }, "summary: --input-size must be a positive integer, got 1.5 (see --help)" },
      { { "lenet5", "--input-size", "30" },
        "summary: lenet5: input_size must be 28 (padded to 32) or 32, got 30 (see --help)" },
      { { "alexnet", "--input-size", "100" }, "summary: alexnet: input_size 100 gives 2x2 feature maps; they must be "
        .. "6x6 or a whole multiple of that (torchvision's AdaptiveAvgPool2d((6, 6)) is a plain AvgPool2d here): "
        .. "input sizes 223 to 254 give 6x6 (see --help)" },
      { { "lenet5", "--input-size", "big" }, "--input-size expects a number, got 'big'" },
      { { "lenet5", "--depth", "3" }, "unknown option --depth (see --help)" },
    }
    for _, c in ipairs(cases) do
      local out, err, status = run_script(c[1])
      assert.are.equal(2, status, table.concat(c[1], " "))
      assert.are.equal(c[2] .. "\n", err)
      assert.are.equal("", out)
    end
  end)

  it("says so when the device cannot be opened", function()
    local _, err, status = run_script({ "lenet5", "--device", "no-such-device-xyz" })
    assert.are.equal(1, status)
    assert.is_truthy(err:find("^summary: .*no%-such%-device%-xyz"), err)
  end)
end)

-- ---- scripts/torchvision_to_safetensors.py ----------------------------------------------

-- Writes the checkpoints the converter reads and the outputs PyTorch gives for fixed
-- inputs: tiny (AlexNet's naming on a small net), lenet (the reference LeNet5), alexnet
-- (torchvision's AlexNet, restated), vgg16 names (torchvision's VGG-16 state_dict names
-- and shapes only), and bad files.
local MAKE = [==[
import collections, os, sys
import torch
import torch.nn as nn

out, reference = sys.argv[1], sys.argv[2]
torch.manual_seed(0)

def dump(name, model, x):
    model.eval()
    torch.save(model.state_dict(), os.path.join(out, name + ".pth"))
    with torch.no_grad():
        y = model(x)
    with open(os.path.join(out, name + ".txt"), "w") as f:
        for t in (x, y):
            f.write(" ".join(str(d) for d in t.shape) + "\n")
            f.write(" ".join("%.9g" % v for v in t.flatten().tolist()) + "\n")

class Named(nn.Module):  # features, avgpool, flatten, classifier: torchvision's AlexNet and VGG
    def __init__(self, features, pool, classifier):
        super().__init__()
        self.features, self.avgpool, self.classifier = features, pool, classifier
    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

tiny = Named(nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                           nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)),
             nn.AdaptiveAvgPool2d((2, 2)),
             nn.Sequential(nn.Dropout(), nn.Linear(24, 8), nn.ReLU(inplace=True), nn.Dropout(),
                           nn.Linear(8, 8), nn.ReLU(inplace=True), nn.Linear(8, 5)))
dump("tiny", tiny, torch.randn(2, 3, 16, 16))

sys.path.insert(0, reference)
from torch_lenet import LeNet5
dump("lenet", LeNet5(), torch.randn(3, 1, 28, 28))

alexnet = Named(nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2)),
    nn.AdaptiveAvgPool2d((6, 6)),
    nn.Sequential(nn.Dropout(p=0.5), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
                  nn.Dropout(p=0.5), nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Linear(4096, 1000)))
dump("alexnet", alexnet, torch.randn(1, 3, 224, 224))
del alexnet

layers, c = [], 3   # torchvision's make_layers(cfgs["D"]), on the meta device: names and shapes only
for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
    if v == "M":
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    else:
        layers += [nn.Conv2d(c, v, kernel_size=3, padding=1, device="meta"), nn.ReLU(inplace=True)]
        c = v
vgg = Named(nn.Sequential(*layers), nn.AdaptiveAvgPool2d((7, 7)),
            nn.Sequential(nn.Linear(512 * 7 * 7, 4096, device="meta"), nn.ReLU(True), nn.Dropout(p=0.5),
                          nn.Linear(4096, 4096, device="meta"), nn.ReLU(True), nn.Dropout(p=0.5),
                          nn.Linear(4096, 1000, device="meta")))
with open(os.path.join(out, "vgg16_names.txt"), "w") as f:
    for k, v in vgg.state_dict().items():
        f.write("%s [%s]\n" % (k, ",".join(str(d) for d in v.shape)))

# DataParallel-style names, an integer buffer, a checkpoint dict around the state_dict.
sd = collections.OrderedDict([("module.fc.weight", torch.arange(6, dtype=torch.float64).reshape(2, 3)),
                              ("module.fc.bias", torch.tensor([0.5, -1.5], dtype=torch.float16)),
                              ("module.bn.num_batches_tracked", torch.tensor(7))])
torch.save({"epoch": 3, "state_dict": sd}, os.path.join(out, "wrapped.pth"))
torch.save([1, 2, 3], os.path.join(out, "list.pth"))
torch.save({"epoch": 3}, os.path.join(out, "no_tensors.pth"))
torch.save(nn.Linear(3, 2), os.path.join(out, "module.pth"))
with open(os.path.join(out, "garbage.pth"), "wb") as f:
    f.write(b"not a torch file")
]==]

-- {x = Tensor, y = {values}} from a .txt written by MAKE's dump.
local function read_io(path)
  local f = assert(io.open(path, "r"))
  local function row() return f:read("*l") end
  local function numbers(line)
    local t = {}
    for v in line:gmatch("%S+") do t[#t + 1] = tonumber(v) end
    return t
  end
  local x_shape, x = numbers(row()), numbers(row())
  local y_shape, y = numbers(row()), numbers(row())
  f:close()
  return lunet.tensor(x, x_shape), y, y_shape
end

local function close_to(want, got, tol)
  assert.are.equal(#want, #got)
  local scale, worst = 0, 0
  for i = 1, #want do
    scale = math.max(scale, math.abs(want[i]))
    worst = math.max(worst, math.abs(want[i] - got[i]))
  end
  assert.is_true(worst <= tol * math.max(scale, 1e-3),
                 string.format("max |diff| %.3g against max |y| %.3g", worst, scale))
end

local function convert(name, extra)
  local args = { "scripts/torchvision_to_safetensors.py", tmp .. "/" .. name .. ".pth",
                 tmp .. "/" .. name .. ".safetensors" }
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  return python(args)
end

describe("scripts/torchvision_to_safetensors.py", function()
  local have_torch = select(3, python({ "-c", "import torch" })) == 0
  local made = false
  setup(function()
    if not have_torch then return end
    local f = assert(io.open(tmp .. "/make.py", "w"))
    f:write(MAKE)
    f:close()
    local _, err, status = python({ tmp .. "/make.py", tmp, REFERENCE })
    assert.are.equal(0, status, err)
    made = true
  end)
  teardown(function() os.execute("rm -rf " .. q(tmp)) end)

  local function needs_torch()
    if not have_torch then
      pending("python3-torch is not installed for " .. PYTHON .. " (apt-get install python3-torch)")
      return false
    end
    assert.is_true(made)
    return true
  end

  it("has --help", function()
    if not needs_torch() then return end
    local out, _, status = python({ "scripts/torchvision_to_safetensors.py", "--help" })
    assert.are.equal(0, status)
    assert.is_truthy(out:find("--strip-prefix PREFIX", 1, true), out)
    assert.is_truthy(out:find("--allow-pickle", 1, true), out)
  end)

  it("converts a net named as torchvision's AlexNet, which lunet loads and runs to PyTorch's outputs", function()
    if not needs_torch() then return end
    local out, err, status = convert("tiny")
    assert.are.equal(0, status, err)
    assert.is_truthy(out:find("wrote " .. tmp .. "/tiny.safetensors: 10 tensors, 651 parameters", 1, true), out)
    local indexed = function(layers)
      local s = nn.Sequential()
      for i, m in ipairs(layers) do s:add(m, tostring(i - 1)) end
      return s
    end
    local net = nn.Sequential()
      :add(indexed({ nn.Conv2d(3, 4, 3, { stride = 2, padding = 1 }), nn.ReLU(), nn.MaxPool2d(2),
                     nn.Conv2d(4, 6, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool2d(2) }), "features")
      :add(nn.Flatten())
      :add(indexed({ nn.Dropout(), nn.Linear(24, 8), nn.ReLU(), nn.Dropout(), nn.Linear(8, 8), nn.ReLU(),
                     nn.Linear(8, 5) }), "classifier")
    net:load(tmp .. "/tiny.safetensors"):eval()
    local x, y, y_shape = read_io(tmp .. "/tiny.txt")
    local got = net:forward(x)
    assert.are.same(y_shape, got:shape())
    close_to(y, got:totable(), 1e-5)
    local f = require("lunet.io").open_tensors(tmp .. "/tiny.safetensors")
    assert.are.equal("pt", f:metadata("format"))
    assert.are.equal("tiny.pth", f:metadata("source"))
    assert.are.same({ "features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias",
                      "classifier.1.weight", "classifier.1.bias", "classifier.4.weight", "classifier.4.bias",
                      "classifier.6.weight", "classifier.6.bias" }, f:names())
    f:close()
  end)

  it("converts the reference PyTorch LeNet5, which models.lenet5() loads and runs to PyTorch's logits", function()
    if not needs_torch() then return end
    local _, err, status = convert("lenet")
    assert.are.equal(0, status, err)
    local net = models.lenet5():load(tmp .. "/lenet.safetensors")
    local x, y = read_io(tmp .. "/lenet.txt")
    close_to(y, net:forward(x):totable(), 1e-5)
  end)

  it("converts torchvision's AlexNet, which models.alexnet() loads and runs to PyTorch's logits", function()
    if not needs_torch() then return end
    local out, err, status = convert("alexnet")
    assert.are.equal(0, status, err)
    assert.is_truthy(out:find("16 tensors, 61100840 parameters, 244403360 bytes of data", 1, true), out)
    os.remove(tmp .. "/alexnet.pth")
    local net = models.alexnet():load(tmp .. "/alexnet.safetensors"):eval()
    os.remove(tmp .. "/alexnet.safetensors")
    local x, y = read_io(tmp .. "/alexnet.txt")
    close_to(y, net:forward(x):totable(), 1e-4)
    net = nil
    collectgarbage()
  end)

  it("matches torchvision's VGG-16 state_dict names and shapes", function()
    if not needs_torch() then return end
    local want = {}
    for line in io.lines(tmp .. "/vgg16_names.txt") do want[#want + 1] = line end
    assert.are.equal(32, #want)
    local net = models.vgg16()
    assert.are.same(want, names_and_shapes(net))
    net = nil
    collectgarbage()
  end)

  it("unwraps a checkpoint dict, strips a prefix, converts to F32 and leaves out integer tensors", function()
    if not needs_torch() then return end
    local out, err, status = convert("wrapped", { "--strip-prefix", "module." })
    assert.are.equal(0, status, err)
    assert.are.equal("torchvision_to_safetensors: left out bn.num_batches_tracked (torch.int64, not floating point)\n", err)
    assert.is_truthy(out:find("2 tensors, 8 parameters, 32 bytes of data", 1, true), out)
    local lio = require("lunet.io")
    local f = lio.open_tensors(tmp .. "/wrapped.safetensors")
    assert.are.same({ "fc.weight", "fc.bias" }, f:names())
    assert.are.same({ 0, 1, 2, 3, 4, 5 }, f:read("fc.weight"):totable())
    assert.are.same({ 0.5, -1.5 }, f:read("fc.bias"):totable())
    f:close()
    local net = nn.Sequential():add(nn.Linear(3, 2), "fc"):load(tmp .. "/wrapped.safetensors")
    assert.are.same({ 0, 1, 2, 3, 4, 5 }, net:get(1).weight:totable())
  end)

  it("reads a whole pickled module only with --allow-pickle", function()
    if not needs_torch() then return end
    local _, err, status = convert("module")
    assert.are.equal(1, status)
    assert.is_truthy(err:find("^torchvision_to_safetensors: cannot read " .. tmp:gsub("%p", "%%%0")
                              .. "/module%.pth as a torch%.save file: .*add %-%-allow%-pickle%)\n$"), err)
    local out
    out, err, status = convert("module", { "--allow-pickle" })
    assert.are.equal(0, status, err)
    assert.is_truthy(out:find("2 tensors, 8 parameters", 1, true), out)
  end)

  it("reports missing and wrong files and leaves no output behind", function()
    if not needs_torch() then return end
    local cases = {
      { "absent", "torchvision_to_safetensors: cannot open " .. tmp .. "/absent.pth: no such file\n" },
      { "list", "torchvision_to_safetensors: " .. tmp .. "/list.pth holds a list, expected a state_dict "
        .. "(a dict of name -> tensor)\n" },
      { "no_tensors", "torchvision_to_safetensors: " .. tmp .. "/no_tensors.pth holds no tensors: expected a "
        .. "state_dict (a dict of name -> tensor), got keys epoch\n" },
    }
    for _, c in ipairs(cases) do
      local out, err, status = convert(c[1])
      assert.are.equal(1, status, c[1])
      assert.are.equal(c[2], err)
      assert.are.equal("", out)
      assert.is_nil(io.open(tmp .. "/" .. c[1] .. ".safetensors", "rb"))
    end
    local _, err, status = convert("garbage")
    assert.are.equal(1, status)
    assert.is_truthy(err:find("torchvision_to_safetensors: cannot read " .. tmp .. "/garbage.pth as a torch.save file: ",
                              1, true), err)
    _, err, status = python({ "scripts/torchvision_to_safetensors.py", tmp .. "/wrapped.pth",
                              tmp .. "/no-such-dir/out.safetensors" })
    assert.are.equal(1, status)
    assert.are.equal("torchvision_to_safetensors: cannot write " .. tmp .. "/no-such-dir/out.safetensors: "
                     .. "No such file or directory\n", err:gsub("^[^\n]*left out[^\n]*\n", ""))
  end)
end)
