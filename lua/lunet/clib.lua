-- lunet.clib: finds and loads liblunet through LuaJIT's FFI.
--
-- The declarations come from lunet.h itself (turned into lunet_cdef.lua by the build),
-- so there is no second, hand-kept copy of the C API. From a plain checkout the library
-- is found in <checkout>/build; $LUNET_LIB names another one (the sanitizer build);
-- an installed lunet is found by the system's library path.
local ffi = require("ffi")

local M = { ffi = ffi }

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- <checkout> is three levels above this file: <checkout>/lua/lunet/clib.lua
local function checkout_root()
  local source = debug.getinfo(1, "S").source
  if source:sub(1, 1) ~= "@" then return nil end
  return dirname(dirname(dirname(source:sub(2))))
end

local function find_library()
  local env = os.getenv("LUNET_LIB")
  if env and env ~= "" then
    if not exists(env) then error("LUNET_LIB names " .. env .. ", which does not exist", 0) end
    return env
  end
  local root = checkout_root()
  if root and exists(root .. "/build/liblunet.so") then return root .. "/build/liblunet.so" end
  return nil   -- installed: let the dynamic loader find liblunet.so
end

local function load_cdef(libpath)
  local beside = libpath and (dirname(libpath) .. "/lunet_cdef.lua")
  if beside and exists(beside) then return dofile(beside) end
  local ok, cdef = pcall(require, "lunet.cdef")
  if ok then return cdef end
  error("lunet: cannot find the built library. Build it first: scripts/setup.sh "
        .. "(or: cmake -S . -B build && cmake --build build)", 0)
end

local libpath = find_library()
ffi.cdef(load_cdef(libpath))
local ok, lib = pcall(ffi.load, libpath or "lunet")
if not ok then
  error("lunet: cannot load liblunet (" .. tostring(lib) .. "). Build it first: scripts/setup.sh", 0)
end
M.C = lib
M.path = libpath or "liblunet.so (system)"

-- Raise the library's last error as a Lua error when a call did not return LUNET_OK.
function M.check(status)
  if status ~= 0 then
    error(ffi.string(lib.lunet_last_error()), 0)
  end
end

return M
