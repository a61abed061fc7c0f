-- nn.MaxPool2d, AvgPool2d, MaxPool1d, AvgPool1d: the DESIGN worked examples, shapes,
-- values against a Lua reference, finite-difference gradients and error messages.
local lunet = require("lunet")
local nn = require("lunet.nn")
local gradcheck = require("gradcheck")

-- Wait for queued kernels before the process exits: PoCL may still be compiling one in
-- a worker thread while exit tears LLVM down (a crash at exit, seen on PoCL 5 / LLVM 15).
teardown(function() lunet.synchronize() end)

local WORKED = { 3, 3, 2, 1, 0, 0, 0, 1, 3, 1, 3, 1, 2, 2, 3, 2, 0, 0, 2, 2, 2, 0, 0, 0, 1 }

local fails_with = require("testutil").fails_exactly   -- the whole message must match

local function max_diff(a, b)
  assert.are.equal(#b, #a)
  local m = 0
  for i = 1, #a do m = math.max(m, math.abs(a[i] - b[i])) end
  return m
end

-- A seeded permutation of n values spaced 2/n apart in [-1, 1): no two cells of a
-- window within a finite-difference step of each other, so max pooling has no near-ties.
local function spaced_values(n, seed)
  local v, state = {}, seed
  for i = 1, n do v[i] = -1 + 2 * (i - 1) / n end
  for i = n, 2, -1 do
    state = (state * 1103515245 + 12345) % 2147483648
    local j = 1 + state % i
    v[i], v[j] = v[j], v[i]
  end
  return v
end

-- Plain-Lua pooling over a flat NCHW table: y, and grad_x for a given grad_y (scatter).
-- g = {n, c, h, w, kh, kw, sh, sw, ph, pw, max = bool}
local function ref_pool(g, x, grad_y)
  local oh = math.floor((g.h + 2 * g.ph - g.kh) / g.sh) + 1
  local ow = math.floor((g.w + 2 * g.pw - g.kw) / g.sw) + 1
  local y, gx = {}, {}
  for i = 1, #x do gx[i] = 0 end
  for plane = 0, g.n * g.c - 1 do
    for r = 0, oh - 1 do
      for q = 0, ow - 1 do
        local out = plane * oh * ow + r * ow + q + 1
        local best, sum, cells = nil, 0, {}
        for a = r * g.sh - g.ph, r * g.sh - g.ph + g.kh - 1 do
          for b = q * g.sw - g.pw, q * g.sw - g.pw + g.kw - 1 do
            if a >= 0 and a < g.h and b >= 0 and b < g.w then
              local idx = plane * g.h * g.w + a * g.w + b + 1
              cells[#cells + 1] = idx
              sum = sum + x[idx]
              if best == nil or x[idx] > x[best] then best = idx end
            end
          end
        end
        if g.max then
          y[out] = x[best]
          if grad_y then gx[best] = gx[best] + grad_y[out] end
        else
          y[out] = sum / (g.kh * g.kw)
          if grad_y then
            for _, idx in ipairs(cells) do gx[idx] = gx[idx] + grad_y[out] / (g.kh * g.kw) end
          end
        end
      end
    end
  end
  return y, gx, oh, ow
end

describe("pooling: the DESIGN worked examples", function()
  it("max pooling 3x3, stride 1 gives 3 3 3 / 3 3 3 / 3 2 3", function()
    local y = nn.MaxPool2d(3, { stride = 1 }):forward(lunet.tensor(WORKED, { 1, 1, 5, 5 }))
    assert.are.same({ 1, 1, 3, 3 }, y:shape())
    assert.are.same({ 3, 3, 3, 3, 3, 3, 3, 2, 3 }, y:totable())
  end)

  it("average pooling 3x3, stride 1 gives 1.7 1.7 1.7 / 1.0 1.2 1.8 / 1.1 0.8 1.3", function()
    local y = nn.AvgPool2d(3, { stride = 1 }):forward(lunet.tensor(WORKED, { 1, 1, 5, 5 })):totable()
    local rounded = { 1.7, 1.7, 1.7, 1.0, 1.2, 1.8, 1.1, 0.8, 1.3 }
    local sums = { 15, 15, 15, 9, 11, 16, 10, 7, 12 }
    for i = 1, 9 do
      assert.are.equal(string.format("%.1f", rounded[i]), string.format("%.1f", y[i]))
      assert.is_true(math.abs(y[i] - sums[i] / 9) < 1e-6, "y[" .. i .. "] = " .. y[i])
    end
  end)
end)

describe("pooling: shapes", function()
  it("defaults the stride to the window and infers output shapes", function()
    local m = nn.MaxPool2d(2)
    assert.are.same({ 2, 2 }, m.stride)
    assert.are.same({ 2, 3, 4, 3 }, m:output_shape({ 2, 3, 8, 7 }))
    assert.are.same({ 2, 3, 4, 3 }, m:forward(lunet.zeros({ 2, 3, 8, 7 })):shape())
    local a = nn.AvgPool2d({ 3, 2 }, { stride = { 2, 1 }, padding = { 1, 0 } })
    assert.are.same({ 1, 2, 4, 4 }, a:forward(lunet.zeros({ 1, 2, 7, 5 })):shape())
    assert.are.same({ 2, 4, 5 }, nn.MaxPool1d(3, { stride = 2, padding = 1 }):output_shape({ 2, 4, 10 }))
    assert.are.same({ 2, 4, 3 }, nn.AvgPool1d(3):forward(lunet.zeros({ 2, 4, 10 })):shape())
  end)

  it("describes itself for the summary", function()
    assert.are.equal("MaxPool2d(2x2, stride 2, pad 0)", tostring(nn.MaxPool2d(2)))
    assert.are.equal("AvgPool2d(3x2, stride 2x1, pad 1x0)",
                     nn.AvgPool2d({ 3, 2 }, { stride = { 2, 1 }, padding = { 1, 0 } }):describe())
    assert.are.equal("MaxPool1d(3, stride 2, pad 1)",
                     nn.MaxPool1d(3, { stride = 2, padding = 1 }):describe())
  end)

  it("reuses its output and grad_input buffers", function()
    local m, x = nn.MaxPool2d(2), lunet.uniform({ 2, 2, 4, 4 }, -1, 1, 3)
    local y1 = m:forward(x)
    local g1 = m:backward(x, y1)
    assert.are.equal(y1, m:forward(x))
    assert.are.equal(g1, m:backward(x, y1))
  end)

  it("computes LeNet's pooling inside a Sequential", function()
    local model = nn.Sequential(nn.MaxPool2d(2), nn.AvgPool2d(2))
    assert.are.same({ 3, 6, 7, 7 }, model:output_shape({ 3, 6, 28, 28 }))
    local x = lunet.uniform({ 3, 6, 28, 28 }, -1, 1, 4)
    assert.are.same({ 3, 6, 7, 7 }, model:forward(x):shape())
    assert.are.same({ 3, 6, 28, 28 }, model:backward(x, lunet.uniform({ 3, 6, 7, 7 }, -1, 1, 5)):shape())
  end)
end)

describe("pooling: values against a Lua reference", function()
  local cases = {
    { name = "MaxPool2d", g = { n = 2, c = 3, h = 7, w = 6, kh = 3, kw = 2, sh = 2, sw = 1, ph = 1, pw = 1, max = true } },
    { name = "AvgPool2d", g = { n = 2, c = 2, h = 6, w = 9, kh = 2, kw = 4, sh = 1, sw = 3, ph = 1, pw = 2, max = false } },
    { name = "MaxPool1d", g = { n = 3, c = 2, h = 1, w = 11, kh = 1, kw = 3, sh = 1, sw = 2, ph = 0, pw = 1, max = true } },
    { name = "AvgPool1d", g = { n = 3, c = 2, h = 1, w = 11, kh = 1, kw = 4, sh = 1, sw = 3, ph = 0, pw = 2, max = false } },
  }
  for _, case in ipairs(cases) do
    it(case.name .. " forward and backward", function()
      local g = case.g
      local two = case.name:find("2d") ~= nil
      local m = two and nn[case.name]({ g.kh, g.kw }, { stride = { g.sh, g.sw }, padding = { g.ph, g.pw } })
        or nn[case.name](g.kw, { stride = g.sw, padding = g.pw })
      local xshape = two and { g.n, g.c, g.h, g.w } or { g.n, g.c, g.w }
      local x = lunet.uniform(xshape, -1, 1, 11)
      local xv = x:totable()
      local _, _, oh, ow = ref_pool(g, xv)
      local yshape = two and { g.n, g.c, oh, ow } or { g.n, g.c, ow }
      local gy = lunet.uniform(yshape, -1, 1, 12)
      local ry, rgx = ref_pool(g, xv, gy:totable())
      local y = m:forward(x)
      assert.are.same(yshape, y:shape())
      assert.is_true(max_diff(y:totable(), ry) < 1e-5)
      local gx = m:backward(x, gy)
      assert.are.same(xshape, gx:shape())
      assert.is_true(max_diff(gx:totable(), rgx) < 1e-5)
      -- backward overwrites grad_input: a second call gives the same values
      assert.is_true(max_diff(m:backward(x, gy):totable(), rgx) < 1e-5)
    end)
  end
end)

describe("pooling: gradients by finite differences", function()
  local cases = {
    { "MaxPool2d", { 2 }, { 2, 3, 6, 6 } },
    { "MaxPool2d", { { 3, 2 }, { stride = { 2, 1 }, padding = 1 } }, { 2, 2, 7, 5 } },
    { "AvgPool2d", { 2 }, { 2, 3, 6, 6 } },
    { "AvgPool2d", { 3, { stride = 2, padding = 1 } }, { 2, 2, 7, 5 } },
    { "MaxPool1d", { 3, { stride = 2, padding = 1 } }, { 2, 3, 11 } },
    { "AvgPool1d", { 4, { stride = 3, padding = 2 } }, { 2, 3, 11 } },
  }
  for i, case in ipairs(cases) do
    it(case[1] .. " case " .. i, function()
      local name, args, shape = case[1], case[2], case[3]
      local m = nn[name](args[1], args[2])
      local n = 1
      for _, d in ipairs(shape) do n = n * d end
      local x = lunet.tensor(spaced_values(n, i), shape)
      local err = gradcheck.module(m, shape, { seed = i, eps = 1e-3, input = x, samples = 60 })
      assert.is_true(err.input < 1e-2, name .. " input gradient error " .. err.input)
    end)
  end
end)

describe("pooling: errors", function()
  it("rejects bad window, stride and padding when built", function()
    fails_with("MaxPool2d: kernel size must be a positive integer or a pair {h, w} of them, got 0",
               nn.MaxPool2d, 0)
    fails_with("AvgPool2d: stride must be a positive integer or a pair {h, w} of them, got {1,0}",
               nn.AvgPool2d, 2, { stride = { 1, 0 } })
    fails_with("MaxPool2d: padding must be a non-negative integer or a pair {h, w} of them, got -1",
               nn.MaxPool2d, 3, { padding = -1 })
    fails_with("MaxPool2d: padding 2x2 must be at most half the kernel size 3x3",
               nn.MaxPool2d, 3, { padding = 2 })
    fails_with("AvgPool1d: padding 2 must be at most half the kernel size 3",
               nn.AvgPool1d, 3, { padding = 2 })
    fails_with("MaxPool1d: kernel size must be a positive integer, got {2,2}", nn.MaxPool1d, { 2, 2 })
    fails_with("MaxPool1d: stride must be a positive integer, got 1.5", nn.MaxPool1d, 2, { stride = 1.5 })
  end)

  it("rejects inputs that do not fit", function()
    fails_with("MaxPool2d: expected input [N,C,H,W], got [2,1,28]",
               function() nn.MaxPool2d(2):forward(lunet.zeros({ 2, 1, 28 })) end)
    fails_with("AvgPool1d: expected input [N,C,L], got [2,1,28,28]",
               function() nn.AvgPool1d(2):forward(lunet.zeros({ 2, 1, 28, 28 })) end)
    fails_with("MaxPool2d: expected a Tensor [N,C,H,W] as input, got string",
               function() nn.MaxPool2d(2):forward("x") end)
    fails_with("MaxPool2d: input [1,1,3,3] is smaller than the window 5x5 (padding 0x0)",
               function() nn.MaxPool2d(5):forward(lunet.zeros({ 1, 1, 3, 3 })) end)
    fails_with("MaxPool1d: input [1,1,2] is smaller than the window 5 (padding 1)",
               function() nn.MaxPool1d(5, { padding = 1 }):output_shape({ 1, 1, 2 }) end)
  end)

  it("rejects a grad_output of the wrong shape", function()
    local m, x = nn.MaxPool2d(2), lunet.zeros({ 1, 1, 4, 4 })
    m:forward(x)
    fails_with("MaxPool2d: backward: grad_output has shape [1,1,3,3], expected [1,1,2,2]",
               function() m:backward(x, lunet.zeros({ 1, 1, 3, 3 })) end)
  end)
end)
