-- lunet.nn.window: the size arguments that convolutions and pooling share: a number or
-- (2-D) a pair {h, w} for kernel size, stride and padding, and how to print them.
local M = {}

function M.is_int(v)
  return type(v) == "number" and v == math.floor(v) and math.abs(v) < 2 ^ 31
end

-- A value as it was given: tables as {a,b}.
function M.show(v)
  if type(v) ~= "table" then return tostring(v) end
  local parts = {}
  for i = 1, #v do parts[i] = tostring(v[i]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- Adds to a layer class with a _dims field (1 or 2):
--   cls:_pair(what, v, min) -> {h, w} from a number or (2-D) a pair; 1-D gives {min, w}
--   cls:_sizes(p, short)    -> "5x3" (2-D) or "5" (1-D); short writes a square pair as one number
function M.install(cls)
  function cls:_pair(what, v, min)
    if self._dims == 2 and type(v) == "table" then
      if #v == 2 and M.is_int(v[1]) and M.is_int(v[2]) and v[1] >= min and v[2] >= min then
        return { v[1], v[2] }
      end
    elseif M.is_int(v) and v >= min then
      return self._dims == 2 and { v, v } or { min, v }
    end
    self:error("%s must be %s%s, got %s", what,
               min == 1 and "a positive integer" or "a non-negative integer",
               self._dims == 2 and " or a pair {h, w} of them" or "", M.show(v))
  end

  function cls:_sizes(p, short)
    if self._dims == 1 then return tostring(p[2]) end
    if short and p[1] == p[2] then return tostring(p[1]) end
    return p[1] .. "x" .. p[2]
  end
end

return M
