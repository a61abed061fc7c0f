-- nn.Linear: values against a plain-Lua x W^T + b, LeNet's parameter counts,
-- initialisation, finite-difference gradients, accumulation, descriptions and errors.
local lunet = require("lunet")
local nn = require("lunet.nn")
local gradcheck = require("gradcheck")

local fails_with = require("testutil").fails_exactly   -- the whole message must match

local function max_diff(a, b)
  assert.are.equal(#b, #a)
  local m = 0
  for i = 1, #a do m = math.max(m, math.abs(a[i] - b[i])) end
  return m
end

describe("Linear", function()
  it("computes y = x W^T + b on a hand-checked example", function()
    local fc = nn.Linear(3, 2)
    fc.weight:set({ 1, 2, 3,
                    -1, 0, 2 })
    fc.bias:set({ 0.5, -1 })
    local y = fc:forward(lunet.tensor({ 1, 1, 1,
                                        2, 0, -1 }, { 2, 3 }))
    assert.are.same({ 2, 2 }, y:shape())
    assert.are.same({ 6.5, 0, -0.5, -5 }, y:totable())
  end)

  it("matches a plain-Lua reference on random data (batch 7, 13 -> 5)", function()
    local fc = nn.Linear(13, 5, { seed = 3 })
    local x = lunet.uniform({ 7, 13 }, -1, 1, 4)
    local xv, w, b = x:totable(), fc.weight:totable(), fc.bias:totable()
    local want = {}
    for n = 0, 6 do
      for o = 0, 4 do
        local s = b[o + 1]
        for i = 0, 12 do s = s + xv[n * 13 + i + 1] * w[o * 13 + i + 1] end
        want[#want + 1] = s
      end
    end
    assert.is_true(max_diff(fc:forward(x):totable(), want) < 1e-5)
  end)

  it("has LeNet's parameter counts: 48,120, 10,164 and 850", function()
    assert.are.equal(48120, nn.Linear(400, 120):num_parameters())
    assert.are.equal(10164, nn.Linear(120, 84):num_parameters())
    assert.are.equal(850, nn.Linear(84, 10):num_parameters())
    assert.are.equal(840, nn.Linear(84, 10, { bias = false }):num_parameters())
    assert.are.same({ 120, 400 }, nn.Linear(400, 120).weight:shape())
    assert.are.same({ 3, 120 }, nn.Linear(400, 120):output_shape({ 3, 400 }))
  end)

  it("initialises like PyTorch, reproducibly with a seed", function()
    local fc = nn.Linear(16, 8, { seed = 9 })
    local bound = 1 / math.sqrt(16)
    for _, p in ipairs(fc:parameters()) do
      for _, v in ipairs(p.value:totable()) do assert.is_true(math.abs(v) <= bound) end
    end
    assert.are.same(fc.weight:totable(), nn.Linear(16, 8, { seed = 9 }).weight:totable())
    assert.are_not.same(fc.weight:totable(), nn.Linear(16, 8, { seed = 10 }).weight:totable())
  end)

  it("passes gradcheck with and without bias", function()
    for _, bias in ipairs({ true, false }) do
      local fc = nn.Linear(6, 4, { bias = bias, seed = 2 })
      local errs = gradcheck.module(fc, { 5, 6 }, { seed = 7, eps = 1e-2 })
      assert.is_not_nil(errs.weight)
      assert.are.equal(bias, errs.bias ~= nil)
      for name, e in pairs(errs) do
        assert.is_true(e < 1e-2, string.format("gradient of %s off by %g", name, e))
      end
    end
  end)

  it("accumulates parameter gradients and overwrites the input gradient", function()
    local fc = nn.Linear(4, 3, { seed = 1 })
    local x, gy = lunet.randn({ 5, 4 }, 1), lunet.randn({ 5, 3 }, 2)
    fc:forward(x)
    local gx1 = fc:backward(x, gy):totable()
    local gw1, gb1 = fc.grad_weight:totable(), fc.grad_bias:totable()
    local gx2 = fc:backward(x, gy):totable()
    for i = 1, #gw1 do gw1[i] = 2 * gw1[i] end
    for i = 1, #gb1 do gb1[i] = 2 * gb1[i] end
    assert.is_true(max_diff(fc.grad_weight:totable(), gw1) < 1e-4)
    assert.is_true(max_diff(fc.grad_bias:totable(), gb1) < 1e-4)
    assert.are.same(gx1, gx2)
  end)

  it("describes itself for the summary", function()
    assert.are.equal("Linear(400, 120)", nn.Linear(400, 120):describe())
    assert.are.equal("Linear(84, 10, no bias)", tostring(nn.Linear(84, 10, { bias = false })))
  end)

  it("rejects bad constructor arguments", function()
    fails_with("Linear: in_features must be a positive integer, got 0", nn.Linear, 0, 10)
    fails_with("Linear: out_features must be a positive integer, got -3", nn.Linear, 4, -3)
    fails_with("Linear: in_features must be a positive integer, got 1.5", nn.Linear, 1.5, 3)
    fails_with("Linear: unknown option 'bais' (bias, seed)", nn.Linear, 4, 3, { bais = false })
    fails_with("Linear: bias must be true or false, got no", nn.Linear, 4, 3, { bias = "no" })
    fails_with("Linear: seed must be a non-negative integer, got -1", nn.Linear, 4, 3, { seed = -1 })
  end)

  it("rejects inputs that do not fit, naming the shapes", function()
    local fc = nn.Linear(400, 120)
    fails_with("Linear: expected input [N,400], got [2,399]", fc.forward, fc, lunet.zeros({ 2, 399 }))
    fails_with("Linear: expected input [N,400], got [2,16,5,5]", fc.forward, fc, lunet.zeros({ 2, 16, 5, 5 }))
    fails_with("Linear: expected a Tensor [N,400] as input, got nil", fc.forward, fc, nil)
    fails_with("Linear: expected input [N,400], got [2,16]", fc.output_shape, fc, { 2, 16 })
    local x = lunet.zeros({ 2, 400 })
    fc:forward(x)
    fails_with("Linear: backward: grad_output has shape [2,10], expected [2,120]",
               fc.backward, fc, x, lunet.zeros({ 2, 10 }))
  end)
end)
