-- nn.Dropout: train versus eval, the kept fraction and scaling, the same mask in
-- backward, determinism under lunet.manual_seed, gradients and error messages.
local lunet = require("lunet")
local nn = require("lunet.nn")
local gradcheck = require("gradcheck")

-- Wait for queued kernels before the process exits: PoCL may still be compiling one in
-- a worker thread while exit tears LLVM down (a crash at exit, seen on PoCL 5 / LLVM 15).
teardown(function() lunet.synchronize() end)

local fails_with = require("testutil").fails_exactly   -- the whole message must match

local function ones(n) return lunet.full({ n }, 1) end

describe("nn.Dropout", function()
  it("is the identity in eval mode", function()
    local m = nn.Dropout(0.5):eval()
    local x, gy = lunet.uniform({ 2, 3, 4, 4 }, -1, 1, 1), lunet.uniform({ 2, 3, 4, 4 }, -1, 1, 2)
    assert.are.equal(x, m:forward(x))
    assert.are.equal(gy, m:backward(x, gy))
  end)

  it("keeps about 1-p of the values and scales them by 1/(1-p) in training", function()
    for _, p in ipairs({ 0.2, 0.5, 0.7 }) do
      local n = 100000
      local y = nn.Dropout(p):forward(ones(n)):totable()
      local kept = 0
      for i = 1, n do
        if y[i] ~= 0 then
          kept = kept + 1
          assert.is_true(math.abs(y[i] - 1 / (1 - p)) < 1e-6, "kept value " .. y[i])
        end
      end
      assert.is_true(math.abs(kept / n - (1 - p)) < 0.01, string.format("p %g kept %g", p, kept / n))
    end
  end)

  it("backward applies the forward's mask", function()
    local m = nn.Dropout(0.4)
    local x = lunet.uniform({ 4, 50 }, 0.5, 1, 3)   -- never zero
    local y = m:forward(x):totable()
    local gy = lunet.uniform({ 4, 50 }, 0.5, 1, 4)
    local gx, gv = m:backward(x, gy):totable(), gy:totable()
    for i = 1, #y do
      local want = y[i] == 0 and 0 or gv[i] / 0.6
      assert.is_true(math.abs(gx[i] - want) < 1e-6, string.format("[%d] %g vs %g", i, gx[i], want))
    end
  end)

  it("draws a new mask per forward, reproducibly under lunet.manual_seed", function()
    local x = ones(1000)
    lunet.manual_seed(7)
    local m = nn.Dropout(0.5)
    local a1, a2 = m:forward(x):totable(), m:forward(x):totable()
    lunet.manual_seed(7)
    local m2 = nn.Dropout(0.5)
    local b1, b2 = m2:forward(x):totable(), m2:forward(x):totable()
    assert.are.same(a1, b1)
    assert.are.same(a2, b2)
    assert.are_not.same(a1, a2)
  end)

  it("with p = 0 passes values through in training", function()
    local x = lunet.uniform({ 3, 5 }, -1, 1, 5)
    assert.are.same(x:totable(), nn.Dropout(0):forward(x):totable())
  end)

  it("passes the finite-difference gradient check with a fixed mask", function()
    local m = nn.Dropout(0.3, { mask_seed = 11 })
    local err = gradcheck.module(m, { 2, 3, 4, 4 }, { seed = 3, samples = 60 })
    assert.is_true(err.input < 1e-2, "input gradient error " .. err.input)
  end)

  it("describes itself and keeps shapes", function()
    assert.are.equal("Dropout(p=0.5)", tostring(nn.Dropout()))
    assert.are.equal("Dropout(p=0.25)", nn.Dropout(0.25):describe())
    assert.are.same({ 2, 400 }, nn.Dropout(0.5):output_shape({ 2, 400 }))
  end)

  it("reports bad arguments", function()
    fails_with("Dropout: p must be a number in [0, 1), got 1", nn.Dropout, 1)
    fails_with("Dropout: p must be a number in [0, 1), got -0.1", nn.Dropout, -0.1)
    fails_with("Dropout: p must be a number in [0, 1), got half", nn.Dropout, "half")
    fails_with("Dropout: mask_seed must be a non-negative integer, got -1", nn.Dropout, 0.5, { mask_seed = -1 })
    fails_with("Dropout: expected a Tensor as input, got nil", function() nn.Dropout(0.5):forward(nil) end)
    local x = lunet.zeros({ 2, 3 })
    fails_with("Dropout: backward: call forward first (training mode)",
               function() nn.Dropout(0.5):backward(x, lunet.zeros({ 2, 3 })) end)
    local m = nn.Dropout(0.5)
    m:forward(x)
    fails_with("Dropout: backward: grad_output has shape [6], expected [2,3]",
               function() m:backward(x, lunet.zeros({ 6 })) end)
  end)
end)
