-- nn.CrossEntropyLoss: values against a Lua reference, gradients (analytic and by finite
-- differences), labels as a table and as a Tensor, and the error messages.
local lunet = require("lunet")
local gradcheck = require("gradcheck")
local CrossEntropyLoss = require("lunet.nn.loss").CrossEntropyLoss

-- Mean softmax cross-entropy of flat row-major logits [n,k] and its gradient, in Lua.
local function ref_xent(logits, n, k, labels)
  local total, grad = 0, {}
  for i = 0, n - 1 do
    local m = -math.huge
    for j = 1, k do m = math.max(m, logits[i * k + j]) end
    local s = 0
    for j = 1, k do s = s + math.exp(logits[i * k + j] - m) end
    local lse = m + math.log(s)
    total = total + lse - logits[i * k + labels[i + 1] + 1]
    for j = 1, k do
      local p = math.exp(logits[i * k + j] - lse)
      grad[i * k + j] = (p - (j - 1 == labels[i + 1] and 1 or 0)) / n
    end
  end
  return total / n, grad
end

local function max_diff(a, b)
  assert.are.equal(#b, #a)
  local d = 0
  for i = 1, #a do d = math.max(d, math.abs(a[i] - b[i])) end
  return d
end

describe("nn.CrossEntropyLoss", function()
  local labels = { 3, 0, 4, 1 }
  local logits, values

  before_each(function()
    logits = lunet.randn({ 4, 5 }, 7, 0, 3)
    values = logits:totable()
  end)

  it("is exported by lunet.nn and describes itself", function()
    local nn = require("lunet.nn")
    assert.are.equal(CrossEntropyLoss, nn.CrossEntropyLoss)
    assert.are.equal("CrossEntropyLoss()", nn.CrossEntropyLoss():describe())
    assert.are.same({ 1 }, CrossEntropyLoss():output_shape({ 8, 10 }))
  end)

  it("gives log(K) for equal logits (by hand)", function()
    local crit = CrossEntropyLoss()
    local loss = crit:forward(lunet.zeros({ 2, 3 }), { 0, 2 })
    assert.is_number(loss)
    assert.is_true(math.abs(loss - math.log(3)) < 1e-6, "loss " .. loss)
  end)

  it("matches the Lua reference with labels as a table", function()
    local want = ref_xent(values, 4, 5, labels)
    local got = CrossEntropyLoss():forward(logits, labels)
    assert.is_true(math.abs(got - want) <= 1e-5 * math.max(1, math.abs(want)),
                   string.format("loss %.7g, expected %.7g", got, want))
  end)

  it("gives the same loss and gradient with labels as a device Tensor", function()
    local crit = CrossEntropyLoss()
    local from_table = crit:forward(logits, labels)
    local grad_table = crit:backward(logits, labels):totable()
    local label_tensor = lunet.tensor(labels, { 4 })
    assert.are.equal(from_table, crit:forward(logits, label_tensor))
    assert.are.same(grad_table, crit:backward(logits, label_tensor):totable())
  end)

  it("backward gives (softmax - onehot) / N in a buffer of the logits' shape", function()
    local crit = CrossEntropyLoss()
    local _, want = ref_xent(values, 4, 5, labels)
    local grad = crit:backward(logits, labels)
    assert.are.same({ 4, 5 }, grad:shape())
    assert.is_true(max_diff(grad:totable(), want) <= 1e-6)
    assert.are.equal(grad, crit:backward(logits, { 0, 0, 0, 0 }))  -- the same buffer, reused
  end)

  it("passes a finite-difference gradient check", function()
    local crit = CrossEntropyLoss()
    local y = { 2, 0, 6, 6, 1, 3 }
    local err = gradcheck.func(function(x) return crit:forward(x, y) end, { 6, 7 },
                               { seed = 3, eps = 1e-2, low = -3, high = 3,
                                 grad = function(x) return crit:backward(x, y) end })
    assert.is_true(err < 1e-2, "gradcheck error " .. err)
  end)

  it("forward_async returns the loss as a device Tensor [1]", function()
    local crit = CrossEntropyLoss()
    local t = crit:forward_async(logits, labels)
    assert.is_true(lunet.is_tensor(t))
    assert.are.same({ 1 }, t:shape())
    local want = ref_xent(values, 4, 5, labels)
    assert.is_true(math.abs(t:totable()[1] - want) <= 1e-5 * math.max(1, want))
  end)

  it("stays finite for huge logits", function()
    local crit = CrossEntropyLoss()
    local x = lunet.tensor({ 1000, -1000, 0, -1000, 1000, 999 }, { 2, 3 })
    local loss = crit:forward(x, { 0, 2 })
    local want = (0 + 1 + math.log(1 + math.exp(-1))) / 2
    assert.is_true(math.abs(loss - want) < 1e-5, "loss " .. loss)
    for _, g in ipairs(crit:backward(x, { 0, 2 }):totable()) do
      assert.is_true(g == g and math.abs(g) < 1, "gradient entry " .. g)
    end
  end)

  it("follows new labels after a call with other labels", function()
    local crit = CrossEntropyLoss()
    local a = crit:forward(logits, labels)
    local b = crit:forward(logits, { 0, 0, 0, 0 })
    assert.are_not.equal(a, b)
    assert.is_true(math.abs(b - ref_xent(values, 4, 5, { 0, 0, 0, 0 })) < 1e-5)
    assert.are.equal(a, crit:forward(logits, labels))
  end)

  it("gives NaN for an out-of-range label in a device Tensor", function()
    local loss = CrossEntropyLoss():forward(logits, lunet.tensor({ 3, 0, 5, 1 }, { 4 }))
    assert.is_true(loss ~= loss, "expected NaN, got " .. loss)
  end)

  it("names the bad entry of a label table", function()
    local crit = CrossEntropyLoss()
    local x = lunet.zeros({ 3, 10 })
    assert.has_error(function() crit:forward(x, { 1, 2, 12 }) end,
                     "CrossEntropyLoss: label 3 is 12, expected an integer in 0..9")
    assert.has_error(function() crit:forward(x, { 1, -1, 2 }) end,
                     "CrossEntropyLoss: label 2 is -1, expected an integer in 0..9")
    assert.has_error(function() crit:backward(x, { 1.5, 2, 3 }) end,
                     "CrossEntropyLoss: label 1 is 1.5, expected an integer in 0..9")
    assert.has_error(function() crit:forward(x, { 1, "2", 3 }) end,
                     "CrossEntropyLoss: label 2 is 2 (a string), expected an integer in 0..9")
  end)

  it("rejects labels of the wrong length, shape or type", function()
    local crit = CrossEntropyLoss()
    local x = lunet.zeros({ 3, 10 })
    assert.has_error(function() crit:forward(x, { 1, 2 }) end,
                     "CrossEntropyLoss: expected 3 labels (one per row of logits [3,10]), got 2")
    assert.has_error(function() crit:forward(x, lunet.zeros({ 4 })) end,
                     "CrossEntropyLoss: labels has shape [4] but logits has shape [3,10] (expected labels [3])")
    assert.has_error(function() crit:backward(x, lunet.zeros({ 3, 1 })) end,
                     "CrossEntropyLoss: labels has shape [3,1] but logits has shape [3,10] (expected labels [3])")
    assert.has_error(function() crit:forward(x, "cat") end,
                     "CrossEntropyLoss: labels must be a table of class indices or a Tensor [N], got string")
  end)

  it("rejects logits that are not a [N,K] Tensor", function()
    local crit = CrossEntropyLoss()
    assert.has_error(function() crit:forward(lunet.zeros({ 2, 3, 4 }), { 0, 1 }) end,
                     "CrossEntropyLoss: expected input [N,K], got [2,3,4]")
    assert.has_error(function() crit:forward(nil, { 0, 1 }) end,
                     "CrossEntropyLoss: expected a Tensor [N,K] as input, got nil")
    assert.has_error(function() crit:output_shape({ 2, 3, 4 }) end,
                     "CrossEntropyLoss: expected input [N,K], got [2,3,4]")
  end)
end)
