-- lunet.models: ready-made networks.
--   local models = require("lunet.models")
--   local net = models.lenet5()            -- 1x28x28 MNIST input (conv1 pads by 2)
--   local net = models.lenet5({input_size = 32, activation = "tanh"})
--   local net = models.alexnet({num_classes = 1000})   -- 3x224x224, torchvision's names
--   local net = models.vgg16()                         -- 3x224x224, torchvision's names
local nn = require("lunet.nn")

local M = {}

-- LeNet-5 as in the course: CONV1 6@5x5, POOL 2/2, CONV2 16@5x5, POOL 2/2, FC 120, FC 84,
-- FC num_classes: 61,706 parameters for 10 classes. With input_size 28 (MNIST), conv1 pads by
-- 2, which is the same as padding the image to 32x32.
function M.lenet5(opts)
  opts = opts or {}
  local size = opts.input_size or 28
  if size ~= 28 and size ~= 32 then
    error("lenet5: input_size must be 28 (padded to 32) or 32, got " .. tostring(size), 0)
  end
  local classes = opts.num_classes or 10
  local act = ({ relu = nn.ReLU, tanh = nn.Tanh, sigmoid = nn.Sigmoid })[opts.activation or "relu"]
  if not act then
    error("lenet5: activation must be relu, tanh or sigmoid, got " .. tostring(opts.activation), 0)
  end
  -- Layers carry the names of PyTorch's LeNet-5 (../shared/reference/torch_lenet.py), so a
  -- saved model.safetensors loads into it as it is: conv1.weight, ..., fc3.bias.
  return nn.Sequential()
    :add(nn.Conv2d(opts.channels or 1, 6, 5, { padding = size == 28 and 2 or 0 }), "conv1")
    :add(act()):add(nn.MaxPool2d(2))
    :add(nn.Conv2d(6, 16, 5), "conv2"):add(act()):add(nn.MaxPool2d(2))
    :add(nn.Flatten())
    :add(nn.Linear(16 * 5 * 5, 120), "fc1"):add(act())
    :add(nn.Linear(120, 84), "fc2"):add(act())
    :add(nn.Linear(84, classes), "fc3")
end

-- ---- AlexNet and VGG-16 (torchvision's layouts and state_dict names) ----------------------
--
-- Both are a Sequential of the named Sequentials "features" and "classifier" (with a
-- Flatten between them, as torchvision's forward() does), whose layers are named by
-- torchvision's 0-based positions, so the parameters are called exactly as in
-- torchvision's state_dict: features.0.weight [64,3,11,11], ..., classifier.6.weight
-- [num_classes,4096]. A file written by scripts/torchvision_to_safetensors.py from
-- torchvision.models.alexnet(weights=...).state_dict() loads with net:load(path).
--
-- torchvision puts AdaptiveAvgPool2d((6, 6)) (AlexNet) or ((7, 7)) (VGG-16) between the
-- two. For a 224x224 input the feature maps already have that size and the pooling is the
-- identity, so it is left out. For an input whose feature maps are a whole multiple k of
-- it (k*6 or k*7), it is a plain AvgPool2d(k) named "avgpool", which computes what the
-- adaptive pooling computes. Any other input_size is an error that says which sizes work.

local OPTION_NAMES = { num_classes = true, input_size = true, dropout = true }

local function is_int(v) return type(v) == "number" and v == math.floor(v) and v >= 1 and v < 2 ^ 31 end

local function check_options(model, opts, default_size)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    error(string.format("%s: options must be a table like {num_classes = 1000, input_size = %d}, got %s",
                        model, default_size, type(opts)), 0)
  end
  for k in pairs(opts) do
    if not OPTION_NAMES[k] then
      error(string.format("%s: unknown option '%s' (num_classes, input_size, dropout)", model, tostring(k)), 0)
    end
  end
  local o = { num_classes = opts.num_classes or 1000, input_size = opts.input_size or default_size,
              dropout = opts.dropout or 0.5 }
  if not is_int(o.num_classes) then
    error(string.format("%s: num_classes must be a positive integer, got %s", model, tostring(opts.num_classes)), 0)
  end
  if not is_int(o.input_size) then
    error(string.format("%s: input_size must be a positive integer, got %s", model, tostring(opts.input_size)), 0)
  end
  if type(o.dropout) ~= "number" or not (o.dropout >= 0 and o.dropout < 1) then
    error(string.format("%s: dropout must be a number in [0, 1), got %s", model, tostring(opts.dropout)), 0)
  end
  return o
end

-- First and last input_size up to 1024 whose feature maps are `want` wide.
local function sizes_giving(size_of, want)
  local first, last
  for s = 1, 1024 do
    if size_of(s) == want then
      first = first or s
      last = s
    end
  end
  return first, last
end

-- Checked before any layer is made: nil (identity) or AvgPool2d(k) standing in for
-- AdaptiveAvgPool2d((target, target)). size_of(s) is the feature maps' width for an s x s
-- input, 0 when they shrink to nothing.
local function adaptive_pool(model, size, size_of, target)
  local got = size_of(size)
  if got == target then return nil end
  if got > 0 and got % target == 0 then return nn.AvgPool2d(got / target) end
  local first, last = sizes_giving(size_of, target)
  error(string.format("%s: input_size %d %s; they must be %dx%d or a whole multiple of that "
                      .. "(torchvision's AdaptiveAvgPool2d((%d, %d)) is a plain AvgPool2d here): "
                      .. "input sizes %d to %d give %dx%d", model, size,
                      got == 0 and "is too small: its feature maps shrink to nothing"
                               or string.format("gives %dx%d feature maps", got, got),
                      target, target, target, target, first, last, target, target), 0)
end

-- A Sequential whose layers are named "0", "1", ... (torchvision's positions).
local function indexed(layers)
  local seq = nn.Sequential()
  for i, m in ipairs(layers) do seq:add(m, tostring(i - 1)) end
  return seq
end

local function assemble(features, pool, classifier)
  local net = nn.Sequential():add(features, "features")
  if pool then net:add(pool, "avgpool") end
  return net:add(nn.Flatten(), "flatten"):add(classifier, "classifier")
end

-- Width of AlexNet's feature maps for an s x s input (0 when a layer does not fit).
local function alexnet_size(s)
  local function conv(n, k, st, p) return n + 2 * p >= k and math.floor((n + 2 * p - k) / st) + 1 or 0 end
  local n = conv(s, 11, 4, 2)
  n = conv(n, 3, 2, 0)          -- pool
  n = conv(conv(n, 5, 1, 2), 3, 2, 0)
  n = conv(conv(conv(conv(n, 3, 1, 1), 3, 1, 1), 3, 1, 1), 3, 2, 0)
  return n
end

-- AlexNet, torchvision's single-tower form: 61,100,840 parameters for 1000 classes.
-- opts: num_classes (1000), input_size (224; 223 to 254 give the 6x6 maps the classifier
-- takes, and larger inputs whose maps are 12x12, 18x18, ... are average-pooled to 6x6),
-- dropout (0.5). Input [N,3,input_size,input_size].
function M.alexnet(opts)
  local o = check_options("alexnet", opts, 224)
  local pool = adaptive_pool("alexnet", o.input_size, alexnet_size, 6)
  local features = indexed({
    nn.Conv2d(3, 64, 11, { stride = 4, padding = 2 }), nn.ReLU(), nn.MaxPool2d(3, { stride = 2 }),
    nn.Conv2d(64, 192, 5, { padding = 2 }), nn.ReLU(), nn.MaxPool2d(3, { stride = 2 }),
    nn.Conv2d(192, 384, 3, { padding = 1 }), nn.ReLU(),
    nn.Conv2d(384, 256, 3, { padding = 1 }), nn.ReLU(),
    nn.Conv2d(256, 256, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool2d(3, { stride = 2 }),
  })
  local classifier = indexed({
    nn.Dropout(o.dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
    nn.Dropout(o.dropout), nn.Linear(4096, 4096), nn.ReLU(),
    nn.Linear(4096, o.num_classes),
  })
  return assemble(features, pool, classifier)
end

-- VGG-16 (configuration "D", no batch norm): 13 3x3 convolutions with padding 1 in five
-- blocks, each ended by MaxPool2d(2), and a 25088-4096-4096-num_classes classifier:
-- 138,357,544 parameters for 1000 classes. opts: num_classes (1000), input_size (224; 224
-- to 255 give the 7x7 maps the classifier takes; larger inputs whose maps are 14x14,
-- 21x21, ... are average-pooled to 7x7), dropout (0.5). Input [N,3,input_size,input_size].
local VGG16 = { 64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M" }

function M.vgg16(opts)
  local o = check_options("vgg16", opts, 224)
  local pool = adaptive_pool("vgg16", o.input_size, function(s) return math.floor(s / 32) end, 7)
  local layers, channels = {}, 3
  for _, v in ipairs(VGG16) do
    if v == "M" then
      layers[#layers + 1] = nn.MaxPool2d(2)
    else
      layers[#layers + 1] = nn.Conv2d(channels, v, 3, { padding = 1 })
      layers[#layers + 1] = nn.ReLU()
      channels = v
    end
  end
  local features = indexed(layers)
  local classifier = indexed({
    nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(o.dropout),
    nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(o.dropout),
    nn.Linear(4096, o.num_classes),
  })
  return assemble(features, pool, classifier)
end

-- A LeNet-5 with the weights of a model.safetensors written by scripts/train_lenet.lua, in
-- eval mode, and the dataset it was trained on (its "dataset" metadata, or nil).
-- Errors (missing file, tensors that do not fit) say which file and what is wrong.
function M.load_lenet5(path)
  local net = M.lenet5()
  net:load(path)
  local f = require("lunet.io").open_tensors(path)
  local dataset = f:metadata("dataset")
  f:close()
  return net:eval(), dataset
end

return M
