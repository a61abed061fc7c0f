-- lunet.image (the MNIST-style preprocessing, on small synthetic images) and
-- scripts/predict.lua: its errors always, and, when MNIST is found (LUNET_TEST_MNIST), the
-- classification of ten real test digits written as PNGs in several forms by a model the
-- spec trains itself.
local lunet = require("lunet")
local image = require("lunet.image")
local lio = require("lunet.io")
local models = require("lunet.models")
local tu = require("testutil")

local MNIST = os.getenv("LUNET_TEST_MNIST")
local tmp = tu.tmpdir("predict-spec")

-- Runs a script with LuaJIT; returns its stdout, stderr and exit status.
local function run(script, args) return tu.run(script, args, { tmp = tmp }) end

local function near(want, got, tol)
  tol = tol or 1e-6
  assert(math.abs(want - got) <= tol, string.format("expected %.9g, got %.9g", want, got))
end

local function all_near(want, got, tol)
  assert.are.equal(#want, #got)
  for i = 1, #want do near(want[i], got[i], tol) end
end

local fails_with = tu.fails_exactly   -- the whole message must match

local function grey(w, h, values) return image.new(w, h, 1, values) end

describe("lunet.image", function()
  it("makes images from tables or float arrays and gives tables back", function()
    local img = grey(3, 2, { 1, 2, 3, 4, 5, 6 })
    assert.are.same({ 1, 2, 3, 4, 5, 6 }, image.totable(img))
    local copy = image.new(3, 2, 1, img.pixels)
    img.pixels[0] = 9
    assert.are.same({ 1, 2, 3, 4, 5, 6 }, image.totable(copy))
    assert.are.same({ 0, 0 }, image.totable(image.new(2, 1, 1)))
    -- a plain table image works everywhere too
    assert.are.same({ 6, 5, 4 }, image.totable(image.crop({ width = 3, height = 2, channels = 1,
      pixels = { 1, 2, 3, 6, 5, 4 } }, { x = 0, y = 1, width = 3, height = 1 })))
    fails_with("image.new: 3 values given, 2x2x1 needs 4", image.new, 2, 2, 1, { 1, 2, 3 })
    fails_with("image.new: width must be a positive integer, got 0", image.new, 0, 2, 1)
    fails_with("image.new: value 2 is a string, expected a number", image.new, 2, 1, 1, { 1, "x" })
    fails_with("image.to_grey: expected an image {width=, height=, channels=, pixels=}, got string",
               image.to_grey, "digit.png")
  end)

  it("converts to grey by luminance 0.299/0.587/0.114, ignoring alpha", function()
    local rgb = image.new(4, 1, 3, { 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1 })
    local g = image.to_grey(rgb)
    assert.are.same({ 4, 1, 1 }, { g.width, g.height, g.channels })
    all_near({ 0.299, 0.587, 0.114, 1 }, image.totable(g))
    local rgba = image.new(2, 1, 4, { 0.5, 0.5, 0.5, 0, 0.2, 0.4, 0.6, 1 })
    all_near({ 0.5, 0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6 }, image.totable(image.to_grey(rgba)))
    all_near({ 0.25, 0.75 }, image.totable(image.to_grey(grey(2, 1, { 0.25, 0.75 }))))
    fails_with("image.to_grey: expected 1 to 4 channels, got 5", image.to_grey, image.new(1, 1, 5))
  end)

  it("inverts pictures whose border is light, and only those", function()
    -- 4x3: the border is the 10 outer pixels, the inside 2 pixels are not counted
    local light = grey(4, 3, { 1, 1, 1, 1,
                               1, 0, 0, 0.6,
                               1, 1, 1, 1 })
    near(0.96, image.border_mean(light))
    local out, inverted = image.ink_on_black(light)
    assert.is_true(inverted)
    all_near({ 0, 0, 0, 0, 0, 1, 1, 0.4, 0, 0, 0, 0 }, image.totable(out))
    local dark = grey(3, 3, { 0, 0, 0, 0, 1, 0, 0.2, 0.9, 0.4 })
    near(1.5 / 8, image.border_mean(dark))
    local same, inv2 = image.ink_on_black(dark)
    assert.is_false(inv2)
    assert.are.same(image.totable(dark), image.totable(same))
    -- exactly 0.5 is not "light"
    assert.is_false(select(2, image.ink_on_black(grey(2, 2, { 0.5, 0.5, 0.5, 0.5 }))))
    fails_with("image.border_mean: expected a grey image (1 channel), got 3 channels (use image.to_grey)",
               image.border_mean, image.new(2, 2, 3))
  end)

  it("finds the bounding box of the ink (> 0.1) and crops to it", function()
    local img = grey(5, 4, { 0, 0,   0,    0,   0,
                             0, 0.5, 0,    0,   0,
                             0, 0,   0.1,  0.9, 0,
                             0, 0,   0,    0,   0.05 })
    assert.are.same({ x = 1, y = 1, width = 3, height = 2 }, image.ink_box(img))
    assert.are.same({ x = 1, y = 1, width = 4, height = 3 }, image.ink_box(img, 0.01))
    assert.is_nil(image.ink_box(grey(2, 2, { 0.09, 0, 0.05, 0.1 - 1e-6 })))
    local c = image.crop(img, image.ink_box(img))
    assert.are.same({ 3, 2 }, { c.width, c.height })
    all_near({ 0.5, 0, 0, 0, 0.1, 0.9 }, image.totable(c))
    local rgb = image.new(2, 2, 3, { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 })
    assert.are.same({ 10, 11, 12 }, image.totable(image.crop(rgb, { x = 1, y = 1, width = 1, height = 1 })))
    fails_with("image.crop: box must be {x=, y=, width=, height=} inside the 5x4 image, got "
               .. "{x=3, y=0, width=3, height=1}", image.crop, img, { x = 3, y = 0, width = 3, height = 1 })
  end)

  it("shrinks by area averaging, fractions included", function()
    -- 4x2 -> 2x1: each output is the mean of a 2x2 block
    local img = grey(4, 2, { 1, 2, 3, 4,
                             5, 6, 7, 8 })
    all_near({ 3.5, 5.5 }, image.totable(image.resize(img, 2, 1)))
    -- 3 -> 2 along x: [a, b, c] -> [(a + b/2)/1.5, (b/2 + c)/1.5]
    all_near({ (0.3 + 0.3) / 1.5, (0.3 + 0.9) / 1.5 }, image.totable(image.resize(grey(3, 1, { 0.3, 0.6, 0.9 }), 2, 1)))
    -- the mean is kept when shrinking by any factor
    local vals, sum = {}, 0
    for i = 1, 7 * 5 do vals[i] = (i * 7919) % 13 / 13; sum = sum + vals[i] end
    local small = image.totable(image.resize(grey(7, 5, vals), 3, 2))
    local s2 = 0
    for _, v in ipairs(small) do s2 = s2 + v end
    near(sum / 35, s2 / 6, 1e-5)
    -- channels are resampled separately
    all_near({ 2, 20 }, image.totable(image.resize(image.new(2, 1, 2, { 1, 10, 3, 30 }), 1, 1)))
  end)

  it("enlarges bilinearly between pixel centres, clamped at the edges", function()
    -- 2 -> 4: sample positions -0.25, 0.25, 0.75, 1.25 (clamped to 0 and 1)
    all_near({ 0, 0.25, 0.75, 1 }, image.totable(image.resize(grey(2, 1, { 0, 1 }), 4, 1)))
    local big = image.resize(grey(2, 2, { 0, 1, 1, 0 }), 4, 4)
    assert.are.same({ 4, 4, 1 }, { big.width, big.height, big.channels })
    local t = image.totable(big)
    near(0, t[1]); near(1, t[4]); near(1, t[13]); near(0, t[16])
    near(0.25 * 0.75 + 0.75 * 0.25, t[6])        -- (1,1): 3/4 of pixel 0, 1/4 of 1 along each axis
    -- same size: the identity; sizes are checked
    assert.are.same({ 1, 2, 3 }, image.totable(image.resize(grey(3, 1, { 1, 2, 3 }), 3, 1)))
    fails_with("image.resize: width and height must be positive integers, got 0 and 2",
               image.resize, grey(1, 1, { 0 }), 0, 2)
  end)

  it("fits the longer side to 20 pixels, keeping the aspect ratio", function()
    assert.are.same({ 20, 5 }, { image.fit_size(40, 10, 20) })
    assert.are.same({ 5, 20 }, { image.fit_size(10, 40, 20) })
    assert.are.same({ 20, 20 }, { image.fit_size(3, 3, 20) })
    assert.are.same({ 20, 1 }, { image.fit_size(100, 1, 20) })
    assert.are.same({ 20, 13 }, { image.fit_size(30, 20, 20) })   -- 13.33 rounds to 13
  end)

  it("computes the centre of mass and pastes the image centred by it into 28x28", function()
    local img = grey(3, 2, { 0, 0, 1,
                             0, 0, 3 })
    local cx, cy = image.center_of_mass(img)
    near(2, cx); near(0.75, cy)
    assert.are.same({ 1, 1.5 }, { image.center_of_mass(grey(3, 4, { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 })) })
    -- a 2x2 block: its centre of mass (0.5, 0.5) lands exactly on the canvas centre 13.5
    local canvas, ox, oy = image.paste_centered(grey(2, 2, { 1, 1, 1, 1 }), 28)
    assert.are.same({ 13, 13 }, { ox, oy })
    assert.are.same({ 28, 28, 1 }, { canvas.width, canvas.height, canvas.channels })
    local t = image.totable(canvas)
    local sum = 0
    for _, v in ipairs(t) do sum = sum + v end
    assert.are.equal(4, sum)
    assert.are.same({ 1, 1, 1, 1 }, { t[13 * 28 + 14], t[13 * 28 + 15], t[14 * 28 + 14], t[14 * 28 + 15] })
    near(13.5, select(1, image.center_of_mass(canvas))); near(13.5, select(2, image.center_of_mass(canvas)))
    -- off-centre ink moves the image the other way: x mass at 2 -> offset 12, y mass at 0.75 -> 13
    canvas, ox, oy = image.paste_centered(img, 28)
    assert.are.same({ 12, 13 }, { ox, oy })
    t = image.totable(canvas)
    assert.are.same({ 1, 3 }, { t[13 * 28 + 14 + 1], t[14 * 28 + 14 + 1] })
    -- never pushed off the canvas: ink only in the left column of a 20x20 image
    local v = {}
    for i = 1, 400 do v[i] = ((i - 1) % 20 == 0) and 1 or 0 end
    canvas, ox, oy = image.paste_centered(grey(20, 20, v), 28)
    assert.are.same({ 8, 4 }, { ox, oy })
    fails_with("image.paste_centered: size must be an integer >= the image's 20x20, got 10",
               image.paste_centered, grey(20, 20, v), 10)
  end)

  it("normalises with MNIST's mean and std, or others", function()
    all_near({ -0.1307 / 0.3081, (1 - 0.1307) / 0.3081 }, image.totable(image.normalize(grey(2, 1, { 0, 1 }))))
    all_near({ -1, 1 }, image.totable(image.normalize(grey(2, 1, { 0, 1 }), 0.5, 0.5)))
    fails_with("image.normalize: mean must be a number and std a number > 0, got 0 and 0",
               image.normalize, grey(1, 1, { 0 }), 0, 0)
  end)

  it("mnist_like: a dark 10x5 bar on light 40x30 paper becomes a centred 20x10 white bar", function()
    local w, h, v = 40, 30, {}
    for y = 0, h - 1 do
      for x = 0, w - 1 do
        local ink = x >= 3 and x < 13 and y >= 20 and y < 25
        -- as RGB: white paper, dark blue ink
        v[#v + 1] = ink and 0 or 1; v[#v + 1] = ink and 0 or 1; v[#v + 1] = ink and 0.2 or 1
      end
    end
    local x, info = image.mnist_like(image.new(w, h, 3, v))
    assert.is_true(info.inverted)
    assert.are.same({ x = 3, y = 20, width = 10, height = 5 }, info.box)
    -- scaled 2x to 20x10; centre of mass (9.5, 4.5) -> offset (4, 9)
    assert.are.same({ 4, 9 }, info.offset)
    assert.are.same({ 28, 28, 1 }, { x.width, x.height, x.channels })
    local c, t = image.totable(info.canvas), image.totable(x)
    local ink = 1 - 0.114 * 0.2   -- inverted luminance of the blue ink
    for yy = 0, 27 do
      for xx = 0, 27 do
        local inside = xx >= 4 and xx < 24 and yy >= 9 and yy < 19
        near(inside and ink or 0, c[yy * 28 + xx + 1], 1e-5)
        near(((inside and ink or 0) - 0.1307) / 0.3081, t[yy * 28 + xx + 1], 1e-5)
      end
    end
  end)

  it("mnist_like: a blank picture uses the whole image and gives an empty canvas", function()
    local v = {}
    for i = 1, 10 * 6 do v[i] = 1 end
    local x, info = image.mnist_like(grey(10, 6, v))
    assert.is_true(info.inverted)
    assert.is_nil(info.box)
    assert.are.same({ 4, 8 }, info.offset)   -- 20x12, geometric centre
    for _, p in ipairs(image.totable(info.canvas)) do assert.are.equal(0, p) end
    near(-0.1307 / 0.3081, image.totable(x)[1])
  end)

  it("softmax is stable for large logits, and top_k orders classes", function()
    local p = image.softmax({ 1000, 1001, 1002 })
    local e = { math.exp(-2), math.exp(-1), 1 }
    local s = e[1] + e[2] + e[3]
    all_near({ e[1] / s, e[2] / s, e[3] / s }, p, 1e-12)
    local buf = lunet.ffi.new("float[6]", { 9, 9, 9, -1e30, 0, 88 })
    all_near({ 0, math.exp(-88), 1 }, image.softmax(buf, 3, 3), 1e-12)
    all_near({ 1 / 3, 1 / 3, 1 / 3 }, image.softmax(buf, 3), 1e-12)
    assert.are.same({ { class = 2, p = 0.5 }, { class = 0, p = 0.25 } },
                    image.top_k({ 0.25, 0.25, 0.5 }, 2))
    assert.are.equal(3, #image.top_k({ 0.25, 0.25, 0.5 }, 10))
  end)
end)

-- ---- scripts/predict.lua -----------------------------------------------------------------

local SCRIPT = "scripts/predict.lua"

describe("scripts/predict.lua errors", function()
  local model = tmp .. "/untrained.safetensors"
  setup(function() models.lenet5():save(model, { dataset = "mnist" }) end)

  it("has --help", function()
    local out, _, status = run(SCRIPT, { "--help" })
    assert.are.equal(0, status)
    assert.matches("usage: luajit scripts/predict.lua --model FILE image.png", out, 1, true)
    assert.matches("--top K", out, 1, true)
  end)

  it("needs a model, images and a sensible --top", function()
    local _, err, status = run(SCRIPT, { "digit.png" })
    assert.are.equal(2, status)
    assert.are.equal("predict: --model FILE is required (see --help)\n", err)
    _, err, status = run(SCRIPT, { "--model", model })
    assert.are.equal(2, status)
    assert.are.equal("predict: no images given: name one or more PNG files after the options (see --help)\n", err)
    _, err, status = run(SCRIPT, { "--model", model, "--top", "11", "a.png" })
    assert.are.equal(2, status)
    assert.are.equal("predict: --top must be an integer from 1 to 10, got 11 (see --help)\n", err)
    _, err, status = run(SCRIPT, { "--model", model, "--top", "two", "a.png" })
    assert.are.equal(2, status)
    assert.are.equal("--top expects a number, got 'two'\n", err)
  end)

  it("names a device that does not exist", function()
    local png = tmp .. "/blank.png"
    lio.write_png(png, 2, 2, 1, { 0, 0, 0, 0 })
    local out, err, status = run(SCRIPT, { "--model", model, "--device", "no-such-device", png })
    assert.are.equal(1, status)
    assert.are.equal("", out)
    assert.matches('^predict: device selector "no%-such%-device" matches no OpenCL device', err)
  end)

  it("names a missing or mismatched model", function()
    local png = tmp .. "/blank.png"
    lio.write_png(png, 2, 2, 1, { 0, 0, 0, 0 })
    local out, err, status = run(SCRIPT, { "--model", tmp .. "/none.safetensors", png })
    assert.are.equal(1, status)
    assert.are.equal("", out)
    assert.are.equal("predict: Sequential: load: safetensors: cannot open " .. tmp
                     .. "/none.safetensors: No such file or directory\n", err)
    local five = tmp .. "/five.safetensors"
    models.lenet5({ num_classes = 5 }):save(five)
    _, err, status = run(SCRIPT, { "--model", five, png })
    assert.are.equal(1, status)
    assert.are.equal("predict: Sequential: load: fc3.weight: file has [5,84], model has [10,84]\n", err)
    local fashion = tmp .. "/fashion.safetensors"
    models.lenet5():save(fashion, { dataset = "fashion" })
    _, err, status = run(SCRIPT, { "--model", fashion, png })
    assert.are.equal(1, status)
    assert.are.equal("predict: " .. fashion .. " was trained on fashion; predict.lua prepares pictures "
                     .. "of digits for an MNIST model\n", err)
  end)

  it("names an unreadable or non-PNG image, and prints nothing", function()
    local good, text = tmp .. "/ok.png", tmp .. "/notes.png"
    lio.write_png(good, 2, 2, 1, { 0, 1, 0, 0 })
    local f = io.open(text, "w"); f:write("not a picture\n"); f:close()
    local out, err, status = run(SCRIPT, { "--model", model, good, text })
    assert.are.equal(1, status)
    assert.are.equal("", out)
    assert.are.equal("predict: cannot read image " .. text .. ": png_read: " .. text
                     .. " is not a PNG file (bad signature)\n", err)
    out, err, status = run(SCRIPT, { "--model", model, tmp .. "/missing.png" })
    assert.are.equal(1, status)
    assert.are.equal("predict: cannot read image " .. tmp .. "/missing.png: png_read: cannot open "
                     .. tmp .. "/missing.png: No such file or directory\n", err)
  end)

  it("an untrained model still prints a line per image with probabilities that add up", function()
    local png = tmp .. "/dot.png"
    lio.write_png(png, 3, 3, 1, { 0, 0, 0, 0, 1, 0, 0, 0, 0 })
    local out, _, status = run(SCRIPT, { "--model", model, "--top", "10", png, png })
    assert.are.equal(0, status)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal(2, #lines)
    local sum, n = 0, 0
    for p in lines[1]:gmatch("%((%d+%.%d)%%%)") do sum, n = sum + tonumber(p), n + 1 end
    assert.are.equal(10, n)
    near(100, sum, 0.5)
    assert.are.equal(lines[1], lines[2])
  end)
end)

describe("scripts/predict.lua on real MNIST digits", function()
  if not MNIST or MNIST == "" or not io.open(MNIST .. "/t10k-labels-idx1-ubyte.gz", "rb") then
    local why = (MNIST and MNIST ~= "") and ("MNIST not found in LUNET_TEST_MNIST=" .. MNIST)
                or "LUNET_TEST_MNIST is not set (ctest sets it when ../shared/data/mnist or data/mnist exists)"
    why = why .. ": skipping the tests that train a model and classify real digits"
    print("# " .. why)
    it("classifies real digits (needs MNIST)", function() pending(why) end)
    return
  end

  local model = tmp .. "/lenet/model.safetensors"
  local paths, labels = {}, {}
  setup(function()
    local out, err, status = run("scripts/train_lenet.lua", { "--data", MNIST, "--limit", "6000",
      "--epochs", "2", "--out", tmp .. "/lenet" })
    assert(status == 0, "training failed:\n" .. out .. err)
    -- ten real test digits, back in [0,1], written in six forms
    local ds = require("lunet.data").mnist(MNIST, "test", { normalize = false, limit = 10 })
    local px = ds.images:tobuffer()
    for i = 0, 9 do
      local img = image.new(28, 28, 1, px + i * 784)
      local form = i % 6
      local w, h, c = 28, 28, 1
      if form == 1 then                                   -- black on white
        img = image.invert(img)
      elseif form == 2 then                               -- upscaled to 56x56
        img, w, h = image.resize(img, 56, 56), 56, 56
      elseif form == 3 or form == 4 then                  -- RGB: red ink on black / dark ink on cream
        local t, rgb = image.totable(img), {}
        for k, v in ipairs(t) do
          if form == 3 then rgb[#rgb + 1], rgb[#rgb + 2], rgb[#rgb + 3] = v, 0.1 * v, 0.1 * v
          else rgb[#rgb + 1], rgb[#rgb + 2], rgb[#rgb + 3] = 1 - 0.9 * v, 0.97 - 0.9 * v, 0.85 - 0.8 * v end
          local _ = k
        end
        img, c = image.new(28, 28, 3, rgb), 3
      elseif form == 5 then                               -- inverted, 56x40 off-centre, RGBA
        local big = image.invert(image.resize(img, 40, 40))
        local t, rgba = image.totable(big), {}
        for y = 0, 39 do
          for x = 0, 55 do
            local v = x < 40 and t[y * 40 + x + 1] or 1
            rgba[#rgba + 1], rgba[#rgba + 2], rgba[#rgba + 3], rgba[#rgba + 4] = v, v, v, 1
          end
        end
        img, w, h, c = image.new(56, 40, 4, rgba), 56, 40, 4
      end
      paths[i + 1] = string.format("%s/digit%d.png", tmp, i)
      labels[i + 1] = ds.host_labels[i]
      lio.write_png(paths[i + 1], w, h, c, img.pixels)
    end
  end)

  it("classifies at least 8 of 10 digits as their label, one line per image, top 3", function()
    local args = { "--model", model }
    for _, p in ipairs(paths) do args[#args + 1] = p end
    local out, err, status = run(SCRIPT, args)
    assert.are.equal(0, status, err)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal(10, #lines, out)
    local right = 0
    for i, line in ipairs(lines) do
      local path, c1, p1, c2, p2, c3, p3 = line:match(
        "^(.-): (%d) %((%d+%.%d)%%%), (%d) %((%d+%.%d)%%%), (%d) %((%d+%.%d)%%%)$")
      assert.are.equal(paths[i], path, "bad line: " .. line)
      p1, p2, p3 = tonumber(p1), tonumber(p2), tonumber(p3)
      assert.is_true(p1 >= p2 and p2 >= p3, line)
      assert.is_true(p1 + p2 + p3 <= 100.15, line)
      assert.is_true(c1 ~= c2 and c2 ~= c3 and c1 ~= c3, line)
      if tonumber(c1) == labels[i] then right = right + 1 end
    end
    assert.is_true(right >= 8, string.format("%d of 10 right:\n%s", right, out))
  end)

  it("--top 1 prints the best class only", function()
    local out, _, status = run(SCRIPT, { "--top", "1", "--model", model, paths[1] })
    assert.are.equal(0, status)
    assert.matches("^" .. paths[1]:gsub("%p", "%%%0") .. ": %d %(%d+%.%d%%%)\n$", out)
  end)
end)
