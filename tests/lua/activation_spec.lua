-- nn.ReLU, nn.Tanh, nn.Sigmoid: values, shapes of any rank, backward against the
-- analytic derivative, finite-difference gradients and error messages.
local lunet = require("lunet")
local nn = require("lunet.nn")
local gradcheck = require("gradcheck")

-- Wait for queued kernels before the process exits: PoCL may still be compiling one in
-- a worker thread while exit tears LLVM down (a crash at exit, seen on PoCL 5 / LLVM 15).
teardown(function() lunet.synchronize() end)

local fails_with = require("testutil").fails_exactly   -- the whole message must match

local function sigmoid(v) return 1 / (1 + math.exp(-v)) end

local function tanh(v)
  local e = math.exp(2 * v)
  return (e - 1) / (e + 1)
end

local ACTS = {
  ReLU = { f = function(v) return v > 0 and v or 0 end,
           df = function(v) return v > 0 and 1 or 0 end },
  Tanh = { f = tanh, df = function(v) return 1 - tanh(v) ^ 2 end },
  Sigmoid = { f = sigmoid, df = function(v) return sigmoid(v) * (1 - sigmoid(v)) end },
}

local function close(a, b, tol)
  assert.are.equal(#b, #a)
  for i = 1, #a do
    assert.is_true(math.abs(a[i] - b[i]) <= tol, string.format("[%d]: %.7g vs %.7g", i, a[i], b[i]))
  end
end

-- Values at least 0.1 away from 0 (ReLU's kink), in [-2, 2].
local function away_from_zero(n, seed)
  local u = lunet.uniform({ n }, -1, 1, seed):totable()
  for i = 1, n do u[i] = (u[i] < 0 and -1 or 1) * (0.1 + 1.9 * math.abs(u[i])) end
  return u
end

for name, ref in pairs(ACTS) do
  describe("nn." .. name, function()
    it("computes known values", function()
      local xs = { -3, -0.5, 0, 0.25, 2 }
      local want = {}
      for i, v in ipairs(xs) do want[i] = ref.f(v) end
      close(nn[name]():forward(lunet.tensor(xs, { 5 })):totable(), want, 1e-6)
    end)

    it("keeps any input shape, forward and backward", function()
      local m = nn[name]()
      for _, shape in ipairs({ { 7 }, { 3, 4 }, { 2, 3, 5 }, { 2, 3, 4, 5 } }) do
        local x = lunet.uniform(shape, -2, 2, #shape)
        assert.are.same(shape, m:output_shape(shape))
        assert.are.same(shape, m:forward(x):shape())
        assert.are.same(shape, m:backward(x, lunet.uniform(shape, -1, 1, 9)):shape())
      end
    end)

    it("backward is grad_output * f'(x)", function()
      local m = nn[name]()
      local x = lunet.tensor(away_from_zero(60, 3), { 2, 3, 10 })
      local gy = lunet.uniform({ 2, 3, 10 }, -1, 1, 4)
      local xv, gv = x:totable(), gy:totable()
      local fy, want = {}, {}
      for i = 1, #xv do fy[i] = ref.f(xv[i]); want[i] = gv[i] * ref.df(xv[i]) end
      close(m:forward(x):totable(), fy, 1e-5)
      close(m:backward(x, gy):totable(), want, 1e-5)
    end)

    it("passes the finite-difference gradient check", function()
      local x = lunet.tensor(away_from_zero(2 * 3 * 4 * 4, 5), { 2, 3, 4, 4 })
      local err = gradcheck.module(nn[name](), { 2, 3, 4, 4 }, { seed = 2, eps = 1e-3, input = x })
      assert.is_true(err.input < 1e-2, name .. " input gradient error " .. err.input)
    end)

    it("describes itself", function()
      assert.are.equal(name .. "()", tostring(nn[name]()))
    end)

    it("reports bad arguments and inputs", function()
      fails_with(name .. ": takes no arguments", nn[name], 1)
      fails_with(name .. ": expected a Tensor as input, got string",
                 function() nn[name]():forward("x") end)
      local m, x = nn[name](), lunet.zeros({ 2, 3 })
      fails_with(name .. ": backward: grad_output has shape [3,2], expected [2,3]",
                 function() m:backward(x, lunet.zeros({ 3, 2 })) end)
    end)
  end)
end

describe("activations", function()
  it("sigmoid and tanh stay finite for huge inputs", function()
    local x = lunet.tensor({ -1e4, -100, 100, 1e4 }, { 4 })
    local ones = lunet.tensor({ 1, 1, 1, 1 }, { 4 })
    local s = nn.Sigmoid()
    close(s:forward(x):totable(), { 0, 0, 1, 1 }, 1e-7)
    close(s:backward(x, ones):totable(), { 0, 0, 0, 0 }, 1e-7)
    local t = nn.Tanh()
    close(t:forward(x):totable(), { -1, -1, 1, 1 }, 1e-7)
    close(t:backward(x, ones):totable(), { 0, 0, 0, 0 }, 1e-7)
  end)
end)
