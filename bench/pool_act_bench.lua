-- pool_act_bench.lua — microbenchmark of pooling and ReLU, optionally against a second
-- build of liblunet in the same process (interleaved rounds, so that both see the same load).
local ffi = require("ffi")

local usage = [[
usage: luajit bench/pool_act_bench.lua [options]

Times max/avg pooling (2-D at LeNet-5's shapes and a padded 3x3/2 case, 1-D) and ReLU
forward/backward at batch 64, prints us/call and GB/s (minimum traffic: each input read
once, each output written once), medians of --reps rounds. With --base LIB it loads that
second liblunet.so too, runs both in alternating rounds, prints the speed-up and checks that
both give bit-identical results on every op (and, with --sweep N, on N random geometries).

options:
  --lib PATH     the library under test (default: $LUNET_LIB, else build/liblunet.so)
  --base PATH    a reference library (e.g. a copy of main's build) to compare with
  --reps N       rounds per op (default: 9)
  --seconds S    time per round and library (default: 0.05)
  --only PAT     only ops whose name contains PAT
  --sweep N      with --base: also compare N random pooling geometries bit for bit (default: 0)
  --help         show this text
]]

local env_lib = os.getenv("LUNET_LIB")
local opts = { lib = env_lib ~= nil and env_lib ~= "" and env_lib or "build/liblunet.so", reps = 9, seconds = 0.05, sweep = 0 }
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--help" or a == "-h" then io.write(usage) os.exit(0, true) end
  local key = a:match("^%-%-(%w+)$")
  if not key or opts[key] == nil and key ~= "base" and key ~= "only" then
    io.stderr:write("pool_act_bench: unknown option " .. a .. " (see --help)\n") os.exit(2, true)
  end
  local v = arg[i + 1]
  if v == nil then io.stderr:write(a .. " needs a value\n") os.exit(2, true) end
  opts[key] = type(opts[key]) == "number" and assert(tonumber(v), a .. " needs a number") or v
  i = i + 2
end

local function dirname(p) return p:match("^(.*)/[^/]*$") or "." end
ffi.cdef(dofile(dirname(opts.lib) .. "/lunet_cdef.lua"))
ffi.cdef("int clock_gettime(int clk, struct timespec *ts); struct timespec { long s, ns; };")
local function now()
  local ts = ffi.new("struct timespec")
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.s) + tonumber(ts.ns) * 1e-9
end

-- One loaded library with its own context and tensor helpers.
local function open(path)
  local C = ffi.load(path)
  local L = { C = C, path = path }
  function L.check(st) if st ~= 0 then error(path .. ": " .. ffi.string(C.lunet_last_error()), 2) end end
  local pctx = ffi.new("lunet_context*[1]")
  L.check(C.lunet_context_create(nil, pctx))
  L.ctx = pctx[0]
  function L.tensor(shape, seed)
    local s = ffi.new("int64_t[4]", shape)
    local out = ffi.new("lunet_tensor*[1]")
    L.check(C.lunet_tensor_create(L.ctx, #shape, s, out))
    if seed then L.check(C.lunet_tensor_randn(out[0], seed, 0, 1)) end
    return ffi.gc(out[0], C.lunet_tensor_free)
  end
  function L.download(t)
    local n = tonumber(C.lunet_tensor_numel(t))
    local buf = ffi.new("float[?]", n)
    L.check(C.lunet_tensor_download(t, buf, n))
    return buf, n
  end
  function L.finish() L.check(C.lunet_context_finish(L.ctx)) end
  return L
end

local libs = { open(opts.lib) }
if opts.base then libs[2] = open(opts.base) end

local function median(t)
  local s = {}
  for k, v in ipairs(t) do s[k] = v end
  table.sort(s)
  return s[math.floor((#s + 1) / 2)]
end

-- Seconds per call of fn over about opts.seconds (iters fixed after a calibration).
local function timed(L, fn, iters)
  local t0 = now()
  for _ = 1, iters do fn() end
  L.finish()
  return (now() - t0) / iters
end

local function calibrate(L, fn)
  for _ = 1, 3 do fn() end
  L.finish()
  local iters = 4
  while true do
    local dt = timed(L, fn, iters) * iters
    if dt >= opts.seconds / 2 or iters >= 1e5 then
      return math.max(1, math.floor(iters * opts.seconds / dt))
    end
    iters = iters * 4
  end
end

local function bits_equal(a, b, n)
  local ai, bi = ffi.cast("uint32_t*", a), ffi.cast("uint32_t*", b)
  for k = 0, n - 1 do if ai[k] ~= bi[k] then return false, k end end
  return true
end

-- setup(L) returns fn (one call) and the tensor whose contents to compare.
local function run(name, shape, bytes, setup)
  if opts.only and not name:find(opts.only, 1, true) then return end
  local fns, outs, iters, per = {}, {}, {}, {}
  for k, L in ipairs(libs) do
    fns[k], outs[k] = setup(L)
    iters[k] = calibrate(L, fns[k])
    per[k] = {}
  end
  for r = 1, opts.reps do
    for k = 1, #libs do
      local kk = (r % 2 == 1) and k or (#libs + 1 - k)   -- alternate which goes first
      per[kk][r] = timed(libs[kk], fns[kk], iters[kk])
    end
  end
  local us = median(per[1]) * 1e6
  local line = string.format("%-22s %-22s %9.2f us %7.2f GB/s", name, shape, us, bytes / us / 1e3)
  if libs[2] then
    local base = median(per[2]) * 1e6
    local a, n = libs[1].download(outs[1])
    local b = libs[2].download(outs[2])
    local same, at = bits_equal(a, b, n)
    line = line .. string.format("   base %9.2f us %7.2f GB/s   x%.2f  %s", base, bytes / base / 1e3,
                                 base / us, same and "identical" or ("DIFFERENT at " .. at))
  end
  print(line)
end

local function pool_case(name, mode, n, c, h, w, k, s, p, dims, backward)
  local oh = dims == 2 and math.floor((h + 2 * p - k) / s) + 1 or 1
  local ow = math.floor((w + 2 * p - k) / s) + 1
  local xs = dims == 2 and { n, c, h, w } or { n, c, w }
  local ys = dims == 2 and { n, c, oh, ow } or { n, c, ow }
  local nx, ny = n * c * h * w, n * c * oh * ow
  local bytes = backward and 4 * (ny + 2 * nx) or 4 * (nx + ny)
  if backward and mode == 1 then bytes = 4 * (ny + nx) end   -- avg backward does not read x
  local shape = string.format("[%d,%d,%s%d] k%d s%d p%d", n, c, dims == 2 and (h .. ",") or "", w, k, s, p)
  run(name, shape, bytes, function(L)
    local x, y, gy, gx = L.tensor(xs, 1), L.tensor(ys), L.tensor(ys, 2), L.tensor(xs)
    local kh, sh, ph = dims == 2 and k or 1, dims == 2 and s or 1, dims == 2 and p or 0
    local prm = ffi.new("lunet_pool_params", { mode, kh, k, sh, s, ph, p })
    local fwd = dims == 2 and L.C.lunet_pool2d_forward or L.C.lunet_pool1d_forward
    local bwd = dims == 2 and L.C.lunet_pool2d_backward or L.C.lunet_pool1d_backward
    if backward then
      return function() L.check(bwd(x, gy, gx, prm)) end, gx
    end
    return function() L.check(fwd(x, y, prm)) end, y
  end)
end

local function relu_case(name, shape, backward)
  local nx = 1
  for _, d in ipairs(shape) do nx = nx * d end
  run(name, "[" .. table.concat(shape, ",") .. "]", 4 * nx * (backward and 3 or 2), function(L)
    local x, gy, out = L.tensor(shape, 3), L.tensor(shape, 4), L.tensor(shape)
    if backward then
      return function() L.check(L.C.lunet_activation_backward(0, x, gy, out)) end, out
    end
    return function() L.check(L.C.lunet_activation_forward(0, x, out)) end, out
  end)
end

print(string.format("library: %s%s", opts.lib, opts.base and ("   base: " .. opts.base) or ""))
for _, bwd in ipairs({ false, true }) do
  local sfx = bwd and "_bwd" or "_fwd"
  pool_case("maxpool1" .. sfx, 0, 64, 6, 28, 28, 2, 2, 0, 2, bwd)
  pool_case("maxpool2" .. sfx, 0, 64, 16, 10, 10, 2, 2, 0, 2, bwd)
  pool_case("avgpool1" .. sfx, 1, 64, 6, 28, 28, 2, 2, 0, 2, bwd)
  pool_case("maxpool_3s2p1" .. sfx, 0, 64, 16, 28, 28, 3, 2, 1, 2, bwd)
  pool_case("avgpool_3s2p1" .. sfx, 1, 64, 16, 28, 28, 3, 2, 1, 2, bwd)
  pool_case("maxpool_odd" .. sfx, 0, 64, 6, 27, 27, 2, 2, 0, 2, bwd)
  pool_case("maxpool1d_2s2" .. sfx, 0, 64, 16, 1, 1000, 2, 2, 0, 1, bwd)
  pool_case("avgpool1d_3s1p1" .. sfx, 1, 64, 16, 1, 1000, 3, 1, 1, 1, bwd)
end
relu_case("relu1_fwd", { 64, 6, 28, 28 }, false)
relu_case("relu1_bwd", { 64, 6, 28, 28 }, true)
relu_case("relu2_fwd", { 64, 16, 10, 10 }, false)
relu_case("relu2_bwd", { 64, 16, 10, 10 }, true)
relu_case("relu_fc_fwd", { 64, 120 }, false)

-- Random geometries, both libraries, outputs compared bit for bit.
if libs[2] and opts.sweep > 0 then
  local rng, bad = 12345, 0
  local function rand(lo, hi)
    rng = (rng * 1103515245 + 12345) % 2147483648
    return lo + rng % (hi - lo + 1)
  end
  for case = 1, opts.sweep do
    local dims, mode = rand(1, 2), rand(0, 1)
    local kw, sw = rand(1, 5), rand(1, 4)
    local pw = rand(0, math.floor(kw / 2))
    local w = rand(math.max(1, kw - 2 * pw), 40)
    local kh, sh, ph, h = 1, 1, 0, 1
    if dims == 2 then
      kh, sh = rand(1, 5), rand(1, 4)
      if rand(0, 2) == 0 then kh, sh, kw, sw = kw, sw, kw, sw end   -- square windows often
      ph = rand(0, math.floor(kh / 2))
      h = rand(math.max(1, kh - 2 * ph), 40)
      if rand(0, 2) == 0 then pw, ph, sw, sh = 0, 0, kw, kh end   -- tiling-like often
    end
    local n, c = rand(1, 3), rand(1, 5)
    local oh, ow = math.floor((h + 2 * ph - kh) / sh) + 1, math.floor((w + 2 * pw - kw) / sw) + 1
    local xs = dims == 2 and { n, c, h, w } or { n, c, w }
    local ys = dims == 2 and { n, c, oh, ow } or { n, c, ow }
    local res, ties = {}, rand(0, 3) == 0   -- ties: small integers, many equal maxima
    for k, L in ipairs(libs) do
      local x, y, gy, gx = L.tensor(xs, case), L.tensor(ys), L.tensor(ys, case + 7), L.tensor(xs, 99)
      if ties then
        local nx = tonumber(L.C.lunet_tensor_numel(x))
        local v = ffi.new("float[?]", nx)
        local r2 = case
        for q = 0, nx - 1 do r2 = (r2 * 69069 + 1) % 4294967296; v[q] = r2 % 3 end
        L.check(L.C.lunet_tensor_upload(x, v, nx))
      end
      local prm = ffi.new("lunet_pool_params", { mode, kh, kw, sh, sw, ph, pw })
      local fwd = dims == 2 and L.C.lunet_pool2d_forward or L.C.lunet_pool1d_forward
      local bwd = dims == 2 and L.C.lunet_pool2d_backward or L.C.lunet_pool1d_backward
      L.check(fwd(x, y, prm))
      L.check(bwd(x, gy, gx, prm))
      res[k] = { { L.download(y) }, { L.download(gx) } }
    end
    for t = 1, 2 do
      local same = bits_equal(res[1][t][1], res[2][t][1], res[1][t][2])
      if not same then
        bad = bad + 1
        print(string.format("DIFFERENT %s: dims %d mode %d x [%s] k %dx%d s %dx%d p %dx%d", t == 1 and "y" or "grad_x",
                            dims, mode, table.concat(xs, ","), kh, kw, sh, sw, ph, pw))
      end
    end
  end
  print(string.format("sweep: %d random geometries, %d differences", opts.sweep, bad))
  if bad > 0 then os.exit(1, true) end
end
