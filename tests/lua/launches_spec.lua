-- The measuring instruments of lunet's performance work: kernel launches and host syncs
-- per training step (lunet.stats()), and the LUNET_PROFILE=1 report.
--
-- Design rules checked here (../shared/DESIGN.md, "Device-resident training"): the kernel
-- launches of a LeNet-5 training step do not grow with the batch size, and a step that
-- reads no loss back makes no host sync (no blocking transfer, no clFinish).
local lunet = require("lunet")
local nn = require("lunet.nn")
local optim = require("lunet.optim")
local models = require("lunet.models")
local data = require("lunet.data")
local context = require("lunet.context")

-- One training step as scripts/train_lenet.lua does it (the loss stays on the device).
local function step(t)
  t.net:zero_grad()
  local logits = t.net:forward(t.x)
  local loss = t.loss_fn:forward_async(logits, t.y)
  t.net:backward(t.x, t.loss_fn:backward(logits, t.y))
  t.opt:step()
  return loss
end

-- LeNet-5, SGD (momentum 0.9, lr 0.01) and a batch of `batch` images with device labels.
local function trainer(batch, seed, lr)
  lunet.manual_seed(seed or 1)
  local net = models.lenet5()
  local labels = {}
  for i = 1, batch do labels[i] = (i * 7) % 10 end
  return {
    net = net,
    opt = optim.SGD(net:parameters(), { lr = lr or 0.01, momentum = 0.9 }),
    loss_fn = nn.CrossEntropyLoss(),
    x = lunet.randn({ batch, 1, 28, 28 }),
    y = lunet.tensor(labels, { batch }),   -- a device tensor, as lunet.data batches are
  }
end

-- What `fn` adds to each counter of lunet.stats().
local function delta(fn)
  local before = lunet.stats()
  fn()
  local after = lunet.stats()
  local d = {}
  for k, v in pairs(after) do d[k] = v - before[k] end
  return d
end

local function read_all(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

describe("a LeNet-5 training step", function()
  it("makes the same number of kernel launches at batch 8, 64 and 256", function()
    local counts = {}
    for _, batch in ipairs({ 8, 64, 256 }) do
      local t = trainer(batch)
      step(t)   -- warm-up: kernels compiled, buffers allocated
      step(t)
      local d = delta(function() step(t) end)
      local d2 = delta(function() step(t) end)
      assert.are.equal(d.kernel_launches, d2.kernel_launches, "two steps at batch " .. batch .. " differ")
      assert.is_true(d.kernel_launches > 0, "no kernel launched at batch " .. batch)
      counts[#counts + 1] = d.kernel_launches
      assert.are.equal(0, d.programs_compiled + d.programs_cached,
                       "a step after warm-up built programs at batch " .. batch)
    end
    print(string.format("\nLeNet-5 training step (zero_grad, forward, loss, backward, SGD step): "
                        .. "%d kernel launches at batch 8, %d at 64, %d at 256",
                        counts[1], counts[2], counts[3]))
    local hint = " (see which kernels with LUNET_PROFILE=1, e.g. a GEMM that switches algorithm)"
    assert.are.equal(counts[1], counts[2], "launches change from batch 8 to 64" .. hint)
    assert.are.equal(counts[2], counts[3], "launches change from batch 64 to 256" .. hint)
  end)

  it("makes no host sync and allocates no device memory after warm-up", function()
    for _, batch in ipairs({ 8, 64, 256 }) do
      local t = trainer(batch)
      step(t)
      step(t)
      local d = delta(function() for _ = 1, 3 do step(t) end end)
      assert.are.equal(0, d.host_syncs, "host syncs in 3 steps at batch " .. batch)
      assert.are.equal(0, d.buffers_allocated, "device buffers allocated in 3 steps at batch " .. batch)
    end
  end)

  it("counts the host syncs a step does make: the loss read back, a label table uploaded", function()
    local t = trainer(8)
    step(t)
    -- the instrument sees a sync: CrossEntropyLoss:forward downloads one float
    local d = delta(function()
      t.net:zero_grad()
      local logits = t.net:forward(t.x)
      local loss = t.loss_fn:forward(logits, t.y)
      assert.is_true(loss > 0 and loss < 10, "loss " .. tostring(loss))
    end)
    assert.are.equal(1, d.host_syncs)
    -- a Lua label table is uploaded (a blocking write) when it changes, not when it repeats
    local logits = t.net:forward(t.x)
    local labels = { 1, 2, 3, 4, 5, 6, 7, 8 }
    assert.are.equal(1, delta(function() t.loss_fn:forward_async(logits, labels) end).host_syncs)
    assert.are.equal(0, delta(function() t.loss_fn:backward(logits, labels) end).host_syncs)
    -- lunet.synchronize is a clFinish
    assert.are.equal(1, delta(lunet.synchronize).host_syncs)
  end)

  it("learns: the loss of a fixed batch falls over 60 steps", function()
    local t = trainer(8, 3)
    local first = step(t):totable()[1]
    for _ = 1, 58 do step(t) end
    local last = step(t):totable()[1]
    assert.is_true(first > 1.5 and first < 3.5, "first loss " .. first)
    assert.is_true(last < 0.5 * first, string.format("loss %.4f -> %.4f", first, last))
  end)
end)

describe("a training step on lunet.data batches of real MNIST", function()
  it("launches the same kernels at batch 64 and 256 and makes no host sync", function()
    local dir = os.getenv("LUNET_MNIST_DIR")
    if not dir then
      pending("MNIST not found: set LUNET_MNIST_DIR (ctest sets it when ../shared/data/mnist exists)")
      return
    end
    local train = data.mnist(dir, "train", { limit = 2048 })
    local counts = {}
    for _, batch in ipairs({ 64, 256 }) do
      local t = trainer(batch)
      local next_batch = train:batches(batch, { seed = 5 })   -- uploads the permutation
      local function data_step()
        t.x, t.y = next_batch()
        step(t)
      end
      data_step()
      data_step()
      local d = delta(data_step)
      assert.are.equal(0, d.host_syncs, "host syncs in a data step at batch " .. batch)
      counts[#counts + 1] = d.kernel_launches
    end
    print(string.format("\nwith the batch gathered on the device: %d kernel launches at batch 64, %d at 256",
                        counts[1], counts[2]))
    assert.are.equal(counts[1], counts[2])
  end)
end)

describe("LUNET_PROFILE", function()
  local tmp = require("testutil").tmpdir("launches-spec")
  teardown(function() os.execute("rm -rf '" .. tmp .. "'") end)

  -- Runs a Lua snippet in a fresh LuaJIT with LUNET_PROFILE=profile; returns stdout, stderr.
  local function run(profile, code)
    local script = tmp .. "/snippet.lua"
    local f = assert(io.open(script, "w"))
    f:write('package.path = "lua/?.lua;lua/?/init.lua;" .. package.path\n', code)
    f:close()
    local env = profile and ("LUNET_PROFILE=" .. profile .. " ") or "env -u LUNET_PROFILE "
    local ok = os.execute(string.format("%sluajit '%s' > '%s/out' 2> '%s/err'", env, script, tmp, tmp))
    assert.is_true(ok == true or ok == 0, "snippet failed: " .. read_all(tmp .. "/err"))
    return read_all(tmp .. "/out"), read_all(tmp .. "/err")
  end

  local snippet = [[
    local lunet = require("lunet")
    local x = lunet.tensor({ -1, 2, -3, 4 }, { 4 })
    for _ = 1, 1500 do lunet.check(lunet.C.lunet_activation_forward(0, x.handle, x.handle)) end
    io.write(table.concat(x:totable(), " "), "\n")
  ]]

  it("prints the per-kernel table to stderr when the process ends", function()
    local out, err = run("1", snippet)
    assert.are.equal("0 2 0 4\n", out)
    assert.is_truthy(err:find("^lunet profile %(LUNET_PROFILE=1%) on .-: 1500 kernel launches timed, [%d.]+ ms of kernel time\n"),
                     err)
    assert.is_truthy(err:find("\nkernel +calls +total ms +mean us +share\n", 1, false), err)
    local calls, share = err:match("\nrelu_forward +(%d+) +[%d.]+ +[%d.]+ +([%d.]+)%%\n")
    assert.are.equal("1500", calls, err)
    assert.are.equal("100.0", share, err)
  end)

  it("is off without LUNET_PROFILE or with LUNET_PROFILE=0: nothing printed", function()
    for _, profile in ipairs({ false, "0", "" }) do
      local out, err = run(profile or nil, snippet)
      assert.are.equal("0 2 0 4\n", out)
      assert.are.equal("", err, "LUNET_PROFILE=" .. tostring(profile))
    end
  end)

  it("gives the report as a string from lunet.context.profile_report", function()
    local out = run("1", [[
      local lunet = require("lunet")
      local x = lunet.tensor({ -1, 2 }, { 2 })
      for _ = 1, 3 do lunet.check(lunet.C.lunet_activation_forward(0, x.handle, x.handle)) end
      io.write(require("lunet.context").profile_report())
    ]])
    assert.is_truthy(out:find("\nrelu_forward +3 +[%d.]+ +[%d.]+ +100%.0%%\n"), out)
  end)

  it("says how to turn it on when profile_report is called without it", function()
    local ok, err = pcall(context.profile_report)
    if os.getenv("LUNET_PROFILE") and os.getenv("LUNET_PROFILE") ~= "" and os.getenv("LUNET_PROFILE") ~= "0" then
      assert.is_true(ok)   -- this busted run itself profiles
    else
      assert.is_false(ok)
      assert.are.equal("profile_report: profiling is off for this context (set LUNET_PROFILE=1 "
                       .. "before the context is created)", err)
    end
  end)
end)
