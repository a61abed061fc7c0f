-- lunet.optim: SGD and Adam steps against PyTorch's formulas computed in Lua, state
-- (allocation, save/load), a quadratic that must converge, and the error messages.
local lunet = require("lunet")
local optim = require("lunet.optim")

local function param(name, values, grads)
  return { name = name, value = lunet.tensor(values, { #values }),
           grad = lunet.tensor(grads, { #grads }) }
end

local function assert_close(got, want, tol, what)
  assert.are.equal(#want, #got)
  for i = 1, #want do
    assert.is_true(math.abs(got[i] - want[i]) <= tol,
                   string.format("%s[%d] = %.8g, expected %.8g", what or "value", i, got[i], want[i]))
  end
end

-- Lua references, one step, in place on plain tables.
local function sgd_ref(p, g, v, lr, momentum, wd)
  for i = 1, #p do
    local d = g[i] + wd * p[i]
    if momentum ~= 0 then v[i] = momentum * v[i] + d; d = v[i] end
    p[i] = p[i] - lr * d
  end
end

local function adam_ref(p, g, m, v, lr, b1, b2, eps, wd, t)
  for i = 1, #p do
    local d = g[i] + wd * p[i]
    m[i] = b1 * m[i] + (1 - b1) * d
    v[i] = b2 * v[i] + (1 - b2) * d * d
    p[i] = p[i] - lr * (m[i] / (1 - b1 ^ t)) / (math.sqrt(v[i] / (1 - b2 ^ t)) + eps)
  end
end

local grads_by_step = {
  { 0.5, -1.0, 2.0, 0.25 }, { -0.3, 0.7, 1.5, -2.0 }, { 1.0, 0.1, -0.4, 0.9 },
  { 0.0, -0.6, 0.3, 0.2 }, { 0.8, 0.8, -1.2, -0.1 },
}

describe("optim.SGD", function()
  it("takes a plain step p -= lr * g (by hand)", function()
    local p = param("w", { 1, 2, -3 }, { 0.5, -1, 2 })
    local opt = optim.SGD({ p }, { lr = 0.1 })
    opt:step()
    assert_close(p.value:totable(), { 0.95, 2.1, -3.2 }, 1e-6)
    assert.are.equal(1, opt.step_count)
    assert.are.same({}, opt:state().buffers)   -- momentum 0: no velocity
  end)

  for _, h in ipairs({ { lr = 0.1, momentum = 0.9, weight_decay = 0 },
                       { lr = 0.05, momentum = 0.5, weight_decay = 0.1 },
                       { lr = 0.2, momentum = 0, weight_decay = 0.3 } }) do
    it(string.format("follows PyTorch's formula over 5 steps (lr %g, momentum %g, wd %g)",
                     h.lr, h.momentum, h.weight_decay), function()
      local p0 = { 1.0, -2.0, 0.5, 3.0 }
      local prm = param("w", p0, grads_by_step[1])
      local opt = optim.SGD({ prm }, h)
      local p, v = { unpack(p0) }, { 0, 0, 0, 0 }
      for s = 1, 5 do
        prm.grad:set(grads_by_step[s])
        opt:step()
        sgd_ref(p, grads_by_step[s], v, h.lr, h.momentum, h.weight_decay)
      end
      assert_close(prm.value:totable(), p, 1e-5, "param")
      if h.momentum ~= 0 then
        assert_close(opt:state().buffers["w.velocity"]:totable(), v, 1e-5, "velocity")
      end
      assert.are.equal(5, opt.step_count)
    end)
  end

  it("allocates its velocity once and updates every parameter", function()
    local a, b = param("a", { 1, 2 }, { 1, 1 }), param("b", { 3 }, { -1 })
    local opt = optim.SGD({ a, b }, { lr = 0.5, momentum = 0.9 })
    local before = opt:state().buffers
    opt:step(); opt:step()
    local after = opt:state().buffers
    assert.are.equal(before["a.velocity"], after["a.velocity"])
    assert.are.equal(before["b.velocity"], after["b.velocity"])
    -- step 1: v = g, p -= 0.5 g; step 2: v = 1.9 g, p -= 0.95 g
    assert_close(a.value:totable(), { -0.45, 0.55 }, 1e-6)
    assert_close(b.value:totable(), { 4.45 }, 1e-6)
  end)

  it("takes a module and zeroes the gradients", function()
    local a = param("a", { 1, 2 }, { 3, 4 })
    local module = { parameters = function() return { a } end }
    local opt = optim.SGD(module, { lr = 1 })
    opt:zero_grad()
    assert.are.same({ 0, 0 }, a.grad:totable())
    opt:step()
    assert.are.same({ 1, 2 }, a.value:totable())
  end)

  it("uses positional keys when parameter names repeat", function()
    local opt = optim.SGD({ param("weight", { 1 }, { 1 }), param("weight", { 2 }, { 1 }) },
                          { lr = 0.1, momentum = 0.9 })
    local buffers = opt:state().buffers
    assert.is_true(lunet.is_tensor(buffers["1:weight.velocity"]))
    assert.is_true(lunet.is_tensor(buffers["2:weight.velocity"]))
  end)

  it("rejects bad options and parameters with clear messages", function()
    local p = param("w", { 1 }, { 1 })
    assert.has_error(function() optim.SGD({ p }, { lr = -1 }) end,
                     "SGD: lr must be a non-negative number, got -1")
    assert.has_error(function() optim.SGD({ p }, { lr = "fast" }) end,
                     "SGD: lr must be a non-negative number, got fast")
    assert.has_error(function() optim.SGD({ p }, { lr = 0.1, momentum = -0.5 }) end,
                     "SGD: momentum must be a non-negative number, got -0.5")
    assert.has_error(function() optim.SGD({ p }, { weight_decay = -1e-4 }) end,
                     "SGD: weight_decay must be a non-negative number, got -0.0001")
    assert.has_error(function() optim.SGD({ p }, { lrate = 0.1 }) end,
                     "SGD: unknown option 'lrate' (known: lr, momentum, weight_decay)")
    assert.has_error(function() optim.SGD({}, { lr = 0.1 }) end,
                     "SGD: params is an empty list: nothing to optimize")
    assert.has_error(function() optim.SGD(nil) end,
                     "SGD: params must be a list of {name=, value=Tensor, grad=Tensor} (model:parameters()), got nil")
    local bad = { name = "w", value = lunet.zeros({ 2, 3 }), grad = lunet.zeros({ 3, 2 }) }
    assert.has_error(function() optim.SGD({ bad }) end,
                     "SGD: parameter 1 (w) has grad of shape [3,2] but value of shape [2,3]")
    assert.has_error(function() optim.SGD({ { name = "w", value = lunet.zeros({ 2 }) } }) end,
                     "SGD: parameter 1 (w) has no grad Tensor")
    local opt = optim.SGD({ p }, { lr = 0.1 })
    opt.lr = -2
    assert.has_error(function() opt:step() end, "SGD: lr must be a non-negative number, got -2")
  end)
end)

describe("optim.Adam", function()
  it("takes a first step of lr * sign(g) (by hand)", function()
    local p = param("w", { 1, -2 }, { 0.5, -3 })
    optim.Adam({ p }, { lr = 0.1 }):step()
    assert_close(p.value:totable(), { 0.9, -1.9 }, 1e-6)
  end)

  for _, h in ipairs({ { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0 },
                       { lr = 0.05, betas = { 0.8, 0.99 }, eps = 1e-6, weight_decay = 0.1 },
                       { lr = 0.1, betas = { 0, 0.5 }, eps = 1e-3, weight_decay = 0 } }) do
    it(string.format("follows PyTorch's formula over 5 steps (lr %g, betas %g,%g, wd %g)", h.lr,
                     h.betas[1], h.betas[2], h.weight_decay), function()
      local p0 = { 1.0, -2.0, 0.5, 3.0 }
      local prm = param("w", p0, grads_by_step[1])
      local opt = optim.Adam({ prm }, h)
      local p, m, v = { unpack(p0) }, { 0, 0, 0, 0 }, { 0, 0, 0, 0 }
      for s = 1, 5 do
        prm.grad:set(grads_by_step[s])
        opt:step()
        adam_ref(p, grads_by_step[s], m, v, h.lr, h.betas[1], h.betas[2], h.eps, h.weight_decay, s)
      end
      assert_close(prm.value:totable(), p, 1e-5, "param")
      local buffers = opt:state().buffers
      assert_close(buffers["w.m"]:totable(), m, 1e-5, "m")
      assert_close(buffers["w.v"]:totable(), v, 1e-5, "v")
      assert.are.equal(5, opt.step_count)
    end)
  end

  it("saves and restores its state (a resumed run matches an uninterrupted one)", function()
    local a = param("w", { 1, -2, 0.5, 3 }, grads_by_step[1])
    local b = param("w", { 1, -2, 0.5, 3 }, grads_by_step[1])
    local opt_a = optim.Adam({ a }, { lr = 0.05 })
    for s = 1, 3 do a.grad:set(grads_by_step[s]); opt_a:step() end
    -- b resumes from a's checkpoint: parameter values and optimizer state
    b.value:copy(a.value)
    local opt_b = optim.Adam({ b }, { lr = 0.05 })
    opt_b:load_state(opt_a:state())
    assert.are.equal(3, opt_b.step_count)
    for s = 4, 5 do
      a.grad:set(grads_by_step[s]); opt_a:step()
      b.grad:set(grads_by_step[s]); opt_b:step()
    end
    assert.are.same(a.value:totable(), b.value:totable())
    assert.are_not.equal(opt_a:state().buffers["w.m"], opt_b:state().buffers["w.m"])
  end)

  it("rejects a state that does not fit", function()
    local opt = optim.Adam({ param("w", { 1, 2 }, { 0, 0 }) })
    local good = opt:state()
    assert.has_error(function() opt:load_state({ step = 1, buffers = { ["w.m"] = good.buffers["w.m"] } }) end,
                     "Adam: load_state: buffer 'w.v' is missing")
    assert.has_error(function()
      opt:load_state({ step = 1, buffers = { ["w.m"] = lunet.zeros({ 3 }), ["w.v"] = good.buffers["w.v"] } })
    end, "Adam: load_state: buffer 'w.m' has shape [3], expected [2]")
    assert.has_error(function()
      opt:load_state({ step = 1, buffers = { ["w.m"] = good.buffers["w.m"], ["w.v"] = good.buffers["w.v"],
                                             ["x.m"] = lunet.zeros({ 2 }) } })
    end, "Adam: load_state: unknown buffer 'x.m'")
    assert.has_error(function() opt:load_state({ step = -1, buffers = good.buffers }) end,
                     "Adam: load_state: step must be a non-negative integer, got -1")
    assert.has_error(function() optim.SGD({ param("w", { 1 }, { 1 }) }):load_state({ step = 0, buffers = good.buffers }) end,
                     "SGD: load_state: unknown buffer 'w.m'")
  end)

  it("rejects bad hyper-parameters with clear messages", function()
    local p = param("w", { 1 }, { 1 })
    assert.has_error(function() optim.Adam({ p }, { lr = -0.1 }) end,
                     "Adam: lr must be a non-negative number, got -0.1")
    assert.has_error(function() optim.Adam({ p }, { betas = { 1, 0.999 } }) end,
                     "Adam: betas[1] must be a number in [0, 1), got 1")
    assert.has_error(function() optim.Adam({ p }, { betas = { 0.9 } }) end,
                     "Adam: betas[2] must be a number in [0, 1), got nil")
    assert.has_error(function() optim.Adam({ p }, { betas = 0.9 }) end,
                     "Adam: betas must be a table {beta1, beta2}, got number")
    assert.has_error(function() optim.Adam({ p }, { eps = 0 }) end,
                     "Adam: eps must be a positive number, got 0")
    assert.has_error(function() optim.Adam({ p }, { weight_decay = -1 }) end,
                     "Adam: weight_decay must be a non-negative number, got -1")
    assert.has_error(function() optim.Adam({ p }, { momentum = 0.9 }) end,
                     "Adam: unknown option 'momentum' (known: betas, eps, lr, weight_decay)")
  end)
end)

describe("optimizers on a quadratic", function()
  -- f(p) = sum c_i (p_i - t_i)^2, gradient 2 c_i (p_i - t_i) computed on the host.
  local target, curvature = { 3, -1, 0.5, 2, -4 }, { 1, 0.5, 2, 1.5, 0.8 }

  local function minimise(make_opt, steps)
    local p = param("p", { 0, 0, 0, 0, 0 }, { 0, 0, 0, 0, 0 })
    local opt = make_opt({ p })
    for _ = 1, steps do
      local v, g = p.value:totable(), {}
      for i = 1, #v do g[i] = 2 * curvature[i] * (v[i] - target[i]) end
      opt:zero_grad()
      p.grad:set(g)
      opt:step()
    end
    return p.value:totable()
  end

  it("converges with SGD and momentum", function()
    local p = minimise(function(ps) return optim.SGD(ps, { lr = 0.05, momentum = 0.9 }) end, 300)
    assert_close(p, target, 1e-3, "p")
  end)

  it("converges with Adam", function()
    local p = minimise(function(ps) return optim.Adam(ps, { lr = 0.05 }) end, 600)
    assert_close(p, target, 1e-2, "p")
  end)
end)
