-- lunet.models: ready-made networks.
--   local models = require("lunet.models")
--   local net = models.lenet5()            -- 1x28x28 MNIST input (conv1 pads by 2)
--   local net = models.lenet5({input_size = 32, activation = "tanh"})
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

return M
