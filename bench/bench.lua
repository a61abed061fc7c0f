-- bench/bench.lua: lunet against the PyTorch CPU reference, measured in one run on one
-- machine on the same data.   luajit bench/bench.lua --help
--
-- Every number comes from a child process (bench/lunet_worker.lua, the reference
-- ../shared/reference/torch_lenet.py, bench/numpy_sgemm.py), so that memory and start-up
-- are those of a process doing one job. The repetitions of lunet and PyTorch are
-- interleaved (lunet, then PyTorch, rep after rep) so that both see the same background
-- load; medians are reported.
local script_dir = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "."
package.path = script_dir .. "/../lua/?.lua;" .. script_dir .. "/../lua/?/init.lua;" .. package.path

local cli = require("lunet.cli")
local opts, positional = cli.parse(arg, {
  usage = "luajit bench/bench.lua [--quick] [options]",
  description = "Benchmarks lunet (LeNet-5 training and inference on MNIST, per-op kernels, memory,\n"
    .. "start-up) against PyTorch (../shared/reference/torch_lenet.py) and numpy's SGEMM, in\n"
    .. "one run, prints a table of lunet/PyTorch ratios and writes bench/RESULTS.md.\n"
    .. "SGEMM is also compared with OpenBLAS's cblas_sgemm (libopenblas0-pthread) when it is installed.\n"
    .. "PyTorch runs with each BLAS (--torch-blas): as installed (libblas.so.3: OpenBLAS once\n"
    .. "libopenblas0-pthread is installed) and with the reference BLAS Debian installs by default\n"
    .. "(LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas, checked in the dynamic linker's bindings).\n"
    .. "The full run takes 7 minutes on 2 idle cores (more under load); --quick takes under a minute, skips\n"
    .. "PyTorch and the cold start, and writes no file unless --out is given; --start-only measures only\n"
    .. "the cold and warm starts (and writes no file unless --out is given).",
  options = {
    { "quick", "flag", false, "a smoke run: few steps, one repetition, no PyTorch, no cold start" },
    { "start-only", "flag", false, "only the cold and warm starts (process start to the first training batch)" },
    { "data", "string", nil, "MNIST folder (default: LUNET_MNIST_DIR, else ../shared/data/mnist)", metavar = "DIR" },
    { "out", "string", nil, "results file (default: bench/RESULTS.md; none with --quick)", metavar = "FILE" },
    { "reps", "number", nil, "repetitions of each throughput measurement (default: 3; 1 with --quick)", metavar = "N" },
    { "images", "number", nil, "images per timed lunet training repetition (default: 12800; 640 with --quick)", metavar = "N" },
    { "batches", "string", "16,64,256", "training batch sizes, comma-separated" },
    { "python", "string", "/usr/bin/python3", "Debian's python3 with python3-torch and numpy", metavar = "PATH" },
    { "torch-script", "string", nil, "the PyTorch reference (default: ../shared/reference/torch_lenet.py)", metavar = "PATH" },
    { "no-torch", "flag", false, "skip PyTorch (lunet and numpy only)" },
    { "torch-threads", "string", "2,1", "PyTorch thread counts, comma-separated" },
    { "torch-blas", "string", "both", "PyTorch's BLAS: default (as installed), reference or both\n"
      .. string.rep(" ", 29) .. "(both: just one when libblas.so.3 is the reference BLAS already)",
      choices = { "default", "reference", "both" }, metavar = "WHICH" },
    { "omp-wait-policy", "string", "passive", "OMP_WAIT_POLICY for PyTorch: passive, active or default (unset)",
      choices = { "passive", "active", "default" } },
    { "cold-reps", "number", nil, "cold starts, with empty kernel caches (default: 2; 0 with --quick)", metavar = "N" },
    { "warm-reps", "number", nil, "warm starts (default: 3; 1 with --quick)", metavar = "N" },
  },
})

local function die(msg) io.stderr:write("bench: ", msg, "\n"); os.exit(2, true) end
if positional[1] then
  die("unexpected argument '" .. positional[1] .. "' (options start with --, see --help)")
end
local q = opts.quick
local start_only = opts.start_only
if q and start_only then die("--quick and --start-only exclude each other") end
opts.reps = opts.reps or (q and 1 or 3)
opts.images = opts.images or (q and 640 or 12800)
opts.cold_reps = opts.cold_reps or (q and 0 or 2)
opts.warm_reps = opts.warm_reps or (q and 1 or 3)
for _, k in ipairs({ "reps", "images" }) do
  if opts[k] < 1 or opts[k] ~= math.floor(opts[k]) then die("--" .. k .. " must be a positive integer") end
end
for _, k in ipairs({ "cold_reps", "warm_reps" }) do
  if opts[k] < 0 or opts[k] ~= math.floor(opts[k]) then
    die("--" .. k:gsub("_", "-") .. " must be a non-negative integer")
  end
end
local function int_list(name, text)
  local list = {}
  for v in text:gmatch("[^,]+") do
    local n = tonumber(v)
    if not n or n < 1 or n ~= math.floor(n) then
      die(string.format("--%s expects positive integers separated by commas, got '%s'", name, text))
    end
    list[#list + 1] = n
  end
  if #list == 0 then die(string.format("--%s expects positive integers separated by commas, got '%s'", name, text)) end
  return list
end
local batches = int_list("batches", opts.batches)
local torch_threads = int_list("torch-threads", opts.torch_threads)

-- ---- processes and files ---------------------------------------------------------------

local ffi = require("ffi")
pcall(ffi.cdef, "typedef struct { long tv_sec; long tv_nsec; } bench_timespec;"
                .. " int clock_gettime(int clk, bench_timespec *ts);")
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Runs a shell command; returns its output (stdout and stderr), exit status and wall seconds.
local function sh(cmd)
  local t0 = now()
  local p = assert(io.popen("( " .. cmd .. " ) 2>&1; echo \"BENCH_EXIT $?\""))
  local out = p:read("*a")
  p:close()
  local seconds = now() - t0
  local status = tonumber(out:match("BENCH_EXIT (%d+)\n?$"))
  out = out:gsub("BENCH_EXIT %d+\n?$", "")
  return out, status, seconds
end

local function first_line(cmd)
  local out, status = sh(cmd)
  if status ~= 0 then return nil end
  return (out:match("^[^\n]*"))
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- The "RESULT k=v ..." lines of a run, as tables.
local function results(out)
  local list = {}
  for line in out:gmatch("[^\n]+") do
    local body = line:match("^RESULT (.*)$")
    if body then
      local r = {}
      for k, v in body:gmatch("([%w_]+)=(%S+)") do r[k] = tonumber(v) or v end
      list[#list + 1] = r
    end
  end
  return list
end

local median = require("lunet.progress").median

local function loadavg()
  return (read_file("/proc/loadavg") or "?"):match("^(%S+ %S+ %S+)") or "?"
end

local root = first_line("cd " .. quote(script_dir .. "/..") .. " && pwd") or (script_dir .. "/..")
local data_dir = opts.data or os.getenv("LUNET_MNIST_DIR")
if not data_dir or data_dir == "" then data_dir = root .. "/../shared/data/mnist" end
data_dir = first_line("cd " .. quote(data_dir) .. " 2>/dev/null && pwd") or data_dir
if not exists(data_dir .. "/train-images-idx3-ubyte.gz") and not exists(data_dir .. "/train-images-idx3-ubyte") then
  die("MNIST not found in " .. data_dir .. " (looked for train-images-idx3-ubyte[.gz]): pass --data DIR "
      .. "or set LUNET_MNIST_DIR")
end
local torch_script = opts.torch_script or (root .. "/../shared/reference/torch_lenet.py")
local use_torch = not q and not start_only and not opts.no_torch
if use_torch and not exists(torch_script) then
  die("the PyTorch reference " .. torch_script .. " does not exist (pass --torch-script PATH, or --no-torch)")
end
local out_path = opts.out or (not q and not start_only and (root .. "/bench/RESULTS.md") or nil)
local time_bin = exists("/usr/bin/time") and "/usr/bin/time" or nil
local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p " .. quote(tmp))

local function log(fmt, ...)
  io.stderr:write(string.format("[%s] " .. fmt, os.date("%H:%M:%S"), ...), "\n")
end

-- Runs cmd under /usr/bin/time (when there is one); fails the benchmark on a bad exit.
-- Returns its RESULT lines, its output, the peak resident set in KiB and wall seconds.
local function measure(what, cmd, env)
  local rss_file = tmp .. "/rss"
  os.remove(rss_file)
  local full = (env or "") .. " " .. (time_bin and (time_bin .. " -f %M -o " .. quote(rss_file) .. " ") or "") .. cmd
  local out, status, seconds = sh(full)
  if status ~= 0 then
    die(string.format("%s failed (exit status %s):\n  %s\n%s", what, tostring(status), full, out))
  end
  local rss = tonumber((read_file(rss_file) or ""):match("(%d+)%s*$"))
  return results(out), out, rss, seconds
end

local luajit = first_line("command -v luajit") or "luajit"
local worker = quote(root .. "/bench/lunet_worker.lua")
local data_arg = " --data " .. quote(data_dir)
local function lunet_run(what, args, env)
  return measure("lunet " .. what, quote(luajit) .. " " .. worker .. " " .. args .. data_arg, env)
end

local omp_env = opts.omp_wait_policy == "default" and "" or ("OMP_WAIT_POLICY=" .. opts.omp_wait_policy:upper())
-- setup: one PyTorch configuration, { blas = { env = ... }, threads = T } (see torch_setups).
local function torch_run(what, batch, setup, eval)
  return measure("PyTorch " .. what, string.format("%s %s --data %s --epochs 1 --batch %d --threads %d%s",
                 quote(opts.python), quote(torch_script), quote(data_dir), batch, setup.threads,
                 eval and "" or " --no-eval"), omp_env .. " " .. setup.blas.env)
end

-- ---- PyTorch's BLAS configurations -----------------------------------------------------
-- libtorch_cpu links libblas.so.3: OpenBLAS when libopenblas0-pthread is installed (it takes
-- the alternative), else Debian's reference BLAS. PyTorch's dense layers run twice as fast
-- with OpenBLAS, so both are measured: as installed, and with the reference BLAS forced by
-- LD_LIBRARY_PATH. bench/torch_blas.py checks, in each environment, which library the
-- dynamic linker bound libtorch_cpu's BLAS symbols to, so that no label is a guess.
local REF_BLAS_DIR = "/usr/lib/x86_64-linux-gnu/blas"
local BLAS_NAMES = { openblas = "OpenBLAS", reference = "reference BLAS", blis = "BLIS", mkl = "MKL" }

local function probe_blas(env)
  local cmd = env .. " " .. quote(opts.python) .. " " .. quote(root .. "/bench/torch_blas.py")
  local out, status = sh(cmd)
  local r = results(out)[1]
  if status ~= 0 or not r then
    die(string.format("bench/torch_blas.py failed (exit status %s):\n  %s\n%s", tostring(status), cmd, out))
  end
  if r.blas == "absent" then
    die(opts.python .. " cannot import torch (" .. tostring(r.reason):gsub("_", " ")
        .. "): install python3-torch, pass --python PATH, or --no-torch")
  end
  return r
end

-- Returns the list of BLAS configurations to run and a note for the report.
local function blas_configs(want)
  local def = probe_blas("")
  log("PyTorch's BLAS as installed: %s (libtorch_cpu's sgemm_ bound to %s, %s)", def.blas, def.sgemm_lib, def.method)
  local installed = { key = def.blas, name = BLAS_NAMES[def.blas] or def.blas, env = "", shown_env = "",
                      probe = def, debian = def.blas == "reference" }
  if def.blas == "reference" then
    return { installed }, "OpenBLAS is absent: libblas.so.3 is the reference BLAS Debian installs by default, "
      .. "so PyTorch ran once, as installed (--torch-blas " .. want .. ")"
  end
  local configs = want ~= "reference" and { installed } or {}
  if want == "default" then
    return configs, "PyTorch ran only as installed (--torch-blas default): the reference BLAS, Debian's "
      .. "default, was not measured"
  end
  if not exists(REF_BLAS_DIR .. "/libblas.so.3") then
    local msg = "the reference BLAS " .. REF_BLAS_DIR .. "/libblas.so.3 is not installed (apt-get install libblas3)"
    if want == "reference" then die(msg) end
    return configs, msg .. ": PyTorch ran only as installed (" .. installed.name .. ")"
  end
  local shown = "LD_LIBRARY_PATH=" .. REF_BLAS_DIR
  local env = "LD_LIBRARY_PATH=" .. quote(REF_BLAS_DIR) .. "${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local ref = probe_blas(env)
  log("PyTorch's BLAS with %s: %s (libtorch_cpu's sgemm_ bound to %s, %s)", shown, ref.blas, ref.sgemm_lib, ref.method)
  if ref.blas ~= "reference" or ref.other_symbols ~= 0 then
    die(string.format("%s did not make PyTorch call the reference BLAS: libtorch_cpu's sgemm_ is bound to %s "
                      .. "(%s other BLAS symbols elsewhere); pass --torch-blas default", shown, ref.sgemm_lib,
                      tostring(ref.other_symbols)))
  end
  configs[#configs + 1] = { key = "reference", name = "reference BLAS", env = env, shown_env = shown, probe = ref,
                            debian = true }
  return configs, nil
end


-- ---- the measurements ------------------------------------------------------------------

local t_start = now()
local load_start = loadavg()
log("lunet bench%s: MNIST from %s; results %s", q and " --quick" or "", data_dir, out_path or "not written")
local torch_blas, torch_blas_note, torch_setups = {}, nil, {}
if use_torch then   -- every BLAS x every thread count
  torch_blas, torch_blas_note = blas_configs(opts.torch_blas)
  for _, c in ipairs(torch_blas) do
    for _, t in ipairs(torch_threads) do
      torch_setups[#torch_setups + 1] = { key = c.key .. "/" .. t, blas = c, threads = t,
                                          label = string.format("%s %d thr", c.name, t) }
    end
  end
end

local R = {
  lunet_train = {},      -- batch -> list of img/s (one per rep)
  torch_train = {},      -- setup key -> batch -> list of img/s
  torch_rss = {},        -- setup key -> list of KiB (batch 64 training runs)
  torch_infer = {},      -- setup key -> img/s
  torch_info = nil,
}
for _, b in ipairs(batches) do R.lunet_train[b] = {} end
for _, s in ipairs(torch_setups) do
  R.torch_train[s.key], R.torch_rss[s.key] = {}, {}
  for _, b in ipairs(batches) do R.torch_train[s.key][b] = {} end
end

local mem_steps = q and 20 or 937
if not start_only then   -- the throughput, SGEMM and memory measurements (not indented)
for rep = 1, opts.reps do
  for _, b in ipairs(batches) do
    local steps = math.max(2, math.ceil(opts.images / b))
    log("rep %d/%d: lunet training, batch %d, %d steps", rep, opts.reps, b, steps)
    local res = lunet_run("training", string.format("train --batches %d --steps %d --warmup %d --reps 1", b, steps,
                                                    q and 3 or math.max(5, math.ceil(640 / b))))
    R.lunet_train[b][#R.lunet_train[b] + 1] = res[1].img_per_s
  end
  for _, s in ipairs(torch_setups) do
    for _, b in ipairs(batches) do
      log("rep %d/%d: PyTorch training, %s, batch %d, one epoch", rep, opts.reps, s.label, b)
      local res, out, rss = torch_run("training", b, s, false)
      local train = nil
      for _, r in ipairs(res) do if r.kind == "train" then train = r end end
      if not train then die("PyTorch printed no 'RESULT kind=train' line:\n" .. out) end
      table.insert(R.torch_train[s.key][b], train.img_per_s)
      if b == 64 and rss then table.insert(R.torch_rss[s.key], rss) end
      R.torch_info = R.torch_info or out:match("INFO (torch=%S+)")
    end
  end
end

log("lunet inference, batch 1000")
local infer_res = lunet_run("inference", string.format("infer --batch 1000 --reps %d", math.max(3, opts.reps)))
R.lunet_infer = infer_res[1]
for _, s in ipairs(torch_setups) do
  log("PyTorch inference, batch 1000, %s (after one training epoch)", s.label)
  local res = torch_run("inference", 64, s, true)
  for _, r in ipairs(res) do
    if r.kind == "infer" then R.torch_infer[s.key] = r.img_per_s end
    if r.kind == "train" then R.torch_test_acc = R.torch_test_acc or r.test_acc end
  end
end

log("lunet per-op microbenchmarks")
R.ops = lunet_run("ops", string.format("ops --seconds %g --reps %d", q and 0.01 or 0.3, q and 1 or 5))

log("where a training step's time goes: LUNET_PROFILE=1, batch 64")
local _, prof_out = lunet_run("profile", string.format("train --batches 64 --steps %d --warmup 5 --reps 1",
                                                       q and 5 or 200), "LUNET_PROFILE=1")
R.profile = prof_out:match("(lunet profile %(LUNET_PROFILE=1%).*)$")

log("numpy SGEMM 1024")
local np_res, np_out = measure("numpy sgemm", quote(opts.python) .. " " .. quote(root .. "/bench/numpy_sgemm.py")
                               .. string.format(" --n 1024 --reps %d", q and 1 or 5))
R.numpy = np_res[1] or { status = "absent" }
R.numpy_info = R.numpy.status == "ok" and np_out:match("INFO ([^\n]*)") or nil

log("OpenBLAS cblas_sgemm 1024, 2 threads")
local ob_res, ob_out = measure("OpenBLAS sgemm", quote(opts.python) .. " " .. quote(root .. "/bench/openblas_sgemm.py")
                               .. string.format(" --n 1024 --reps %d --threads 2", q and 1 or 5))
R.openblas = ob_res[1] or { status = "absent" }
R.openblas_info = ob_out:match("INFO (openblas=[^\n]*)")

log("peak memory of a lunet training run (batch 64, %d steps)", mem_steps)
local mem_res, _, lunet_rss = lunet_run("memory", string.format("memory --batch 64 --steps %d", mem_steps))
R.lunet_mem = mem_res[1]
R.lunet_rss = lunet_rss or mem_res[1].vm_hwm_kb
end   -- not start_only

R.cold, R.warm, R.cold_detail, R.warm_detail = {}, {}, {}, {}
local caches = tmp .. "/caches"
-- lunet's cache, PoCL's, and NVIDIA's driver cache (CUDA_CACHE_PATH, which also keeps its
-- OpenCL builds), all empty for a cold start.
local cache_env = "LUNET_CACHE_DIR=" .. quote(caches .. "/lunet") .. " POCL_CACHE_DIR=" .. quote(caches .. "/pocl")
  .. " CUDA_CACHE_PATH=" .. quote(caches .. "/nv")
for i = 1, opts.cold_reps do
  log("cold start %d/%d (empty LUNET_CACHE_DIR, POCL_CACHE_DIR and CUDA_CACHE_PATH)", i, opts.cold_reps)
  os.execute("rm -rf " .. quote(caches) .. " && mkdir -p " .. quote(caches .. "/lunet") .. " " .. quote(caches .. "/pocl")
             .. " " .. quote(caches .. "/nv"))
  local res, _, _, seconds = lunet_run("cold start", "first-batch", cache_env)
  R.cold[i], R.cold_detail[i] = seconds, res[1]
end
-- Warm: the caches the cold starts filled; without cold starts, the environment's own
-- caches (LUNET_CACHE_DIR, POCL_CACHE_DIR or their defaults), filled by the runs above.
local warm_env = opts.cold_reps > 0 and cache_env or ""
for i = 1, opts.warm_reps do
  log("warm start %d/%d", i, opts.warm_reps)
  local res, _, _, seconds = lunet_run("warm start", "first-batch", warm_env)
  R.warm[i], R.warm_detail[i] = seconds, res[1]
end
os.execute("rm -rf " .. quote(tmp))
local load_end = loadavg()
local total_minutes = (now() - t_start) / 60

-- ---- the machine -----------------------------------------------------------------------

local lunet = require("lunet")
local cpuinfo = read_file("/proc/cpuinfo") or ""
local cpu_model = cpuinfo:match("model name%s*:%s*([^\n]+)") or "?"
local n_cpu = select(2, cpuinfo:gsub("\nprocessor%s*:", "")) + (cpuinfo:match("^processor") and 1 or 0)
-- The device the workers used: lunet's own choice ($LUNET_DEVICE, else the first GPU, ...).
local ok_dev, dev = pcall(require("lunet.context").device)
if not ok_dev then dev = {} end
local is_pocl = (dev.platform or ""):find("Portable Computing Language", 1, true) ~= nil
local device_env = os.getenv("LUNET_DEVICE")
local machine = {
  { "CPU", string.format("%s, %d logical cores (nproc: %s)", cpu_model, n_cpu, first_line("nproc") or "?") },
  { "OpenCL device", string.format("%s (%s%s)%s", dev.name or "?", dev.platform or "?",
                                   (dev.version or "") ~= "" and (", " .. dev.version) or "",
                                   device_env and (" — LUNET_DEVICE=" .. device_env) or "") },
  { is_pocl and "PoCL" or "OpenCL driver",
    (is_pocl and first_line("dpkg-query -W -f '${Version}' libpocl2 2>/dev/null") or "") ~= ""
      and first_line("dpkg-query -W -f '${Version}' libpocl2 2>/dev/null") or dev.driver or "?" },
  { "lunet", string.format("%s, git %s%s, %s", lunet.version,
                           first_line("git -C " .. quote(root) .. " rev-parse --short HEAD") or "?",
                           (first_line("git -C " .. quote(root) .. " status --porcelain --untracked-files=no | head -1") or "") ~= ""
                             and " (with uncommitted changes)" or "", lunet.library_path) },
  { "LuaJIT", first_line(quote(luajit) .. " -v") or "?" },
  { "PyTorch", use_torch and ((R.torch_info or "?") .. ", " .. opts.python
                              .. (omp_env ~= "" and (", " .. omp_env) or ", OMP_WAIT_POLICY unset"))
               or "not run" },
  { "PyTorch's BLAS", use_torch and (function()
      local parts = {}
      for _, c in ipairs(torch_blas) do
        parts[#parts + 1] = string.format("%s: %s%s, libtorch_cpu's %s BLAS symbols (sgemm_ among them) bound to %s "
                                          .. "(checked: %s)", c.shown_env == "" and "as installed" or c.shown_env,
                                          c.name, c.debian and " (Debian's default)" or "", tostring(c.probe.blas_symbols),
                                          c.probe.sgemm_lib, c.probe.method == "ld_debug" and "LD_DEBUG=bindings"
                                            or "/proc/self/maps only")
      end
      if torch_blas_note then parts[#parts + 1] = torch_blas_note end
      return table.concat(parts, "; ")
    end)() or "not run" },
  { "numpy", R.numpy_info or (start_only and "not run" or ("not installed for " .. opts.python)) },
  { "OpenBLAS", start_only and "not run" or (R.openblas.status == "ok" and (R.openblas_info or "?")
                or "not installed (apt-get install libopenblas0-pthread): no OpenBLAS comparison") },
  { "load average", string.format("%s at the start, %s at the end (1, 5, 15 min)", load_start, load_end) },
  { "run time", string.format("%.1f minutes, %s", total_minutes, os.date("%Y-%m-%d %H:%M")) },
}

-- ---- the report ------------------------------------------------------------------------

local lines = {}
local function emit(fmt, ...) lines[#lines + 1] = select("#", ...) > 0 and string.format(fmt, ...) or fmt end
local function fmt_num(v, digits)
  if v == nil then return "—" end
  return string.format("%." .. (digits or 0) .. "f", v)
end
local function ratio(a, b)
  if not a or not b or b == 0 then return "—" end
  return string.format("%.2f", a / b)
end
local command = "luajit bench/bench.lua" .. (q and " --quick" or "") .. (start_only and " --start-only" or "")
  .. (use_torch and opts.torch_blas ~= "both" and (" --torch-blas " .. opts.torch_blas) or "")

emit("# lunet benchmark results")
emit("")
emit("Written by `%s` (%s). Every number below comes from that one run on one machine,", command,
     "see `luajit bench/bench.lua --help`")
emit("on the same data (MNIST from `%s`). Throughputs are medians of %d repetitions;", data_dir, opts.reps)
emit("lunet's and PyTorch's repetitions are interleaved so that both see the same background load.")
emit("")
emit("**Noise.** This machine has %d logical cores and may be shared: other work may have run during the", n_cpu)
emit("measurement (see the load average below; a quiet machine shows well under 1). Single numbers can be")
emit("off by a factor of 2 and more; the ratios, measured side by side, are steadier than the absolutes.")
emit("")
emit("## Machine")
emit("")
emit("| | |")
emit("|---|---|")
for _, kv in ipairs(machine) do emit("| %s | %s |", kv[1], (kv[2]:gsub("|", "/"))) end
emit("")

R.summary, R.other = {}, {}
if not start_only then   -- the throughput, SGEMM and memory sections (not indented)
emit("## LeNet-5 training throughput (images/s, higher is better)")
emit("")
emit("SGD (momentum 0.9, lr 0.01), cross-entropy, MNIST 28x28. lunet: %d images per repetition after a", opts.images)
emit("warm-up, timed between `lunet.synchronize()` calls, the loss read back every 100 steps as the reference")
emit("does. PyTorch: `torch_lenet.py --epochs 1 --no-eval` (one full epoch of 60,000 images).")
emit("")
-- The best of the PyTorch setups (all of them, or those with Debian's default BLAS) for
-- a value per setup key: the highest throughput, or with lower = true the lowest memory.
local function best_setup(values, debian_only, lower)
  local best, which
  for _, st in ipairs(torch_setups) do
    local v = values[st.key]
    if v and (not debian_only or st.blas.debian)
       and (not best or (lower and v < best) or (not lower and v > best)) then
      best, which = v, st
    end
  end
  return best, which
end
local function with_setup(v, st, digits)
  if not v then return "not measured" end
  return string.format("%s (%s)", fmt_num(v, digits), st.label)
end
-- A row of the lunet / PyTorch summary: one ratio per setup, then best and Debian's default.
local function summarize(name, l, values, lower)
  local row = { name = name, cells = {} }
  for i, st in ipairs(torch_setups) do row.cells[i] = ratio(l, values[st.key]) end
  row.best = ratio(l, (best_setup(values, false, lower)))
  row.debian = ratio(l, (best_setup(values, true, lower)))
  R.summary[#R.summary + 1] = row
end
local function setup_head(what)
  local head, rule = "", ""
  for _, st in ipairs(torch_setups) do
    head = head .. string.format(" PyTorch %s | lunet / %s |", st.label, what)
    rule = rule .. "---:|---:|"
  end
  if #torch_setups > 0 then
    head = head .. " PyTorch best (max over BLAS and threads) | **lunet / PyTorch best** |"
      .. " PyTorch as Debian installs it (reference BLAS, best threads) | lunet / Debian's PyTorch |"
    rule = rule .. "---:|---:|---:|---:|"
  end
  return head, rule
end
local function setup_cells(l, values)
  local row = ""
  for _, st in ipairs(torch_setups) do
    row = row .. string.format(" %s | %s |", fmt_num(values[st.key]), ratio(l, values[st.key]))
  end
  if #torch_setups > 0 then
    local b, bs = best_setup(values, false)
    local d, ds = best_setup(values, true)
    row = row .. string.format(" %s | **%s** | %s | %s |", with_setup(b, bs), ratio(l, b), with_setup(d, ds), ratio(l, d))
  end
  return row
end
-- "Target ...: met/not met" against the best setup and against Debian's default, separately.
R.targets = {}
local function target(what, need, l, values)
  if #torch_setups == 0 then return end
  local function verdict(debian_only)
    local p, st = best_setup(values, debian_only)
    if not l or not p then
      return debian_only and ("not measured; " .. (torch_blas_note or "no reference BLAS run")) or "not measured"
    end
    return string.format("%.2fx (%s) — **%s**", l / p, st.label, l / p >= need and "met" or "not met")
  end
  local line = string.format("Target (issue 4): %s >= %gx PyTorch. Against PyTorch's best configuration measured: %s. "
                             .. "Against PyTorch as Debian installs it (reference BLAS): %s.", what, need,
                             verdict(false), verdict(true))
  R.targets[#R.targets + 1] = line
  emit(line)
  emit("")
end

local head, rule = setup_head("it")
emit("| batch | lunet |" .. head)
emit("|---:|---:|" .. rule)
local train_medians = {}
for _, b in ipairs(batches) do
  local l = median(R.lunet_train[b])
  local values = {}
  for _, st in ipairs(torch_setups) do values[st.key] = median(R.torch_train[st.key][b]) end
  train_medians[b] = values
  emit("| %d | %s |%s", b, fmt_num(l), setup_cells(l, values))
  if #torch_setups > 0 then summarize(string.format("training, batch %d", b), l, values) end
end
emit("")
emit("Repetitions: " .. (function()
  local parts = {}
  for _, b in ipairs(batches) do
    local p = string.format("batch %d lunet %s", b, table.concat(R.lunet_train[b], "/"))
    for _, st in ipairs(torch_setups) do
      p = p .. string.format(", PyTorch %s %s", st.label, table.concat(R.torch_train[st.key][b], "/"))
    end
    parts[#parts + 1] = p
  end
  return table.concat(parts, "; ")
end)())
emit("")
if #torch_setups > 0 then
  emit("*lunet / PyTorch best* divides by the highest PyTorch median of that batch over every BLAS and thread")
  emit("count measured; *Debian's PyTorch* is the highest with the reference BLAS, which `python3-torch` gets")
  emit("unless `libopenblas0-pthread` is installed.")
  emit("")
  target("training at batch 64", 3, median(R.lunet_train[64] or {}), train_medians[64] or {})
end

emit("## Inference throughput, batch 1000 (images/s)")
emit("")
emit("The 10,000 test images, best of %d passes for both (PyTorch's `infer_throughput` reports the best of 3).",
     math.max(3, opts.reps))
emit("")
head, rule = setup_head("it")
emit("| batch | lunet |" .. head)
emit("|---:|---:|" .. rule)
local li = R.lunet_infer.best_img_per_s
emit("| 1000 | %s (median %s) |%s", fmt_num(li), fmt_num(R.lunet_infer.img_per_s), setup_cells(li, R.torch_infer))
emit("")
if #torch_setups > 0 then
  summarize("inference, batch 1000", li, R.torch_infer)
  target("inference at batch 1000", 2, li, R.torch_infer)
end

local ops = {}
for _, r in ipairs(R.ops) do ops[r.op] = r end
emit("## SGEMM 1024 x 1024 x 1024 (float32)")
emit("")
emit("| | ms | GFLOP/s | lunet / this |")
emit("|---|---:|---:|---:|")
local lg = ops.sgemm_1024 and ops.sgemm_1024.gflops
emit("| lunet `lunet_gemm` | %s | %s | |", fmt_num(ops.sgemm_1024 and ops.sgemm_1024.us / 1000, 1), fmt_num(lg, 2))
R.other = {}
if R.numpy.status == "ok" then
  emit("| numpy `a @ b` (median of %d) | %s | %s | **%s** |", q and 1 or 5, fmt_num(R.numpy.sec * 1000, 1),
       fmt_num(R.numpy.gflops, 2), ratio(lg, R.numpy.gflops))
  R.other[1] = { "SGEMM 1024^3 GFLOP/s vs numpy", ratio(lg, R.numpy.gflops) }
else
  emit("| numpy `a @ b` | not installed for %s | | |", opts.python)
end
local ob = R.openblas
if ob.status == "ok" then
  emit("| OpenBLAS `cblas_sgemm`, %d threads (median of %d) | %s | %s | **%s** |", ob.threads, q and 1 or 5,
       fmt_num(ob.sec * 1000, 1), fmt_num(ob.gflops, 2), ratio(lg, ob.gflops))
  R.other[#R.other + 1] = { "SGEMM 1024^3 GFLOP/s vs OpenBLAS", ratio(lg, ob.gflops) }
else
  emit("| OpenBLAS `cblas_sgemm` | not installed | | |")
end
emit("")
if R.numpy.status == "ok" then
  emit("numpy's BLAS here: `%s`.", (R.numpy_info or "?"):match("blas=(%S+)") or "?")
end
if ob.status == "ok" and lg then
  emit("Target (issue 4): lunet >= 60%% of OpenBLAS measured in the same run: %.0f%% — **%s**.",
       100 * lg / ob.gflops, lg >= 0.6 * ob.gflops and "met" or "not met")
else
  emit("OpenBLAS is not installed (`apt-get install libopenblas0-pthread`), so the 60%% target is not checked.")
end
emit("")

emit("## Per-op microbenchmarks (lunet, batch 64, LeNet-5's shapes)")
emit("")
emit("Each op is called in rounds of at least %g s, closed by `lunet.synchronize()`; the median of %d rounds.",
     q and 0.01 or 0.3, q and 1 or 5)
emit("GFLOP/s counts 2 flops per multiply-add of the convolution or GEMM; GB/s counts each input read once")
emit("and each output written once. GEMM shapes are MxNxK with op(A) and op(B): N = as is, T = transposed.")
emit("")
emit("| op | shape | us / call | GFLOP/s | GB/s |")
emit("|---|---|---:|---:|---:|")
for _, r in ipairs(R.ops) do
  emit("| %s | %s | %s | %s | %s |", r.op, tostring(r.shape), fmt_num(r.us, 1),
       r.gflops == "-" and "" or fmt_num(r.gflops, 2), r.gbps == "-" and "" or fmt_num(r.gbps, 2))
end
emit("")

emit("## Where a training step's time goes (LUNET_PROFILE=1)")
emit("")
emit("Device time per kernel of `lunet_worker.lua train --batches 64 --steps %d` with `LUNET_PROFILE=1`", q and 5 or 200)
emit("(the whole process: data upload, warm-up and the timed steps; the table is what the process prints")
emit("to stderr at exit).")
emit("")
emit("```")
emit(R.profile and (R.profile:gsub("\n$", "")) or "(no profile printed)")
emit("```")
emit("")
emit("## Peak resident memory of a training run (VmHWM, batch 64)")
emit("")
emit("| | peak RSS (MiB) | lunet / this |")
emit("|---|---:|---:|")
emit("| lunet (%d steps; whole dataset on the device%s) | %s | |", mem_steps,
     is_pocl and ", which PoCL keeps in host memory" or "",
     fmt_num(R.lunet_rss and R.lunet_rss / 1024, 1))
local trss = {}
for _, st in ipairs(torch_setups) do
  trss[st.key] = median(R.torch_rss[st.key])
  emit("| PyTorch %s (one epoch, median of %d runs) | %s | **%s** |", st.label, #R.torch_rss[st.key],
       fmt_num(trss[st.key] and trss[st.key] / 1024, 1), ratio(R.lunet_rss, trss[st.key]))
end
if #torch_setups > 0 then summarize("peak memory (lower is better; best = PyTorch's lowest)", R.lunet_rss, trss, true) end
emit("")
emit("Measured with `%s` (maximum resident set size of the process).", time_bin and "/usr/bin/time -f %M" or "/proc/self/status VmHWM")
emit("")
end   -- not start_only

emit("## Start-up: process start to the first training batch done")
emit("")
emit("`lunet_worker.lua first-batch`: load MNIST onto the device, build LeNet-5, one training step at batch")
emit("64, synchronize, exit. Cold: empty `LUNET_CACHE_DIR`, `POCL_CACHE_DIR` and `CUDA_CACHE_PATH` (every kernel compiled);")
emit("warm: the same caches filled. *To first batch*: from the start of the script to the first step done")
emit("(medians). *Process wall*: the whole process, including its exit, which on a cold start waits for the")
emit("compiled kernels to be written into the cache (`lunet_context_save_kernels`: on PoCL, reading a program's")
emit("binary compiles each of its kernels once more, so lunet saves them when the process ends, off the")
emit("path to the first batch).")
emit("")
emit("| | to first batch s | of which data | of which first step | process wall s | programs compiled / cached |")
emit("|---|---:|---:|---:|---:|---|")
local function median_of(details, key)
  local list = {}
  for i, d in ipairs(details) do list[i] = d[key] end
  return median(list)
end
local function start_row(name, walls, details)
  if #walls == 0 then emit("| %s | not measured | | | | |", name) return end
  emit("| %s (%d run%s) | **%s** | %s | %s | %s | %s / %s |", name, #walls, #walls > 1 and "s" or "",
       fmt_num(median_of(details, "sec_in_process"), 2), fmt_num(median_of(details, "sec_data"), 2),
       fmt_num(median_of(details, "sec_first_step"), 2), fmt_num(median(walls), 2),
       tostring(details[1].programs_compiled), tostring(details[1].programs_cached))
end
start_row("cold", R.cold, R.cold_detail)
start_row("warm", R.warm, R.warm_detail)
local function verdict(details, limit)
  local v = median_of(details, "sec_in_process")
  if not v then return "not measured" end
  return v < limit and "**met**" or "**not met**"
end
emit("")
emit("Targets (issue 4), to the first batch: cold < 5 s %s, warm < 0.5 s %s.", verdict(R.cold_detail, 5),
     verdict(R.warm_detail, 0.5))
emit("")

if #R.summary > 0 then
  emit("## Ratios lunet / PyTorch")
  emit("")
  emit("Above 1: lunet is faster (throughput) or uses more memory (peak memory). One column per PyTorch")
  emit("configuration measured (BLAS x threads); *best* is PyTorch's best configuration for that row, the")
  emit("headline; *Debian's PyTorch* is its best with the reference BLAS, as `python3-torch` installs it.")
  emit("")
  local head, rule = "| measurement |", "|---|"
  for _, st in ipairs(torch_setups) do head, rule = head .. " vs " .. st.label .. " |", rule .. "---:|" end
  emit(head .. " **vs PyTorch best** | vs Debian's PyTorch (reference BLAS) |")
  emit(rule .. "---:|---:|")
  for _, row in ipairs(R.summary) do
    emit("| %s | %s | **%s** | %s |", row.name, table.concat(row.cells, " | "), row.best, row.debian)
  end
  emit("")
  for _, line in ipairs(R.targets) do emit("- " .. line) end
  emit("")
end
if #R.other > 0 then
  emit("## Ratios lunet / other references")
  emit("")
  emit("| measurement | lunet / reference |")
  emit("|---|---:|")
  for _, o in ipairs(R.other) do emit("| %s | **%s** |", o[1], o[2]) end
  emit("")
end

emit("## Notes")
emit("")
emit("- PyTorch is Debian's python3-torch; its dense layers, the GEMMs of its CPU convolutions and")
emit("  numpy's `a @ b` call the system BLAS (`libblas.so.3`, named above: Debian's alternatives point it at")
emit("  OpenBLAS once `libopenblas0-pthread` is installed, else at the much slower reference BLAS). That its")
emit("  whole LeNet-5 step, not only the dense layers, changes speed with the BLAS shows it.")
emit("  OpenBLAS's own row calls `cblas_sgemm` of `libopenblas.so.0` directly (`bench/openblas_sgemm.py`).")
emit("- PyTorch's BLAS (`--torch-blas`, default both): with OpenBLAS installed, PyTorch's training step runs")
emit("  about twice as fast, so PyTorch runs both as installed and with the reference BLAS forced by")
emit("  `LD_LIBRARY_PATH=%s`; `bench/torch_blas.py` checks, in each environment, where the", REF_BLAS_DIR)
emit("  dynamic linker bound libtorch_cpu's BLAS symbols (`LD_DEBUG=bindings`; Machine names the library).")
emit("  With the reference BLAS forced, OpenBLAS's `libopenblas.so.0` stays mapped (`liblapack.so.3` needs")
emit("  it), but no BLAS symbol of PyTorch is bound to it. This run: %s.", not use_torch and "PyTorch not run"
     or (torch_blas_note or "both configurations measured"))
emit("- PyTorch's threads > 1 run with `OMP_WAIT_POLICY` as shown under Machine. With OpenMP's default")
emit("  (active spinning) and a loaded machine, 2 threads can be 10x slower than 1; `--omp-wait-policy`")
emit("  chooses.")
if dev.type == "cpu" then
  emit("- lunet runs on %s through OpenCL; its kernels and the references share the same %d cores.",
       dev.name or "?", n_cpu)
  emit("  Runs on a GPU, against PyTorch on CUDA (`bench/torch_cuda.py`): `bench/RESULTS-gpu.md`.")
else
  emit("- lunet runs on %s (%s) through OpenCL; the references (PyTorch, numpy, OpenBLAS) run on the",
       dev.name or "?", dev.type or "?")
  emit("  host's %d CPU cores. `bench/torch_cuda.py` measures PyTorch on a CUDA GPU (see bench/RESULTS-gpu.md).", n_cpu)
end
emit("")
local report = table.concat(lines, "\n") .. "\n"

io.write(report)
if out_path then
  local f = io.open(out_path .. ".tmp", "w")
  if not f then die("cannot write " .. out_path .. ".tmp") end
  f:write(report)
  f:close()
  assert(os.rename(out_path .. ".tmp", out_path))
  io.write("wrote " .. out_path .. "\n")
end
