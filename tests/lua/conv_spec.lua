-- nn.Conv2d and nn.Conv1d: the DESIGN worked example, shapes (LeNet), parameter counts,
-- initialisation, values against a plain-Lua convolution, finite-difference gradients,
-- accumulation, descriptions and error messages.
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

-- Plain-Lua cross-correlation over flat tables: x [n,c,h,w], w [o,c,kh,kw], b [o] or nil.
-- g = {n, c, h, w, o, kh, kw, sh, sw, ph, pw}
local function ref_conv(g, x, w, b)
  local oh = math.floor((g.h + 2 * g.ph - g.kh) / g.sh) + 1
  local ow = math.floor((g.w + 2 * g.pw - g.kw) / g.sw) + 1
  local y = {}
  for n = 0, g.n - 1 do
    for o = 0, g.o - 1 do
      for r = 0, oh - 1 do
        for q = 0, ow - 1 do
          local sum = b and b[o + 1] or 0
          for c = 0, g.c - 1 do
            for i = 0, g.kh - 1 do
              for j = 0, g.kw - 1 do
                local hh, ww = r * g.sh - g.ph + i, q * g.sw - g.pw + j
                if hh >= 0 and hh < g.h and ww >= 0 and ww < g.w then
                  sum = sum + x[((n * g.c + c) * g.h + hh) * g.w + ww + 1]
                            * w[((o * g.c + c) * g.kh + i) * g.kw + j + 1]
                end
              end
            end
          end
          y[#y + 1] = sum
        end
      end
    end
  end
  return y, oh, ow
end

local function check_gradients(m, shape, seed)
  local errs = gradcheck.module(m, shape, { seed = seed, eps = 1e-2 })
  assert.is_not_nil(errs.weight)
  for name, e in pairs(errs) do
    assert.is_true(e < 1e-2, string.format("%s: gradient of %s off by %g", m:describe(), name, e))
  end
  return errs
end

describe("Conv2d", function()
  it("computes the DESIGN worked example: 12 12 17 / 10 17 19 / 9 6 14", function()
    local conv = nn.Conv2d(1, 1, 3)
    conv.weight:set({ 0, 1, 2, 2, 2, 0, 0, 1, 2 })
    conv.bias:fill(0)
    local x = lunet.tensor({ 3, 3, 2, 1, 0, 0, 0, 1, 3, 1, 3, 1, 2, 2, 3, 2, 0, 0, 2, 2, 2, 0, 0, 0, 1 },
                           { 1, 1, 5, 5 })
    local y = conv:forward(x)
    assert.are.same({ 1, 1, 3, 3 }, y:shape())
    assert.are.same({ 12, 12, 17, 10, 17, 19, 9, 6, 14 }, y:totable())
  end)

  it("gives LeNet's shapes: 1->6 5x5 pad 2 keeps 28x28, then 6->16 5x5 gives 10x10", function()
    local conv1 = nn.Conv2d(1, 6, 5, { padding = 2 })
    assert.are.same({ 4, 6, 28, 28 }, conv1:output_shape({ 4, 1, 28, 28 }))
    local y = conv1:forward(lunet.randn({ 4, 1, 28, 28 }, 1))
    assert.are.same({ 4, 6, 28, 28 }, y:shape())
    local conv2 = nn.Conv2d(6, 16, 5)
    assert.are.same({ 4, 16, 10, 10 }, conv2:forward(lunet.randn({ 4, 6, 14, 14 }, 2)):shape())
    -- a 32x32 input shrinks by 4 per valid 5x5 convolution
    local shape = { 1, 1, 32, 32 }
    local sizes = {}
    for i = 1, 4 do
      shape = nn.Conv2d(1, 1, 5):output_shape({ 1, 1, shape[3], shape[4] })
      sizes[i] = shape[3]
    end
    assert.are.same({ 28, 24, 20, 16 }, sizes)
  end)

  it("follows floor((n + 2p - f) / s) + 1 with stride, padding and non-square kernels", function()
    local conv = nn.Conv2d(3, 4, { 3, 5 }, { stride = { 2, 1 }, padding = { 1, 2 } })
    assert.are.same({ 2, 4, 5, 11 }, conv:output_shape({ 2, 3, 9, 11 }))
    assert.are.same({ 1, 4, 4, 4 }, nn.Conv2d(3, 4, 3, { stride = 3, padding = 1 }):output_shape({ 1, 3, 12, 12 }))
    -- "same" padding p = (f-1)/2 keeps the size
    assert.are.same({ 1, 2, 17, 17 }, nn.Conv2d(1, 2, 7, { padding = 3 }):output_shape({ 1, 1, 17, 17 }))
  end)

  it("has the course's parameter counts: 156 and 2,416", function()
    assert.are.equal(156, nn.Conv2d(1, 6, 5):num_parameters())
    assert.are.equal(2416, nn.Conv2d(6, 16, 5):num_parameters())
    assert.are.equal(150, nn.Conv2d(1, 6, 5, { bias = false }):num_parameters())
    assert.are.same({ "weight", "bias" },
                    { nn.Conv2d(1, 6, 5):parameters()[1].name, nn.Conv2d(1, 6, 5):parameters()[2].name })
    assert.are.equal(1, #nn.Conv2d(1, 6, 5, { bias = false }):parameters())
  end)

  it("initialises like PyTorch, reproducibly with a seed", function()
    local conv = nn.Conv2d(2, 3, 3, { seed = 5 })
    assert.are.same({ 3, 2, 3, 3 }, conv.weight:shape())
    local bound = 1 / math.sqrt(2 * 3 * 3)
    local w = conv.weight:totable()
    local lo, hi = math.huge, -math.huge
    for _, v in ipairs(w) do lo, hi = math.min(lo, v), math.max(hi, v) end
    assert.is_true(lo >= -bound and hi <= bound, "weights outside +-1/sqrt(fan_in)")
    assert.is_true(hi - lo > bound, "weights do not spread over the range")
    for _, v in ipairs(conv.bias:totable()) do assert.is_true(math.abs(v) <= bound) end
    assert.are.same(w, nn.Conv2d(2, 3, 3, { seed = 5 }).weight:totable())
    assert.are_not.same(w, nn.Conv2d(2, 3, 3, { seed = 6 }).weight:totable())
    for _, v in ipairs(conv.grad_weight:totable()) do assert.are.equal(0, v) end
  end)

  it("matches a plain-Lua convolution (batch 2, stride 2x1, padding 1x2, 3x2 kernel)", function()
    local g = { n = 2, c = 3, h = 7, w = 6, o = 4, kh = 3, kw = 2, sh = 2, sw = 1, ph = 1, pw = 2 }
    local conv = nn.Conv2d(g.c, g.o, { g.kh, g.kw }, { stride = { g.sh, g.sw }, padding = { g.ph, g.pw }, seed = 3 })
    local x = lunet.uniform({ g.n, g.c, g.h, g.w }, -1, 1, 9)
    local want, oh, ow = ref_conv(g, x:totable(), conv.weight:totable(), conv.bias:totable())
    local y = conv:forward(x)
    assert.are.same({ g.n, g.o, oh, ow }, y:shape())
    assert.is_true(max_diff(y:totable(), want) < 1e-5)
  end)

  it("passes gradcheck with stride 2, padding 1 and a non-square kernel", function()
    local conv = nn.Conv2d(2, 3, { 3, 2 }, { stride = 2, padding = 1, seed = 1 })
    check_gradients(conv, { 2, 2, 6, 5 }, 1)
  end)

  it("passes gradcheck with stride {1, 3}, padding {2, 0}, no bias", function()
    local conv = nn.Conv2d(3, 2, { 2, 4 }, { stride = { 1, 3 }, padding = { 2, 0 }, bias = false, seed = 2 })
    local errs = check_gradients(conv, { 3, 3, 4, 9 }, 2)
    assert.is_nil(errs.bias)
  end)

  it("accumulates parameter gradients and overwrites the input gradient", function()
    local conv = nn.Conv2d(2, 2, 3, { padding = 1, seed = 4 })
    local x = lunet.randn({ 2, 2, 5, 5 }, 3)
    local gy = lunet.randn({ 2, 2, 5, 5 }, 4)
    conv:forward(x)
    local gx1 = conv:backward(x, gy):totable()
    local gw1, gb1 = conv.grad_weight:totable(), conv.grad_bias:totable()
    local gx2 = conv:backward(x, gy):totable()
    local gw2, gb2 = conv.grad_weight:totable(), conv.grad_bias:totable()
    for i = 1, #gw1 do gw1[i] = 2 * gw1[i] end
    for i = 1, #gb1 do gb1[i] = 2 * gb1[i] end
    assert.is_true(max_diff(gw2, gw1) < 1e-4)
    assert.is_true(max_diff(gb2, gb1) < 1e-4)
    assert.are.same(gx1, gx2)
    conv:zero_grad()
    for _, v in ipairs(conv.grad_weight:totable()) do assert.are.equal(0, v) end
  end)

  it("describes itself for the summary", function()
    assert.are.equal("Conv2d(1, 6, 5x5, stride 1, pad 2)", nn.Conv2d(1, 6, 5, { padding = 2 }):describe())
    assert.are.equal("Conv2d(3, 8, 3x5, stride 2x1, pad 1x2, no bias)",
                     nn.Conv2d(3, 8, { 3, 5 }, { stride = { 2, 1 }, padding = { 1, 2 }, bias = false }):describe())
    assert.are.equal("Conv2d(1, 6, 5x5, stride 1, pad 0)", tostring(nn.Conv2d(1, 6, 5)))
  end)

  it("rejects bad constructor arguments", function()
    fails_with("Conv2d: in_channels must be a positive integer, got -1", nn.Conv2d, -1, 6, 5)
    fails_with("Conv2d: out_channels must be a positive integer, got 2.5", nn.Conv2d, 1, 2.5, 5)
    fails_with("Conv2d: in_channels must be a positive integer, got nil", nn.Conv2d)
    fails_with("Conv2d: kernel_size must be a positive integer or a pair {h, w} of them, got 0",
               nn.Conv2d, 1, 6, 0)
    fails_with("Conv2d: kernel_size must be a positive integer or a pair {h, w} of them, got {3}",
               nn.Conv2d, 1, 6, { 3 })
    fails_with("Conv2d: stride must be a positive integer or a pair {h, w} of them, got 0",
               nn.Conv2d, 1, 6, 5, { stride = 0 })
    fails_with("Conv2d: padding must be a non-negative integer or a pair {h, w} of them, got {1,-1}",
               nn.Conv2d, 1, 6, 5, { padding = { 1, -1 } })
    fails_with("Conv2d: unknown option 'strides' (stride, padding, bias, seed)",
               nn.Conv2d, 1, 6, 5, { strides = 2 })
    fails_with("Conv2d: bias must be true or false, got 0", nn.Conv2d, 1, 6, 5, { bias = 0 })
    fails_with("Conv2d: options must be a table like {stride = 1, padding = 0}, got number",
               nn.Conv2d, 1, 6, 5, 2)
  end)

  it("rejects inputs that do not fit, naming the shapes", function()
    local conv = nn.Conv2d(3, 6, 5)
    fails_with("Conv2d: expected input [N,3,H,W], got [2,1,28,28]", conv.forward, conv, lunet.zeros({ 2, 1, 28, 28 }))
    fails_with("Conv2d: expected input [N,3,H,W], got [2,3,28]", conv.forward, conv, lunet.zeros({ 2, 3, 28 }))
    fails_with("Conv2d: expected a Tensor [N,3,H,W] as input, got table", conv.forward, conv, { 1, 2 })
    fails_with("Conv2d: kernel 5x5 does not fit input 3x3 with padding 0", conv.forward, conv,
               lunet.zeros({ 1, 3, 3, 3 }))
    fails_with("Conv2d: kernel 5x5 does not fit input 3x4 with padding 1x0",
               nn.Conv2d(3, 6, 5, { padding = { 1, 0 } }).output_shape,
               nn.Conv2d(3, 6, 5, { padding = { 1, 0 } }), { 1, 3, 3, 4 })
    local x = lunet.zeros({ 1, 3, 8, 8 })
    conv:forward(x)
    fails_with("Conv2d: backward: grad_output has shape [1,6,8,8], expected [1,6,4,4]",
               conv.backward, conv, x, lunet.zeros({ 1, 6, 8, 8 }))
  end)
end)

describe("Conv1d", function()
  it("matches a plain-Lua 1-D convolution (batch 3, stride 2, padding 1)", function()
    local conv = nn.Conv1d(2, 3, 4, { stride = 2, padding = 1, seed = 8 })
    assert.are.same({ 3, 2, 4 }, conv.weight:shape())
    local x = lunet.uniform({ 3, 2, 11 }, -1, 1, 10)
    local g = { n = 3, c = 2, h = 1, w = 11, o = 3, kh = 1, kw = 4, sh = 1, sw = 2, ph = 0, pw = 1 }
    local want, _, ol = ref_conv(g, x:totable(), conv.weight:totable(), conv.bias:totable())
    local y = conv:forward(x)
    assert.are.equal(5, ol)
    assert.are.same({ 3, 3, 5 }, y:shape())
    assert.is_true(max_diff(y:totable(), want) < 1e-5)
  end)

  it("detects an edge in a sequence with a hand-made [-1, 1] filter", function()
    local conv = nn.Conv1d(1, 1, 2, { bias = false })
    conv.weight:set({ -1, 1 })
    local y = conv:forward(lunet.tensor({ 0, 0, 0, 1, 1, 1 }, { 1, 1, 6 }))
    assert.are.same({ 0, 0, 1, 0, 0 }, y:totable())
  end)

  it("counts weight [O,C,K] and bias [O]", function()
    assert.are.equal(8 * 4 * 3 + 8, nn.Conv1d(4, 8, 3):num_parameters())
    assert.are.equal("Conv1d(4, 8, 3, stride 2, pad 1)", nn.Conv1d(4, 8, 3, { stride = 2, padding = 1 }):describe())
  end)

  it("passes gradcheck with stride 2 and padding 2", function()
    check_gradients(nn.Conv1d(3, 2, 3, { stride = 2, padding = 2, seed = 6 }), { 2, 3, 9 }, 5)
  end)

  it("rejects bad arguments and inputs", function()
    fails_with("Conv1d: kernel_size must be a positive integer, got {3,3}", nn.Conv1d, 1, 2, { 3, 3 })
    fails_with("Conv1d: in_channels must be a positive integer, got 0", nn.Conv1d, 0, 2, 3)
    local conv = nn.Conv1d(2, 4, 5)
    fails_with("Conv1d: expected input [N,2,L], got [1,2,1,9]", conv.forward, conv, lunet.zeros({ 1, 2, 1, 9 }))
    fails_with("Conv1d: expected input [N,2,L], got [1,3,9]", conv.forward, conv, lunet.zeros({ 1, 3, 9 }))
    fails_with("Conv1d: kernel 5 does not fit input 3 with padding 0", conv.forward, conv, lunet.zeros({ 1, 2, 3 }))
  end)
end)
