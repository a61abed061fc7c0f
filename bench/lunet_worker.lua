-- bench/lunet_worker.lua: the lunet side of the benchmark, one measurement per process.
-- bench/bench.lua runs it; it prints one "RESULT key=value ..." line per measurement.
--   luajit bench/lunet_worker.lua train --batches 16,64,256 --steps 200 --reps 3
--   luajit bench/lunet_worker.lua infer --batch 1000 --reps 3
--   luajit bench/lunet_worker.lua ops --seconds 0.2 --reps 5
--   luajit bench/lunet_worker.lua first-batch          (cold/warm start: run it with fresh caches)
--   luajit bench/lunet_worker.lua memory --batch 64 --steps 938
local script_dir = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "."
package.path = script_dir .. "/../lua/?.lua;" .. script_dir .. "/../lua/?/init.lua;" .. package.path

local ffi = require("ffi")
pcall(ffi.cdef, "typedef struct { long tv_sec; long tv_nsec; } bench_timespec;"
                .. " int clock_gettime(int clk, bench_timespec *ts);")
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts)   -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end
local t_process = now()

local cli = require("lunet.cli")
local opts, positional = cli.parse(arg, {
  usage = "luajit bench/lunet_worker.lua MODE [options]   (MODE: train, infer, ops, first-batch, memory)",
  description = "One lunet measurement for bench/bench.lua; prints RESULT lines. Run bench/bench.lua instead.",
  options = {
    { "data", "string", nil, "MNIST folder (default: LUNET_MNIST_DIR, else ../shared/data/mnist)", metavar = "DIR" },
    { "batches", "string", "16,64,256", "train: batch sizes, comma-separated" },
    { "batch", "number", 1000, "infer/memory: batch size" },
    { "steps", "number", 200, "train/memory: timed steps per repetition" },
    { "warmup", "number", 20, "train: untimed steps before timing" },
    { "reps", "number", 3, "repetitions (the median is reported)" },
    { "seconds", "number", 0.2, "ops: minimum time of one repetition" },
  },
})
local mode = positional[1]
local modes = { train = true, infer = true, ops = true, ["first-batch"] = true, memory = true }
local function die(msg) io.stderr:write("lunet_worker: ", msg, "\n"); os.exit(2, true) end
if not modes[mode] then
  die("expected a mode (train, infer, ops, first-batch or memory), got " .. tostring(mode))
end
if positional[2] then die("one mode expected, got a second argument '" .. positional[2] .. "'") end
for _, k in ipairs({ "batch", "steps", "reps" }) do
  if opts[k] < 1 or opts[k] ~= math.floor(opts[k]) then die("--" .. k .. " must be a positive integer") end
end
if opts.warmup < 0 or opts.warmup ~= math.floor(opts.warmup) then die("--warmup must be a non-negative integer") end
if not (opts.seconds > 0) then die("--seconds must be positive") end

local lunet = require("lunet")
local nn = require("lunet.nn")
local optim = require("lunet.optim")
local models = require("lunet.models")
local data = require("lunet.data")
local C = lunet.C

local median = require("lunet.progress").median

local function data_dir()
  if opts.data then return opts.data end
  local env = os.getenv("LUNET_MNIST_DIR")
  if env and env ~= "" then return env end
  return script_dir .. "/../../shared/data/mnist"
end

local function load(split)
  local ok, ds = pcall(data.mnist, data_dir(), split)
  if not ok then die(tostring(ds)) end
  return ds
end

local function vm_hwm_kb()
  local f = io.open("/proc/self/status", "r")
  if not f then return -1 end
  local kb = -1
  for line in f:lines() do
    local v = line:match("^VmHWM:%s+(%d+) kB")
    if v then kb = tonumber(v) end
  end
  f:close()
  return kb
end

-- The training setup of the benchmark: as PyTorch's reference (SGD momentum 0.9, lr 0.01).
local function trainer(seed)
  lunet.manual_seed(seed)
  local net = models.lenet5()
  return { net = net, opt = optim.SGD(net:parameters(), { lr = 0.01, momentum = 0.9 }),
           loss_fn = nn.CrossEntropyLoss() }
end

-- Runs `steps` training steps on shuffled batches (a new epoch when one runs out). Like the
-- reference, it reads the loss back every 100 steps. Returns the last loss read.
local function train_steps(t, ds, batch, steps, state)
  local loss_value
  for _ = 1, steps do
    local x, y
    if state.next then x, y = state.next() end
    if not x then
      state.epoch = (state.epoch or 0) + 1
      state.next = ds:batches(batch, { seed = 1000 + state.epoch, drop_last = true })
      x, y = state.next()
    end
    t.net:zero_grad()
    local logits = t.net:forward(x)
    local loss = t.loss_fn:forward_async(logits, y)
    state.steps = (state.steps or 0) + 1
    if state.steps % 100 == 0 then loss_value = loss:totable()[1] end
    -- As the reference (and train_lenet.lua): no gradient for the input images.
    t.net:backward(x, t.loss_fn:backward(logits, y), { input_grad = false })
    t.opt:step()
  end
  return loss_value
end

local function result(fields)
  local parts = { "RESULT" }
  for _, kv in ipairs(fields) do parts[#parts + 1] = kv[1] .. "=" .. tostring(kv[2]) end
  print(table.concat(parts, " "))
  io.stdout:flush()
end

-- ---- modes -----------------------------------------------------------------------------

local function run_train()
  local ds = load("train")
  for b in opts.batches:gmatch("[^,]+") do
    local batch = tonumber(b)
    if not batch or batch < 1 or batch ~= math.floor(batch) then die("--batches: bad batch size " .. b) end
    local t = trainer(1)
    local state = {}
    train_steps(t, ds, batch, opts.warmup, state)
    lunet.synchronize()
    local rates = {}
    for r = 1, opts.reps do
      lunet.synchronize()
      local t0 = now()
      train_steps(t, ds, batch, opts.steps, state)
      lunet.synchronize()
      rates[r] = opts.steps * batch / (now() - t0)
    end
    local list = {}
    for i, v in ipairs(rates) do list[i] = string.format("%.0f", v) end
    result({ { "kind", "train" }, { "batch", batch }, { "steps", opts.steps },
             { "img_per_s", string.format("%.0f", median(rates)) }, { "reps", table.concat(list, ",") } })
  end
end

local function run_infer()
  local ds = load("test")
  local t = trainer(1)
  t.net:eval()
  local function pass()
    for x in ds:batches(opts.batch, { shuffle = false }) do t.net:forward(x) end
  end
  pass()
  lunet.synchronize()
  local rates = {}
  for r = 1, opts.reps do
    local t0 = now()
    pass()
    lunet.synchronize()
    rates[r] = ds.n / (now() - t0)
  end
  local best = 0
  for _, v in ipairs(rates) do best = math.max(best, v) end
  local list = {}
  for i, v in ipairs(rates) do list[i] = string.format("%.0f", v) end
  result({ { "kind", "infer" }, { "batch", opts.batch }, { "img_per_s", string.format("%.0f", median(rates)) },
           { "best_img_per_s", string.format("%.0f", best) }, { "reps", table.concat(list, ",") } })
end

-- Seconds per call of fn: calls in rounds of at least opts.seconds, median of opts.reps.
local function time_op(fn)
  for _ = 1, 3 do fn() end
  lunet.synchronize()
  local iters, per_call = 1, {}
  while true do   -- find how many calls fill opts.seconds
    local t0 = now()
    for _ = 1, iters do fn() end
    lunet.synchronize()
    local dt = now() - t0
    if dt >= opts.seconds or iters >= 1e6 then break end
    iters = math.max(iters * 2, math.ceil(iters * opts.seconds / math.max(dt, 1e-6) * 1.1))
  end
  for r = 1, opts.reps do
    local t0 = now()
    for _ = 1, iters do fn() end
    lunet.synchronize()
    per_call[r] = (now() - t0) / iters
  end
  return median(per_call), iters
end

local function run_ops()
  local check = lunet.check
  -- flops: floating-point operations of one call (0: not compute-bound); bytes: memory
  -- traffic of one call at its minimum (each input read once, each output written once)
  local function op(name, flops, fn, shape, bytes)
    local sec, iters = time_op(fn)
    result({ { "kind", "op" }, { "op", name }, { "shape", shape }, { "us", string.format("%.2f", sec * 1e6) },
             { "gflops", flops > 0 and string.format("%.3f", flops / sec / 1e9) or "-" },
             { "gbps", bytes and string.format("%.3f", bytes / sec / 1e9) or "-" },
             { "calls", iters } })
  end
  -- GEMM: C[M,N] = op(A) op(B), tensors read as flat matrices
  local function gemm(name, ta, tb, m, n, k)
    local a, b, c = lunet.randn({ m * k }), lunet.randn({ k * n }), lunet.zeros({ m * n })
    op(name, 2 * m * n * k, function()
      check(C.lunet_gemm(ta, tb, m, n, k, 1, a.handle, b.handle, 0, c.handle))
    end, string.format("%s%s_%dx%dx%d", ta == 1 and "T" or "N", tb == 1 and "T" or "N", m, n, k))
  end
  gemm("sgemm_1024", 0, 0, 1024, 1024, 1024)
  -- the GEMMs of LeNet-5 at batch 64 (im2col: col [C*K*K, N*OH*OW])
  gemm("gemm_conv1_fwd", 0, 0, 6, 64 * 784, 25)
  gemm("gemm_conv1_bwd_weight", 0, 1, 6, 25, 64 * 784)
  gemm("gemm_conv1_bwd_data", 1, 0, 25, 64 * 784, 6)
  gemm("gemm_conv2_fwd", 0, 0, 16, 64 * 100, 150)
  gemm("gemm_conv2_bwd_weight", 0, 1, 16, 150, 64 * 100)
  gemm("gemm_conv2_bwd_data", 1, 0, 150, 64 * 100, 16)
  gemm("gemm_fc1_fwd", 0, 1, 64, 120, 400)

  -- convolutions at batch 64, as LeNet-5 has them
  local function conv(name, n, c, h, o, k, pad)
    local oh = h + 2 * pad - k + 1
    local x, w, bias = lunet.randn({ n, c, h, h }), lunet.randn({ o, c, k, k }), lunet.randn({ o })
    local y, gy, gx = lunet.zeros({ n, o, oh, oh }), lunet.randn({ n, o, oh, oh }), lunet.zeros({ n, c, h, h })
    local gw = lunet.zeros({ o, c, k, k })
    local p = ffi.new("lunet_conv_params", { 1, 1, pad, pad })
    local flops = 2 * n * o * oh * oh * c * k * k
    local shape = string.format("x[%d,%d,%d,%d]*w[%d,%d,%d,%d]", n, c, h, h, o, c, k, k)
    op(name .. "_fwd", flops, function()
      check(C.lunet_conv2d_forward(x.handle, w.handle, bias.handle, y.handle, p))
    end, shape)
    op(name .. "_bwd_data", flops, function()
      check(C.lunet_conv2d_backward(x.handle, w.handle, gy.handle, gx.handle, nil, nil, p))
    end, shape)
    op(name .. "_bwd_weight", flops, function()
      check(C.lunet_conv2d_backward(x.handle, w.handle, gy.handle, nil, gw.handle, nil, p))
    end, shape)
  end
  conv("conv1", 64, 1, 28, 6, 5, 2)
  conv("conv2", 64, 6, 14, 16, 5, 0)

  local function pool(name, n, c, h)
    local x, y = lunet.randn({ n, c, h, h }), lunet.zeros({ n, c, h / 2, h / 2 })
    local gy, gx = lunet.randn({ n, c, h / 2, h / 2 }), lunet.zeros({ n, c, h, h })
    local p = ffi.new("lunet_pool_params", { C.LUNET_POOL_MAX, 2, 2, 2, 2, 0, 0 })
    local shape = string.format("x[%d,%d,%d,%d]", n, c, h, h)
    local nx = n * c * h * h
    op(name .. "_fwd", 0, function() check(C.lunet_pool2d_forward(x.handle, y.handle, p)) end, shape,
       4 * (nx + nx / 4))
    op(name .. "_bwd", 0, function() check(C.lunet_pool2d_backward(x.handle, gy.handle, gx.handle, p)) end,
       shape, 4 * (nx + nx / 4 + nx))
  end
  pool("maxpool1", 64, 6, 28)
  pool("maxpool2", 64, 16, 10)

  local t = trainer(1)
  for _, prm in ipairs(t.net:parameters()) do prm.grad:fill(0.001) end
  local np = t.net:num_parameters()
  -- reads param, grad, velocity; writes param, velocity
  op("sgd_step_lenet5", 0, function() t.opt:step() end,
     string.format("%d_params_in_%d_tensors", np, #t.net:parameters()), 4 * 5 * np)
end

local function run_first_batch()
  local ds = load("train")
  local t_data = now()
  local t = trainer(1)
  local x, y = ds:batches(64, { seed = 1 })()
  t.net:zero_grad()
  local logits = t.net:forward(x)
  local loss = t.loss_fn:forward(logits, y)
  t.net:backward(x, t.loss_fn:backward(logits, y))
  t.opt:step()
  lunet.synchronize()
  local t_end = now()
  local s = lunet.stats()
  result({ { "kind", "first_batch" }, { "sec_in_process", string.format("%.3f", t_end - t_process) },
           { "sec_data", string.format("%.3f", t_data - t_process) },
           { "sec_first_step", string.format("%.3f", t_end - t_data) },
           { "programs_compiled", s.programs_compiled }, { "programs_cached", s.programs_cached },
           { "loss", string.format("%.4f", loss) } })
end

local function run_memory()
  local ds = load("train")
  local t = trainer(1)
  local state = {}
  local loss = train_steps(t, ds, opts.batch, opts.steps, state)
  lunet.synchronize()
  result({ { "kind", "memory" }, { "batch", opts.batch }, { "steps", opts.steps },
           { "vm_hwm_kb", vm_hwm_kb() }, { "loss", loss and string.format("%.4f", loss) or "-" } })
end

local run = { train = run_train, infer = run_infer, ops = run_ops, ["first-batch"] = run_first_batch,
              memory = run_memory }
run[mode]()
