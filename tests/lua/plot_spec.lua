local plot = require("lunet.plot")

local function png_size(path)
  local f = assert(io.open(path, "rb"))
  local head = f:read(24)
  f:close()
  assert.are.equal("\137PNG\r\n\26\n", head:sub(1, 8))
  local function u32(s, i) local a, b, c, d = s:byte(i, i + 3); return ((a * 256 + b) * 256 + c) * 256 + d end
  return u32(head, 17), u32(head, 21)
end

describe("lunet.plot", function()
  local dir = os.getenv("LUNET_TEST_TMP") or "/tmp"
  os.execute("mkdir -p '" .. dir .. "'")

  it("picks round tick steps that cover the range", function()
    local t, step = plot.ticks(0.13, 0.91, 6)
    assert.are.equal(0.2, step)
    assert.are.same({ 0.2, 0.4, 0.6, 0.8 }, { t[1], t[2], t[3], t[4] })
    local t2, step2 = plot.ticks(1, 30, 8)
    assert.are.equal(5, step2)
    assert.are.equal(5, t2[1]); assert.are.equal(30, t2[#t2])
  end)

  it("writes line charts side by side", function()
    local path = dir .. "/plot_lines.png"
    os.remove(path)
    plot.lines(path, { panels = {
      { title = "loss", xlabel = "epoch", ylabel = "loss", series = { { name = "train", x = { 1, 2, 3 }, y = { 1, 0.5, 0.2 } } } },
      { title = "accuracy", xlabel = "epoch", ylabel = "%", legend = "lower right",
        series = { { name = "train", x = { 1, 2, 3 }, y = { 80, 90, 95 } }, { name = "test", x = { 1, 2, 3 }, y = { 85, 91, 96 } } } },
    } })
    local w, h = png_size(path)
    assert.are.equal(1120, w); assert.are.equal(420, h)
  end)

  it("writes a heatmap of counts", function()
    local path = dir .. "/plot_heat.png"
    plot.heatmap(path, { matrix = { { 5, 1 }, { 0, 7 } }, title = "confusion" })
    local w, h = png_size(path)
    assert.are.equal(90 + 2 * 44 + 30, w); assert.are.equal(60 + 2 * 44 + 70, h)
  end)

  it("explains bad input", function()
    local ok, err = pcall(plot.lines, dir .. "/x.png", { series = { { x = { 1, 2 }, y = { 1 } } } })
    assert.is_false(ok)
    assert.are.equal("lunet.plot: panel 1 series 1 needs x and y tables of equal length", err)
    ok, err = pcall(plot.lines, "/nonexistent-dir/x.png", { series = { { x = { 1 }, y = { 1 } } } })
    assert.is_false(ok)
    assert.are.equal("lunet.plot: cannot write /nonexistent-dir/x.png", err)
  end)
end)
