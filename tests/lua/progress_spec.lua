local progress = require("lunet.progress")

local function sink()
  local s = { text = "" }
  function s:write(...) for _, v in ipairs({ ... }) do self.text = self.text .. v end end
  function s:flush() end
  return s
end

describe("lunet.progress", function()
  it("redraws in place on a terminal with rate, loss, accuracy and ETA", function()
    local t = 0
    local out = sink()
    local bar = progress.new({ total = 1000, label = "epoch 1/2", tty = true, out = out,
                               clock = function() return t end })
    t = 2; bar:update(500, { loss = 0.25, acc = 0.9 })
    assert.are.equal("\repoch 1/2  [==============              ]   50%     250 img/s  loss 0.2500  acc 90.00%  ETA 0:02\27[K",
                     out.text)
    bar:finish()
    assert.is_truthy(out.text:find("\r\27%[K$"))
  end)

  it("prints plain periodic lines when not on a terminal", function()
    local t = 0
    local out = sink()
    local bar = progress.new({ total = 100, tty = false, out = out, every = 10, clock = function() return t end })
    t = 1; bar:update(10)
    t = 5; bar:update(50)    -- within 10 s of the last line: not printed
    t = 12; bar:update(90)
    t = 13; bar:update(100)  -- the end is always printed
    local lines = {}
    for l in out.text:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal(3, #lines)
    assert.is_falsy(out.text:find("\r", 1, true))
    assert.is_truthy(lines[3]:find("100%", 1, true))
  end)

  it("formats durations", function()
    assert.are.equal("0:07", progress.format_seconds(7))
    assert.are.equal("2:05", progress.format_seconds(125))
    assert.are.equal("1:01:01", progress.format_seconds(3661))
  end)

  it("takes medians and geometric means of timings, leaving the list as it was", function()
    local list = { 5, 1, 4, 2 }
    assert.are.equal(3, progress.median(list))
    assert.are.same({ 5, 1, 4, 2 }, list)
    assert.are.equal(4, progress.median({ 9, 4, 1 }))
    assert.are.equal(7, progress.median({ 7 }))
    assert.is_nil(progress.median({}))
    assert.is_true(math.abs(progress.geomean({ 2, 8 }) - 4) < 1e-12)
    assert.is_true(math.abs(progress.geomean({ 3 }) - 3) < 1e-12)
  end)
end)
