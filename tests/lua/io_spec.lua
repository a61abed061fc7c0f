-- lunet.io and Module:save/load: safetensors round trips, shape and name mismatches,
-- missing files, atomic saves, and PNG round trips.
local lunet = require("lunet")
local nn = require("lunet.nn")
local lio = require("lunet.io")
local tu = require("testutil")

local tmp = tu.tmpdir("io-spec")

local fails_with = tu.fails_exactly   -- the whole message must match

local function temp_files_in(dir)
  local p = io.popen("ls -a '" .. dir .. "'")
  local n = 0
  for line in p:lines() do if line:find(".tmp.", 1, true) then n = n + 1 end end
  p:close()
  return n
end

local function lenet_like(seed)
  return nn.Sequential(
    nn.Conv2d(1, 6, 5, { padding = 2, seed = seed }), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(6 * 4 * 4, 10, { seed = seed + 1 }))
end

describe("io safetensors", function()
  it("round-trips a list of tensors with metadata, in order, bit for bit", function()
    local path = tmp .. "/list.safetensors"
    local a = lunet.uniform({ 2, 3, 4, 5 }, -1, 1, 1)
    local b = lunet.tensor({ 1.5, -2, 1e-30 }, { 3 })
    lio.save_tensors(path, { { name = "z.first", value = a }, { name = "a.second", value = b } },
                     { format = "pt", epoch = 3 })
    local list, meta = lio.load_tensors(path, { "format", "epoch", "absent" })
    assert.are.equal(2, #list)
    assert.are.equal("z.first", list[1].name)
    assert.are.equal("a.second", list[2].name)
    assert.are.same({ 2, 3, 4, 5 }, list[1].shape)
    assert.are.same(a:totable(), list[1].value:totable())
    assert.are.same(b:totable(), list[2].value:totable())
    assert.are.same({ format = "pt", epoch = "3" }, meta)
  end)

  it("saves a map sorted by name and reads through an open file", function()
    local path = tmp .. "/map.safetensors"
    local w = lunet.tensor({ 1, 2, 3, 4, 5, 6 }, { 2, 3 })
    lio.save_tensors(path, { weight = w, bias = lunet.tensor({ 7, 8 }, { 2 }) })
    local f = lio.open_tensors(path)
    assert.are.same({ "bias", "weight" }, f:names())
    assert.are.same({ 2, 3 }, f:shape("weight"))
    assert.is_true(f:has("bias"))
    assert.is_false(f:has("nope"))
    local dst = lunet.zeros({ 2, 3 })
    f:read_into("weight", dst)
    assert.are.same({ 1, 2, 3, 4, 5, 6 }, dst:totable())
    assert.are.same({ 7, 8 }, f:read("bias"):totable())
    local buf, n = f:read_floats("weight")
    assert.are.equal(6, n)
    assert.are.equal(6, buf[5])
    assert.is_nil(f:metadata("format"))
    fails_with("io.read_into: 'weight' has shape [2,3] in " .. path .. ", but the tensor has shape [3,2]",
               function() f:read_into("weight", lunet.zeros({ 3, 2 })) end)
    fails_with("io.open_tensors: " .. path .. " holds no tensor 'nope'", function() f:shape("nope") end)
    f:close()
    fails_with("io.open_tensors: " .. path .. " is closed", function() f:names() end)
  end)

  it("reports missing and malformed files and bad arguments", function()
    local missing = tmp .. "/missing.safetensors"
    fails_with("safetensors: cannot open " .. missing .. ": No such file or directory",
               lio.load_tensors, missing)
    local bad = tmp .. "/garbage.safetensors"
    local fh = io.open(bad, "wb")
    fh:write("\16\0\0\0\0\0\0\0{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}")
    fh:close()
    local ok, err = pcall(lio.open_tensors, bad)
    assert.is_false(ok)
    assert.matches("garbage.safetensors", err, 1, true)
    fails_with("io.save_tensors: 'x' is a number, expected a Tensor",
               lio.save_tensors, tmp .. "/x.safetensors", { x = 1 })
    fails_with("io.save_tensors: path must be a non-empty string, got nil", lio.save_tensors, nil, {})
  end)

  it("leaves no temp file behind when a save fails (the target is a directory)", function()
    local dir = tmp .. "/target-is-a-dir.safetensors"
    os.execute("mkdir -p '" .. dir .. "'")
    local ok, err = pcall(lio.save_tensors, dir, { x = lunet.zeros({ 2 }) })
    assert.is_false(ok)
    assert.matches("cannot rename", err, 1, true)
    assert.are.equal(0, temp_files_in(tmp))
  end)
end)

describe("Module:save and :load", function()
  it("restores a Sequential: a fresh model with another seed gives identical outputs", function()
    local path = tmp .. "/model.safetensors"
    local model = lenet_like(10)
    local x = lunet.uniform({ 3, 1, 8, 8 }, -1, 1, 99)
    local want = model:forward(x):totable()
    model:save(path, { note = "unit test" })
    local other = lenet_like(500)
    assert.are_not.same(want, other:forward(x):totable())
    other:load(path)
    assert.are.same(want, other:forward(x):totable())
    local f = lio.open_tensors(path)
    assert.are.same({ "1.weight", "1.bias", "5.weight", "5.bias" }, f:names())
    assert.are.equal("pt", f:metadata("format"))
    assert.are.equal(lunet.version, f:metadata("lunet"))
    assert.are.equal("unit test", f:metadata("note"))
    f:close()
    assert.are.equal(0, temp_files_in(tmp))
  end)

  it("checks names and shapes before changing anything", function()
    local path = tmp .. "/small.safetensors"
    nn.Sequential(nn.Conv2d(1, 6, 5, { seed = 1 })):save(path)
    local wrong = nn.Sequential(nn.Conv2d(1, 6, 3, { seed = 2 }))
    local before = wrong:get(1).bias:totable()
    fails_with("Sequential: load: 1.weight: file has [6,1,5,5], model has [6,1,3,3]",
               function() wrong:load(path) end)
    assert.are.same(before, wrong:get(1).bias:totable())
    local bigger = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.Conv2d(6, 2, 1))
    fails_with("Sequential: load: " .. path .. " has no tensor '3.weight'", function() bigger:load(path) end)
    local no_bias = nn.Sequential(nn.Conv2d(1, 6, 5, { bias = false }))
    fails_with("Sequential: load: " .. path .. " holds tensor '1.bias', which the model does not have",
               function() no_bias:load(path) end)
    local missing = tmp .. "/nope.safetensors"
    fails_with("Sequential: load: safetensors: cannot open " .. missing .. ": No such file or directory",
               function() bigger:load(missing) end)
  end)

  it("state_dict lists the parameters by name", function()
    local m = nn.Linear(3, 2)
    local sd = m:state_dict()
    assert.are.equal(2, #sd)
    assert.are.equal("weight", sd[1].name)
    assert.are.equal(m.weight, sd[1].value)
    assert.are.equal("bias", sd[2].name)
  end)

  it("a failed save raises a message naming the module and leaves no temp file", function()
    local dir = tmp .. "/model-dir.safetensors"
    os.execute("mkdir -p '" .. dir .. "'")
    local ok, err = pcall(function() nn.Linear(2, 2):save(dir) end)
    assert.is_false(ok)
    assert.matches("^Linear: save: safetensors: cannot rename", err)
    assert.are.equal(0, temp_files_in(tmp))
  end)
end)

describe("io PNG", function()
  it("round-trips grey from a table, RGB from a Tensor and RGBA (composited onto white)", function()
    local path = tmp .. "/grey.png"
    local values = {}
    for i = 1, 5 * 4 do values[i] = ((i * 37) % 256) / 255 end
    lio.write_png(path, 5, 4, 1, values)
    local img = lio.read_png(path)
    assert.are.same({ 5, 4, 1 }, { img.width, img.height, img.channels })
    for i = 1, 20 do assert.is_true(math.abs(img.pixels[i - 1] - values[i]) < 1e-6) end

    local rgb = {}
    for i = 1, 3 * 2 * 3 do rgb[i] = ((i * 11) % 256) / 255 end
    lio.write_png(tmp .. "/rgb.png", 3, 2, 3, lunet.tensor(rgb, { 2, 3, 3 }))
    img = lio.read_png(tmp .. "/rgb.png")
    assert.are.equal(3, img.channels)
    for i = 1, #rgb do assert.is_true(math.abs(img.pixels[i - 1] - rgb[i]) < 1e-6) end

    local rgba = lunet.ffi.new("float[8]", { 1, 0, 0, 0.5, 0, 1, 0.2, 1 })
    lio.write_png(tmp .. "/rgba.png", 2, 1, 4, rgba)
    img = lio.read_png(tmp .. "/rgba.png")
    assert.are.equal(3, img.channels)
    local a = 128 / 255   -- the 8-bit alpha of 0.5
    local want = { 1, 1 - a, 1 - a, 0, 1, 0.2 }
    for i = 1, 6 do assert.is_true(math.abs(img.pixels[i - 1] - want[i]) < 2 / 255) end
    assert.are.equal(0, temp_files_in(tmp))
  end)

  it("reports non-PNG files and bad arguments", function()
    local path = tmp .. "/text.png"
    local fh = io.open(path, "w")
    fh:write("hello, not a picture\n")
    fh:close()
    fails_with("png_read: " .. path .. " is not a PNG file (bad signature)", lio.read_png, path)
    fails_with("png_read: cannot open " .. tmp .. "/none.png: No such file or directory",
               lio.read_png, tmp .. "/none.png")
    fails_with("io.write_png: channels must be 1, 3 or 4, got 2", lio.write_png, path, 2, 2, 2, {})
    fails_with("io.write_png: 3 values given, 2x2x1 needs 4", lio.write_png, path, 2, 2, 1, { 1, 2, 3 })
    fails_with("io.write_png: width must be a positive integer, got 0", lio.write_png, path, 0, 2, 1, {})
  end)
end)
