-- Evaluates a trained LeNet-5 on the MNIST (or Fashion-MNIST) test set.
--   luajit scripts/evaluate.lua --model runs/lenet5-.../model.safetensors [--confusion confusion.png]
local script_dir = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "."
package.path = script_dir .. "/../lua/?.lua;" .. script_dir .. "/../lua/?/init.lua;" .. package.path

local cli = require("lunet.cli")
local opts, extra = cli.parse(arg, {
  usage = "luajit scripts/evaluate.lua --model FILE [options]",
  description = "Evaluates a LeNet-5 written by scripts/train_lenet.lua on the test split: prints the\n"
    .. "accuracy, the confusion matrix (rows: true class, columns: predicted) and the accuracy\n"
    .. "of each class; --confusion also draws the matrix as a PNG.",
  options = {
    { "model", "string", nil, "model.safetensors written by scripts/train_lenet.lua (required)", metavar = "FILE" },
    { "data", "string", nil, "folder with the IDX files (default: LUNET_MNIST_DIR, else data/mnist; "
      .. "for fashion: Debian's dataset-fashion-mnist)", metavar = "DIR" },
    { "dataset", "string", nil, "mnist or fashion (default: the one the model was trained on, else mnist)",
      choices = { "mnist", "fashion" } },
    { "batch-size", "number", 1000, "images per forward pass" },
    { "device", "string", nil, "OpenCL device: index or name substring (default: LUNET_DEVICE, first GPU, first device)" },
    { "confusion", "string", nil, "also write the confusion matrix as a PNG heatmap here", metavar = "PNG" },
  },
})

local function usage_error(msg) io.stderr:write("evaluate: ", msg, " (see --help)\n"); os.exit(2, true) end
local function die(msg) io.stderr:write("evaluate: ", msg, "\n"); os.exit(1, true) end

if not opts.model then usage_error("--model FILE is required") end
if #extra > 0 then usage_error("unexpected argument '" .. extra[1] .. "'") end
if opts.batch_size < 1 or opts.batch_size ~= math.floor(opts.batch_size) then
  usage_error("--batch-size must be a positive integer, got " .. tostring(opts.batch_size))
end

local lunet = require("lunet")
if opts.device then
  local okd, err = pcall(lunet.set_device, opts.device)
  if not okd then die(tostring(err)) end
end
local models = require("lunet.models")
local data = require("lunet.data")

-- ---- model ------------------------------------------------------------------------------
local ok, net, trained_on = pcall(models.load_lenet5, opts.model)
if not ok then die(tostring(net)) end
local dataset = opts.dataset or trained_on or "mnist"

-- ---- data -------------------------------------------------------------------------------
local okd, test = pcall(dataset == "fashion" and data.fashion_mnist or data.mnist, opts.data, "test")
if not okd then die(tostring(test)) end
if test.num_classes ~= 10 or test.sample_shape[2] ~= 28 or test.sample_shape[3] ~= 28 then
  die(string.format("%s has %d classes of %s images; LeNet-5 here expects 10 classes of [1,28,28]",
                    test.name, test.num_classes, lunet.shape_str(test.sample_shape)))
end

local device = lunet.device()
print(string.format("lunet %s on %s (%s)", lunet.version, device.name, device.platform))
print(string.format("model: %s (LeNet-5, %d parameters%s)", opts.model, net:num_parameters(),
                    trained_on and (", trained on " .. trained_on) or ""))
print(string.format("data: %s, %d images", test.name, test.n))
if trained_on and trained_on ~= dataset then
  print(string.format("note: the model was trained on %s, evaluated here on %s", trained_on, dataset))
end

-- ---- evaluation -------------------------------------------------------------------------
local classes = 10
local confusion = {}
for i = 1, classes do confusion[i] = {} for j = 1, classes do confusion[i][j] = 0 end end
local labels, seen, correct = test.host_labels, 0, 0
for x, _, count in test:batches(opts.batch_size, { shuffle = false }) do
  local v = net:forward(x):tobuffer()
  for i = 0, count - 1 do
    local best = 0
    for j = 1, classes - 1 do if v[i * classes + j] > v[i * classes + best] then best = j end end
    local truth = labels[seen + i]
    confusion[truth + 1][best + 1] = confusion[truth + 1][best + 1] + 1
    if best == truth then correct = correct + 1 end
  end
  seen = seen + count
end

print(string.format("accuracy: %.2f%% (%d/%d)", 100 * correct / seen, correct, seen))
print("confusion matrix (rows: true class, columns: predicted):")
local head = {}
for j = 1, classes do head[j] = string.format("%6d", j - 1) end
print("      " .. table.concat(head))
for i, row in ipairs(confusion) do
  local cells = {}
  for j, v in ipairs(row) do cells[j] = string.format("%6d", v) end
  print(string.format("  %2d  %s", i - 1, table.concat(cells)))
end
print("per-class accuracy:")
for i, row in ipairs(confusion) do
  local total = 0
  for _, v in ipairs(row) do total = total + v end
  print(string.format("  %d  %6.2f%% (%d/%d)", i - 1, total > 0 and 100 * row[i] / total or 0, row[i], total))
end

if opts.confusion then
  local okp, perr = pcall(require("lunet.plot").heatmap, opts.confusion, {
    matrix = confusion, title = test.name .. " confusion matrix", xlabel = "predicted", ylabel = "true" })
  if not okp then die("--confusion " .. opts.confusion .. ": " .. tostring(perr)) end
  print("wrote: " .. opts.confusion)
end
