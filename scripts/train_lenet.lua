-- Trains LeNet-5 on MNIST (or Fashion-MNIST).   luajit scripts/train_lenet.lua --help
local script_dir = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "."
package.path = script_dir .. "/../lua/?.lua;" .. script_dir .. "/../lua/?/init.lua;" .. package.path

local cli = require("lunet.cli")
local opts = cli.parse(arg, {
  usage = "luajit scripts/train_lenet.lua [options]",
  description = "Trains LeNet-5 (61,706 parameters) on MNIST and writes the model, a checkpoint,\n"
    .. "metrics.csv, curves.png and confusion.png into --out.",
  options = {
    { "epochs", "number", 12, "passes over the training set" },
    { "batch-size", "number", 64, "images per step" },
    { "lr", "number", nil, "learning rate (default: 0.02 for sgd, 0.001 for adam), halved every 4 epochs" },
    { "optimizer", "string", "sgd", "sgd (momentum 0.9) or adam", choices = { "sgd", "adam" } },
    { "seed", "number", 1, "seed for initialisation and shuffling" },
    { "device", "string", nil, "OpenCL device: index or name substring (default: LUNET_DEVICE, first GPU, first device)" },
    { "data", "string", nil, "folder with the four IDX files (default: LUNET_MNIST_DIR, else data/mnist)", metavar = "DIR" },
    { "dataset", "string", "mnist", "mnist or fashion", choices = { "mnist", "fashion" } },
    { "out", "string", nil, "output folder (default: runs/lenet5-<timestamp>)", metavar = "DIR" },
    { "resume", "string", nil, "continue the run in DIR from its checkpoint", metavar = "DIR" },
    { "limit", "number", nil, "use only the first N training images (quick runs)", metavar = "N" },
    { "stop-after", "number", nil, "stop after this many epochs of this invocation (for testing resume)", metavar = "N" },
  },
})

local function die(msg) io.stderr:write("train_lenet: ", msg, "\n"); os.exit(2, true) end
for _, k in ipairs({ "epochs", "batch_size", "limit", "stop_after" }) do
  local v = opts[k]
  if v ~= nil and (v < 1 or v ~= math.floor(v)) then die("--" .. k:gsub("_", "-") .. " must be a positive integer") end
end

local lunet = require("lunet")
if opts.device then lunet.set_device(opts.device) end
local nn = require("lunet.nn")
local optim = require("lunet.optim")
local models = require("lunet.models")
local data = require("lunet.data")
local lio = require("lunet.io")
local plot = require("lunet.plot")
local progress = require("lunet.progress")

local root = script_dir .. "/.."
local out = opts.resume or opts.out or (root .. "/runs/lenet5-" .. os.date("%Y%m%d-%H%M%S"))
os.execute("mkdir -p '" .. out .. "'")

-- ---- data --------------------------------------------------------------------------------
local ok, train, test = pcall(function()
  local load = opts.dataset == "fashion" and data.fashion_mnist or data.mnist
  return load(opts.data, "train", { limit = opts.limit }), load(opts.data, "test")
end)
if not ok then die(tostring(train)) end

-- ---- model, optimizer, state ------------------------------------------------------------
lunet.manual_seed(opts.seed)
local net = models.lenet5()
local base_lr = opts.lr or (opts.optimizer == "adam" and 1e-3 or 0.02)
local opt = opts.optimizer == "adam" and optim.Adam(net:parameters(), { lr = base_lr })
  or optim.SGD(net:parameters(), { lr = base_lr, momentum = 0.9 })
local loss_fn = nn.CrossEntropyLoss()
local history = {}   -- {epoch, train_loss, train_acc, test_acc, seconds}
local first_epoch = 1

local checkpoint_path = out .. "/checkpoint.safetensors"
local function save_checkpoint(epoch)
  local list = {}
  for _, p in ipairs(net:parameters()) do list[#list + 1] = { name = "model." .. p.name, value = p.value } end
  local st = opt:state()
  local keys = {}
  for k in pairs(st.buffers) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do list[#list + 1] = { name = "optim." .. k, value = st.buffers[k] } end
  local rows = {}
  for _, h in ipairs(history) do rows[#rows + 1] = table.concat(h, ",") end
  local rng = lunet.random_state()
  lio.save_tensors(checkpoint_path, list, {
    epoch = tostring(epoch), step = tostring(st.step), seed = tostring(opts.seed),
    optimizer = opts.optimizer, lr = tostring(base_lr), dataset = opts.dataset,
    rng_base = tostring(rng.base), rng_counter = tostring(rng.counter),
    history = table.concat(rows, ";"),
  })
end

local function load_checkpoint()
  local f = lio.open_tensors(checkpoint_path)
  for _, key in ipairs({ "optimizer", "seed", "dataset" }) do
    local saved = f:metadata(key)
    if saved ~= tostring(opts[key]) then
      f:close()
      die(string.format("--resume: the checkpoint was made with --%s %s, not %s", key, saved, tostring(opts[key])))
    end
  end
  for _, p in ipairs(net:parameters()) do f:read_into("model." .. p.name, p.value) end
  local buffers = {}
  for name in pairs(opt:state().buffers) do
    buffers[name] = f:read("optim." .. name)
  end
  opt:load_state({ step = tonumber(f:metadata("step")), buffers = buffers })
  lunet.set_random_state({ base = tonumber(f:metadata("rng_base")), counter = tonumber(f:metadata("rng_counter")) })
  for row in (f:metadata("history") or ""):gmatch("[^;]+") do
    local h = {}
    for v in row:gmatch("[^,]+") do h[#h + 1] = tonumber(v) end
    history[#history + 1] = h
  end
  local epoch = tonumber(f:metadata("epoch"))
  f:close()
  return epoch
end

if opts.resume then
  local okc, epoch = pcall(load_checkpoint)
  if not okc then die("--resume " .. out .. ": " .. tostring(epoch)) end
  first_epoch = epoch + 1
end

local device = lunet.device()
print(string.format("lunet %s on %s (%s)", lunet.version, device.name, device.platform))
print(string.format("data: %s, %d training and %d test images; model: LeNet-5, %d parameters; %s lr %g, batch %d",
                    opts.dataset, train.n, test.n, net:num_parameters(), opts.optimizer, base_lr, opts.batch_size))
if opts.resume then print(string.format("resuming %s after epoch %d", out, first_epoch - 1)) end

-- ---- training and evaluation ------------------------------------------------------------
local function argmax_counts(logits, labels_host, offset, count, confusion)
  local v, k = logits:tobuffer(), logits:dim(2)
  local correct = 0
  for i = 0, count - 1 do
    local best = 0
    for j = 1, k - 1 do if v[i * k + j] > v[i * k + best] then best = j end end
    local truth = labels_host[offset + i]
    if best == truth then correct = correct + 1 end
    if confusion then confusion[truth + 1][best + 1] = confusion[truth + 1][best + 1] + 1 end
  end
  return correct
end

local function evaluate(ds)
  net:eval()
  local confusion = {}
  for i = 1, ds.num_classes do confusion[i] = {} for j = 1, ds.num_classes do confusion[i][j] = 0 end end
  local correct, seen = 0, 0
  local labels = ds.host_labels
  for x, _, count in ds:batches(1000, { shuffle = false }) do
    correct = correct + argmax_counts(net:forward(x), labels, seen, count, confusion)
    seen = seen + count
  end
  net:train()
  return correct / seen, confusion
end

local function train_epoch(epoch)
  opt.lr = base_lr * 0.5 ^ math.floor((epoch - 1) / 4)
  local bar = progress.new({ total = train.n, label = string.format("epoch %d/%d", epoch, opts.epochs) })
  local t0 = progress.now()
  local done, loss_sum, loss_n, correct, judged = 0, 0, 0, 0, 0
  local step = 0
  -- the permutation depends on (seed, epoch) only, so a resumed run sees the same batches
  for x, y, count in train:batches(opts.batch_size, { seed = opts.seed * 100003 + epoch }) do
    net:zero_grad()
    local logits = net:forward(x)
    local loss = loss_fn:forward_async(logits, y)
    step = step + 1
    if step % 25 == 1 then   -- read back now and then only: no sync in most steps
      loss_sum, loss_n = loss_sum + loss:totable()[1], loss_n + 1
      correct, judged = correct + argmax_counts(logits, y:tobuffer(), 0, count), judged + count
    end
    net:backward(x, loss_fn:backward(logits, y), { input_grad = false })
    opt:step()
    done = done + count
    bar:update(done, { loss = loss_n > 0 and loss_sum / loss_n or nil, acc = judged > 0 and correct / judged or nil })
  end
  bar:finish()
  return loss_sum / math.max(1, loss_n), progress.now() - t0
end

local csv_path, model_path = out .. "/metrics.csv", out .. "/model.safetensors"
local stop_at = opts.stop_after and (first_epoch + opts.stop_after - 1) or opts.epochs
local confusion
for epoch = first_epoch, math.min(opts.epochs, stop_at) do
  local train_loss, seconds = train_epoch(epoch)
  local train_acc = evaluate(train)
  local test_acc
  test_acc, confusion = evaluate(test)
  history[#history + 1] = { epoch, train_loss, train_acc, test_acc, seconds }
  print(string.format("epoch %2d  train loss %.4f  train acc %6.2f%%  test acc %6.2f%%  %6.1f s",
                      epoch, train_loss, 100 * train_acc, 100 * test_acc, seconds))
  net:save(model_path, { dataset = opts.dataset, epoch = tostring(epoch) })
  save_checkpoint(epoch)
end

-- ---- files ------------------------------------------------------------------------------
local f = assert(io.open(csv_path .. ".tmp", "w"))
f:write("epoch,train_loss,train_accuracy,test_accuracy,seconds\n")
for _, h in ipairs(history) do f:write(string.format("%d,%.6f,%.6f,%.6f,%.3f\n", h[1], h[2], h[3], h[4], h[5])) end
f:close()
os.rename(csv_path .. ".tmp", csv_path)

if #history > 0 then
  local ep, tl, tra, tea = {}, {}, {}, {}
  for i, h in ipairs(history) do ep[i], tl[i], tra[i], tea[i] = h[1], h[2], 100 * h[3], 100 * h[4] end
  plot.lines(out .. "/curves.png", { panels = {
    { title = "training loss", xlabel = "epoch", ylabel = "cross-entropy", series = { { name = "train", x = ep, y = tl } } },
    { title = "accuracy", xlabel = "epoch", ylabel = "accuracy (%)", legend = "lower right",
      series = { { name = "train", x = ep, y = tra }, { name = "test", x = ep, y = tea } } },
  } })
end
if confusion then
  print("confusion matrix on the test set (rows: true class, columns: predicted):")
  for i, row in ipairs(confusion) do
    local cells = {}
    for j, v in ipairs(row) do cells[j] = string.format("%5d", v) end
    print(string.format("  %d %s", i - 1, table.concat(cells)))
  end
  plot.heatmap(out .. "/confusion.png", { matrix = confusion, title = "test set confusion matrix",
                                          xlabel = "predicted", ylabel = "true" })
end
print("wrote:")
for _, name in ipairs({ "model.safetensors", "checkpoint.safetensors", "metrics.csv", "curves.png", "confusion.png" }) do
  local fh = io.open(out .. "/" .. name, "rb")
  if fh then fh:close(); print("  " .. out .. "/" .. name) end
end
