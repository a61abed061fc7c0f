-- Transfer learning from stored activations.   luajit scripts/transfer_learning.lua --help
--
-- 1. A source LeNet-5 learns MNIST digits 0-4 (or comes from --source-model).
-- 2. Its conv trunk (layers 1..--cut) is frozen; the target set (digits 5-9 as classes
--    0-4, or Fashion-MNIST) goes through it ONCE and the activations are stored on disk
--    (lunet.features; reused on the next run while the trunk and data are the same).
-- 3. For each label budget (labels per class) it compares, on the same balanced subset:
--    head      a new dense head trained on the stored activations (the trunk never runs)
--    finetune  the whole network, trunk initialised from the source model + a new head
--    scratch   LeNet-5 trained from random weights
--    and reports target test accuracy and wall time: a table, results.csv, accuracy.png.
local script_dir = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "."
package.path = script_dir .. "/../lua/?.lua;" .. script_dir .. "/../lua/?/init.lua;" .. package.path

local FASHION_DIR = "/usr/share/datasets/fashion-mnist"
local cli = require("lunet.cli")
local opts = cli.parse(arg, {
  usage = "luajit scripts/transfer_learning.lua [options]",
  description = "Trains LeNet-5 on MNIST digits 0-4, freezes its conv trunk, stores the trunk's activations\n"
    .. "of a target set once, and compares a new head trained on those activations with fine-tuning\n"
    .. "the whole network and with training from scratch, for several numbers of labels per class.\n"
    .. "Writes results.csv (budget,method,accuracy,seconds), accuracy.png and the source model into --out.",
  options = {
    { "out", "string", nil, "output folder (default: runs/transfer-<timestamp>)", metavar = "DIR" },
    { "source-model", "string", nil, "a LeNet-5 with 5 outputs trained on digits 0-4 (default: train one, "
      .. "or reuse OUT/source_model.safetensors)", metavar = "FILE" },
    { "epochs-source", "number", 2, "epochs of training the source model on digits 0-4" },
    { "cut", "number", 7, "the frozen trunk is layers 1..CUT of LeNet-5: 7 = conv/pool/flatten (400 features), "
      .. "9 = through fc1 (120), 11 = through fc2 (84)", metavar = "N" },
    { "target", "string", "digits", "digits (MNIST 5-9 relabelled 0-4) or fashion (Fashion-MNIST, 10 classes)",
      choices = { "digits", "fashion" } },
    { "target-data", "string", nil, "folder of the Fashion-MNIST IDX files (default: " .. FASHION_DIR .. ")",
      metavar = "DIR" },
    { "labels-per-class", "string", nil, "label budgets, comma-separated; 'all' = the whole target training set "
      .. "(default: 10,100,1000,all; with --quick 5,20,all)", metavar = "LIST" },
    { "cache", "string", nil, "where the stored activations live (default: OUT/features)", metavar = "DIR" },
    { "batch-size", "number", 64, "images per step for fine-tuning and from-scratch training" },
    { "seed", "number", 1, "seed for initialisation, subsets and shuffling" },
    { "device", "string", nil, "OpenCL device: index or name substring (default: LUNET_DEVICE, first GPU, first device)" },
    { "data", "string", nil, "folder with the four MNIST IDX files (default: LUNET_MNIST_DIR, else data/mnist)",
      metavar = "DIR" },
    { "quick", "flag", false, "a small, fast run for tests: a few thousand images, few steps" },
  },
})

local function die(msg) io.stderr:write("transfer_learning: ", msg, "\n"); os.exit(2, true) end
for _, k in ipairs({ "epochs_source", "batch_size", "cut" }) do
  local v = opts[k]
  if v < 1 or v ~= math.floor(v) then die("--" .. k:gsub("_", "-") .. " must be a positive integer, got " .. v) end
end
if opts.seed < 0 or opts.seed ~= math.floor(opts.seed) then die("--seed must be a non-negative integer, got " .. opts.seed) end
if opts.cut < 7 or opts.cut > 11 then
  die("--cut must be 7 to 11 (7: after the conv/pool/flatten layers, 9: after fc1, 11: after fc2), got " .. opts.cut)
end

-- label budgets: positive integers or "all", in increasing order
local budgets = {}
local budget_text = opts.labels_per_class or (opts.quick and "5,20,all" or "10,100,1000,all")
for item in (budget_text .. ","):gmatch("([^,]*),") do
  item = item:match("^%s*(.-)%s*$")
  local v = item == "all" and "all" or tonumber(item)
  if v ~= "all" and (not v or v < 1 or v ~= math.floor(v)) then
    die("--labels-per-class must list positive integers or 'all', like 10,100,all; got '" .. item .. "' in '"
        .. budget_text .. "'")
  end
  budgets[#budgets + 1] = v
end
table.sort(budgets, function(a, b)
  if a == "all" then return false elseif b == "all" then return true end
  return a < b
end)
for i = 2, #budgets do
  if budgets[i] == budgets[i - 1] then die("--labels-per-class lists " .. tostring(budgets[i]) .. " twice") end
end

local lunet = require("lunet")
if opts.device then lunet.set_device(opts.device) end
local nn = require("lunet.nn")
local optim = require("lunet.optim")
local models = require("lunet.models")
local data = require("lunet.data")
local features = require("lunet.features")
local plot = require("lunet.plot")
local progress = require("lunet.progress")
local now = progress.now

local root = script_dir .. "/.."
local out = opts.out or (root .. "/runs/transfer-" .. os.date("%Y%m%d-%H%M%S"))
local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
os.execute("mkdir -p " .. quote(out))
local cache = opts.cache or (out .. "/features")

-- ---- data ------------------------------------------------------------------------------------
local quick = opts.quick
local SOURCE_CLASSES, DIGIT_TARGETS = { 0, 1, 2, 3, 4 }, { 5, 6, 7, 8, 9 }
local ok, source_train, source_test = pcall(function()
  return data.mnist(opts.data, "train", { classes = SOURCE_CLASSES, relabel = true, limit = quick and 3000 or nil }),
         data.mnist(opts.data, "test", { classes = SOURCE_CLASSES, relabel = true, limit = quick and 1000 or nil })
end)
if not ok then die(tostring(source_train)) end

local target_train, target_test
if opts.target == "digits" then
  ok, target_train, target_test = pcall(function()
    return data.mnist(opts.data, "train", { classes = DIGIT_TARGETS, relabel = true, limit = quick and 1500 or nil }),
           data.mnist(opts.data, "test", { classes = DIGIT_TARGETS, relabel = true, limit = quick and 1000 or nil })
  end)
  if not ok then die(tostring(target_train)) end
else
  local dir = opts.target_data or FASHION_DIR
  ok, target_train, target_test = pcall(function()
    return data.fashion_mnist(dir, "train", { limit = quick and 1500 or nil }),
           data.fashion_mnist(dir, "test", { limit = quick and 1000 or nil })
  end)
  if not ok then
    die(tostring(target_train) .. "\nFashion-MNIST comes from Debian's package: apt-get install dataset-fashion-mnist"
        .. " (or pass --target-data DIR)")
  end
end
local k = target_train.num_classes
local target_name = opts.target == "digits" and "MNIST digits 5-9 (as 0-4)" or "Fashion-MNIST"

local device = lunet.device()
print(string.format("lunet %s on %s (%s)", lunet.version, device.name, device.platform))
print(string.format("source: MNIST digits 0-4, %d training and %d test images; target: %s, %d classes, "
                    .. "%d training and %d test images", source_train.n, source_test.n, target_name, k,
                    target_train.n, target_test.n))

-- ---- helpers ----------------------------------------------------------------------------------
local function accuracy(model, ds)
  model:eval()
  local labels = ds.host_labels
  local correct, seen = 0, 0
  for x, _, count in ds:batches(1000, { shuffle = false }) do
    local logits = model:forward(x)
    local v, kk = logits:tobuffer(), logits:dim(2)
    for i = 0, count - 1 do
      local best = 0
      for j = 1, kk - 1 do if v[i * kk + j] > v[i * kk + best] then best = j end end
      if best == labels[seen + i] then correct = correct + 1 end
    end
    seen = seen + count
  end
  model:train()
  return correct / seen
end

-- `steps` optimizer steps over ds (reshuffled every pass), Adam with learning rate lr.
-- Returns the mean loss of the last pass (read back once per pass).
local function fit(model, ds, steps, batch_size, lr, seed, bar)
  local opt = optim.Adam(model:parameters(), { lr = lr })
  local loss_fn = nn.CrossEntropyLoss()
  model:train()
  local step, pass, last_loss = 0, 0, nil
  batch_size = math.min(batch_size, ds.n)
  while step < steps do
    pass = pass + 1
    for x, y in ds:batches(batch_size, { seed = seed * 7919 + pass, drop_last = ds.n > batch_size }) do
      model:zero_grad()
      local logits = model:forward(x)
      local loss = loss_fn:forward_async(logits, y)
      model:backward(x, loss_fn:backward(logits, y))
      opt:step()
      step = step + 1
      if step == steps then last_loss = loss:totable()[1] end
      if bar then bar:update(step) end
      if step >= steps then break end
    end
  end
  if bar then bar:finish() end
  return last_loss
end

-- A new head for D features: Linear(D,84)-ReLU-Linear(84,k) (LeNet's tail), or Linear(D,k).
local function new_head(dim, classes)
  local head = nn.Sequential()
  if dim > 84 then
    head:add(nn.Linear(dim, 84), "head1"):add(nn.ReLU()):add(nn.Linear(84, classes), "head2")
  else
    head:add(nn.Linear(dim, classes), "head1")
  end
  return head
end

-- ---- 1. the source model -----------------------------------------------------------------
local source_path = out .. "/source_model.safetensors"
local source_meta = {
  source_classes = "0,1,2,3,4", epochs = tostring(opts.epochs_source), seed = tostring(opts.seed),
  quick = tostring(quick), source_rows = tostring(source_train.n),
}
local function source_net() return models.lenet5({ num_classes = #SOURCE_CLASSES }) end

local function usable_cached_source()
  local fh = io.open(source_path, "rb")
  if not fh then return false end
  fh:close()
  local okf, f = pcall(require("lunet.io").open_tensors, source_path)
  if not okf then return false end
  local same = true
  for key, v in pairs(source_meta) do same = same and f:metadata(key) == v end
  f:close()
  return same
end

lunet.manual_seed(opts.seed)
local source = source_net()
local source_seconds
local source_origin
if opts.source_model then
  local okl, err = pcall(function() source:load(opts.source_model) end)
  if not okl then
    die("--source-model " .. opts.source_model .. ": " .. tostring(err)
        .. " (expected a LeNet-5 with 5 outputs trained on digits 0-4, as this script saves in OUT/source_model.safetensors)")
  end
  source_origin = "loaded from " .. opts.source_model
elseif usable_cached_source() then
  source:load(source_path)
  source_origin = "reused " .. source_path
else
  local t0 = now()
  local opt = optim.SGD(source:parameters(), { lr = 0.02, momentum = 0.9 })
  local loss_fn = nn.CrossEntropyLoss()
  for epoch = 1, opts.epochs_source do
    local bar = progress.new({ total = source_train.n, label = string.format("source epoch %d/%d", epoch, opts.epochs_source) })
    local done = 0
    for x, y, count in source_train:batches(opts.batch_size, { seed = opts.seed * 100003 + epoch }) do
      source:zero_grad()
      local logits = source:forward(x)
      loss_fn:forward_async(logits, y)
      source:backward(x, loss_fn:backward(logits, y))
      opt:step()
      done = done + count
      bar:update(done)
    end
    bar:finish()
  end
  source_seconds = now() - t0
  source:save(source_path, source_meta)
  source_origin = string.format("trained for %d epochs in %.1f s, saved to %s", opts.epochs_source, source_seconds,
                                source_path)
end
local source_acc = accuracy(source, source_test)
print(string.format("source model (%s): test accuracy on digits 0-4 %.2f%%", source_origin, 100 * source_acc))

-- ---- 2. the frozen trunk and its stored activations -------------------------------------
local trunk = source:slice(1, opts.cut)
local feature_shape = trunk:output_shape({ 1, 1, 28, 28 })
local dim = 1
for i = 2, #feature_shape do dim = dim * feature_shape[i] end
print(string.format("frozen trunk: layers 1-%d of LeNet-5 (%d parameters), %d features per image, hash %s",
                    opts.cut, trunk:num_parameters(), dim, features.trunk_hash(trunk)))

local function stored(ds, name)
  local path = string.format("%s/%s-%s", cache, opts.target, name)
  local bar = progress.new({ total = ds.n, label = "extracting " .. name })   -- drawn only if it extracts
  local fd, info = features.ensure(trunk, ds, path, {
    batch_size = 500,
    progress = function(done) bar:update(done) end,
  })
  if info.rebuilt then bar:finish() end
  if info.rebuilt then
    print(string.format("  %s: extracted %d x %d activations in %.1f s into %s (stored anew: %s)", name, fd.n, fd.dim,
                        info.seconds, path, info.reason))
  else
    print(string.format("  %s: reused the stored activations in %s (%d x %d, loaded in %.1f s)", name, path, fd.n,
                        fd.dim, info.seconds))
  end
  return fd, info
end
local okx, train_feats, train_info = pcall(stored, target_train, "train")
if not okx then die(tostring(train_feats)) end
local okt, test_feats, test_info = pcall(stored, target_test, "test")
if not okt then die(tostring(test_feats)) end
local extract_seconds = train_info.seconds + test_info.seconds

-- ---- 3. the comparison, budget by budget --------------------------------------------------
-- Steps: the full networks get ~3 passes over the subset, at least 300 steps (40 with
-- --quick); the head, whose steps cost little, ~20 passes, 500 to 3000 steps (150 with --quick).
local HEAD_BATCH = 128
local function full_steps(n)
  if quick then return 40 end
  return math.max(300, math.ceil(3 * n / opts.batch_size))
end
local function head_steps(n)
  if quick then return 150 end
  return math.min(3000, math.max(500, math.ceil(20 * n / HEAD_BATCH)))
end

local results = {}   -- {budget=, per_class=, n=, method=, accuracy=, seconds=, steps=}
local METHODS = { "head", "finetune", "scratch" }
local LABELS = { head = "new head only", finetune = "fine-tune all", scratch = "from scratch" }

for bi, budget in ipairs(budgets) do
  local rows, counts = features.balanced_rows(target_train, budget, opts.seed)
  local n = #rows
  local min_c, max_c = math.huge, 0
  for _, c in ipairs(counts) do min_c, max_c = math.min(min_c, c), math.max(max_c, c) end
  local per_class = budget == "all" and (n / k) or budget
  if budget ~= "all" and min_c < budget then
    print(string.format("budget %d: some classes have only %d training images; taking all of them", budget, min_c))
  end
  local feat_subset = features.subset(train_feats, rows)
  local image_subset = features.subset(target_train, rows)
  local seed = opts.seed * 1000 + bi
  print(string.format("budget %s labels per class: %d training images (%d to %d per class)", tostring(budget), n,
                      min_c, max_c))

  for _, method in ipairs(METHODS) do
    local t0 = now()
    local acc, steps, loss
    lunet.manual_seed(seed)   -- the same new head for "head" and "finetune"
    if method == "head" then
      local head = new_head(dim, k)
      steps = head_steps(n)
      loss = fit(head, feat_subset, steps, HEAD_BATCH, 1e-3, seed)
      acc = accuracy(head, test_feats)
    elseif method == "finetune" then
      local head = new_head(dim, k)
      local copy = source_net()   -- a fresh copy of the source weights, trained below
      local src = source:parameters()
      for i, p in ipairs(copy:parameters()) do p.value:copy(src[i].value) end
      local net = copy:slice(1, opts.cut)
      for i = 1, head:size() do net:add(head:get(i), head.names[i]) end
      steps = full_steps(n)
      loss = fit(net, image_subset, steps, opts.batch_size, 5e-4, seed)
      acc = accuracy(net, target_test)
    else
      local net = models.lenet5({ num_classes = k })
      steps = full_steps(n)
      loss = fit(net, image_subset, steps, opts.batch_size, 1e-3, seed)
      acc = accuracy(net, target_test)
    end
    local seconds = now() - t0
    results[#results + 1] = { budget = budget, per_class = per_class, n = n, method = method, accuracy = acc,
                              seconds = seconds, steps = steps }
    print(string.format("  %-9s %5d steps  final loss %.4f  test accuracy %6.2f%%  %6.1f s", method, steps, loss or 0,
                        100 * acc, seconds))
  end
end

-- ---- 4. table, results.csv, accuracy.png --------------------------------------------------
print(string.format("\ntransfer from MNIST digits 0-4 to %s (trunk: layers 1-%d, %d features; stored activations "
                    .. "computed once in %.1f s)", target_name, opts.cut, dim, extract_seconds))
print(string.format("%-8s %7s  %-9s %9s %9s %7s", "labels", "images", "method", "accuracy", "seconds", "steps"))
for _, r in ipairs(results) do
  print(string.format("%-8s %7d  %-9s %8.2f%% %9.1f %7d", tostring(r.budget), r.n, r.method, 100 * r.accuracy,
                      r.seconds, r.steps))
end

local csv_path = out .. "/results.csv"
local f = assert(io.open(csv_path .. ".tmp", "w"))
f:write("budget,method,accuracy,seconds\n")
for _, r in ipairs(results) do
  f:write(string.format("%s,%s,%.6f,%.3f\n", tostring(r.budget), r.method, r.accuracy, r.seconds))
end
f:close()
os.rename(csv_path .. ".tmp", csv_path)

local series = {}
for mi, method in ipairs(METHODS) do
  local s = { name = LABELS[method], x = {}, y = {} }
  for _, r in ipairs(results) do
    if r.method == method then
      s.x[#s.x + 1] = math.log10(r.per_class)
      s.y[#s.y + 1] = 100 * r.accuracy
    end
  end
  series[mi] = s
end
local chart_path = out .. "/accuracy.png"
plot.lines(chart_path, {
  title = "digits 0-4 -> " .. (opts.target == "digits" and "digits 5-9" or "Fashion-MNIST"),
  xlabel = "log10(labels per class)", ylabel = "test accuracy (%)", legend = "lower right", series = series,
})

print("wrote:")
for _, p in ipairs({ csv_path, chart_path, source_path }) do
  local fh = io.open(p, "rb")
  if fh then fh:close(); print("  " .. p) end
end
print("  " .. cache .. "/" .. opts.target .. "-train/ and -test/ (stored activations)")
