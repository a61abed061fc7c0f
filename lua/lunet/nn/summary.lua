-- lunet.nn.summary: the table of layers, output shapes and parameter counts.
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

-- Rows {index=, name=, output=shape (with batch 1), params=} and the total.
function M.rows(model, input_shape)
  lunet.check_shape("summary", input_shape)
  local shape = { 1 }
  for i = 1, #input_shape do shape[i + 1] = input_shape[i] end
  local layers = model.modules or { model }
  local rows, total = {}, 0
  for i, m in ipairs(layers) do
    shape = m:output_shape(shape)
    local n = m:num_parameters()
    total = total + n
    rows[i] = { index = i, name = m:describe(), output = shape, params = n }
  end
  return rows, total
end

function M.summary(model, input_shape)
  local rows, total = M.rows(model, input_shape)
  local lines = {}
  local fmt = "%-4s %-44s %-16s %12s"
  lines[1] = string.format(fmt, "#", "layer", "output", "parameters")
  lines[2] = string.rep("-", 79)
  lines[3] = string.format(fmt, "", "input", table.concat(input_shape, "x"), "")
  for _, r in ipairs(rows) do
    lines[#lines + 1] = string.format(fmt, r.index, r.name, sample_shape(r.output), with_commas(r.params))
  end
  lines[#lines + 1] = string.rep("-", 79)
  lines[#lines + 1] = string.format(fmt, "", "total", "", with_commas(total))
  return table.concat(lines, "\n")
end

return M
