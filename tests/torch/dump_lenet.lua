-- Trains lunet's LeNet-5 briefly on MNIST, then writes what tests/torch/compare_lenet.py
-- checks against PyTorch: the model (model.safetensors, saved with net:save) and the first
-- test images with lunet's logits for them (lunet_logits.safetensors).
--   luajit tests/torch/dump_lenet.lua --help
local script_dir = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "."
package.path = script_dir .. "/../../lua/?.lua;" .. script_dir .. "/../../lua/?/init.lua;" .. package.path

local cli = require("lunet.cli")
local opts = cli.parse(arg, {
  usage = "luajit tests/torch/dump_lenet.lua [options]",
  description = "Builds models.lenet5() with --seed, trains it for --steps steps of SGD (momentum 0.9)\n"
    .. "on the first --train-images MNIST training images, and writes into --out:\n"
    .. "  model.safetensors        the parameters (net:save), conv1.weight ... fc3.bias\n"
    .. "  lunet_logits.safetensors images [N,1,28,28] (normalised as lunet.data does), labels [N]\n"
    .. "                           and logits [N,10] of the model in eval mode, for the first\n"
    .. "                           --test-images MNIST test images.\n"
    .. "Then: python3 tests/torch/compare_lenet.py --dir OUT",
  options = {
    { "data", "string", nil, "folder with the four MNIST IDX files (default: LUNET_MNIST_DIR, else data/mnist)", metavar = "DIR" },
    { "out", "string", nil, "output folder (default: runs/torch-lenet)", metavar = "DIR" },
    { "seed", "number", 1, "seed for initialisation and shuffling" },
    { "steps", "number", 50, "SGD steps (0: keep the random initialisation)" },
    { "train-images", "number", 3200, "train on the first N training images", metavar = "N" },
    { "batch-size", "number", 64, "images per step" },
    { "lr", "number", 0.05, "learning rate (momentum 0.9)" },
    { "test-images", "number", 256, "compute logits for the first N test images", metavar = "N" },
    { "device", "string", nil, "OpenCL device: index or name substring (default: LUNET_DEVICE, first GPU, first device)" },
  },
})

local function die(msg) io.stderr:write("dump_lenet: ", msg, "\n"); os.exit(2) end
for _, k in ipairs({ "steps", "train_images", "batch_size", "test_images", "seed" }) do
  local v, low = opts[k], (k == "steps" or k == "seed") and 0 or 1
  if v < low or v ~= math.floor(v) then
    die(string.format("--%s must be an integer >= %d, got %s", k:gsub("_", "-"), low, tostring(v)))
  end
end
if not (opts.lr > 0) then die("--lr must be > 0, got " .. tostring(opts.lr)) end

local lunet = require("lunet")
if opts.device then
  local ok, err = pcall(lunet.set_device, opts.device)
  if not ok then die(tostring(err)) end
end
local nn = require("lunet.nn")
local optim = require("lunet.optim")
local models = require("lunet.models")
local data = require("lunet.data")
local lio = require("lunet.io")

local out = opts.out or (script_dir .. "/../../runs/torch-lenet")
local made = os.execute("mkdir -p '" .. out .. "' 2>/dev/null")
if made ~= 0 and made ~= true then die("cannot create the folder " .. out) end

local ok, train, test = pcall(function()
  return data.mnist(opts.data, "train", { limit = opts.train_images }),
         data.mnist(opts.data, "test", { limit = opts.test_images })
end)
if not ok then die(tostring(train)) end

lunet.manual_seed(opts.seed)
local net = models.lenet5()
local opt = optim.SGD(net:parameters(), { lr = opts.lr, momentum = 0.9 })
local loss_fn = nn.CrossEntropyLoss()

local step, epoch, first_loss, last_loss = 0, 0, nil, nil
while step < opts.steps do
  epoch = epoch + 1
  for x, y in train:batches(opts.batch_size, { seed = opts.seed * 100003 + epoch }) do
    net:zero_grad()
    local logits = net:forward(x)
    local loss = loss_fn:forward(logits, y)
    first_loss = first_loss or loss
    last_loss = loss
    net:backward(x, loss_fn:backward(logits, y))
    opt:step()
    step = step + 1
    if step >= opts.steps then break end
  end
end

net:eval()
local logits = net:forward(test.images)   -- one batch: [N,1,28,28] -> [N,10]
local v, k = logits:tobuffer(), logits:dim(2)
local correct = 0
for i = 0, test.n - 1 do
  local best = 0
  for j = 1, k - 1 do if v[i * k + j] > v[i * k + best] then best = j end end
  if best == test.host_labels[i] then correct = correct + 1 end
end

local model_path, logits_path = out .. "/model.safetensors", out .. "/lunet_logits.safetensors"
local saved, err = pcall(function()
  net:save(model_path, { seed = tostring(opts.seed), steps = tostring(opts.steps) })
  lio.save_tensors(logits_path, {
    { name = "images", value = test.images },
    { name = "labels", value = test.labels },
    { name = "logits", value = logits },
  }, { seed = tostring(opts.seed), steps = tostring(opts.steps), lunet = lunet.version,
       normalize_mean = tostring(test.normalize.mean), normalize_std = tostring(test.normalize.std) })
end)
if not saved then die(tostring(err)) end

local device = lunet.device()
print(string.format("lunet %s on %s (%s)", lunet.version, device.name, device.platform))
if opts.steps > 0 then
  print(string.format("trained LeNet-5 (seed %d) for %d steps on %d images: loss %.4f -> %.4f",
                      opts.seed, step, train.n, first_loss, last_loss))
else
  print(string.format("LeNet-5 with its random initialisation (seed %d), no training", opts.seed))
end
print(string.format("accuracy on the first %d test images: %.2f%%", test.n, 100 * correct / test.n))
print("wrote:")
print("  " .. model_path)
print("  " .. logits_path)
