-- Seeing inside LeNet-5: PCA and t-SNE of the 84-unit layer, conv1's filters, feature maps.
--   luajit scripts/visualize.lua --model runs/lenet5-<timestamp>/model.safetensors
--   luajit scripts/visualize.lua --help
local script_dir = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "."
package.path = script_dir .. "/../lua/?.lua;" .. script_dir .. "/../lua/?/init.lua;" .. package.path

local cli = require("lunet.cli")
local opts = cli.parse(arg, {
  usage = "luajit scripts/visualize.lua --model FILE [options]",
  description = "Runs MNIST test images through a trained LeNet-5 and writes into --out:\n"
    .. "  pca.png, tsne.png            the 84-unit layer (fc2 after ReLU) in 2-D, one colour per digit\n"
    .. "  filters.png                  conv1's six 5x5 filters\n"
    .. "  featuremaps-conv1.png        the 6 maps of 28x28 for test image --image (after ReLU)\n"
    .. "  featuremaps-conv2.png        the 16 maps of 10x10 (after ReLU)\n"
    .. "--untrained does the same with a randomly initialised network, for comparison.",
  options = {
    { "model", "string", nil, "model.safetensors written by scripts/train_lenet.lua", metavar = "FILE" },
    { "untrained", "flag", false, "use a randomly initialised LeNet-5 instead of --model" },
    { "data", "string", nil, "folder with the MNIST IDX files (default: LUNET_MNIST_DIR, else data/mnist)", metavar = "DIR" },
    { "n", "number", 2000, "test images to embed (3 to 10000)", metavar = "N" },
    { "perplexity", "number", 30, "t-SNE perplexity (at least 1, less than N - 1)" },
    { "iterations", "number", 1000, "t-SNE gradient-descent iterations" },
    { "learning-rate", "number", 200, "t-SNE learning rate" },
    { "image", "number", 0, "test image (0-based) whose feature maps are drawn", metavar = "INDEX" },
    { "out", "string", nil, "output folder (default: <model's folder>/viz, or runs/visualize-untrained-<timestamp>)", metavar = "DIR" },
    { "seed", "number", 1, "seed for the t-SNE start (and the untrained network's weights)" },
    { "device", "string", nil, "OpenCL device: index or name substring (default: LUNET_DEVICE, first GPU, first device)" },
  },
})

local function die(msg) io.stderr:write("visualize: ", msg, "\n"); os.exit(2, true) end
local function integer(key, low, high)
  local v = opts[key]
  if v ~= math.floor(v) or v < low or v > high then
    die(string.format("--%s must be an integer from %d to %d, got %s", key:gsub("_", "-"), low, high, tostring(v)))
  end
end
integer("n", 3, 10000)
integer("iterations", 1, 100000)
integer("image", 0, 9999)
integer("seed", 0, 2 ^ 52)
if not (opts.perplexity >= 1 and opts.perplexity < opts.n - 1) then
  die(string.format("--perplexity must be at least 1 and less than N - 1 = %d (--n %d), got %s",
                    opts.n - 1, opts.n, tostring(opts.perplexity)))
end
if not (opts.learning_rate > 0) then die("--learning-rate must be positive, got " .. tostring(opts.learning_rate)) end
if opts.untrained and opts.model then die("give --model FILE or --untrained, not both") end
if not opts.model and not opts.untrained then
  die("no model given: pass --model FILE, e.g. the model.safetensors that training writes\n"
      .. "  (train one first: luajit scripts/train_lenet.lua, which writes runs/lenet5-<timestamp>/model.safetensors),\n"
      .. "  or --untrained to look at a randomly initialised network")
end
if opts.model then
  local f = io.open(opts.model, "rb")
  if not f then die("--model " .. opts.model .. " does not exist or cannot be read (train one first: luajit scripts/train_lenet.lua)") end
  f:close()
end

local lunet = require("lunet")
if opts.device then
  local ok, err = pcall(lunet.set_device, opts.device)
  if not ok then die("--device " .. opts.device .. ": " .. tostring(err)) end
end
local models = require("lunet.models")
local data = require("lunet.data")
local viz = require("lunet.viz")
local progress = require("lunet.progress")
local ffi, C = lunet.ffi, lunet.C

local root = script_dir .. "/.."
local out = opts.out
if not out then
  out = opts.model and ((opts.model:match("^(.*)/[^/]*$") or ".") .. "/viz")
        or (root .. "/runs/visualize-untrained-" .. os.date("%Y%m%d-%H%M%S"))
end
local mk = os.execute("mkdir -p '" .. out:gsub("'", "'\\''") .. "' 2>/dev/null")
if mk ~= 0 and mk ~= true then die("cannot create the folder --out " .. out) end

-- ---- model and data ------------------------------------------------------------------------
lunet.manual_seed(opts.seed)
local net = models.lenet5()
if opts.model then
  local ok, err = pcall(net.load, net, opts.model)
  if not ok then die("cannot load --model " .. opts.model .. ": " .. tostring(err)) end
end
net:eval()
local which = opts.untrained and "untrained LeNet-5" or "LeNet-5"

local ok_data, test = pcall(data.mnist, opts.data, "test", { limit = math.max(opts.n, opts.image + 1) })
if not ok_data then die(tostring(test)) end
if opts.n > test.n then die(string.format("--n %d: the test set has only %d images", opts.n, test.n)) end
if opts.image >= test.n then die(string.format("--image %d: the test set has images 0 to %d", opts.image, test.n - 1)) end

local device = lunet.device()
print(string.format("lunet %s on %s (%s)", lunet.version, device.name, device.platform))
print(string.format("%s%s; %d MNIST test images", which, opts.model and (" from " .. opts.model) or "", opts.n))

local written = {}
local function wrote(path, what) written[#written + 1] = path; print(string.format("  wrote %s  (%s)", path, what)) end

-- ---- the 84-unit layer ---------------------------------------------------------------------
local t0 = progress.now()
local trunk = net:slice(1, 11)   -- conv1 ... fc2 + ReLU: 84 features per image
local d = 84
local features = ffi.new("float[?]", opts.n * d)
local seen = 0
for x, _, count in test:batches(500, { shuffle = false }) do
  if seen >= opts.n then break end
  local f = trunk:forward(x)
  local buf = f:tobuffer()
  local keep = math.min(count, opts.n - seen)
  ffi.copy(features + seen * d, buf, keep * d * ffi.sizeof("float"))
  seen = seen + keep
end
local labels = {}
for i = 1, opts.n do labels[i] = test.host_labels[i - 1] end
local feature_tensor = lunet.tensor(features, { opts.n, d })
print(string.format("features: %d x %d from layer 11 (fc2 + ReLU) in %.2f s", opts.n, d, progress.now() - t0))

-- ---- PCA -------------------------------------------------------------------------------------
t0 = progress.now()
local pcs, pinfo = viz.pca(feature_tensor, 2)
local pca_seconds = progress.now() - t0
local pca_path = out .. "/pca.png"
viz.scatter(pca_path, pcs, labels, {
  title = string.format("PCA of the 84-unit layer (%s), %d MNIST test images", which, opts.n),
  xlabel = string.format("PC1 (%.1f%% of the variance)", 100 * pinfo.explained[1]),
  ylabel = string.format("PC2 (%.1f%% of the variance)", 100 * pinfo.explained[2]),
})
local pca_nn = viz.neighbour_agreement(pcs, labels)
print(string.format("PCA: %.2f s; PC1 and PC2 explain %.1f%% and %.1f%% of the variance; "
                    .. "nearest-neighbour label agreement %.1f%%", pca_seconds,
                    100 * pinfo.explained[1], 100 * pinfo.explained[2], 100 * pca_nn))
wrote(pca_path, "PCA scatter")

-- ---- t-SNE -----------------------------------------------------------------------------------
local points, tinfo = viz.tsne(feature_tensor, {
  perplexity = opts.perplexity, iterations = opts.iterations, seed = opts.seed,
  learning_rate = opts.learning_rate,
  progress = function(it, total)
    if it % 250 == 0 or it == total then io.write(string.format("  t-SNE iteration %d/%d\n", it, total)); io.flush() end
  end,
})
local tsne_path = out .. "/tsne.png"
viz.scatter(tsne_path, points, labels, {
  title = string.format("t-SNE of the 84-unit layer (%s), %d MNIST test images", which, opts.n),
  xlabel = "t-SNE 1", ylabel = "t-SNE 2",
})
local tsne_nn = viz.neighbour_agreement(points, labels)
print(string.format("t-SNE: perplexity %g, %d iterations, learning rate %g: affinities %.2f s, "
                    .. "descent %.2f s, total %.2f s; KL(P||Q) %.4f; nearest-neighbour label agreement %.1f%%",
                    opts.perplexity, opts.iterations, tinfo.learning_rate, tinfo.affinity_seconds,
                    tinfo.seconds - tinfo.affinity_seconds, tinfo.seconds, tinfo.kl, 100 * tsne_nn))
wrote(tsne_path, "t-SNE scatter")

-- ---- filters and feature maps ----------------------------------------------------------------
local conv1 = net.modules[1]
local filters_path = out .. "/filters.png"
viz.image_grid(filters_path, conv1.weight, { rows = 1, scale = 12 })
wrote(filters_path, "conv1's 6 filters of 5x5, each scaled to its own min..max")

local index = lunet.tensor({ opts.image }, { 1 })
local one = lunet.zeros({ 1, 1, 28, 28 })
lunet.check(C.lunet_gather_rows(test.images.handle, index.handle, 0, 1, one.handle))
local maps1 = net:slice(1, 2):forward(one)   -- conv1 + ReLU: [1,6,28,28]
local fm1_path = out .. "/featuremaps-conv1.png"
viz.image_grid(fm1_path, maps1, { rows = 1, scale = 3 })
wrote(fm1_path, string.format("conv1 + ReLU, 6 maps of 28x28, test image %d (a %d)", opts.image,
                              test.host_labels[opts.image]))
local maps2 = net:slice(1, 5):forward(one)   -- ... conv2 + ReLU: [1,16,10,10]
local fm2_path = out .. "/featuremaps-conv2.png"
viz.image_grid(fm2_path, maps2, { rows = 2, scale = 6 })
wrote(fm2_path, string.format("conv2 + ReLU, 16 maps of 10x10, test image %d", opts.image))
