-- lunet.nn.summary: the table of layers, output shapes, parameter counts and multiply-adds.
--
--   print(net:summary({1, 28, 28}))          -- shape of ONE sample, without the batch
--   local rows, params, macs = require("lunet.nn.summary").rows(net, {3, 224, 224})
--
-- Nested Sequentials (AlexNet's "features" and "classifier") are opened: each leaf layer
-- is a row, named as its parameters are in a state_dict ("features.0", "conv1", "3").
-- MACs are the multiply-adds of one sample's forward pass: a convolution has
-- OH*OW*O*C*KH*KW (OL*O*C*K in 1-D), a dense layer in*out, everything else 0 (biases,
-- activations and pooling are not multiply-adds). A layer class unknown here that has
-- parameters shows "?" and is left out of the total, which then says so.
local lunet = require("lunet")

local M = {}

local function with_commas(n)
  local s = tostring(math.floor(n))
  local out = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (out:gsub("^,", ""))
end
M.with_commas = with_commas

local function sample_shape(shape)   -- drop the batch dimension for display
  local s = {}
  for i = 2, #shape do s[#s + 1] = shape[i] end
  return table.concat(s, "x")
end

local function product(t, first)
  local n = 1
  for i = first or 1, #t do n = n * t[i] end
  return n
end

-- Multiply-adds per sample of a layer, by class name, from its input and output shapes
-- (with batch 1). nil when the class is not known here.
local MACS = {
  Conv2d = function(m, _, out) return product(out, 2) * m.in_channels * m.kernel_size[1] * m.kernel_size[2] end,
  Conv1d = function(m, _, out) return product(out, 2) * m.in_channels * m.kernel_size[2] end,
  Linear = function(m) return m.in_features * m.out_features end,
}
local NO_MACS = { ReLU = true, Tanh = true, Sigmoid = true, MaxPool2d = true, AvgPool2d = true,
                  MaxPool1d = true, AvgPool1d = true, Flatten = true, Dropout = true }

function M.macs(m, input_shape, output_shape)
  local f = MACS[m.__name]
  if f then return f(m, input_shape, output_shape) end
  if NO_MACS[m.__name] or m:num_parameters() == 0 then return 0 end
  return nil
end

local function is_container(m)
  return m.__name == "Sequential" and type(m.modules) == "table"
end

-- Rows {index=, path=, name=, input=, output=, params=, macs=} (shapes with batch 1) for
-- each leaf layer, the total parameters and the total multiply-adds (of the layers whose
-- cost is known; the fourth result counts those that are not).
function M.rows(model, input_shape)
  lunet.check_shape("summary", input_shape)
  local shape = { 1 }
  for i = 1, #input_shape do shape[i + 1] = input_shape[i] end
  local rows, total, total_macs, unknown = {}, 0, 0, 0
  local function walk(m, path)
    if is_container(m) then
      for i, child in ipairs(m.modules) do
        local name = m.names and m.names[i] or tostring(i)
        walk(child, path and (path .. "." .. name) or name)
      end
      return
    end
    local input = shape
    shape = m:output_shape(shape)
    local n = m:num_parameters()
    local macs = M.macs(m, input, shape)
    total = total + n
    if macs then total_macs = total_macs + macs else unknown = unknown + 1 end
    rows[#rows + 1] = { index = #rows + 1, path = path or "", name = m:describe(), input = input,
                        output = shape, params = n, macs = macs }
  end
  walk(model, nil)
  return rows, total, total_macs, unknown
end

function M.summary(model, input_shape)
  local rows, total, total_macs, unknown = M.rows(model, input_shape)
  local cells = { { "#", "name", "layer", "output", "parameters", "MACs" },
                  { "", "", "input", table.concat(input_shape, "x"), "", "" } }
  for _, r in ipairs(rows) do
    cells[#cells + 1] = { tostring(r.index), r.path, r.name, sample_shape(r.output), with_commas(r.params),
                          r.macs and with_commas(r.macs) or "?" }
  end
  cells[#cells + 1] = { "", "", "total", "", with_commas(total),
                        with_commas(total_macs) .. (unknown > 0 and string.format(" (+%d unknown)", unknown) or "") }
  local width = {}
  for _, row in ipairs(cells) do
    for j, c in ipairs(row) do width[j] = math.max(width[j] or 0, #c) end
  end
  local right = { false, false, false, false, true, true }
  local function line(row)
    local parts = {}
    for j, c in ipairs(row) do
      parts[j] = right[j] and string.rep(" ", width[j] - #c) .. c or c .. string.rep(" ", width[j] - #c)
    end
    return (table.concat(parts, "  "):gsub("%s+$", ""))
  end
  local rule = 0
  for j = 1, #width do rule = rule + width[j] end
  rule = string.rep("-", rule + 2 * (#width - 1))
  local lines = { line(cells[1]), rule, line(cells[2]) }
  for i = 3, #cells - 1 do lines[#lines + 1] = line(cells[i]) end
  lines[#lines + 1] = rule
  lines[#lines + 1] = line(cells[#cells])
  return table.concat(lines, "\n")
end

return M
