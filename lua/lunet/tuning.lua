-- lunet.tuning: the kernel parameters of the device in use (README.md, "Tuning").
--   local tuning = require("lunet.tuning")
--   tuning.get("gemm.variant")        --> "reg"
--   tuning.set("gemm.rm", 4)          -- an allowed value, else an error naming them
--   tuning.save()                     -- to the device's file: later runs read it
-- Values come back as numbers for integer keys ("2|4|8") and strings for named ones
-- ("reg|tiled"). The store belongs to the context (lunet.context()); scripts/tune.lua
-- measures the candidates and saves the best.
local clib = require("lunet.clib")
local context = require("lunet.context")
local ffi, C, check = clib.ffi, clib.C, clib.check

local M = {}

local function split(allowed)
  local list = {}
  for v in allowed:gmatch("[^|]+") do list[#list + 1] = tonumber(v) or v end
  return list
end

-- Every known key: { name, allowed = {...}, numeric, cpu_default, gpu_default, description }.
function M.keys()
  local list = {}
  for i = 0, C.lunet_tuning_key_count() - 1 do
    local k = C.lunet_tuning_key_at(i)
    local allowed = ffi.string(k.allowed)
    local numeric = tonumber(allowed:match("^[^|]+")) ~= nil
    local function value(s) return numeric and tonumber(s) or s end
    list[#list + 1] = {
      name = ffi.string(k.name), allowed = split(allowed), numeric = numeric,
      cpu_default = value(ffi.string(k.cpu_default)), gpu_default = value(ffi.string(k.gpu_default)),
      description = ffi.string(k.description),
    }
  end
  return list
end

-- The key's entry of M.keys(), or an error naming the known keys.
function M.key(name)
  local names = {}
  for _, k in ipairs(M.keys()) do
    if k.name == name then return k end
    names[#names + 1] = k.name
  end
  error("lunet.tuning: unknown key \"" .. tostring(name) .. "\" (known keys: " .. table.concat(names, ", ") .. ")", 2)
end

function M.get(key)
  local buf = ffi.new("char[64]")
  check(C.lunet_tuning_get(context.get(), tostring(key), buf, 64))
  local s = ffi.string(buf)
  return tonumber(s) or s
end

-- value nil restores the device default of that key.
function M.set(key, value)
  check(C.lunet_tuning_set(context.get(), tostring(key), value ~= nil and tostring(value) or nil))
end

-- True when key was set (by M.set or a loaded file) rather than at its device default.
function M.is_set(key)
  local r = C.lunet_tuning_is_set(context.get(), tostring(key))
  if r < 0 then M.key(key) end   -- raises the unknown-key error
  return r == 1
end

-- { [key] = value } for every key.
function M.all()
  local t = {}
  for _, k in ipairs(M.keys()) do t[k.name] = M.get(k.name) end
  return t
end

-- Every key back to its device default (no file is touched).
function M.reset() check(C.lunet_tuning_reset(context.get())) end

-- The tuning file of the device in use ("" when there is no cache directory).
function M.path() return ffi.string(C.lunet_tuning_path(context.get())) end

-- Writes the keys that are set to path (default: M.path()), atomically; returns the path.
function M.save(path)
  check(C.lunet_tuning_save(context.get(), path))
  return path or M.path()
end

-- Replaces the store by the file at path (default: M.path()); a bad file is an error and
-- changes nothing.
function M.load(path)
  check(C.lunet_tuning_load(context.get(), path))
end

-- Why the device's file was ignored when the context opened ("" when it was not).
function M.warning() return ffi.string(C.lunet_tuning_warning(context.get())) end

-- Deletes the device's tuning file (if any) and resets the store; returns the path and
-- whether a file was there.
function M.remove()
  local path = M.path()
  local existed = path ~= "" and os.remove(path) ~= nil
  M.reset()
  return path, existed
end

return M
