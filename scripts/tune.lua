-- Times the GEMM and convolution kernel candidates on the present device and saves the fastest choice to
-- the device's tuning file, which every later lunet context on that device reads.
--   luajit scripts/tune.lua              -- full run, saves
--   luajit scripts/tune.lua --quick      -- a few candidates, small shapes
--   luajit scripts/tune.lua --show       -- what is in force now, and from where
--   luajit scripts/tune.lua --reset      -- delete the file: back to the defaults
local script_dir = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "."
package.path = script_dir .. "/../lua/?.lua;" .. script_dir .. "/../lua/?/init.lua;" .. package.path

local cli = require("lunet.cli")
local opts, positional = cli.parse(arg, {
  usage = "luajit scripts/tune.lua [options]",
  description = "Times the GEMM kernels that lunet can use on the present OpenCL device, on the GEMM\n"
    .. "shapes of LeNet-5 training (im2col convolutions and dense layers, at --batch) and on\n"
    .. "1024x1024x1024, prints a table of median times, and saves the fastest choice to the\n"
    .. "device's tuning file (<cache dir>/tuning-<device hash>.txt; the cache dir is\n"
    .. "LUNET_CACHE_DIR, else XDG_CACHE_HOME/lunet, else ~/.cache/lunet). Every lunet context\n"
    .. "on that device reads the file when it opens; LUNET_TUNING=0 makes it use the defaults.\n"
    .. "Candidates, each timed on the shapes its kernel serves:\n"
    .. "  reg block   gemm.rm x gemm.rn   (gemm_reg_nn/tn/tt: NN and TN shapes)\n"
    .. "  dot block   gemm.dm x gemm.dn x gemm.dv   (gemm_reg_nt: NT shapes)\n"
    .. "  tile        gemm.tile   (gemm_tiled_*: all shapes)\n"
    .. "  conv        conv.algo (im2col | direct) x conv.pos x conv.taps, and conv.layout\n"
    .. "              (flat | rows against auto), on LeNet-5's two\n"
    .. "              convolutions (forward + backward), with the GEMM settings chosen\n"
    .. "The best reg and dot blocks together are then compared with the best tile (geometric\n"
    .. "mean of the times over all shapes) to set gemm.variant; a default is replaced only by a\n"
    .. "candidate faster by --margin. Candidates are timed in\n"
    .. "interleaved rounds (each round times every candidate once), medians are reported;\n"
    .. "a candidate more than 4x slower than the best in a first pass is dropped.",
  options = {
    { "quick", "flag", false, "the defaults and one alternative per block, shapes at batch 16, no 1024^3, 3 rounds" },
    { "dry-run", "flag", false, "time and print the table, but save nothing" },
    { "show", "flag", false, "print the tuning keys, their values now and where they come from, then exit" },
    { "reset", "flag", false, "delete the device's tuning file (back to the defaults), then exit" },
    { "batch", "number", nil, "LeNet-5 batch size of the shapes (default: 64, 16 with --quick)", metavar = "N" },
    { "rounds", "number", nil, "timing rounds; the median is kept (default: 5, 3 with --quick)", metavar = "N" },
    { "margin", "number", 0.05, "a candidate replaces a default only when it is this much faster (0.05: 5%)", metavar = "F" },
    { "device", "string", nil, "OpenCL device: index or name substring (default: LUNET_DEVICE, first GPU, first device)" },
  },
})

local function usage_error(msg) io.stderr:write("tune: ", msg, " (see --help)\n"); os.exit(2, true) end
local function die(msg) io.stderr:write("tune: ", msg, "\n"); os.exit(1, true) end

if #positional > 0 then usage_error("unexpected argument '" .. positional[1] .. "'") end
opts.batch = opts.batch or (opts.quick and 16 or 64)
opts.rounds = opts.rounds or (opts.quick and 3 or 5)
for _, k in ipairs({ "batch", "rounds" }) do
  local v = opts[k]
  if v < 1 or v ~= math.floor(v) or v > 4096 then
    usage_error(string.format("--%s must be an integer from 1 to 4096, got %s", k, tostring(v)))
  end
end
if not (opts.margin >= 0 and opts.margin < 1) then
  usage_error("--margin must be at least 0 and below 1, got " .. tostring(opts.margin))
end

local lunet = require("lunet")
if opts.device then
  local okd, err = pcall(lunet.set_device, opts.device)
  if not okd then die(tostring(err)) end
end
local tuning = require("lunet.tuning")
local progress = require("lunet.progress")
local device = lunet.device()

-- ---- --show and --reset ---------------------------------------------------------------

local function show()
  local path = tuning.path()
  print(string.format("device: %s (%s), %s, driver %s", device.name, device.type, device.platform, device.driver))
  print("tuning file: " .. (path ~= "" and path or "(none: no cache directory)"))
  local env = os.getenv("LUNET_TUNING")
  if env == "0" then print("LUNET_TUNING=0: the file is not read") end
  local warning = tuning.warning()
  if warning ~= "" then print("ignored: " .. warning) end
  for _, k in ipairs(tuning.keys()) do
    local from = tuning.is_set(k.name) and "file" or "default"
    print(string.format("  %-14s %-6s (%s; allowed %s)", k.name, tostring(tuning.get(k.name)), from,
                        table.concat(k.allowed, "|")))
  end
end

if opts.show then show(); os.exit(0, true) end
if opts.reset then
  local path, existed = tuning.remove()
  if path == "" then die("no tuning file: there is no cache directory (set LUNET_CACHE_DIR or HOME)") end
  print((existed and "removed " or "no tuning file at ") .. path .. (existed and "" or " (nothing to do)"))
  os.exit(0, true)
end

-- ---- shapes and candidates ------------------------------------------------------------

-- The GEMMs of LeNet-5 training at batch B: im2col convolutions (col [C*K*K, B*OH*OW]) and
-- the first dense layer, as lib/src/ops/conv.c and linear.c call them.
local function lenet_shapes(b)
  return {
    { "c1.fwd", 0, 0, 6, 784 * b, 25 }, { "c1.dw", 0, 1, 6, 25, 784 * b }, { "c1.dx", 1, 0, 25, 784 * b, 6 },
    { "c2.fwd", 0, 0, 16, 100 * b, 150 }, { "c2.dw", 0, 1, 16, 150, 100 * b }, { "c2.dx", 1, 0, 150, 100 * b, 16 },
    { "f1.fwd", 0, 1, b, 120, 400 }, { "f1.dw", 1, 0, 120, 400, b }, { "f1.dx", 0, 0, b, 400, 120 },
  }
end

local SHAPES = {}
for _, s in ipairs(lenet_shapes(opts.batch)) do
  SHAPES[#SHAPES + 1] = { name = s[1], ta = s[2], tb = s[3], m = s[4], n = s[5], k = s[6] }
end
if not opts.quick then SHAPES[#SHAPES + 1] = { name = "1024^3", ta = 0, tb = 0, m = 1024, n = 1024, k = 1024 } end
for _, s in ipairs(SHAPES) do
  s.a, s.b = lunet.randn({ s.m * s.k }), lunet.randn({ s.k * s.n })
  s.c = lunet.zeros({ s.m * s.n })
  s.nt = s.ta == 0 and s.tb == 1   -- served by gemm_reg_nt (dot products) in the reg variant
end

local KEYS = {}
for _, k in ipairs(tuning.keys()) do KEYS[k.name] = k end
tuning.reset()   -- measure from the device defaults, whatever the file says
local DEFAULTS = tuning.all()
local function default(name) return DEFAULTS[name] end

-- The allowed values of a key to try: all of them, or with --quick the default, plus for
-- the first key of a group its neighbour in the allowed list.
local function values_to_try(name, first)
  local k, d = KEYS[name], default(name)
  if not opts.quick then return k.allowed end
  for i, v in ipairs(k.allowed) do
    if v == d and first then return { d, k.allowed[i - 1] or k.allowed[i + 1] } end
  end
  return { d }
end

local GROUPS = {
  { name = "reg block", variant = "reg", keys = { "gemm.rm", "gemm.rn" },
    serves = function(s) return not s.nt end },
  { name = "dot block", variant = "reg", keys = { "gemm.dm", "gemm.dn", "gemm.dv" },
    serves = function(s) return s.nt end },
  { name = "tile", variant = "tiled", keys = { "gemm.tile" }, serves = function() return true end },
}

-- Every combination of the group's values: list of { [key] = value }.
local function combinations(keys, i)
  i = i or 1
  if i > #keys then return { {} } end
  local out = {}
  for _, rest in ipairs(combinations(keys, i + 1)) do
    for _, v in ipairs(values_to_try(keys[i], i == 1)) do
      local c = { [keys[i]] = v }
      for key, val in pairs(rest) do c[key] = val end
      out[#out + 1] = c
    end
  end
  return out
end

local candidates = {}
for _, g in ipairs(GROUPS) do
  g.shapes = {}
  for _, s in ipairs(SHAPES) do if g.serves(s) then g.shapes[#g.shapes + 1] = s end end
  if #g.shapes > 0 then
    for _, settings in ipairs(combinations(g.keys)) do
      local parts, is_default = {}, true
      for _, key in ipairs(g.keys) do
        parts[#parts + 1] = key:gsub("^gemm%.", "") .. "=" .. tostring(settings[key])
        is_default = is_default and settings[key] == default(key)
      end
      candidates[#candidates + 1] = { group = g, settings = settings, label = table.concat(parts, " "),
                                      is_default = is_default, samples = {}, median = {} }
    end
  end
end

-- ---- timing ---------------------------------------------------------------------------

local now = progress.now
local C = lunet.C

local function apply(cand)
  tuning.reset()
  tuning.set("gemm.variant", cand.group.variant)
  for key, v in pairs(cand.settings) do tuning.set(key, v) end
end

local function run(s, iters)
  for _ = 1, iters do
    lunet.check(C.lunet_gemm(s.ta, s.tb, s.m, s.n, s.k, 1, s.a.handle, s.b.handle, 0, s.c.handle))
  end
end

-- Seconds per call of run_fn(s, iters), from an idle queue to a finished one.
local function time_with(run_fn, s, iters)
  lunet.synchronize()
  local t0 = now()
  run_fn(s, iters)
  lunet.synchronize()
  return (now() - t0) / iters
end
local function time_calls(s, iters) return time_with(run, s, iters) end

local TARGET = opts.quick and 0.002 or 0.01   -- seconds per timed sample
local median, geomean = progress.median, progress.geomean

-- First pass: build the kernels (one call), then find how many calls fill TARGET.
io.stderr:write(string.format("tune: %d candidates on %s, %d shapes, %d rounds\n", #candidates, device.name,
                              #SHAPES, opts.rounds))
local best_estimate = {}
io.stderr:write("tune: first pass (builds the kernels and sizes the samples)\n")
for _, cand in ipairs(candidates) do
  apply(cand)
  cand.iters, cand.estimate = {}, {}
  for _, s in ipairs(cand.group.shapes) do
    run(s, 1)
    local iters, per_call = 1, time_calls(s, 1)
    while per_call * iters < TARGET / 2 and iters < 4096 do
      iters = math.min(4096, math.max(iters * 2, math.ceil(TARGET / math.max(per_call, 1e-7))))
      per_call = time_calls(s, iters)
    end
    cand.iters[s], cand.estimate[s] = math.max(1, math.ceil(TARGET / per_call)), per_call
    best_estimate[s] = math.min(best_estimate[s] or math.huge, per_call)
  end
end
local PRUNE = 4
for _, cand in ipairs(candidates) do
  local ratios = {}
  for _, s in ipairs(cand.group.shapes) do ratios[#ratios + 1] = cand.estimate[s] / best_estimate[s] end
  cand.first_ratio = geomean(ratios)
  cand.pruned = cand.first_ratio > PRUNE
end

-- Interleaved rounds: every candidate once per round, so slow phases of a busy machine
-- hit all of them alike.
io.stderr:write(string.format("tune: %d timing rounds\n", opts.rounds))
for _ = 1, opts.rounds do
  for _, cand in ipairs(candidates) do
    if not cand.pruned then
      apply(cand)
      for _, s in ipairs(cand.group.shapes) do
        cand.samples[s] = cand.samples[s] or {}
        table.insert(cand.samples[s], time_calls(s, math.min(cand.iters[s], 4096)))
      end
    end
  end
end

-- ---- results ----------------------------------------------------------------------------

local function flops(s) return 2 * s.m * s.n * s.k end
for _, cand in ipairs(candidates) do
  if not cand.pruned then
    local times = {}
    for _, s in ipairs(cand.group.shapes) do
      cand.median[s] = median(cand.samples[s])
      times[#times + 1] = cand.median[s]
    end
    cand.score = geomean(times)
  end
end

-- Best candidate of each group (lowest geometric mean of its shapes' medians); the default
-- stays unless the best beats it by --margin, so noise alone does not change the setting.
local best, default_of = {}, {}
for _, cand in ipairs(candidates) do
  local g = cand.group
  if cand.score and (not best[g] or cand.score < best[g].score) then best[g] = cand end
  if cand.is_default then default_of[g] = cand end
end
local function beats(a, b) return a < b * (1 - opts.margin) end
for _, g in ipairs(GROUPS) do
  local d = default_of[g]
  if best[g] and d and d.score and not beats(best[g].score, d.score) then best[g] = d end
end

local function fmt_time(sec)
  if not sec then return "-" end
  if sec >= 0.01 then return string.format("%.1fms", sec * 1e3) end
  return string.format("%.0fus", sec * 1e6)
end

print(string.format("device: %s (%s), %s, driver %s", device.name, device.type, device.platform, device.driver))
print(string.format("GEMM shapes (M x N x K, op(A) op(B)); LeNet-5 at batch %d:", opts.batch))
for _, s in ipairs(SHAPES) do
  print(string.format("  %-7s %s%s %dx%dx%d", s.name, s.ta == 1 and "T" or "N", s.tb == 1 and "T" or "N", s.m, s.n, s.k))
end
print(string.format("median time per call over %d interleaved rounds:", opts.rounds))
local header = { string.format("%-10s %-20s", "group", "candidate") }
for _, s in ipairs(SHAPES) do header[#header + 1] = string.format("%8s", s.name) end
header[#header + 1] = "  vs default"
print(table.concat(header, " "))
for _, cand in ipairs(candidates) do
  local row = { string.format("%-10s %-20s", cand.group.name, cand.label .. (cand.is_default and " *" or "")) }
  for _, s in ipairs(SHAPES) do row[#row + 1] = string.format("%8s", cand.group.serves(s) and fmt_time(cand.median[s]) or "") end
  local d = default_of[cand.group]
  if cand.pruned then
    row[#row + 1] = string.format("  dropped (%.1fx the best in the first pass)", cand.first_ratio)
  elseif d and d.score then
    row[#row + 1] = string.format("  x%.2f%s", d.score / cand.score, best[cand.group] == cand and "  chosen" or "")
  end
  print(table.concat(row, " "))
end
print(string.format("* the device default; vs default: geometric-mean speed-up over the group's shapes; "
                    .. "chosen: the default unless another is %.0f%% faster", opts.margin * 100))

-- The reg variant is its best reg block plus its best dot block; compare with the best tile.
local function variant_times(variant)
  local t = {}
  for _, s in ipairs(SHAPES) do
    for _, g in ipairs(GROUPS) do
      if g.variant == variant and g.serves(s) then t[#t + 1] = best[g] and best[g].median[s] end
    end
  end
  return t
end
local variant_score = {}
for _, v in ipairs({ "reg", "tiled" }) do
  local t = variant_times(v)
  if #t == #SHAPES then variant_score[v] = geomean(t) end
end
local chosen_variant = default("gemm.variant")
if variant_score.reg and variant_score.tiled then
  local other = chosen_variant == "reg" and "tiled" or "reg"
  if beats(variant_score[other], variant_score[chosen_variant]) then chosen_variant = other end
elseif variant_score.reg or variant_score.tiled then
  chosen_variant = variant_score.reg and "reg" or "tiled"
end
for _, v in ipairs({ "reg", "tiled" }) do
  print(string.format("variant %-5s geometric mean over all shapes: %s", v,
                      variant_score[v] and fmt_time(variant_score[v]) or "- (dropped)"))
end

-- What is saved: the variant, and the best of every group that was timed.
local choice = { ["gemm.variant"] = chosen_variant }
for _, g in ipairs(GROUPS) do
  if best[g] then for key, v in pairs(best[g].settings) do choice[key] = v end end
end
local names = {}
for key in pairs(choice) do names[#names + 1] = key end
table.sort(names)
local parts = {}
for _, key in ipairs(names) do parts[#parts + 1] = key .. " = " .. tostring(choice[key]) end
print("chosen: " .. table.concat(parts, ", "))

-- The chosen setting against the defaults, shape by shape, from the same rounds.
local function times_of(variant, pick)
  local t = {}
  for _, s in ipairs(SHAPES) do
    for _, g in ipairs(GROUPS) do
      if g.variant == variant and g.serves(s) then t[s] = pick[g] and pick[g].median[s] end
    end
  end
  return t
end
local chosen_t, default_t = times_of(chosen_variant, best), times_of(default("gemm.variant"), default_of)
local ratios, row = {}, {}
for _, s in ipairs(SHAPES) do
  if chosen_t[s] and default_t[s] then
    ratios[#ratios + 1] = default_t[s] / chosen_t[s]
    row[#row + 1] = string.format("%s x%.2f", s.name, default_t[s] / chosen_t[s])
  end
end
if #ratios == #SHAPES then
  print(string.format("speed-up over the defaults: x%.2f (geometric mean); %s", geomean(ratios), table.concat(row, ", ")))
end
for _, s in ipairs(SHAPES) do
  if s.name == "1024^3" and chosen_t[s] and default_t[s] then
    print(string.format("1024^3: %.1f GFLOP/s chosen, %.1f GFLOP/s default", flops(s) / chosen_t[s] / 1e9,
                        flops(s) / default_t[s] / 1e9))
  end
end

-- ---- convolution: conv.algo, and the direct variant's blocks ------------------------------
-- LeNet-5's two convolutions at --batch, forward then backward (all three gradients), with
-- the GEMM settings chosen above (the im2col variant runs on them).
local ffi = require("ffi")
local CONV_SHAPES = {
  { name = "conv1", c = 1, h = 28, o = 6, k = 5, pad = 2 },
  { name = "conv2", c = 6, h = 14, o = 16, k = 5, pad = 0 },
}
for _, s in ipairs(CONV_SHAPES) do
  local b, oh = opts.batch, s.h + 2 * s.pad - s.k + 1
  s.x, s.w, s.b = lunet.randn({ b, s.c, s.h, s.h }), lunet.randn({ s.o, s.c, s.k, s.k }), lunet.randn({ s.o })
  s.y, s.gy = lunet.zeros({ b, s.o, oh, oh }), lunet.randn({ b, s.o, oh, oh })
  s.gx, s.gw, s.gb = lunet.zeros({ b, s.c, s.h, s.h }), lunet.zeros({ s.o, s.c, s.k, s.k }), lunet.zeros({ s.o })
  s.p = ffi.new("lunet_conv_params", { 1, 1, s.pad, s.pad })
end
local function conv_run(s, iters)
  for _ = 1, iters do
    lunet.check(C.lunet_conv2d_forward(s.x.handle, s.w.handle, s.b.handle, s.y.handle, s.p))
    lunet.check(C.lunet_conv2d_backward(s.x.handle, s.w.handle, s.gy.handle, s.gx.handle, s.gw.handle,
                                        s.gb.handle, s.p))
  end
end
local function conv_time(s, iters) return time_with(conv_run, s, iters) end

local conv_cands = { { label = "im2col", settings = { ["conv.algo"] = "im2col" } } }
for _, pos in ipairs(values_to_try("conv.pos", true)) do
  for _, taps in ipairs(values_to_try("conv.taps", false)) do
    conv_cands[#conv_cands + 1] = { label = string.format("direct pos=%d taps=%d", pos, taps),
                                    settings = { ["conv.algo"] = "direct", ["conv.pos"] = pos, ["conv.taps"] = taps } }
  end
end
for _, layout in ipairs({ "flat", "rows" }) do   -- auto (the default) picks per shape
  conv_cands[#conv_cands + 1] = { label = "direct layout=" .. layout,
                                  settings = { ["conv.algo"] = "direct", ["conv.layout"] = layout } }
end
local conv_default
for _, cand in ipairs(conv_cands) do
  cand.samples, cand.median = {}, {}
  cand.is_default = true
  for _, key in ipairs({ "conv.algo", "conv.pos", "conv.taps", "conv.layout" }) do
    local v = cand.settings[key]
    if v ~= nil and v ~= default(key) then cand.is_default = false end
  end
  if cand.is_default then conv_default = cand end
end
local function conv_apply(cand)
  tuning.reset()
  for key, v in pairs(choice) do tuning.set(key, v) end
  for key, v in pairs(cand.settings) do tuning.set(key, v) end
end
io.stderr:write(string.format("tune: %d convolution candidates\n", #conv_cands))
for _, cand in ipairs(conv_cands) do   -- builds the kernels, sizes the samples
  conv_apply(cand)
  cand.iters = {}
  for _, s in ipairs(CONV_SHAPES) do
    conv_run(s, 1)
    cand.iters[s] = math.max(1, math.min(1000, math.ceil(TARGET / conv_time(s, 1))))
  end
end
for _ = 1, opts.rounds do
  for _, cand in ipairs(conv_cands) do
    conv_apply(cand)
    for _, s in ipairs(CONV_SHAPES) do
      cand.samples[s] = cand.samples[s] or {}
      table.insert(cand.samples[s], conv_time(s, cand.iters[s]))
    end
  end
end
local conv_best
for _, cand in ipairs(conv_cands) do
  local times = {}
  for _, s in ipairs(CONV_SHAPES) do
    cand.median[s] = median(cand.samples[s])
    times[#times + 1] = cand.median[s]
  end
  cand.score = geomean(times)
  if not conv_best or cand.score < conv_best.score then conv_best = cand end
end
if conv_default and not beats(conv_best.score, conv_default.score) then conv_best = conv_default end
print(string.format("convolutions, forward + backward, LeNet-5 at batch %d: median time per call", opts.batch))
print(string.format("  %-26s %10s %10s  vs default", "candidate", "conv1", "conv2"))
for _, cand in ipairs(conv_cands) do
  print(string.format("  %-26s %10s %10s  x%.2f%s", cand.label .. (cand.is_default and " *" or ""),
                      fmt_time(cand.median[CONV_SHAPES[1]]), fmt_time(cand.median[CONV_SHAPES[2]]),
                      conv_default and conv_default.score / cand.score or 1, conv_best == cand and "  chosen" or ""))
end
for key, v in pairs(conv_best.settings) do choice[key] = v end
print("chosen for convolutions: " .. conv_best.label)

tuning.reset()
for key, v in pairs(choice) do tuning.set(key, v) end
if opts.dry_run then
  print("dry run: nothing saved (the file would be " .. tuning.path() .. ")")
  os.exit(0, true)
end
local ok, err = pcall(tuning.save)
if not ok then die(tostring(err)) end
print("saved to " .. tuning.path())
