-- lunet.signals: a synthetic, seeded dataset of 1-D signals for 1-D CNNs
-- (scripts/train_conv1d.lua --task signals).
--
--   local signals = require("lunet.signals")
--   local x, y, labels = signals.generate(1000, { seed = 1 })   -- x [1000,1,128], y [1000] on the device
--   local train = signals.dataset(5000, { seed = 1 })           -- a lunet.data Dataset: train:batches(64)
--
-- Five classes (label = position in signals.CLASSES, 0-based):
--   0 sine, 1 square, 2 sawtooth, 3 triangle: A * wave(f * t / L + phase) + noise, with
--     f uniform in [min_cycles, max_cycles] cycles over the signal, phase uniform in [0, 1)
--     of a cycle, amplitude A uniform in [min_amplitude, max_amplitude], and Gaussian noise
--     of standard deviation `noise`;
--   4 noise: Gaussian noise of standard deviation A / 2 (plus the same `noise`).
-- The classes take turns (sample i has class i % 5), so every class has the same share; a
-- seed fixes everything, on every machine (the generator uses 32-bit integer operations).
local lunet = require("lunet")
local ffi = lunet.ffi

local random = require("lunet.random")

local M = {}

M.CLASSES = { "sine", "square", "sawtooth", "triangle", "noise" }

local DEFAULTS = {
  length = 128, seed = 1, noise = 0.1, min_cycles = 2, max_cycles = 8,
  min_amplitude = 0.5, max_amplitude = 1.5,
}

local function fail(who, fmt, ...)
  error(who .. ": " .. string.format(fmt, ...), 0)
end

local function is_integer(v, low)
  return type(v) == "number" and v == math.floor(v) and v >= low and v < 2 ^ 31
end

-- Uniform numbers in [0, 1) from lunet.random's xorshift128, on a stream of its own.
function M.rng(seed)
  local next_u32 = random.xorshift128(seed, { 0x68e31da4, 0x2f6b3a91, 0x7feb352d })
  return function() return next_u32() / 4294967296 end
end

local function gaussian(uniform)
  local u1 = 1 - uniform()   -- (0, 1]
  return math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * uniform())
end

-- Value of the wave of class k (0..3) at phase p in [0, 1).
local WAVES = {
  [0] = function(p) return math.sin(2 * math.pi * p) end,
  [1] = function(p) return p < 0.5 and 1 or -1 end,
  [2] = function(p) return 2 * p - 1 end,
  [3] = function(p) return 1 - 4 * math.abs(p - 0.5) end,
}

local function options(who, opts)
  if opts ~= nil and type(opts) ~= "table" then fail(who, "options must be a table, got %s", type(opts)) end
  opts = opts or {}
  for k in pairs(opts) do
    if DEFAULTS[k] == nil then
      fail(who, "unknown option '%s' (length, seed, noise, min_cycles, max_cycles, min_amplitude, max_amplitude)",
           tostring(k))
    end
  end
  local o = {}
  for k, v in pairs(DEFAULTS) do
    o[k] = opts[k]
    if o[k] == nil then o[k] = v end
    if type(o[k]) ~= "number" or o[k] ~= o[k] then fail(who, "%s must be a number, got %s", k, tostring(o[k])) end
  end
  if not is_integer(o.length, 8) then fail(who, "length must be an integer of at least 8, got %s", tostring(o.length)) end
  if not is_integer(o.seed, 0) then fail(who, "seed must be a non-negative integer, got %s", tostring(o.seed)) end
  if o.noise < 0 then fail(who, "noise must be >= 0, got %s", tostring(o.noise)) end
  if not (o.min_cycles > 0 and o.max_cycles >= o.min_cycles and o.max_cycles <= o.length / 2) then
    fail(who, "cycles must satisfy 0 < min_cycles <= max_cycles <= length/2 (%g), got %g and %g",
         o.length / 2, o.min_cycles, o.max_cycles)
  end
  if not (o.min_amplitude > 0 and o.max_amplitude >= o.min_amplitude) then
    fail(who, "amplitudes must satisfy 0 < min_amplitude <= max_amplitude, got %g and %g",
         o.min_amplitude, o.max_amplitude)
  end
  return o
end

-- n signals on the host: a float[n * length] array (row-major [n, length]) and a
-- uint8_t[n] array of labels.
function M.generate_host(n, opts)
  local who = "signals.generate"
  if not is_integer(n, 1) then fail(who, "n must be a positive integer, got %s", tostring(n)) end
  local o = options(who, opts)
  local L = o.length
  local values = ffi.new("float[?]", n * L)
  local labels = ffi.new("uint8_t[?]", n)
  local u = M.rng(o.seed)
  local k_classes = #M.CLASSES
  for i = 0, n - 1 do
    local class = i % k_classes
    labels[i] = class
    local amp = o.min_amplitude + (o.max_amplitude - o.min_amplitude) * u()
    local cycles = o.min_cycles + (o.max_cycles - o.min_cycles) * u()
    local phase = u()
    local wave = WAVES[class]
    local row = values + i * L
    for t = 0, L - 1 do
      local v
      if wave then
        local p = (cycles * t / L + phase) % 1
        v = amp * wave(p)
      else
        v = 0.5 * amp * gaussian(u)
      end
      if o.noise > 0 then v = v + o.noise * gaussian(u) end
      row[t] = v
    end
  end
  return values, labels, o
end

-- n signals on the device: x [n, 1, length], y [n] (labels as floats), and the labels
-- on the host as a Lua table (1-based positions, 0-based classes).
function M.generate(n, opts)
  local values, labels, o = M.generate_host(n, opts)
  local x = lunet.tensor(values, { n, 1, o.length })
  local yf = ffi.new("float[?]", n)
  local host = {}
  for i = 0, n - 1 do yf[i] = labels[i]; host[i + 1] = labels[i] end
  return x, lunet.tensor(yf, { n }), host
end

-- n signals as a lunet.data Dataset (images [n,1,length] and labels on the device, so that
-- ds:batches(size, {seed=}) gathers shuffled batches there, as for MNIST).
function M.dataset(n, opts)
  local data = require("lunet.data")
  local values, labels, o = M.generate_host(n, opts)
  local yf = ffi.new("float[?]", n)
  for i = 0, n - 1 do yf[i] = labels[i] end
  return setmetatable({
    name = string.format("signals (seed %d)", o.seed),
    n = n,
    shape = { n, 1, o.length },
    sample_shape = { 1, o.length },
    num_classes = #M.CLASSES,
    class_names = M.CLASSES,
    normalize = false,
    images = lunet.tensor(values, { n, 1, o.length }),
    labels = lunet.tensor(yf, { n }),
    host_labels = labels,   -- uint8_t[n], 0-based
    _batches = {},
  }, data.Dataset)
end

return M
