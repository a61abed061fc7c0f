-- lunet.progress: a progress bar for training epochs.
--   local bar = progress.new({ total = 60000, label = "epoch 1/10" })
--   bar:update(done, { loss = 0.21, acc = 0.94 })   -- cheap when called often
--   bar:finish()
-- On a terminal it redraws one line in place (percentage, images/s, running loss and
-- accuracy, ETA); when output goes to a file or a pipe it prints a plain line every
-- `every` seconds (default 10) instead, so logs stay readable.
local ffi = require("ffi")
pcall(ffi.cdef, "int isatty(int fd);")

local M = {}
local Bar = {}
Bar.__index = Bar

function M.stdout_is_terminal()
  local ok, r = pcall(function() return ffi.C.isatty(1) end)
  return ok and r == 1
end

-- Wall-clock seconds (gettimeofday), for rates that mean something with a GPU busy.
pcall(ffi.cdef, "typedef struct { long tv_sec; long tv_usec; } lunet_timeval; int gettimeofday(lunet_timeval *tv, void *tz);")
local tv = ffi.new("lunet_timeval")
function M.now()
  if ffi.C.gettimeofday(tv, nil) == 0 then return tonumber(tv.tv_sec) + tonumber(tv.tv_usec) * 1e-6 end
  return os.clock()
end

-- The median of a list of numbers (the mean of the middle two for an even count), nil when
-- it is empty; the list is not changed. For timings: the benchmark and the tuner use it.
function M.median(list)
  if #list == 0 then return nil end
  local s = {}
  for i, v in ipairs(list) do s[i] = v end
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) / 2] end
  return (s[n / 2] + s[n / 2 + 1]) / 2
end

-- The geometric mean of a non-empty list of positive numbers (speed-ups over several shapes).
function M.geomean(list)
  local sum = 0
  for _, v in ipairs(list) do sum = sum + math.log(v) end
  return math.exp(sum / #list)
end

function M.format_seconds(s)
  s = math.max(0, math.floor(s + 0.5))
  if s >= 3600 then return string.format("%d:%02d:%02d", s / 3600, (s % 3600) / 60, s % 60) end
  return string.format("%d:%02d", s / 60, s % 60)
end

function M.new(opts)
  local self = setmetatable({}, Bar)
  self.total = assert(opts.total, "progress.new: total is required")
  self.label = opts.label or ""
  self.width = opts.width or 28
  self.out = opts.out or io.stdout
  self.tty = opts.tty
  if self.tty == nil then self.tty = M.stdout_is_terminal() end
  self.every = opts.every or 10
  self.now = opts.clock or M.now
  self.start = self.now()
  self.last_draw = -math.huge
  return self
end

function Bar:line(done, stats)
  local elapsed = self.now() - self.start
  local frac = self.total > 0 and math.min(1, done / self.total) or 1
  local rate = elapsed > 0 and done / elapsed or 0
  local eta = rate > 0 and (self.total - done) / rate or 0
  local parts = { self.label }
  if self.tty then
    local filled = math.floor(frac * self.width + 0.5)
    parts[#parts + 1] = "[" .. string.rep("=", filled) .. string.rep(" ", self.width - filled) .. "]"
  end
  parts[#parts + 1] = string.format("%3d%%", math.floor(frac * 100))
  parts[#parts + 1] = string.format("%6.0f img/s", rate)
  if stats and stats.loss then parts[#parts + 1] = string.format("loss %.4f", stats.loss) end
  if stats and stats.acc then parts[#parts + 1] = string.format("acc %5.2f%%", 100 * stats.acc) end
  parts[#parts + 1] = "ETA " .. M.format_seconds(eta)
  return table.concat(parts, "  ")
end

function Bar:update(done, stats)
  local t = self.now()
  local interval = self.tty and 0.1 or self.every
  if t - self.last_draw < interval and done < self.total then return end
  self.last_draw = t
  if self.tty then
    self.out:write("\r", self:line(done, stats), "\27[K")
  else
    self.out:write(self:line(done, stats), "\n")
  end
  self.out:flush()
end

-- Clears the in-place line (a summary line usually follows).
function Bar:finish()
  if self.tty then self.out:write("\r\27[K") end
  self.out:flush()
end

return M
