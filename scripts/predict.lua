-- Classifies pictures of handwritten digits with a trained LeNet-5.
--   luajit scripts/predict.lua --model runs/lenet5-.../model.safetensors digit.png [more.png ...]
local script_dir = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "."
package.path = script_dir .. "/../lua/?.lua;" .. script_dir .. "/../lua/?/init.lua;" .. package.path

local cli = require("lunet.cli")
local opts, images = cli.parse(arg, {
  usage = "luajit scripts/predict.lua --model FILE image.png [more.png ...] [options]",
  description = "Classifies PNG pictures of digits with a LeNet-5 written by train_lenet.lua.\n"
    .. "Any size, grey or colour, 8 or 16 bits, dark ink on light paper or light on dark: each\n"
    .. "picture is made to look like MNIST (grey, white on black, cropped to the ink, scaled to\n"
    .. "20 pixels, centred by centre of mass in 28x28) and all are classified as one batch.\n"
    .. "Prints one line per picture: path: class (probability), ... for the --top classes.",
  options = {
    { "model", "string", nil, "model.safetensors written by scripts/train_lenet.lua (required)", metavar = "FILE" },
    { "top", "number", 3, "how many classes to show per picture, 1 to 10", metavar = "K" },
    { "device", "string", nil, "OpenCL device: index or name substring (default: LUNET_DEVICE, first GPU, first device)" },
  },
})

local function usage_error(msg) io.stderr:write("predict: ", msg, " (see --help)\n"); os.exit(2, true) end
local function die(msg) io.stderr:write("predict: ", msg, "\n"); os.exit(1, true) end

if not opts.model then usage_error("--model FILE is required") end
if #images == 0 then usage_error("no images given: name one or more PNG files after the options") end
if opts.top < 1 or opts.top > 10 or opts.top ~= math.floor(opts.top) then
  usage_error("--top must be an integer from 1 to 10, got " .. tostring(opts.top))
end

local lunet = require("lunet")
if opts.device then
  local okd, err = pcall(lunet.set_device, opts.device)
  if not okd then die(tostring(err)) end
end
local models = require("lunet.models")
local lio = require("lunet.io")
local image = require("lunet.image")

-- ---- model ------------------------------------------------------------------------------
local ok, net, dataset = pcall(models.load_lenet5, opts.model)
if not ok then die(tostring(net)) end
if dataset and dataset ~= "mnist" then
  die(string.format("%s was trained on %s; predict.lua prepares pictures of digits for an MNIST model",
                    opts.model, dataset))
end

-- ---- pictures -> one batch [N,1,28,28] --------------------------------------------------
local n = #images
local batch = lunet.ffi.new("float[?]", n * 28 * 28)
for i, path in ipairs(images) do
  local okr, img = pcall(lio.read_png, path)
  if not okr then die(string.format("cannot read image %s: %s", path, tostring(img))) end
  local x = image.mnist_like(img)
  lunet.ffi.copy(batch + (i - 1) * 28 * 28, x.pixels, 28 * 28 * lunet.ffi.sizeof("float"))
end

local logits = net:forward(lunet.tensor(batch, { n, 1, 28, 28 }))
local k = logits:dim(2)
local values = logits:tobuffer()
for i, path in ipairs(images) do
  local best = image.top_k(image.softmax(values, k, (i - 1) * k), opts.top)
  local parts = {}
  for j, c in ipairs(best) do parts[j] = string.format("%d (%.1f%%)", c.class, 100 * c.p) end
  print(path .. ": " .. table.concat(parts, ", "))
end
