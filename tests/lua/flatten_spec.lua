-- nn.Flatten: [N, ...] -> [N, prod] as a view (no kernel), backward as the inverse
-- view, gradients and error messages.
local lunet = require("lunet")
local nn = require("lunet.nn")
local gradcheck = require("gradcheck")

-- Wait for queued kernels before the process exits: PoCL may still be compiling one in
-- a worker thread while exit tears LLVM down (a crash at exit, seen on PoCL 5 / LLVM 15).
teardown(function() lunet.synchronize() end)

local fails_with = require("testutil").fails_exactly   -- the whole message must match

describe("nn.Flatten", function()
  it("flattens LeNet's [N,16,5,5] into [N,400] keeping the values", function()
    local m = nn.Flatten()
    assert.are.same({ 3, 400 }, m:output_shape({ 3, 16, 5, 5 }))
    local x = lunet.uniform({ 3, 16, 5, 5 }, -1, 1, 1)
    local y = m:forward(x)
    assert.are.same({ 3, 400 }, y:shape())
    assert.are.same(x:totable(), y:totable())
    assert.are.same({ 4, 6 }, m:forward(lunet.zeros({ 4, 2, 3 })):shape())
    assert.are.same({ 4, 6 }, m:forward(lunet.zeros({ 4, 6 })):shape())
  end)

  it("is a view: no kernel runs and the storage is shared", function()
    local m = nn.Flatten()
    local x = lunet.zeros({ 2, 3, 2, 2 })
    local before = lunet.stats().kernel_launches
    local y = m:forward(x)
    local gx = m:backward(x, y)
    assert.are.equal(before, lunet.stats().kernel_launches)
    x:fill(2)
    assert.are.equal(2, y:totable()[24])
    assert.are.same({ 2, 3, 2, 2 }, gx:shape())
    assert.are.equal(2, gx:totable()[1])
    assert.are.equal(y, m:forward(x))   -- the same input gives back the cached view
  end)

  it("backward returns grad_output viewed as the input's shape", function()
    local m, x = nn.Flatten(), lunet.zeros({ 2, 3, 4 })
    local gy = lunet.uniform({ 2, 12 }, -1, 1, 2)
    local gx = m:backward(x, gy)
    assert.are.same({ 2, 3, 4 }, gx:shape())
    assert.are.same(gy:totable(), gx:totable())
  end)

  it("passes the finite-difference gradient check", function()
    local err = gradcheck.module(nn.Flatten(), { 2, 3, 2, 2 }, { seed = 4 })
    assert.is_true(err.input < 1e-2, "input gradient error " .. err.input)
  end)

  it("works between pooling and the layers after it", function()
    local model = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.ReLU())
    assert.are.same({ 2, 16 * 5 * 5 }, model:output_shape({ 2, 16, 10, 10 }))
    local x = lunet.uniform({ 2, 16, 10, 10 }, -1, 1, 5)
    assert.are.same({ 2, 400 }, model:forward(x):shape())
    assert.are.same({ 2, 16, 10, 10 }, model:backward(x, lunet.uniform({ 2, 400 }, -1, 1, 6)):shape())
    assert.are.equal("Flatten()", tostring(nn.Flatten()))
  end)

  it("reports bad inputs", function()
    fails_with("Flatten: takes no arguments", nn.Flatten, 2)
    fails_with("Flatten: expected input [N,...] with at least 2 dimensions, got [5]",
               function() nn.Flatten():forward(lunet.zeros({ 5 })) end)
    fails_with("Flatten: expected a Tensor [N,...] as input, got number",
               function() nn.Flatten():forward(3) end)
    local m, x = nn.Flatten(), lunet.zeros({ 2, 3, 4 })
    fails_with("Flatten: backward: grad_output has shape [2,3,4], expected [2,12]",
               function() m:backward(x, lunet.zeros({ 2, 3, 4 })) end)
  end)
end)
