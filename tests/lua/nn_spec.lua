-- Sequential, summaries, LeNet-5 as the course counts it, and training end to end.
local lunet = require("lunet")
local nn = require("lunet.nn")
local optim = require("lunet.optim")
local models = require("lunet.models")

local fails_with = require("testutil").fails_with   -- the message must contain the text

-- The course's LeNet-5 on a 32x32x1 input, written out with nn.
local function course_lenet5()
  return nn.Sequential(
    nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2, { stride = 2 }),
    nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2, { stride = 2 }),
    nn.Flatten(),
    nn.Linear(400, 120), nn.ReLU(),
    nn.Linear(120, 84), nn.ReLU(),
    nn.Linear(84, 10))
end

describe("LeNet-5 (DESIGN worked example)", function()
  it("has 61,706 parameters: 156 + 2,416 + 48,120 + 10,164 + 850", function()
    local net = course_lenet5()
    assert.are.equal(61706, net:num_parameters())
    local per_layer = {}
    for _, i in ipairs({ 1, 4, 8, 10, 12 }) do per_layer[#per_layer + 1] = net:get(i):num_parameters() end
    assert.are.same({ 156, 2416, 48120, 10164, 850 }, per_layer)
  end)

  it("shrinks 32 -> 28 -> 14 -> 10 -> 5 and flattens to 400", function()
    local net = course_lenet5()
    local shapes = {}
    local shape = { 2, 1, 32, 32 }
    for i = 1, net:size() do
      shape = net:get(i):output_shape(shape)
      shapes[i] = lunet.shape_str(shape)
    end
    assert.are.same({ "[2,6,28,28]", "[2,6,28,28]", "[2,6,14,14]", "[2,16,10,10]", "[2,16,10,10]",
                      "[2,16,5,5]", "[2,400]", "[2,120]", "[2,120]", "[2,84]", "[2,84]", "[2,10]" }, shapes)
    local y = net:forward(lunet.randn({ 2, 1, 32, 32 }, 1))
    assert.are.same({ 2, 10 }, y:shape())
  end)

  it("summarises layer by layer with the total", function()
    local s = course_lenet5():summary({ 1, 32, 32 })
    assert.is_truthy(s:find("6x28x28", 1, true))
    assert.is_truthy(s:find("16x5x5", 1, true))
    for _, count in ipairs({ "156", "2,416", "48,120", "10,164", "850" }) do
      assert.is_truthy(s:find(count, 1, true), "summary lacks " .. count .. ":\n" .. s)
    end
    assert.is_truthy(s:match("total%s+61,706"), s)
    local rows = select(2, s:gsub("\n", "\n")) + 1
    assert.are.equal(12 + 5, rows)   -- header, rule, input, 12 layers, rule, total
  end)

  it("is what models.lenet5() builds for 28x28 MNIST (conv1 padded by 2)", function()
    local net = models.lenet5()
    assert.are.equal(61706, net:num_parameters())
    local names = {}
    for _, p in ipairs(net:parameters()) do names[#names + 1] = p.name end
    assert.are.same({ "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias",
                      "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias" }, names)
    assert.are.same({ 3, 10 }, net:output_shape({ 3, 1, 28, 28 }))
    fails_with("lenet5: input_size must be 28 (padded to 32) or 32, got 30", models.lenet5, { input_size = 30 })
  end)
end)

describe("Sequential", function()
  it("names parameters by position, like a PyTorch state_dict", function()
    local net = nn.Sequential(nn.Linear(3, 4), nn.ReLU()):add(nn.Linear(4, 2))
    local names = {}
    for _, p in ipairs(net:parameters()) do names[#names + 1] = p.name end
    assert.are.same({ "1.weight", "1.bias", "3.weight", "3.bias" }, names)
    assert.are.equal(3 * 4 + 4 + 4 * 2 + 2, net:num_parameters())
  end)

  it("slices out layers that share weights with the whole", function()
    local net = models.lenet5()
    local trunk = net:slice(1, 7)
    assert.are.equal(7, trunk:size())
    assert.are.equal(net:get(1), trunk:get(1))
    assert.are.same({ 2, 400 }, trunk:output_shape({ 2, 1, 28, 28 }))
    assert.are.equal("conv1.weight", trunk:parameters()[1].name)
    local x = lunet.randn({ 2, 1, 28, 28 }, 4)
    local features = trunk:forward(x):totable()
    local head = net:slice(8)
    local full = net:forward(x):totable()
    local via = head:forward(lunet.tensor(features, { 2, 400 })):totable()
    for i = 1, #full do assert.is_true(math.abs(full[i] - via[i]) < 1e-5) end
    assert.are.equal(5, net:slice(-5):size())
    fails_with("Sequential: slice: expected 1 <= first <= last <= 12, got 3, 13", net.slice, net, 3, 13)
  end)

  it("chains forward and backward through its layers", function()
    local net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    local gradcheck = require("gradcheck")
    local errs = gradcheck.module(net, { 5, 3 }, { seed = 3 })
    for name, e in pairs(errs) do assert.is_true(e < 1e-2, name .. " error " .. e) end
  end)

  it("skips the input gradient of the first layer when asked, with the same parameter gradients", function()
    local function grads(opts)
      lunet.manual_seed(5)
      local net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
      local x = lunet.randn({ 2, 1, 6, 6 }, 9)
      net:forward(x)
      local gx = net:backward(x, lunet.randn({ 2, 3 }, 10), opts)
      local all = {}
      for _, p in ipairs(net:parameters()) do all[p.name] = p.grad:totable() end
      return all, gx
    end
    local with, gx = grads(nil)
    local without, none = grads({ input_grad = false })
    assert.are.same(with, without)
    assert.is_not_nil(gx)
    assert.is_nil(none)
    local lin = nn.Linear(3, 2)
    local x = lunet.randn({ 4, 3 }, 1)
    lin:forward(x)
    assert.is_nil(lin:backward(x, lunet.randn({ 4, 2 }, 2), { input_grad = false }))
  end)

  it("propagates train and eval to its layers and zeroes every gradient", function()
    local drop = nn.Dropout(0.5)
    local net = nn.Sequential(nn.Linear(2, 2), drop)
    net:eval(); assert.is_false(drop.training)
    net:train(); assert.is_true(drop.training)
    local x = lunet.randn({ 4, 2 }, 1)
    net:forward(x); net:backward(x, lunet.randn({ 4, 2 }, 2))
    net:zero_grad()
    for _, p in ipairs(net:parameters()) do
      for _, v in ipairs(p.grad:totable()) do assert.are.equal(0, v) end
    end
  end)

  it("rejects what is not a module, and a backward without its forward", function()
    fails_with("Sequential: add: expected a module (e.g. nn.Linear(4, 2)) as layer 2, got number",
               nn.Sequential, nn.ReLU(), 5)
    local net = nn.Sequential(nn.Linear(2, 2))
    net:forward(lunet.zeros({ 1, 2 }))
    fails_with("Sequential: backward: call forward(x) with the same input first",
               net.backward, net, lunet.zeros({ 1, 2 }), lunet.zeros({ 1, 2 }))
    fails_with("Sequential: expected a Tensor as input, got table", net.forward, net, { 1, 2 })
    fails_with("Sequential: add: a layer name must be a string of letters, digits and _, got a.b",
               net.add, net, nn.ReLU(), "a.b")
    -- a layer in the middle that does not fit says which layer and which shapes
    local bad = nn.Sequential(nn.Conv2d(1, 6, 5), nn.Conv2d(3, 4, 3))
    fails_with("Conv2d", bad.forward, bad, lunet.zeros({ 1, 1, 8, 8 }))
  end)
end)

describe("training", function()
  -- A small CNN must overfit a fixed batch: the loss falls below 1% of where it started.
  local function overfit(make_opt, steps)
    lunet.manual_seed(11)
    local net = nn.Sequential(
      nn.Conv2d(1, 4, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool2d(2),
      nn.Flatten(), nn.Linear(4 * 4 * 4, 16), nn.Tanh(), nn.Linear(16, 4))
    local x = lunet.randn({ 8, 1, 8, 8 }, 21)
    local labels = { 0, 1, 2, 3, 3, 2, 1, 0 }
    local loss_fn = nn.CrossEntropyLoss()
    local opt = make_opt(net:parameters())
    local first, last
    for step = 1, steps do
      net:zero_grad()
      local logits = net:forward(x)
      local loss = loss_fn:forward(logits, labels)
      if step == 1 then first = loss end
      last = loss
      net:backward(x, loss_fn:backward(logits, labels))
      opt:step()
    end
    return first, last
  end

  it("overfits a fixed batch with SGD and momentum", function()
    local first, last = overfit(function(p) return optim.SGD(p, { lr = 0.1, momentum = 0.9 }) end, 150)
    assert.is_true(first > 1.0, "start " .. first)
    assert.is_true(last < 0.01 * first, string.format("loss %.4f -> %.6f", first, last))
  end)

  it("allocates no device memory in a training step once warmed up", function()
    local net = models.lenet5()
    local loss_fn = nn.CrossEntropyLoss()
    local opt = optim.SGD(net:parameters(), { lr = 0.01, momentum = 0.9 })
    local x = lunet.randn({ 16, 1, 28, 28 }, 2)
    local labels = {}
    for i = 1, 16 do labels[i] = i % 10 end
    local function step()
      net:zero_grad()
      local logits = net:forward(x)
      loss_fn:forward(logits, labels)
      net:backward(x, loss_fn:backward(logits, labels))
      opt:step()
    end
    step(); step()
    local before = lunet.stats()
    for _ = 1, 5 do step() end
    local after = lunet.stats()
    assert.are.equal(before.buffers_allocated, after.buffers_allocated)
    assert.is_true(after.kernel_launches > before.kernel_launches)
  end)

  it("overfits a fixed batch with Adam", function()
    local first, last = overfit(function(p) return optim.Adam(p, { lr = 0.01 }) end, 150)
    assert.is_true(last < 0.01 * first, string.format("loss %.4f -> %.6f", first, last))
  end)
end)

describe("large batches", function()
  -- Regression: PoCL once picked a work-group of thousands of GEMM work-items and
  -- overflowed its thread stack (a segfault) for a [1000,400] x [400,120]^T product.
  it("runs Linear(400, 120) on 1000 rows and gets the right numbers", function()
    local m = nn.Linear(400, 120, { seed = 3 })
    local x = lunet.full({ 1000, 400 }, 1)
    local y = m:forward(x):totable()
    local w, b = m.weight:totable(), m.bias:totable()
    for _, o in ipairs({ 1, 77, 120 }) do
      local want = b[o]
      for i = 1, 400 do want = want + w[(o - 1) * 400 + i] end
      assert.is_true(math.abs(y[999 * 120 + o] - want) < 1e-4, "output " .. o)
      assert.is_true(math.abs(y[o] - want) < 1e-4, "output " .. o)
    end
  end)
end)
