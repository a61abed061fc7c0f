-- Trains LeNet-5 with lunet.  luajit scripts/train_lenet.lua --help
--
-- Until the MNIST data loader lands, this trains on a small built-in batch of synthetic
-- 28x28 "digits" (ten stroke patterns with noise and shifts) and says so: it shows the
-- whole training loop running on the device, not MNIST accuracy.
local script_dir = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "."
package.path = script_dir .. "/../lua/?.lua;" .. script_dir .. "/../lua/?/init.lua;" .. package.path

local cli = require("lunet.cli")
local opts = cli.parse(arg, {
  usage = "luajit scripts/train_lenet.lua [options]",
  description = "Trains LeNet-5 (61,706 parameters) on the device chosen by --device or LUNET_DEVICE.\n"
    .. "For now the data is a built-in synthetic batch of 28x28 patterns (MNIST comes with the data loader).",
  options = {
    { "epochs", "number", 30, "passes over the training batch" },
    { "batch-size", "number", 64, "images per step" },
    { "lr", "number", 0.05, "learning rate" },
    { "optimizer", "string", "sgd", "sgd (momentum 0.9) or adam", choices = { "sgd", "adam" } },
    { "seed", "number", 1, "seed for initialisation and data" },
    { "device", "string", nil, "OpenCL device: index or name substring (default: LUNET_DEVICE, first GPU, first device)" },
    { "images", "number", 512, "size of the synthetic training set" },
  },
})

local lunet = require("lunet")
if opts.device then lunet.set_device(opts.device) end
local nn = require("lunet.nn")
local optim = require("lunet.optim")
local models = require("lunet.models")

for _, k in ipairs({ "epochs", "batch_size", "images" }) do
  if opts[k] < 1 or opts[k] ~= math.floor(opts[k]) then
    io.stderr:write("--" .. k:gsub("_", "-") .. " must be a positive integer\n"); os.exit(2)
  end
end

-- Ten classes of 28x28 patterns: class c is a bar at angle c*18 degrees plus noise and a shift.
local function synthetic_digits(n, seed)
  local state = seed
  local function rnd()
    state = (state * 1103515245 + 12345) % 2147483648
    return state / 2147483648
  end
  local pixels, labels = {}, {}
  for i = 0, n - 1 do
    local c = i % 10
    local angle = c * math.pi / 10
    local dx, dy = math.cos(angle), math.sin(angle)
    local sx, sy = (rnd() - 0.5) * 6, (rnd() - 0.5) * 6
    for y = 0, 27 do
      for x = 0, 27 do
        local px, py = x - 13.5 - sx, y - 13.5 - sy
        local dist = math.abs(px * dy - py * dx)
        local along = math.abs(px * dx + py * dy)
        local v = (dist < 1.8 and along < 10) and 1 or 0
        pixels[#pixels + 1] = v + (rnd() - 0.5) * 0.4
      end
    end
    labels[i + 1] = c
  end
  return pixels, labels
end

lunet.manual_seed(opts.seed)
local device = lunet.device()
print(string.format("lunet %s on %s (%s)", lunet.version, device.name, device.platform))
print(string.format("data: built-in synthetic batch of %d images (MNIST loading is not built yet)", opts.images))

local pixels, labels = synthetic_digits(opts.images, opts.seed)
local net = models.lenet5()
print(net:summary({ 1, 28, 28 }))
local loss_fn = nn.CrossEntropyLoss()
local opt = opts.optimizer == "adam" and optim.Adam(net:parameters(), { lr = opts.lr / 50 })
  or optim.SGD(net:parameters(), { lr = opts.lr, momentum = 0.9 })

local bs = math.min(opts.batch_size, opts.images)
local steps = math.floor(opts.images / bs)
local x = lunet.zeros({ bs, 1, 28, 28 })
local batches = {}
for s = 0, steps - 1 do
  local px, lb = {}, {}
  for j = 1, bs * 784 do px[j] = pixels[s * bs * 784 + j] end
  for j = 1, bs do lb[j] = labels[s * bs + j] end
  batches[s + 1] = { pixels = lunet.tensor(px, { bs, 1, 28, 28 }), labels = lb }
end

local function accuracy(logits, lb)
  local v, k = logits:totable(), logits:dim(2)
  local correct = 0
  for i = 1, #lb do
    local best = 1
    for j = 2, k do if v[(i - 1) * k + j] > v[(i - 1) * k + best] then best = j end end
    if best - 1 == lb[i] then correct = correct + 1 end
  end
  return correct / #lb
end

for epoch = 1, opts.epochs do
  local t0 = os.clock()
  local loss_sum, acc_sum = 0, 0
  net:train()
  for _, b in ipairs(batches) do
    x = b.pixels
    net:zero_grad()
    local logits = net:forward(x)
    loss_sum = loss_sum + loss_fn:forward(logits, b.labels)
    acc_sum = acc_sum + accuracy(logits, b.labels)
    net:backward(x, loss_fn:backward(logits, b.labels))
    opt:step()
  end
  print(string.format("epoch %3d  loss %.4f  train accuracy %5.1f%%  (%.2f s cpu)", epoch,
                      loss_sum / #batches, 100 * acc_sum / #batches, os.clock() - t0))
end
