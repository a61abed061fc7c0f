-- lunet.context: the one OpenCL device a Lua process drives, opened on first use.
local clib = require("lunet.clib")
local ffi, C = clib.ffi, clib.C

local M = {}
local current = nil       -- lunet_context* (kept open until the process ends)
local tensors_made = false

-- The context, opened now if needed: the device named by lunet.set_device, else
-- $LUNET_DEVICE, else the first GPU, else the first device.
function M.get()
  if current == nil then M.open(nil) end
  tensors_made = true
  return current
end

function M.open(selector)
  if current ~= nil and tensors_made then
    error("lunet.set_device: a device is already in use; choose it before creating tensors", 0)
  end
  local out = ffi.new("lunet_context*[1]")
  clib.check(C.lunet_context_create(selector, out))
  current = out[0]   -- deliberately never destroyed: tensors may outlive any Lua scope
  -- A tuning file that could not be used is ignored (the defaults apply); say so once.
  local warning = ffi.string(C.lunet_tuning_warning(current))
  if warning ~= "" then io.stderr:write("lunet: warning: ", warning, "\n") end
  -- Drain the queue and save the compiled kernels into the on-disk cache when the Lua
  -- state closes (the only time they are saved: see lunet_context_save_kernels); PoCL
  -- crashes if the process exits while its threads still run kernels. With
  -- LUNET_PROFILE set, print the per-kernel profile to stderr then (the context is never
  -- destroyed, so lunet_context_destroy's report would never appear).
  local ctx = current
  local profile = M.profiling_requested()
  M._drain_at_exit = ffi.gc(ffi.new("char[1]"), function()
    C.lunet_context_finish(ctx)
    C.lunet_context_save_kernels(ctx)
    if profile then
      local ok, text = pcall(M.report_of, ctx)
      pcall(io.stderr.write, io.stderr, ok and text or ("lunet profile: " .. tostring(text) .. "\n"))
    end
  end)
  return current
end

-- True when $LUNET_PROFILE asks for profiling (set, not empty, not "0"), as device.c reads it.
function M.profiling_requested()
  local v = os.getenv("LUNET_PROFILE")
  return v ~= nil and v ~= "" and v ~= "0"
end

-- The profile table of context ctx (see lunet_profile_report in lunet.h).
function M.report_of(ctx)
  local size = 65536
  for _ = 1, 2 do
    local buf = ffi.new("char[?]", size)
    if C.lunet_profile_report(ctx, buf, size) == 0 then return ffi.string(buf) end
    local msg = ffi.string(C.lunet_last_error())
    local need = tonumber(msg:match("needs (%d+) bytes"))
    if not need then error(msg, 0) end
    size = need
  end
  error("lunet profile: the report kept growing", 0)
end

-- The per-kernel profile of the device in use as a string; fails unless LUNET_PROFILE=1
-- was set when the process started. Finishes the queue first.
function M.profile_report()
  return M.report_of(M.get())
end

local function info_table(info)
  return {
    index = info.index,
    platform = ffi.string(info.platform),
    name = ffi.string(info.name),
    type = ffi.string(info.type),
    memory = tonumber(info.memory),
    compute_units = info.compute_units,
    version = ffi.string(info.version),
    driver = ffi.string(info.driver),
  }
end

function M.devices()
  local count = ffi.new("int[1]")
  clib.check(C.lunet_device_count(count))
  local list = {}
  local info = ffi.new("lunet_device_info")
  for i = 0, count[0] - 1 do
    clib.check(C.lunet_device_get_info(i, info))
    list[#list + 1] = info_table(info)
  end
  return list
end

function M.device()
  local info = ffi.new("lunet_device_info")
  clib.check(C.lunet_context_info(M.get(), info))
  return info_table(info)
end

function M.stats()
  local s = ffi.new("lunet_stats")
  clib.check(C.lunet_context_stats(M.get(), s))
  return {
    kernel_launches = tonumber(s.kernel_launches),
    programs_compiled = tonumber(s.programs_compiled),
    programs_cached = tonumber(s.programs_cached),
    buffers_allocated = tonumber(s.buffers_allocated),
    buffers_reused = tonumber(s.buffers_reused),
    bytes_pooled = tonumber(s.bytes_pooled),
    host_syncs = tonumber(s.host_syncs),
    programs_saved = tonumber(s.programs_saved),
  }
end

return M
