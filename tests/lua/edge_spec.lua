-- lunet.edges and scripts/edge_detect.lua: filter parsing and its errors, the course's worked
-- example, edge maps of a step image (on the device, through nn.Conv2d), the PNGs the
-- script writes, the drawn sample image, and the script's error paths.
local lunet = require("lunet")
local edges = require("lunet.edges")
local lio = require("lunet.io")
local tu = require("testutil")

local tmp = tu.tmpdir("edge-spec")

local ROOT = io.popen("pwd"):read("*l")   -- the checkout (ctest runs the specs there)

-- Runs scripts/edge_detect.lua (from cwd when given); returns stdout, stderr and the exit status.
local function run(args, cwd) return tu.run(ROOT .. "/scripts/edge_detect.lua", args, { tmp = tmp, cwd = cwd }) end

local function near(want, got, tol, what)
  tol = tol or 1e-5
  assert(math.abs(want - got) <= tol,
         string.format("%sexpected %.9g, got %.9g", what and (what .. ": ") or "", want, got))
end

local fails_with = tu.fails_exactly   -- the whole message must match

-- A w x h grey image (Lua table of rows -> flat values) as lunet.edges takes it.
local function grey(w, h, fn)
  local px = {}
  for y = 0, h - 1 do for x = 0, w - 1 do px[#px + 1] = fn(x, y) end end
  return { width = w, height = h, channels = 1, pixels = px }
end

-- Values of a {width, height, values=float[?]} map as a table of rows (1-based).
local function rows_of(map)
  local rows = {}
  for y = 0, map.height - 1 do
    rows[y + 1] = {}
    for x = 0, map.width - 1 do rows[y + 1][x + 1] = map.values[y * map.width + x] end
  end
  return rows
end

-- A PNG read back as a table of rows of grey values (channel 0 of each pixel).
local function png_rows(path)
  local img = lio.read_png(path)
  local rows = {}
  for y = 0, img.height - 1 do
    rows[y + 1] = {}
    for x = 0, img.width - 1 do rows[y + 1][x + 1] = img.pixels[(y * img.width + x) * img.channels] end
  end
  return rows, img
end

-- The 16x16 test image: black columns 0..7, white columns 8..15 (a vertical step edge).
local function step_value(x) return x >= 8 and 1 or 0 end

-- A 16-bit PNG written here with zlib (lunet writes 8-bit only): grey (colour type 0) or
-- grey + alpha (4), samples a flat list of 0..65535 values, `channels` per pixel.
local function write_png16(path, w, h, color_type, samples)
  local ffi = require("ffi")
  pcall(ffi.cdef, [[
    unsigned long compressBound(unsigned long sourceLen);
    int compress(uint8_t *dest, unsigned long *destLen, const uint8_t *source, unsigned long sourceLen);
    unsigned long crc32(unsigned long crc, const uint8_t *buf, unsigned int len);
  ]])
  local z = ffi.load("z")
  local channels = color_type == 4 and 2 or 1
  local row = 1 + w * channels * 2
  local raw = ffi.new("uint8_t[?]", h * row)
  for y = 0, h - 1 do
    raw[y * row] = 0   -- filter: none
    for i = 0, w * channels - 1 do
      local v = samples[y * w * channels + i + 1]
      raw[y * row + 1 + 2 * i] = math.floor(v / 256)
      raw[y * row + 2 + 2 * i] = v % 256
    end
  end
  local bound = ffi.new("unsigned long[1]", z.compressBound(h * row))
  local packed = ffi.new("uint8_t[?]", bound[0])
  assert(z.compress(packed, bound, raw, h * row) == 0)
  local function u32(v) return string.char(math.floor(v / 16777216) % 256, math.floor(v / 65536) % 256,
                                           math.floor(v / 256) % 256, v % 256) end
  local function chunk(kind, body)
    local bytes = kind .. body
    return u32(#body) .. bytes .. u32(tonumber(z.crc32(0, bytes, #bytes)))
  end
  local f = assert(io.open(path, "wb"))
  f:write("\137PNG\r\n\26\n",
          chunk("IHDR", u32(w) .. u32(h) .. string.char(16, color_type, 0, 0, 0)),
          chunk("IDAT", ffi.string(packed, bound[0])), chunk("IEND", ""))
  f:close()
end

local COURSE_INPUT = { { 3, 3, 2, 1, 0 }, { 0, 0, 1, 3, 1 }, { 3, 1, 2, 2, 3 }, { 2, 0, 0, 2, 2 }, { 2, 0, 0, 0, 1 } }
local COURSE_OUTPUT = { { 12, 12, 17 }, { 10, 17, 19 }, { 9, 6, 14 } }

describe("lunet.edges.parse_filter", function()
  it("reads rows separated by / (spaces or commas between numbers)", function()
    assert.are.same({ { 0, 1, 2 }, { 2, 2, 0 }, { 0, 1, 2 } }, edges.parse_filter("0 1 2 / 2 2 0 / 0 1 2"))
    assert.are.same({ { 1, -1 } }, edges.parse_filter("1 -1"))
    assert.are.same({ { 0.5, -2.5e-1 }, { 1, 2 } }, edges.parse_filter(" 0.5,-2.5e-1/1  2 "))
    assert.are.same({ { 1 }, { 2 }, { 3 }, { 4 } }, edges.parse_filter("1/2/3/4"))
  end)

  it("says what is wrong with a bad filter", function()
    fails_with('filter: the filter is empty: give rows of numbers separated by /, like "0 1 2 / 2 2 0 / 0 1 2"',
               edges.parse_filter, "  ")
    fails_with("filter: 'x' in row 2 is not a number (rows of numbers separated by /, like \"0 1 2 / 2 2 0 / 0 1 2\")",
               edges.parse_filter, "1 2 / 3 x")
    fails_with("filter: row 3 has 2 numbers but row 1 has 3: every row needs the same length",
               edges.parse_filter, "1 2 3 / 4 5 6 / 7 8")
    fails_with("filter: row 2 has 1 number but row 1 has 2: every row needs the same length",
               edges.parse_filter, "1 2 / 3")
    fails_with("filter: row 2 of 3 is empty (rows of numbers separated by /, like \"0 1 2 / 2 2 0 / 0 1 2\")",
               edges.parse_filter, "1 2 / / 3 4")
    fails_with("filter: row 2 of 2 is empty (rows of numbers separated by /, like \"0 1 2 / 2 2 0 / 0 1 2\")",
               edges.parse_filter, "1 2 /")
    fails_with("filter: 'inf' in row 1 is not a number (rows of numbers separated by /, like \"0 1 2 / 2 2 0 / 0 1 2\")",
               edges.parse_filter, "inf 1")
    fails_with("filter: expected a string of rows separated by /, got number", edges.parse_filter, 3)
  end)
end)

describe("lunet.edges on the device", function()
  it("gives the course's worked example: 5x5 input, filter 0 1 2 / 2 2 0 / 0 1 2, no padding", function()
    local img = grey(5, 5, function(x, y) return COURSE_INPUT[y + 1][x + 1] end)
    local out = edges.convolve(img, { edges.parse_filter("0 1 2 / 2 2 0 / 0 1 2") }, { padding = "valid" })
    assert.are.equal(1, #out)
    assert.are.same({ 3, 3 }, { out[1].width, out[1].height })
    assert.are.same(COURSE_OUTPUT, rows_of(out[1]))
    -- with padding the output keeps the input's size, and the centre 3x3 is the same
    for _, mode in ipairs({ "replicate", "zero" }) do
      local same = rows_of(edges.convolve(img, { edges.parse_filter("0 1 2 / 2 2 0 / 0 1 2") }, { padding = mode })[1])
      assert.are.equal(5, #same)
      assert.are.equal(5, #same[1])
      for y = 1, 3 do for x = 1, 3 do near(COURSE_OUTPUT[y][x], same[y + 1][x + 1]) end end
    end
  end)

  it("finds a vertical step edge: vertical and Sobel respond on the edge columns only", function()
    local maps = edges.detect(grey(16, 16, step_value))
    for _, name in ipairs({ "vertical", "horizontal", "sobel", "laplacian" }) do
      assert.are.same({ 16, 16 }, { maps[name].width, maps[name].height }, name)
    end
    local v, h, s, l = rows_of(maps.vertical), rows_of(maps.horizontal), rows_of(maps.sobel), rows_of(maps.laplacian)
    for y = 1, 16 do
      for x = 1, 16 do
        local on_edge = x == 8 or x == 9   -- columns 7 and 8 (0-based) straddle the step
        near(on_edge and -3 or 0, v[y][x], 1e-5, "vertical " .. y .. "," .. x)
        near(0, h[y][x], 1e-5, "horizontal " .. y .. "," .. x)
        near(on_edge and 4 or 0, s[y][x], 1e-5, "sobel " .. y .. "," .. x)
        near(x == 8 and 1 or x == 9 and -1 or 0, l[y][x], 1e-5, "laplacian " .. y .. "," .. x)
      end
    end
    -- zero padding: the bright right border is an edge too (and the corners of the top row)
    local z = rows_of(edges.detect(grey(16, 16, step_value), { padding = "zero" }).vertical)
    near(-3, z[5][8]); near(3, z[5][16]); near(2, z[1][16]); near(0, z[5][3])
    -- valid: 14x14, the edge at columns 6 and 7 of the output
    local val = edges.detect(grey(16, 16, step_value), { padding = "valid" }).vertical
    assert.are.same({ 14, 14 }, { val.width, val.height })
    near(-3, rows_of(val)[1][7]); near(-3, rows_of(val)[1][8]); near(0, rows_of(val)[1][9])
  end)

  it("pads even-sized filters as PyTorch's padding=\"same\" and the transposed filter finds horizontal edges", function()
    local img = grey(16, 16, step_value)
    local d = rows_of(edges.convolve(img, { { { 1, -1 } } })[1])   -- 1x2: out[x] = in[x] - in[x+1]
    assert.are.equal(16, #d[1])
    for x = 1, 16 do near(x == 8 and -1 or 0, d[3][x]) end
    local tall = edges.convolve(img, { { { 1 }, { -1 } } })[1]     -- 2x1: nothing changes down a column
    assert.are.same({ 16, 16 }, { tall.width, tall.height })
    local horizontal = rows_of(edges.detect(grey(16, 16, function(_, y) return step_value(y) end)).horizontal)
    for y = 1, 16 do near((y == 8 or y == 9) and -3 or 0, horizontal[y][5]) end
    assert.are.same(edges.FILTERS.horizontal, edges.transpose(edges.FILTERS.vertical))
    assert.are.same(edges.FILTERS.sobel_y, edges.transpose(edges.FILTERS.sobel_x))
  end)

  it("turns colour into grey by luminance and normalises |v| by the max", function()
    local rgba = { width = 2, height = 1, channels = 4, pixels = { 1, 0, 0, 0.3, 0.2, 0.4, 0.6, 1 } }
    local g = edges.to_grey(rgba)
    near(0.299, g.pixels[0]); near(0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6, g.pixels[1])
    local rgb = edges.to_grey({ width = 1, height = 1, channels = 3, pixels = { 0, 1, 0 } })
    near(0.587, rgb.pixels[0])
    local ga = edges.to_grey({ width = 1, height = 1, channels = 2, pixels = { 0.25, 0 } })
    near(0.25, ga.pixels[0])
    local ffi = lunet.ffi
    local v = ffi.new("float[4]", { -4, 2, 0, 1 })
    local n, maxv = edges.normalise(v, 4)
    assert.are.equal(4, maxv)
    near(1, n[0]); near(0.5, n[1]); near(0, n[2]); near(0.25, n[3])
    local zeros, m0 = edges.normalise(ffi.new("float[2]"), 2)
    assert.are.equal(0, m0); near(0, zeros[0]); near(0, zeros[1])
    local mag = edges.magnitude(ffi.new("float[1]", { 3 }), ffi.new("float[1]", { -4 }), 1)
    near(5, mag[0])
  end)

  it("rejects bad calls with messages that say what was expected", function()
    local img = grey(4, 4, function() return 0 end)
    fails_with("edges.convolve: padding must be one of replicate, zero, valid, got 'same'",
               edges.convolve, img, { edges.FILTERS.vertical }, { padding = "same" })
    fails_with("edges.convolve: filter 2 is 2x2 but filter 1 is 3x3: one call takes filters of one size",
               edges.convolve, img, { edges.FILTERS.vertical, { { 1, 2 }, { 3, 4 } } })
    fails_with("edges.convolve: a 5x5 filter does not fit a 4x4 image without padding",
               edges.convolve, img, { edges.parse_filter("1 1 1 1 1/1 1 1 1 1/1 1 1 1 1/1 1 1 1 1/1 1 1 1 1") },
               { padding = "valid" })
    fails_with("edges.convolve: expected a grey image (1 channel), got 3 channels: use edges.to_grey",
               edges.convolve, { width = 1, height = 1, channels = 3, pixels = { 0, 0, 0 } }, { edges.FILTERS.vertical })
    fails_with("edges.convolve: expected a non-empty list of filters, got an empty list", edges.convolve, img, {})
    fails_with("edges.convolve: filter 1: row 2 has 1 values but row 1 has 2: every row needs the same length",
               edges.convolve, img, { { { 1, 2 }, { 3 } } })
    fails_with("edges.convolve: filter 1: value 2 of row 1 is a string, expected a number",
               edges.convolve, img, { { { 1, "a" } } })
    fails_with("edges.convolve: expected an image {width=, height=, channels=, pixels=}, got string",
               edges.convolve, "photo.png", { edges.FILTERS.vertical })
    fails_with("edges.to_grey: expected 1 to 4 channels, got 5", edges.to_grey,
               { width = 1, height = 1, channels = 5, pixels = { 0, 0, 0, 0, 0 } })
    fails_with("edges.sample_image: size must be an integer of at least 16, got 8", edges.sample_image, 8)
  end)
end)

describe("scripts/edge_detect.lua", function()
  local names = { "input", "vertical", "horizontal", "sobel", "laplacian" }

  it("writes the edge maps of a 16x16 step image (8-bit grey, RGB, RGBA; 16-bit grey, grey+alpha) as PNGs of its size", function()
    -- the same picture as grey, RGB and RGBA files: the same edge maps
    for _, channels in ipairs({ 1, 3, 4 }) do
      local px = {}
      for y = 0, 15 do
        for x = 0, 15 do
          for c = 1, channels do px[#px + 1] = (c == 4) and 1 or step_value(x) end
        end
      end
      local input = tmp .. "/step" .. channels .. ".png"
      lio.write_png(input, 16, 16, channels, px)
      local prefix = tmp .. "/out" .. channels .. "/step"
      local out, err, status = run({ input, prefix })
      assert.are.equal(0, status, err)
      for _, name in ipairs(names) do
        local path = prefix .. "-" .. name .. ".png"
        assert.truthy(out:find(path, 1, true), "the script prints " .. path)
        local rows, img = png_rows(path)
        assert.are.same({ 16, 16, 1 }, { img.width, img.height, img.channels }, path)
        for y = 1, 16 do
          for x = 1, 16 do
            local on_edge = x == 8 or x == 9
            local want = ({
              input = step_value(x - 1),
              vertical = on_edge and 1 or 0,
              horizontal = 0,
              sobel = on_edge and 1 or 0,
              laplacian = on_edge and 1 or 0,
            })[name]
            near(want, rows[y][x], 1e-6, path .. " at " .. y .. "," .. x)
          end
        end
      end
      assert.is_nil(io.open(prefix .. "-custom.png", "rb"), "no custom output without --filter")
      assert.truthy(out:find("max |response| 3 shown as white", 1, true), out)
      assert.truthy(out:find("16x16, " .. (channels == 1 and "grey" or "colour, turned into grey"), 1, true), out)
    end
    -- 16-bit grey and grey + alpha files give the same maps
    for _, color_type in ipairs({ 0, 4 }) do
      local samples = {}
      for _ = 0, 15 do
        for x = 0, 15 do
          samples[#samples + 1] = step_value(x) * 65535
          if color_type == 4 then samples[#samples + 1] = 65535 end
        end
      end
      local input = tmp .. "/step16-" .. color_type .. ".png"
      write_png16(input, 16, 16, color_type, samples)
      local prefix = tmp .. "/out16-" .. color_type .. "/step"
      local out, err, status = run({ input, prefix })
      assert.are.equal(0, status, err)
      assert.truthy(out:find("16x16, grey\n", 1, true), out)   -- alpha is ignored
      local rows = png_rows(prefix .. "-sobel.png")
      for x = 1, 16 do near((x == 8 or x == 9) and 1 or 0, rows[5][x], 1e-6, "16-bit sobel column " .. x) end
      local inrows = png_rows(prefix .. "-input.png")
      for x = 1, 16 do near(step_value(x - 1), inrows[5][x], 1e-6) end
    end
  end)

  it("applies --filter: the worked example on the course's 5x5 input", function()
    local px = {}
    for y = 1, 5 do for x = 1, 5 do px[#px + 1] = COURSE_INPUT[y][x] / 255 end end
    local input = tmp .. "/course.png"
    lio.write_png(input, 5, 5, 1, px)   -- bytes 0..3: exact in 8 bits
    local prefix = tmp .. "/course/c"
    local out, err, status = run({ input, "--out", prefix, "--padding", "valid", "--filter", "0 1 2 / 2 2 0 / 0 1 2" })
    assert.are.equal(0, status, err)
    assert.truthy(out:find("3x3 filter 0 1 2 / 2 2 0 / 0 1 2", 1, true), out)
    -- raw responses are the course's values / 255; the file shows them divided by the max (19)
    assert.truthy(out:find(string.format("max |response| %.4g", 19 / 255), 1, true), out)
    local rows, img = png_rows(prefix .. "-custom.png")
    assert.are.same({ 3, 3 }, { img.width, img.height })
    for y = 1, 3 do
      for x = 1, 3 do
        near(math.floor(COURSE_OUTPUT[y][x] / 19 * 255 + 0.5) / 255, rows[y][x], 1e-6)
      end
    end
    -- a user's even-sized filter, with the default padding: the input's size
    local _, err2, status2 = run({ input, tmp .. "/course/even", "--filter", "1 -1 / 1 -1" })
    assert.are.equal(0, status2, err2)
    local _, img2 = png_rows(tmp .. "/course/even-custom.png")
    assert.are.same({ 5, 5 }, { img2.width, img2.height })
  end)

  it("draws its own sample image when no IN.png is given", function()
    local prefix = tmp .. "/sample/shapes"
    local out, err, status = run({ "--out", prefix, "--sample-size", "64" })
    assert.are.equal(0, status, err)
    assert.truthy(out:find("no IN.png given: using a drawn sample image (64x64", 1, true), out)
    for _, name in ipairs(names) do
      local rows, img = png_rows(prefix .. "-" .. name .. ".png")
      assert.are.same({ 64, 64 }, { img.width, img.height })
      local maxv = 0
      for y = 1, 64 do for x = 1, 64 do maxv = math.max(maxv, rows[y][x]) end end
      if name == "input" then near(0.9, maxv, 0.003) else near(1, maxv, 1e-6, name) end
    end
    -- the sample: the square's left edge is at x = 6 (64 px: 12 * 64/128), inside it is flat
    local v = png_rows(prefix .. "-vertical.png")
    assert.is_true(v[16][6] > 0.9 and v[16][7] > 0.9, "the square's left edge")
    near(0, v[16][14]); near(0, v[3][3])
  end)

  it("runs from another directory and defaults OUT_PREFIX to runs/edges/<name>", function()
    local input = tmp .. "/my photo.png"
    lio.write_png(input, 16, 16, 1, grey(16, 16, step_value).pixels)
    local out, err, status = run({ input }, tmp)
    assert.are.equal(0, status, err)
    local path = out:match("\n%s*(%S+/runs/edges/my photo%-vertical%.png)")
    path = path or out:match("(/[^\n]*runs/edges/my photo%-vertical%.png)")
    assert.truthy(path, out)
    assert.truthy(io.open(path, "rb"), path)
    for _, name in ipairs(names) do os.remove((path:gsub("vertical%.png$", name .. ".png"))) end
  end)

  it("says what is wrong with bad arguments", function()
    local input = tmp .. "/step1.png"
    lio.write_png(input, 16, 16, 1, grey(16, 16, step_value).pixels)
    local cases = {
      { { input, "--filter", "1 2 / 3" }, 2,
        "edge_detect: --filter row 2 has 1 number but row 1 has 2: every row needs the same length (see --help)" },
      { { input, "--filter", "1 a" }, 2, "edge_detect: --filter 'a' in row 1 is not a number" },
      { { input, "--filter", "" }, 2, "edge_detect: --filter the filter is empty" },
      { { input, "--filter" }, 2, "--filter needs a value (see --help)" },
      { { input, "--padding", "mirror" }, 2, "--padding must be one of replicate, zero, valid, got 'mirror'" },
      { { input, "a", "b" }, 2, "edge_detect: expected at most IN.png and OUT_PREFIX, got 3 arguments: " },
      { { input, tmp .. "/x", "--out", tmp .. "/y" }, 2, "edge_detect: OUT_PREFIX given twice: " },
      { { "--sample-size", "8" }, 2, "edge_detect: --sample-size must be an integer from 16 to 4096, got 8" },
      { { "--frobnicate" }, 2, "unknown option --frobnicate (see --help)" },
      { { tmp .. "/missing.png" }, 1, "edge_detect: png_read: cannot open " .. tmp .. "/missing.png" },
      { { input, tmp .. "/v", "--padding", "valid", "--filter", "1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1" }, 1,
        "edge_detect: edges.convolve: a 1x20 filter does not fit a 16x16 image without padding" },
      { { "--device", "no-such-device-xyz" }, 1, "no-such-device-xyz" },
    }
    local notpng = tmp .. "/not.png"
    local f = io.open(notpng, "wb"); f:write("hello, not a PNG"); f:close()
    cases[#cases + 1] = { { notpng }, 1, "edge_detect: png_read: " .. notpng }
    for _, c in ipairs(cases) do
      local out, err, status = run(c[1])
      assert.are.equal(c[2], status, table.concat(c[1], " ") .. ": " .. err .. out)
      assert.truthy(err:find(c[3], 1, true), "expected '" .. c[3] .. "' in: " .. err)
    end
  end)

  it("has --help", function()
    local out, _, status = run({ "--help" })
    assert.are.equal(0, status)
    for _, s in ipairs({ "usage: luajit scripts/edge_detect.lua [IN.png] [OUT_PREFIX]", "--filter ROWS",
                         "--padding MODE", "--out PREFIX", "--device", "|response| / max|response|" }) do
      assert.truthy(out:find(s, 1, true), s)
    end
  end)
end)
