-- Prints the layer table of a model of the zoo (lunet.models): output shapes, parameters
-- and multiply-adds per layer, with the totals; --forward also times one image through it.
--   luajit scripts/summary.lua lenet5
--   luajit scripts/summary.lua alexnet --num-classes 10
--   luajit scripts/summary.lua vgg16 --forward
local script_dir = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "."
package.path = script_dir .. "/../lua/?.lua;" .. script_dir .. "/../lua/?/init.lua;" .. package.path

-- Each model: its input channels and default input size and number of classes.
local ZOO = {
  lenet5 = { channels = 1, input_size = 28, num_classes = 10 },
  alexnet = { channels = 3, input_size = 224, num_classes = 1000 },
  vgg16 = { channels = 3, input_size = 224, num_classes = 1000 },
}
local NAMES = { "lenet5", "alexnet", "vgg16" }

local cli = require("lunet.cli")
local opts, positional = cli.parse(arg, {
  usage = "luajit scripts/summary.lua lenet5|alexnet|vgg16 [options]",
  description = "Prints a model's layers: name (as in its state_dict), output shape of one sample,\n"
    .. "parameters and multiply-adds (MACs) per sample, and the totals. LeNet-5 takes 1x28x28\n"
    .. "(or 1x32x32) and has 10 classes; AlexNet and VGG-16 take 3x224x224 and have 1000, and\n"
    .. "carry torchvision's layer names. With --forward it also runs one random image through\n"
    .. "the model on the device (in eval mode): the median time of 3 runs after a warm-up run,\n"
    .. "the device memory of weights and activations (from the shapes), and the process's\n"
    .. "peak resident memory (VmHWM).",
  options = {
    { "num-classes", "number", nil, "classes of the last layer (default: 10 for lenet5, 1000 otherwise)", metavar = "N" },
    { "input-size", "number", nil, "height = width of the input (default: 28 for lenet5, 224 otherwise)", metavar = "S" },
    { "forward", "flag", false, "time one forward pass on the device and report memory" },
    { "device", "string", nil, "OpenCL device: index or name substring (default: LUNET_DEVICE, first GPU, first device)" },
  },
})

local function usage_error(msg) io.stderr:write("summary: ", msg, " (see --help)\n"); os.exit(2, true) end
local function die(msg) io.stderr:write("summary: ", msg, "\n"); os.exit(1, true) end

if #positional == 0 then usage_error("name a model: " .. table.concat(NAMES, ", ")) end
if #positional > 1 then
  usage_error("expected one model name, got " .. #positional .. ": " .. table.concat(positional, " "))
end
local name = positional[1]
local info = ZOO[name]
if not info then
  usage_error("unknown model '" .. name .. "': expected one of " .. table.concat(NAMES, ", "))
end
for _, o in ipairs({ { "num-classes", opts.num_classes }, { "input-size", opts.input_size } }) do
  local v = o[2]
  if v ~= nil and (v ~= math.floor(v) or v < 1) then
    usage_error("--" .. o[1] .. " must be a positive integer, got " .. tostring(v))
  end
end

local lunet = require("lunet")
if opts.device then
  local ok, err = pcall(lunet.set_device, opts.device)
  if not ok then die(tostring(err)) end
end
local models = require("lunet.models")
local summary = require("lunet.nn.summary")

local size = opts.input_size or info.input_size
local ok, net = pcall(models[name], { num_classes = opts.num_classes or info.num_classes, input_size = size })
if not ok then usage_error(tostring(net)) end
local input_shape = { info.channels, size, size }

local okr, rows = pcall(summary.rows, net, input_shape)
if not okr then die(tostring(rows)) end
print(string.format("%s, input %s, %d classes", name, table.concat(input_shape, "x"),
                    opts.num_classes or info.num_classes))
print(net:summary(input_shape))

if not opts.forward then return end

-- ---- --forward: time, device memory, host memory --------------------------------------
local progress = require("lunet.progress")

local function mib(bytes) return string.format("%.1f MiB", bytes / 2 ^ 20) end

-- Peak resident set size of this process in bytes (VmHWM), or nil where /proc has none.
local function peak_rss()
  local f = io.open("/proc/self/status", "r")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  local kb = s:match("VmHWM:%s*(%d+)%s*kB")
  return kb and tonumber(kb) * 1024 or nil
end

local function numel(shape)
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  return n
end

net:eval()
local x = lunet.randn({ 1, info.channels, size, size }, 1)
local times = {}
local okf, err = pcall(function()
  for run = 0, 3 do          -- run 0 is the warm-up (kernel compilation, buffer allocation)
    lunet.synchronize()
    local t0 = progress.now()
    net:forward(x)
    lunet.synchronize()
    if run > 0 then times[#times + 1] = progress.now() - t0 end
  end
end)
if not okf then die("forward failed: " .. tostring(err)) end
table.sort(times)

-- Device memory from the shapes: the weights, the input and every layer output that has
-- its own buffer (Flatten is a view; Dropout in eval mode passes its input on).
local weights = net:num_parameters() * 4
local activations = numel(x:shape()) * 4
for _, r in ipairs(rows) do
  if not (r.name == "Flatten()" or r.name:match("^Dropout%(")) then activations = activations + numel(r.output) * 4 end
end
local device = lunet.device()
print()
print(string.format("forward of one %s image on %s: %.2f ms (median of 3 runs after a warm-up; "
                    .. "runs %s ms)", table.concat(input_shape, "x"), device.name, times[2] * 1e3,
                    table.concat({ string.format("%.2f", times[1] * 1e3), string.format("%.2f", times[2] * 1e3),
                                   string.format("%.2f", times[3] * 1e3) }, ", ")))
print(string.format("device memory, weights + activations: %s = %s + %s (computed from the shapes)",
                    mib(weights + activations), mib(weights), mib(activations)))
print(string.format("  besides: parameter gradients %s (allocated with the weights), convolution "
                    .. "scratch in the buffer pool %s (measured)", mib(weights), mib(lunet.stats().bytes_pooled)))
local rss = peak_rss()
print(string.format("host peak RSS (VmHWM): %s", rss and mib(rss) or "unknown (no /proc/self/status)"))
