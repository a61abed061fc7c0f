-- gradcheck: compares analytic gradients with central finite differences.
--
-- gradcheck.module(m, input_shape, opts) checks L = sum(m:forward(x) .* R) for a random
-- R, with respect to the input and to every parameter. Returns a table of the largest
-- error per tensor: {input = e, weight = e, bias = e}, where
--   e = max |numeric - analytic| / max(1e-3, max |analytic|).
-- opts: seed (1), eps (1e-2), samples (entries checked per tensor, 40), low/high (input
-- range, -1..1), input (a Tensor to use instead of a random one).
local lunet = require("lunet")

local M = {}

local function dot(a, b)
  local s = 0
  for i = 1, #a do s = s + a[i] * b[i] end
  return s
end

local function max_abs(t)
  local m = 0
  for i = 1, #t do if math.abs(t[i]) > m then m = math.abs(t[i]) end end
  return m
end

-- Indices to check: all when few, else a seeded sample.
local function pick(n, samples, seed)
  local idx = {}
  if n <= samples then
    for i = 1, n do idx[i] = i end
    return idx
  end
  local state = seed
  for i = 1, samples do
    state = (state * 1103515245 + 12345) % 2147483648
    idx[i] = 1 + state % n
  end
  return idx
end

-- Largest relative error between analytic gradient `grad` (table) of `loss()` and
-- central differences obtained by perturbing the values of Tensor `t`.
local function compare(t, grad, loss, opts, seed)
  local values = t:totable()
  local worst = 0
  local scale = math.max(1e-3, max_abs(grad))
  for _, i in ipairs(pick(#values, opts.samples or 40, seed)) do
    local v = values[i]
    values[i] = v + opts.eps; t:set(values)
    local up = loss()
    values[i] = v - opts.eps; t:set(values)
    local down = loss()
    values[i] = v; t:set(values)
    local numeric = (up - down) / (2 * opts.eps)
    local err = math.abs(numeric - grad[i]) / scale
    if err > worst then worst = err end
  end
  return worst
end

function M.module(m, input_shape, opts)
  opts = opts or {}
  opts.eps = opts.eps or 1e-2
  local seed = opts.seed or 1
  local x = opts.input or lunet.uniform(input_shape, opts.low or -1, opts.high or 1, seed)
  local y = m:forward(x)
  local r = lunet.uniform(y:shape(), -1, 1, seed + 1)
  local rt = r:totable()
  local function loss() return dot(m:forward(x):totable(), rt) end

  m:zero_grad()
  m:forward(x)
  local result = { input = 0 }
  local grad_x = m:backward(x, r):totable()
  local analytic = {}
  for _, p in ipairs(m:parameters()) do analytic[p.name] = p.grad:totable() end

  result.input = compare(x, grad_x, loss, opts, seed + 2)
  for k, p in ipairs(m:parameters()) do
    result[p.name] = compare(p.value, analytic[p.name], loss, opts, seed + 2 + k)
  end
  return result
end

-- f(x) -> number; opts.grad(x) -> Tensor: the analytic gradient of f at x.
function M.func(f, x_shape, opts)
  opts = opts or {}
  opts.eps = opts.eps or 1e-2
  local seed = opts.seed or 1
  local x = opts.input or lunet.uniform(x_shape, opts.low or -1, opts.high or 1, seed)
  local grad = opts.grad(x):totable()
  return compare(x, grad, function() return f(x) end, opts, seed + 2)
end

return M
