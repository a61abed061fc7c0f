-- lunet.nn: layers and criterions.
--   local nn = require("lunet.nn")
--   local model = nn.Sequential(nn.Conv2d(1, 6, 5, {padding = 2}), nn.ReLU(), nn.MaxPool2d(2))
local nn = {
  Module = require("lunet.nn.module"),
  Sequential = require("lunet.nn.sequential"),
}

-- A layer file returns one class or a table of classes.
local function merge(file)
  local m = require("lunet.nn." .. file)
  if rawget(m, "__name") then
    nn[m.__name] = m
  else
    for name, cls in pairs(m) do nn[name] = cls end
  end
end

merge("conv")        -- Conv2d, Conv1d
merge("linear")      -- Linear
merge("pool")        -- MaxPool2d, AvgPool2d, MaxPool1d, AvgPool1d
merge("activation")  -- ReLU, Tanh, Sigmoid
merge("dropout")     -- Dropout
merge("flatten")     -- Flatten
merge("loss")        -- CrossEntropyLoss

return nn
