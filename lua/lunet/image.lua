-- lunet.image: pure image helpers on the host, to make any picture of a digit look like MNIST.
--
--   local image = require("lunet.image")
--   local img = require("lunet.io").read_png("digit.png")   -- {width=, height=, channels=, pixels=}
--   local x, info = image.mnist_like(img)                   -- float[784], normalised; info.inverted ...
--
-- An image is a table {width=, height=, channels=, pixels=} with the pixels in HWC order:
-- an FFI float array (0-based, as lunet.io.read_png gives) or a flat Lua table (1-based).
-- image.new makes one from either; every function here returns images whose pixels are a
-- new float[?] array, and never changes its input. image.totable gives a flat Lua table back.
--
-- The MNIST recipe (LeCun et al.): the digit's bounding box is scaled, keeping its aspect
-- ratio, so that its longer side is 20 pixels (anti-aliased), then pasted into a 28x28 field
-- so that its centre of mass lies at the centre of the field; white digit on black.
local ffi = require("ffi")

local M = {}

M.MNIST_MEAN, M.MNIST_STD = 0.1307, 0.3081

local function fail(who, fmt, ...)
  error("image." .. who .. ": " .. string.format(fmt, ...), 0)
end

local function is_count(v) return type(v) == "number" and v == math.floor(v) and v >= 1 and v < 2^31 end

local function alloc(n) return ffi.new("float[?]", math.max(n, 1)) end

-- A new image (its own float array) from a flat Lua table (1-based) or an FFI float array.
function M.new(width, height, channels, values)
  for _, v in ipairs({ { "width", width }, { "height", height }, { "channels", channels } }) do
    if not is_count(v[2]) then fail("new", "%s must be a positive integer, got %s", v[1], tostring(v[2])) end
  end
  local n = width * height * channels
  local px = alloc(n)
  if values == nil then return { width = width, height = height, channels = channels, pixels = px } end
  if type(values) == "table" then
    if #values ~= n then
      fail("new", "%d values given, %dx%dx%d needs %d", #values, width, height, channels, n)
    end
    for i = 1, n do
      local v = values[i]
      if type(v) ~= "number" then fail("new", "value %d is a %s, expected a number", i, type(v)) end
      px[i - 1] = v
    end
  elseif type(values) == "cdata" then
    ffi.copy(px, ffi.cast("const float*", values), n * ffi.sizeof("float"))
  else
    fail("new", "values must be a flat table or a float array, got %s", type(values))
  end
  return { width = width, height = height, channels = channels, pixels = px }
end

-- The image's pixels as a 0-based float array (a Lua table is copied).
local function checked(who, img, want_channels)
  if type(img) ~= "table" or not is_count(img.width) or not is_count(img.height)
      or not is_count(img.channels) or img.pixels == nil then
    fail(who, "expected an image {width=, height=, channels=, pixels=}, got %s", type(img))
  end
  if want_channels and img.channels ~= want_channels then
    fail(who, "expected a grey image (1 channel), got %d channels (use image.to_grey)", img.channels)
  end
  if type(img.pixels) == "table" then
    return M.new(img.width, img.height, img.channels, img.pixels).pixels
  end
  if type(img.pixels) ~= "cdata" then
    fail(who, "pixels must be a flat table or a float array, got %s", type(img.pixels))
  end
  return img.pixels
end

-- The pixels as a flat Lua table (1-based, HWC).
function M.totable(img)
  local px = checked("totable", img)
  local t = {}
  for i = 1, img.width * img.height * img.channels do t[i] = px[i - 1] end
  return t
end

-- Grey by luminance, 0.299 R + 0.587 G + 0.114 B. 1 channel: a copy; 2 (grey + alpha) and
-- 4 (RGBA): the alpha channel is ignored.
function M.to_grey(img)
  local px = checked("to_grey", img)
  local w, h, c = img.width, img.height, img.channels
  if c > 4 then fail("to_grey", "expected 1 to 4 channels, got %d", c) end
  local out = M.new(w, h, 1)
  local o = out.pixels
  for i = 0, w * h - 1 do
    local b = i * c
    if c <= 2 then
      o[i] = px[b]
    else
      o[i] = 0.299 * px[b] + 0.587 * px[b + 1] + 0.114 * px[b + 2]
    end
  end
  return out
end

-- Mean of the pixels on the outer frame of a grey image.
function M.border_mean(img)
  local px = checked("border_mean", img, 1)
  local w, h = img.width, img.height
  local sum, n = 0, 0
  for y = 0, h - 1 do
    for x = 0, w - 1 do
      if y == 0 or y == h - 1 or x == 0 or x == w - 1 then
        sum, n = sum + px[y * w + x], n + 1
      end
    end
  end
  return sum / n
end

-- 1 - v for every pixel.
function M.invert(img)
  local px = checked("invert", img)
  local n = img.width * img.height * img.channels
  local out = M.new(img.width, img.height, img.channels)
  for i = 0, n - 1 do out.pixels[i] = 1 - px[i] end
  return out
end

-- White digit on black: inverts a grey image whose border is light (mean > 0.5).
-- Returns the image (a copy either way) and whether it was inverted.
function M.ink_on_black(img)
  if M.border_mean(img) > 0.5 then return M.invert(img), true end
  return M.new(img.width, img.height, 1, checked("ink_on_black", img, 1)), false
end

-- Bounding box of the pixels > threshold (default 0.1) of a grey image, as
-- {x=, y=, width=, height=} (0-based), or nil when there are none.
function M.ink_box(img, threshold)
  local px = checked("ink_box", img, 1)
  threshold = threshold or 0.1
  local w, h = img.width, img.height
  local x0, y0, x1, y1 = w, h, -1, -1
  for y = 0, h - 1 do
    for x = 0, w - 1 do
      if px[y * w + x] > threshold then
        if x < x0 then x0 = x end
        if x > x1 then x1 = x end
        if y < y0 then y0 = y end
        if y > y1 then y1 = y end
      end
    end
  end
  if x1 < 0 then return nil end
  return { x = x0, y = y0, width = x1 - x0 + 1, height = y1 - y0 + 1 }
end

-- The part of the image inside box {x=, y=, width=, height=} (0-based; must lie inside).
function M.crop(img, box)
  local px = checked("crop", img)
  local w, h, c = img.width, img.height, img.channels
  if type(box) ~= "table" or not is_count(box.width) or not is_count(box.height)
      or type(box.x) ~= "number" or type(box.y) ~= "number"
      or box.x < 0 or box.y < 0 or box.x + box.width > w or box.y + box.height > h then
    fail("crop", "box must be {x=, y=, width=, height=} inside the %dx%d image, got %s", w, h,
         type(box) == "table" and string.format("{x=%s, y=%s, width=%s, height=%s}", tostring(box.x),
           tostring(box.y), tostring(box.width), tostring(box.height)) or type(box))
  end
  local out = M.new(box.width, box.height, c)
  local row = box.width * c
  for y = 0, box.height - 1 do
    ffi.copy(out.pixels + y * row, px + ((box.y + y) * w + box.x) * c, row * ffi.sizeof("float"))
  end
  return out
end

-- Weights of a 1-D resampling from n to m samples: list (per output) of {index, weight}.
-- Shrinking: area averaging (each output is the mean of the input interval it covers,
-- fractions included). Enlarging: linear interpolation between pixel centres (the edges
-- are clamped). Same size: the identity.
local function taps(n, m)
  local list = {}
  if m == n then
    for i = 0, m - 1 do list[i] = { { i, 1 } } end
  elseif m < n then
    local r = n / m
    for i = 0, m - 1 do
      local a, b = i * r, (i + 1) * r
      local t = {}
      for k = math.floor(a), math.min(n - 1, math.ceil(b) - 1) do
        local cover = math.min(b, k + 1) - math.max(a, k)
        if cover > 1e-12 then t[#t + 1] = { k, cover / r } end
      end
      list[i] = t
    end
  else
    local r = n / m
    for i = 0, m - 1 do
      local s = math.max(0, math.min(n - 1, (i + 0.5) * r - 0.5))
      local k = math.floor(s)
      local f = s - k
      if k >= n - 1 then list[i] = { { n - 1, 1 } }
      else list[i] = { { k, 1 - f }, { k + 1, f } } end
    end
  end
  return list
end

-- The image resampled to width x height: area averaging along an axis that shrinks,
-- bilinear interpolation along an axis that grows (separable, so both are exact in 2-D).
function M.resize(img, width, height)
  local px = checked("resize", img)
  if not is_count(width) or not is_count(height) then
    fail("resize", "width and height must be positive integers, got %s and %s", tostring(width),
         tostring(height))
  end
  local w, h, c = img.width, img.height, img.channels
  local tx, ty = taps(w, width), taps(h, height)
  local mid = alloc(width * h * c)            -- rows resampled first
  for y = 0, h - 1 do
    for x = 0, width - 1 do
      for ch = 0, c - 1 do
        local s = 0
        for _, t in ipairs(tx[x]) do s = s + t[2] * px[(y * w + t[1]) * c + ch] end
        mid[(y * width + x) * c + ch] = s
      end
    end
  end
  local out = M.new(width, height, c)
  for y = 0, height - 1 do
    for x = 0, width - 1 do
      for ch = 0, c - 1 do
        local s = 0
        for _, t in ipairs(ty[y]) do s = s + t[2] * mid[(t[1] * width + x) * c + ch] end
        out.pixels[(y * width + x) * c + ch] = s
      end
    end
  end
  return out
end

-- Size (width, height) that scales w x h, keeping the aspect ratio, to a longer side of `side`.
function M.fit_size(w, h, side)
  local s = side / math.max(w, h)
  return math.max(1, math.floor(w * s + 0.5)), math.max(1, math.floor(h * s + 0.5))
end

-- Centre of mass (x, y) of a grey image, in pixel indices (pixel (0,0) is at 0,0);
-- the geometric centre when the image is all zero.
function M.center_of_mass(img)
  local px = checked("center_of_mass", img, 1)
  local w, h = img.width, img.height
  local sum, sx, sy = 0, 0, 0
  for y = 0, h - 1 do
    for x = 0, w - 1 do
      local v = px[y * w + x]
      sum, sx, sy = sum + v, sx + v * x, sy + v * y
    end
  end
  if sum <= 0 then return (w - 1) / 2, (h - 1) / 2 end
  return sx / sum, sy / sum
end

-- A size x size black canvas with the grey image pasted at a whole-pixel offset that puts
-- its centre of mass nearest the canvas centre ((size-1)/2 in pixel indices), moved no
-- further than keeps the whole image on the canvas. Returns the canvas and the offset x, y.
function M.paste_centered(img, size)
  local px = checked("paste_centered", img, 1)
  local w, h = img.width, img.height
  if not is_count(size) or size < w or size < h then
    fail("paste_centered", "size must be an integer >= the image's %dx%d, got %s", w, h, tostring(size))
  end
  local cx, cy = M.center_of_mass(img)
  local centre = (size - 1) / 2
  local ox = math.max(0, math.min(size - w, math.floor(centre - cx + 0.5)))
  local oy = math.max(0, math.min(size - h, math.floor(centre - cy + 0.5)))
  local out = M.new(size, size, 1)
  for y = 0, h - 1 do
    ffi.copy(out.pixels + (oy + y) * size + ox, px + y * w, w * ffi.sizeof("float"))
  end
  return out, ox, oy
end

-- (v - mean) / std for every pixel (default: MNIST's 0.1307 and 0.3081).
function M.normalize(img, mean, std)
  local px = checked("normalize", img)
  mean, std = mean or M.MNIST_MEAN, std or M.MNIST_STD
  if type(mean) ~= "number" or type(std) ~= "number" or not (std > 0) then
    fail("normalize", "mean must be a number and std a number > 0, got %s and %s", tostring(mean),
         tostring(std))
  end
  local n = img.width * img.height * img.channels
  local out = M.new(img.width, img.height, img.channels)
  for i = 0, n - 1 do out.pixels[i] = (px[i] - mean) / std end
  return out
end

-- Any picture of one digit -> a 28x28 MNIST-style input: grey, white ink on black (inverted
-- when the border is light), cropped to the ink (pixels > 0.1; the whole image when there is
-- none), scaled to a longer side of 20, pasted centred by centre of mass, normalised.
-- Returns the normalised image (28x28x1) and info {inverted=, box=, offset={x, y}, canvas=}
-- where canvas is the image in [0,1] before normalisation.
-- opts: size (28), box (20), threshold (0.1), mean, std (MNIST's).
function M.mnist_like(img, opts)
  opts = opts or {}
  local size, side = opts.size or 28, opts.box or 20
  if not is_count(size) or not is_count(side) or side > size then
    fail("mnist_like", "box (%s) and size (%s) must be positive integers with box <= size",
         tostring(side), tostring(size))
  end
  local grey, inverted = M.ink_on_black(M.to_grey(img))
  local box = M.ink_box(grey, opts.threshold or 0.1)
  local digit = box and M.crop(grey, box) or grey
  local w, h = M.fit_size(digit.width, digit.height, side)
  local canvas, ox, oy = M.paste_centered(M.resize(digit, w, h), size)
  return M.normalize(canvas, opts.mean, opts.std),
         { inverted = inverted, box = box, offset = { ox, oy }, canvas = canvas }
end

-- ---- for predict.lua: class probabilities ---------------------------------------------------

-- Softmax of k logits (a Lua table, 1-based, or a float array from `offset`, 0-based),
-- stable: the largest logit is subtracted first. Returns a 1-based Lua table.
function M.softmax(logits, k, offset)
  offset = offset or 0
  local get
  if type(logits) == "table" then
    k = k or #logits
    get = function(j) return logits[offset + j] end
  else
    get = function(j) return logits[offset + j - 1] end
  end
  local top = -math.huge
  for j = 1, k do top = math.max(top, get(j)) end
  local p, sum = {}, 0
  for j = 1, k do p[j] = math.exp(get(j) - top); sum = sum + p[j] end
  for j = 1, k do p[j] = p[j] / sum end
  return p
end

-- The k largest entries of probs (1-based table) as {{class=0-based, p=}, ...}, largest
-- first; ties go to the lower class.
function M.top_k(probs, k)
  local order = {}
  for j = 1, #probs do order[j] = j end
  table.sort(order, function(a, b)
    if probs[a] ~= probs[b] then return probs[a] > probs[b] end
    return a < b
  end)
  local out = {}
  for i = 1, math.min(k, #probs) do out[i] = { class = order[i] - 1, p = probs[order[i]] } end
  return out
end

return M
