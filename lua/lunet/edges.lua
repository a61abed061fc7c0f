-- lunet.edges: edge detection with hand-made filters, run as lunet's own nn.Conv2d on the
-- device (the course's "convolution as a feature detector" demo; scripts/edge_detect.lua).
--
--   local edges = require("lunet.edges")
--   local img = edges.to_grey(require("lunet.io").read_png("photo.png"))  -- {width=, height=, pixels=}
--   local outs = edges.convolve(img, { edges.FILTERS.vertical, edges.parse_filter("0 1 2 / 2 2 0 / 0 1 2") })
--   -- outs[i] = {width=, height=, values=float[?] (row-major)}: the raw filter responses
--   local view = edges.normalise(outs[1].values, outs[1].width * outs[1].height)  -- |v| / max|v|
--
-- A filter is a table of rows, {{1, 0, -1}, {1, 0, -1}, {1, 0, -1}}, of any size (odd or
-- even, not necessarily square). As in PyTorch (and the course), a convolution here is a
-- cross-correlation: the filter is not flipped.
--
-- Borders (opts.padding):
--   "replicate" (default) the image is extended by repeating its border pixels, so the
--               output has the input's size and the image's border is not an edge;
--   "zero"      zeros around the image (nn.Conv2d's own padding for odd filters): the same
--               size, but a bright image border shows as an edge;
--   "valid"     no padding: the output shrinks to (H-kh+1) x (W-kw+1), as in the course's
--               worked example (5x5 input, 3x3 filter -> 3x3).
-- For an odd size k the padding is (k-1)/2 on each side; for an even size it is (k-1)//2
-- before and k//2 after, as PyTorch's padding="same".
local lunet = require("lunet")
local ffi = lunet.ffi

local M = {}

local function fail(who, fmt, ...)
  error(who .. ": " .. string.format(fmt, ...), 0)
end

-- The built-in filters (rows of the kernel, as printed).
M.FILTERS = {
  vertical = { { 1, 0, -1 }, { 1, 0, -1 }, { 1, 0, -1 } },
  horizontal = { { 1, 1, 1 }, { 0, 0, 0 }, { -1, -1, -1 } },
  sobel_x = { { 1, 0, -1 }, { 2, 0, -2 }, { 1, 0, -1 } },
  sobel_y = { { 1, 2, 1 }, { 0, 0, 0 }, { -1, -2, -1 } },
  laplacian = { { 0, 1, 0 }, { 1, -4, 1 }, { 0, 1, 0 } },
}

M.PADDINGS = { "replicate", "zero", "valid" }

-- "0 1 2 / 2 2 0 / 0 1 2" -> {{0,1,2},{2,2,0},{0,1,2}}. Numbers are separated by spaces
-- or commas, rows by "/". Raises "filter: ..." naming what was wrong.
function M.parse_filter(text)
  local who = "filter"
  if type(text) ~= "string" then fail(who, "expected a string of rows separated by /, got %s", type(text)) end
  local example = 'like "0 1 2 / 2 2 0 / 0 1 2"'
  if not text:find("%S") then
    fail(who, "the filter is empty: give rows of numbers separated by /, %s", example)
  end
  local rows, pieces = {}, {}
  for piece in (text .. "/"):gmatch("([^/]*)/") do pieces[#pieces + 1] = piece end
  for r, piece in ipairs(pieces) do
    local row = {}
    for word in piece:gmatch("[^%s,]+") do
      local v = tonumber(word)
      if not v or v ~= v or v == math.huge or v == -math.huge then
        fail(who, "'%s' in row %d is not a number (rows of numbers separated by /, %s)", word, r, example)
      end
      row[#row + 1] = v
    end
    if #row == 0 then
      fail(who, "row %d of %d is empty (rows of numbers separated by /, %s)", r, #pieces, example)
    end
    if r > 1 and #row ~= #rows[1] then
      fail(who, "row %d has %d number%s but row 1 has %d: every row needs the same length",
           r, #row, #row == 1 and "" or "s", #rows[1])
    end
    rows[r] = row
  end
  return rows
end

-- Raises unless f is a non-empty table of equal-length rows of numbers; returns kh, kw.
function M.check_filter(who, f, index)
  local name = index and ("filter " .. index) or "filter"
  if type(f) ~= "table" or #f == 0 or type(f[1]) ~= "table" or #f[1] == 0 then
    fail(who, "%s must be a non-empty table of rows of numbers, like {{1,0,-1},{1,0,-1},{1,0,-1}}", name)
  end
  for r, row in ipairs(f) do
    if type(row) ~= "table" or #row ~= #f[1] then
      fail(who, "%s: row %d has %s values but row 1 has %d: every row needs the same length",
           name, r, type(row) == "table" and tostring(#row) or "no", #f[1])
    end
    for c, v in ipairs(row) do
      if type(v) ~= "number" then fail(who, "%s: value %d of row %d is a %s, expected a number", name, c, r, type(v)) end
    end
  end
  return #f, #f[1]
end

-- "3x3" for printing.
function M.filter_size(f) return #f .. "x" .. #f[1] end

-- The transpose of a filter (rows become columns).
function M.transpose(f)
  local t = {}
  for c = 1, #f[1] do
    t[c] = {}
    for r = 1, #f do t[c][r] = f[r][c] end
  end
  return t
end

-- ---- images ----------------------------------------------------------------------------

local function check_image(who, img)
  if type(img) ~= "table" or type(img.width) ~= "number" or type(img.height) ~= "number"
      or img.pixels == nil then
    fail(who, "expected an image {width=, height=, channels=, pixels=}, got %s", type(img))
  end
  local c = img.channels or 1
  if c < 1 or c > 4 or c ~= math.floor(c) then fail(who, "expected 1 to 4 channels, got %s", tostring(c)) end
  if img.width < 1 or img.height < 1 then
    fail(who, "the image is %sx%s; it needs at least one pixel", tostring(img.width), tostring(img.height))
  end
  return c
end

-- A grey image {width=, height=, channels=1, pixels=float[?]} from an image as
-- lunet.io.read_png gives it (HWC floats; grey, grey+alpha, RGB or RGBA). Colour becomes
-- luminance 0.299 R + 0.587 G + 0.114 B; alpha is ignored.
function M.to_grey(img)
  local c = check_image("edges.to_grey", img)
  local w, h = img.width, img.height
  local n = w * h
  local out = ffi.new("float[?]", n)
  local src = img.pixels
  local base = type(src) == "table" and 1 or 0   -- Lua tables are 1-based, float* 0-based
  for i = 0, n - 1 do
    local p = i * c + base
    if c >= 3 then
      out[i] = 0.299 * src[p] + 0.587 * src[p + 1] + 0.114 * src[p + 2]
    else
      out[i] = src[p]
    end
  end
  return { width = w, height = h, channels = 1, pixels = out }
end

-- The image (grey) extended by top/bottom/left/right pixels, repeating the border pixels
-- (mode "replicate") or with zeros ("zero").
local function pad_image(img, top, bottom, left, right, mode)
  local w, h = img.width, img.height
  local pw, ph = w + left + right, h + top + bottom
  local out = ffi.new("float[?]", pw * ph)
  local src = img.pixels
  local base = type(src) == "table" and 1 or 0
  for y = 0, ph - 1 do
    local sy = y - top
    local inside_y = sy >= 0 and sy < h
    if mode == "replicate" then sy = math.min(math.max(sy, 0), h - 1) end
    for x = 0, pw - 1 do
      local sx = x - left
      local v = 0
      if mode == "replicate" then
        sx = math.min(math.max(sx, 0), w - 1)
        v = src[sy * w + sx + base]
      elseif inside_y and sx >= 0 and sx < w then
        v = src[sy * w + sx + base]
      end
      out[y * pw + x] = v
    end
  end
  return { width = pw, height = ph, channels = 1, pixels = out }
end

-- Applies filters (a list of filters of the same size) to a grey image as ONE nn.Conv2d
-- with #filters output channels on the device (weights set with Tensor:set, bias 0).
-- Returns a list of {width=, height=, values=float[?]} (row-major raw responses), one
-- per filter. opts.padding: "replicate" (default), "zero" or "valid" (see the top).
function M.convolve(img, filters, opts)
  local who = "edges.convolve"
  opts = opts or {}
  if type(opts) ~= "table" then fail(who, "options must be a table like {padding = \"replicate\"}, got %s", type(opts)) end
  local mode = opts.padding or "replicate"
  local known = false
  for _, m in ipairs(M.PADDINGS) do known = known or m == mode end
  if not known then
    fail(who, "padding must be one of %s, got '%s'", table.concat(M.PADDINGS, ", "), tostring(mode))
  end
  local c = check_image(who, img)
  if c ~= 1 then fail(who, "expected a grey image (1 channel), got %d channels: use edges.to_grey", c) end
  if type(filters) ~= "table" or #filters == 0 then
    fail(who, "expected a non-empty list of filters, got %s", type(filters) == "table" and "an empty list" or type(filters))
  end
  local kh, kw = M.check_filter(who, filters[1], 1)
  for i = 2, #filters do
    local h2, w2 = M.check_filter(who, filters[i], i)
    if h2 ~= kh or w2 ~= kw then
      fail(who, "filter %d is %dx%d but filter 1 is %dx%d: one call takes filters of one size", i, h2, w2, kh, kw)
    end
  end
  local w, h = img.width, img.height
  if mode == "valid" and (kh > h or kw > w) then
    fail(who, "a %dx%d filter does not fit a %dx%d image without padding", kh, kw, h, w)
  end

  local nn = require("lunet.nn")
  -- nn.Conv2d pads symmetrically with zeros: that is "zero" for odd filters; every other
  -- case is padded here on the host and convolved without padding.
  local conv_pad, input = { 0, 0 }, img
  if mode == "zero" and kh % 2 == 1 and kw % 2 == 1 then
    conv_pad = { (kh - 1) / 2, (kw - 1) / 2 }
  elseif mode ~= "valid" then
    local top, left = math.floor((kh - 1) / 2), math.floor((kw - 1) / 2)
    input = pad_image(img, top, kh - 1 - top, left, kw - 1 - left, mode)
  end
  local x = lunet.tensor(input.pixels, { 1, 1, input.height, input.width })
  local conv = nn.Conv2d(1, #filters, { kh, kw }, { padding = conv_pad })
  local weights = {}
  for _, f in ipairs(filters) do
    for r = 1, kh do for cc = 1, kw do weights[#weights + 1] = f[r][cc] end end
  end
  conv.weight:set(weights)      -- OIHW: [#filters, 1, kh, kw]
  conv.bias:fill(0)
  local y = conv:forward(x)
  local oh, ow = y:dim(3), y:dim(4)
  local all = y:tobuffer()
  local outs = {}
  for i = 1, #filters do
    local values = ffi.new("float[?]", oh * ow)
    ffi.copy(values, all + (i - 1) * oh * ow, oh * ow * ffi.sizeof("float"))
    outs[i] = { width = ow, height = oh, values = values }
  end
  return outs
end

-- sqrt(gx^2 + gy^2) elementwise (float arrays of n values) as a new float[n].
function M.magnitude(gx, gy, n)
  local out = ffi.new("float[?]", n)
  for i = 0, n - 1 do out[i] = math.sqrt(gx[i] * gx[i] + gy[i] * gy[i]) end
  return out
end

-- For viewing: |v| / max|v| in [0,1] (all zeros when every value is 0). Returns the new
-- float[n] and the max |v| it divided by.
function M.normalise(values, n)
  local maxv = 0
  for i = 0, n - 1 do maxv = math.max(maxv, math.abs(values[i])) end
  local out = ffi.new("float[?]", n)
  if maxv > 0 then
    for i = 0, n - 1 do out[i] = math.abs(values[i]) / maxv end
  end
  return out, maxv
end

-- The built-in edge maps of a grey image: {vertical=, horizontal=, sobel=, laplacian=},
-- each {width=, height=, values=} of raw responses (sobel: the magnitude
-- sqrt(gx^2 + gy^2) of Sobel x and y). One nn.Conv2d with 5 output channels.
function M.detect(img, opts)
  local F = M.FILTERS
  local o = M.convolve(img, { F.vertical, F.horizontal, F.sobel_x, F.sobel_y, F.laplacian }, opts)
  local n = o[3].width * o[3].height
  return {
    vertical = o[1],
    horizontal = o[2],
    sobel = { width = o[3].width, height = o[3].height, values = M.magnitude(o[3].values, o[4].values, n) },
    laplacian = o[5],
  }
end

-- A drawn sample image, size x size grey (default 128): on a dark background, a filled
-- bright square, a mid-grey circle and a light triangle.
function M.sample_image(size)
  size = size or 128
  if type(size) ~= "number" or size < 16 or size ~= math.floor(size) then
    fail("edges.sample_image", "size must be an integer of at least 16, got %s", tostring(size))
  end
  local px = ffi.new("float[?]", size * size)
  local s = size / 128
  local function tri_inside(x, y)   -- triangle (24,116) (104,116) (64,70), in 128-pixel units
    local ax, ay, bx, by, cx, cy = 24 * s, 116 * s, 104 * s, 116 * s, 64 * s, 70 * s
    local d1 = (x - bx) * (ay - by) - (ax - bx) * (y - by)
    local d2 = (x - cx) * (by - cy) - (bx - cx) * (y - cy)
    local d3 = (x - ax) * (cy - ay) - (cx - ax) * (y - ay)
    local neg = d1 < 0 or d2 < 0 or d3 < 0
    local pos = d1 > 0 or d2 > 0 or d3 > 0
    return not (neg and pos)
  end
  for y = 0, size - 1 do
    for x = 0, size - 1 do
      local cx, cy = x + 0.5, y + 0.5
      local v = 0.1
      if cx >= 12 * s and cx < 52 * s and cy >= 12 * s and cy < 52 * s then v = 0.9 end
      if (cx - 92 * s) ^ 2 + (cy - 34 * s) ^ 2 <= (22 * s) ^ 2 then v = 0.55 end
      if tri_inside(cx, cy) then v = 0.75 end
      px[y * size + x] = v
    end
  end
  return { width = size, height = size, channels = 1, pixels = px }
end

return M
