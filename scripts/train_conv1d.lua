-- Trains a 1-D CNN on MNIST read as sequences, or on synthetic signals.
--   luajit scripts/train_conv1d.lua --task signals
--   luajit scripts/train_conv1d.lua --task mnist-rows --epochs 2
local script_dir = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "."
package.path = script_dir .. "/../lua/?.lua;" .. script_dir .. "/../lua/?/init.lua;" .. package.path

local cli = require("lunet.cli")
local opts, positional = cli.parse(arg, {
  usage = "luajit scripts/train_conv1d.lua [options]",
  description = "Trains a 1-D CNN (Conv1d, ReLU, MaxPool1d, Flatten, Linear) and reports the test accuracy\n"
    .. "after every epoch. Tasks:\n"
    .. "  mnist-rows  MNIST digits as sequences: each 28x28 image [1,28,28] is viewed on the device as\n"
    .. "              [28 channels, 28 steps] (no copy), so channel i is pixel row i and the sequence\n"
    .. "              runs over the 28 columns, left to right: 28 time steps of 28 features.\n"
    .. "              Trained on the 60,000 training images (or --limit), tested on the 10,000 test ones.\n"
    .. "  signals     synthetic 1-D signals of length 128 (lua/lunet/signals.lua): sine, square,\n"
    .. "              sawtooth, triangle or noise, with random frequency, phase and amplitude plus\n"
    .. "              Gaussian noise. --limit training signals (default 6000), 2000 test signals\n"
    .. "              made with another seed.\n"
    .. "Writes into --out (default runs/conv1d-<task>-<timestamp> in the checkout): metrics.csv (per\n"
    .. "epoch: train loss, test accuracy, seconds), filters.png (the learned first-layer filters, one\n"
    .. "line per filter; for mnist-rows each filter's taps summed over its 28 input channels) and\n"
    .. "model.safetensors.",
  options = {
    { "task", "string", "signals", "mnist-rows or signals", choices = { "mnist-rows", "signals" } },
    { "epochs", "number", nil, "passes over the training set (default: 2 for mnist-rows, 6 for signals)" },
    { "limit", "number", nil, "training samples: the first N MNIST images, or N signals (default: all / 6000)", metavar = "N" },
    { "batch-size", "number", 64, "samples per step" },
    { "lr", "number", 0.002, "Adam learning rate of epoch 1; epoch e uses lr * (1 + cos(pi (e-1) / epochs)) / 2" },
    { "seed", "number", 1, "seed for initialisation, shuffling and the signals" },
    { "data", "string", nil, "folder with MNIST's four IDX files (default: LUNET_MNIST_DIR, else data/mnist)", metavar = "DIR" },
    { "out", "string", nil, "output folder (default: runs/conv1d-<task>-<timestamp>)", metavar = "DIR" },
    { "device", "string", nil, "OpenCL device: index or name substring (default: LUNET_DEVICE, first GPU, first device)" },
  },
})

local function usage_error(msg) io.stderr:write("train_conv1d: ", msg, " (see --help)\n"); os.exit(2, true) end
local function die(msg) io.stderr:write("train_conv1d: ", msg, "\n"); os.exit(1, true) end

if #positional > 0 then usage_error("unexpected argument '" .. positional[1] .. "'") end
local signals_task = opts.task == "signals"
opts.epochs = opts.epochs or (signals_task and 6 or 2)
for _, k in ipairs({ "epochs", "limit", "batch_size", "seed" }) do
  local v = opts[k]
  local low = k == "seed" and 0 or 1
  if v ~= nil and (v < low or v ~= math.floor(v) or v >= 2 ^ 31) then
    usage_error(string.format("--%s must be a %s integer, got %s", k:gsub("_", "-"),
                              low == 0 and "non-negative" or "positive", tostring(v)))
  end
end
if not (opts.lr > 0) then usage_error("--lr must be positive, got " .. tostring(opts.lr)) end

local lunet = require("lunet")
if opts.device then
  local okd, err = pcall(lunet.set_device, opts.device)
  if not okd then die(tostring(err)) end
end
local nn = require("lunet.nn")
local optim = require("lunet.optim")
local plot = require("lunet.plot")
local progress = require("lunet.progress")

local root = script_dir .. "/.."
local out = opts.out or (root .. "/runs/conv1d-" .. opts.task .. "-" .. os.date("%Y%m%d-%H%M%S"))
os.execute("mkdir -p '" .. out:gsub("'", "'\\''") .. "'")

-- ---- data --------------------------------------------------------------------------------
local train, test, describe
if signals_task then
  local signals = require("lunet.signals")
  train = signals.dataset(opts.limit or 6000, { seed = opts.seed })
  test = signals.dataset(2000, { seed = opts.seed + 1000003 })
  describe = string.format("signals: %d training and %d test signals of length 128, 5 classes (%s)",
                           train.n, test.n, table.concat(signals.CLASSES, ", "))
else
  local data = require("lunet.data")
  local ok, tr, te = pcall(function()
    return data.mnist(opts.data, "train", { limit = opts.limit }), data.mnist(opts.data, "test")
  end)
  if not ok then die(tostring(tr)) end
  -- [N,1,28,28] viewed as [N,28,28]: the same storage, channels = rows, length = columns.
  for _, ds in ipairs({ tr, te }) do
    ds.images = ds.images:view({ ds.n, 28, 28 })
    ds.shape, ds.sample_shape, ds._batches = { ds.n, 28, 28 }, { 28, 28 }, {}
  end
  train, test = tr, te
  describe = string.format("MNIST as sequences: %d training and %d test images, each [28 channels (rows), "
                           .. "28 steps (columns)]", train.n, test.n)
end

-- ---- model -------------------------------------------------------------------------------
lunet.manual_seed(opts.seed)
local net
if signals_task then   -- [N,1,128]
  net = nn.Sequential(
    nn.Conv1d(1, 16, 9, { padding = 4 }), nn.ReLU(), nn.MaxPool1d(2),    -- [N,16,64]
    nn.Conv1d(16, 32, 5, { padding = 2 }), nn.ReLU(), nn.MaxPool1d(2),   -- [N,32,32]
    nn.Conv1d(32, 32, 5, { padding = 2 }), nn.ReLU(), nn.MaxPool1d(4),   -- [N,32,8]
    nn.Flatten(), nn.Linear(32 * 8, 64), nn.ReLU(), nn.Linear(64, 5))
else                   -- [N,28,28]
  net = nn.Sequential(
    nn.Conv1d(28, 64, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool1d(2),   -- [N,64,14]
    nn.Conv1d(64, 128, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool1d(2),  -- [N,128,7]
    nn.Flatten(), nn.Linear(128 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
end
local opt = optim.Adam(net:parameters(), { lr = opts.lr })
local loss_fn = nn.CrossEntropyLoss()

local device = lunet.device()
print(string.format("lunet %s on %s (%s)", lunet.version, device.name, device.platform))
print(describe)
print(net:summary(train.sample_shape))
print(string.format("Adam lr %g (cosine schedule over the epochs), batch %d, %d epochs, seed %d", opts.lr, opts.batch_size, opts.epochs, opts.seed))

-- ---- training and evaluation ------------------------------------------------------------
local function count_correct(logits, labels_host, offset, count)
  local v, k = logits:tobuffer(), logits:dim(2)
  local correct = 0
  for i = 0, count - 1 do
    local best = 0
    for j = 1, k - 1 do if v[i * k + j] > v[i * k + best] then best = j end end
    if best == labels_host[offset + i] then correct = correct + 1 end
  end
  return correct
end

local function evaluate(ds)
  net:eval()
  local correct, seen = 0, 0
  for x, _, count in ds:batches(1000, { shuffle = false }) do
    correct = correct + count_correct(net:forward(x), ds.host_labels, seen, count)
    seen = seen + count
  end
  net:train()
  return correct / seen
end

-- Cosine schedule over the epochs: the full --lr in epoch 1, smaller steps towards the end.
local function epoch_lr(epoch)
  return opts.lr * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / opts.epochs))
end

local function train_epoch(epoch)
  opt.lr = epoch_lr(epoch)
  local bar = progress.new({ total = train.n, label = string.format("epoch %d/%d", epoch, opts.epochs) })
  local t0 = progress.now()
  local done, loss_sum, loss_n, step = 0, 0, 0, 0
  for x, y in train:batches(opts.batch_size, { seed = opts.seed * 100003 + epoch }) do
    net:zero_grad()
    local logits = net:forward(x)
    step = step + 1
    if step % 10 == 1 then   -- read the loss back now and then only
      loss_sum, loss_n = loss_sum + loss_fn:forward(logits, y), loss_n + 1
    end
    net:backward(x, loss_fn:backward(logits, y))
    opt:step()
    done = done + x:dim(1)
    bar:update(done, { loss = loss_n > 0 and loss_sum / loss_n or nil })
  end
  bar:finish()
  return loss_sum / math.max(1, loss_n), progress.now() - t0
end

local history = {}
for epoch = 1, opts.epochs do
  local train_loss, seconds = train_epoch(epoch)
  local test_acc = evaluate(test)
  history[#history + 1] = { epoch, train_loss, test_acc, seconds }
  print(string.format("epoch %2d  train loss %.4f  test acc %6.2f%%  %6.1f s", epoch, train_loss,
                      100 * test_acc, seconds))
end

-- ---- files ------------------------------------------------------------------------------
local csv_path = out .. "/metrics.csv"
local f, ferr = io.open(csv_path .. ".tmp", "w")
if not f then die("cannot write " .. csv_path .. ": " .. tostring(ferr)) end
f:write("epoch,train_loss,test_accuracy,seconds\n")
for _, h in ipairs(history) do f:write(string.format("%d,%.6f,%.6f,%.3f\n", h[1], h[2], h[3], h[4])) end
f:close()
os.rename(csv_path .. ".tmp", csv_path)

-- The first layer's filters [O, C, K]: one series per filter (taps summed over C when C > 1),
-- 4 per panel, the first 16 at most.
local w = net:parameters()[1].value
local O, Cin, K = w:dim(1), w:dim(2), w:dim(3)
local wv = w:tobuffer()
local shown, per_panel = math.min(O, 16), 4
local panels = {}
for p = 1, math.ceil(shown / per_panel) do
  local series = {}
  for o = (p - 1) * per_panel, math.min(p * per_panel, shown) - 1 do
    local xs, ys = {}, {}
    for k = 0, K - 1 do
      local s = 0
      for c = 0, Cin - 1 do s = s + wv[(o * Cin + c) * K + k] end
      xs[k + 1], ys[k + 1] = k + 1, s
    end
    series[#series + 1] = { name = "filter " .. (o + 1), x = xs, y = ys }
  end
  panels[p] = {
    title = string.format("conv1 filters %d-%d of %d", (p - 1) * per_panel + 1, (p - 1) * per_panel + #series, O),
    xlabel = "tap", ylabel = Cin > 1 and string.format("weight (sum over %d channels)", Cin) or "weight",
    series = series,
  }
end
plot.lines(out .. "/filters.png", { panels = panels, panel_width = 460 })
net:save(out .. "/model.safetensors", { task = opts.task, epochs = tostring(opts.epochs) })

print("wrote:")
for _, name in ipairs({ "metrics.csv", "filters.png", "model.safetensors" }) do
  print("  " .. out .. "/" .. name)
end
