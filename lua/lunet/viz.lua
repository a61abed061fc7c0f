-- lunet.viz: seeing inside a network: embeddings of a layer's activations (PCA, t-SNE),
-- scatter plots coloured by class, and grids of small images (filters, feature maps).
--
--   local viz = require("lunet.viz")
--   local pts, info = viz.tsne(features, { perplexity = 30, iterations = 1000, seed = 1 })
--                                        -- features: a Tensor [N,D]; pts: {{x, y}, ...}
--   local pcs, pinfo = viz.pca(features, 2)  -- on the host; pinfo.explained = {0.31, 0.12}
--   viz.scatter("tsne.png", pts, labels, { title = "t-SNE", xlabel = "t-SNE 1", ylabel = "t-SNE 2" })
--   viz.image_grid("filters.png", conv1.weight, { rows = 1, scale = 12 })
--   viz.neighbour_agreement(pts, labels)  -- share of points whose nearest neighbour has their label
--
-- t-SNE runs on the device (lunet_tsne_* in lunet.h, kernels/tsne.cl): exact O(N^2), fine
-- for N up to a few thousand (P alone is 4 N^2 bytes: 100 MB for N = 5000).
local lunet = require("lunet")
local lio = require("lunet.io")
local plot = require("lunet.plot")
local ffi, C = lunet.ffi, lunet.C

local M = {}

local function fail(who, fmt, ...)
  error("viz." .. who .. ": " .. string.format(fmt, ...), 0)
end

local function is_integer(v, low)
  return type(v) == "number" and v == math.floor(v) and v >= low and v < math.huge
end

local function check_opts(who, opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then fail(who, "options must be a table, got %s", type(opts)) end
  return opts
end

-- A positive finite number option (or its default).
local function positive(who, opts, key, default)
  local v = opts[key]
  if v == nil then return default end
  if type(v) ~= "number" or not (v > 0) or v == math.huge then
    fail(who, "%s must be a positive number, got %s", key, tostring(v))
  end
  return v
end

-- Features as host rows: n, d and a double[n*d] (row-major). Accepts a Tensor [N,D] or a
-- table of N rows of D numbers.
local function host_matrix(who, features)
  if lunet.is_tensor(features) then
    if features:ndim() ~= 2 then
      fail(who, "expected features [N,D], got a Tensor %s", lunet.shape_str(features:shape()))
    end
    local n, d = features:dim(1), features:dim(2)
    local f = features:tobuffer()
    local out = ffi.new("double[?]", n * d)
    for i = 0, n * d - 1 do out[i] = f[i] end
    return n, d, out
  end
  if type(features) ~= "table" or #features == 0 or type(features[1]) ~= "table" then
    fail(who, "expected features as a Tensor [N,D] or a table of rows, got %s",
         type(features) == "table" and "a table without rows" or type(features))
  end
  local n, d = #features, #features[1]
  if d == 0 then fail(who, "row 1 is empty") end
  local out = ffi.new("double[?]", n * d)
  for i = 1, n do
    local row = features[i]
    if type(row) ~= "table" or #row ~= d then
      fail(who, "row %d has %s values, row 1 has %d", i, type(row) == "table" and #row or type(row), d)
    end
    for j = 1, d do
      local v = row[j]
      if type(v) ~= "number" then fail(who, "row %d, column %d is a %s, expected a number", i, j, type(v)) end
      out[(i - 1) * d + j - 1] = v
    end
  end
  return n, d, out
end

-- ---- PCA -------------------------------------------------------------------------------

-- Eigen-decomposition of the symmetric d x d matrix a (double[d*d], destroyed) by cyclic
-- Jacobi rotations. Returns the eigenvalues (Lua table) and the eigenvectors as the
-- columns of v (double[d*d]).
local function jacobi_eigen(a, d)
  local v = ffi.new("double[?]", d * d)
  for i = 0, d - 1 do v[i * d + i] = 1 end
  for _ = 1, 100 do
    local off, total = 0, 0
    for i = 0, d - 1 do
      for j = 0, d - 1 do
        local x = a[i * d + j] * a[i * d + j]
        total = total + x
        if i ~= j then off = off + x end
      end
    end
    if off <= 1e-24 * total or off == 0 then break end
    for p = 0, d - 2 do
      for q = p + 1, d - 1 do
        local apq = a[p * d + q]
        if apq ~= 0 then
          local theta = (a[q * d + q] - a[p * d + p]) / (2 * apq)
          local t = (theta >= 0 and 1 or -1) / (math.abs(theta) + math.sqrt(theta * theta + 1))
          local c = 1 / math.sqrt(t * t + 1)
          local s = t * c
          for k = 0, d - 1 do   -- a = J^T a J, columns then rows
            local akp, akq = a[k * d + p], a[k * d + q]
            a[k * d + p], a[k * d + q] = c * akp - s * akq, s * akp + c * akq
          end
          for k = 0, d - 1 do
            local apk, aqk = a[p * d + k], a[q * d + k]
            a[p * d + k], a[q * d + k] = c * apk - s * aqk, s * apk + c * aqk
          end
          for k = 0, d - 1 do
            local vkp, vkq = v[k * d + p], v[k * d + q]
            v[k * d + p], v[k * d + q] = c * vkp - s * vkq, s * vkp + c * vkq
          end
        end
      end
    end
  end
  local values = {}
  for i = 0, d - 1 do values[i + 1] = a[i * d + i] end
  return values, v
end

-- Principal component analysis on the host: the covariance of the centred features and its
-- eigenvectors (Jacobi; O(D^3), meant for D up to a few hundred). Returns N rows of k
-- coordinates and {components = k unit vectors (tables of D), variance = k eigenvalues,
-- explained = k shares of the total variance, mean = D column means}. Each component's
-- largest entry is positive, so the result does not flip between runs.
function M.pca(features, k)
  local who = "pca"
  k = k or 2
  local n, d, x = host_matrix(who, features)
  if not is_integer(k, 1) or k > d then
    fail(who, "k must be an integer from 1 to D = %d, got %s", d, tostring(k))
  end
  if n < 2 then fail(who, "needs at least 2 rows, got %d", n) end
  local mean = {}
  for j = 0, d - 1 do
    local s = 0
    for i = 0, n - 1 do s = s + x[i * d + j] end
    mean[j + 1] = s / n
  end
  for i = 0, n - 1 do
    for j = 0, d - 1 do x[i * d + j] = x[i * d + j] - mean[j + 1] end
  end
  local cov = ffi.new("double[?]", d * d)
  for i = 0, n - 1 do
    local base = i * d
    for a = 0, d - 1 do
      local xa = x[base + a]
      if xa ~= 0 then
        for b = a, d - 1 do cov[a * d + b] = cov[a * d + b] + xa * x[base + b] end
      end
    end
  end
  local total = 0
  for a = 0, d - 1 do
    for b = a, d - 1 do
      local v = cov[a * d + b] / (n - 1)
      cov[a * d + b], cov[b * d + a] = v, v
    end
    total = total + cov[a * d + a]
  end
  local values, vectors = jacobi_eigen(cov, d)
  local order = {}
  for i = 1, d do order[i] = i end
  table.sort(order, function(a, b)
    if values[a] ~= values[b] then return values[a] > values[b] end
    return a < b
  end)
  local info = { components = {}, variance = {}, explained = {}, mean = mean }
  for c = 1, k do
    local col = order[c] - 1
    local comp, big = {}, 0
    for j = 0, d - 1 do
      comp[j + 1] = vectors[j * d + col]
      if math.abs(comp[j + 1]) > math.abs(big) then big = comp[j + 1] end
    end
    if big < 0 then for j = 1, d do comp[j] = -comp[j] end end
    info.components[c] = comp
    info.variance[c] = math.max(values[order[c]], 0)
    info.explained[c] = total > 0 and info.variance[c] / total or 0
  end
  local rows = {}
  for i = 0, n - 1 do
    local row = {}
    for c = 1, k do
      local comp, s = info.components[c], 0
      for j = 0, d - 1 do s = s + x[i * d + j] * comp[j + 1] end
      row[c] = s
    end
    rows[i + 1] = row
  end
  return rows, info
end

-- ---- t-SNE -------------------------------------------------------------------------------

local function now()
  return require("lunet.progress").now()
end

-- t-SNE of the rows of features (a Tensor [N,D], or a table of rows) on the device.
-- Options: perplexity (30), iterations (1000), seed (lunet.next_seed()), learning_rate
-- (200, or "auto" for max(N / 12, 200) as openTSNE), exaggeration (12) for the first
-- exaggeration_iterations (250), momentum 0.5 then final_momentum 0.8 from
-- momentum_switch (250) on; progress = function(iteration, total) called every 50
-- iterations. Returns {{x, y}, ...} (N points) and {kl =, seconds =, affinity_seconds =,
-- iterations =, learning_rate =}.
function M.tsne(features, opts)
  local who = "tsne"
  opts = check_opts(who, opts)
  local x = features
  if not lunet.is_tensor(x) then
    local n, d, host = host_matrix(who, features)
    local buf = ffi.new("float[?]", n * d)
    for i = 0, n * d - 1 do buf[i] = host[i] end
    x = lunet.tensor(buf, { n, d })
  elseif x:ndim() ~= 2 then
    fail(who, "expected features [N,D], got a Tensor %s", lunet.shape_str(x:shape()))
  end
  local n = x:dim(1)
  local perplexity = positive(who, opts, "perplexity", 30)
  local iterations = opts.iterations or 1000
  if not is_integer(iterations, 1) then
    fail(who, "iterations must be a positive integer, got %s", tostring(iterations))
  end
  if n < 3 then fail(who, "needs at least 3 points, got %d", n) end
  if perplexity < 1 or perplexity >= n - 1 then
    fail(who, "perplexity must be at least 1 and less than N - 1 = %d (N = %d points), got %s",
         n - 1, n, tostring(perplexity))
  end
  local lr = opts.learning_rate or 200
  if lr == "auto" then lr = math.max(n / 12, 200) end
  if type(lr) ~= "number" or not (lr > 0) or lr == math.huge then
    fail(who, "learning_rate must be a positive number or \"auto\", got %s", tostring(opts.learning_rate))
  end
  local exaggeration = positive(who, opts, "exaggeration", 12)
  local early = opts.exaggeration_iterations or 250
  local switch = opts.momentum_switch or 250
  for key, v in pairs({ exaggeration_iterations = early, momentum_switch = switch }) do
    if not is_integer(v, 0) then fail(who, "%s must be a non-negative integer, got %s", key, tostring(v)) end
  end
  local momentum, final_momentum = opts.momentum or 0.5, opts.final_momentum or 0.8
  for key, v in pairs({ momentum = momentum, final_momentum = final_momentum }) do
    if type(v) ~= "number" or not (v >= 0 and v < 1) then
      fail(who, "%s must be in [0, 1), got %s", key, tostring(v))
    end
  end
  local seed = opts.seed
  if seed == nil then seed = lunet.next_seed() end
  if not is_integer(seed, 0) then fail(who, "seed must be a non-negative integer, got %s", tostring(seed)) end
  if opts.progress ~= nil and type(opts.progress) ~= "function" then
    fail(who, "progress must be a function(iteration, total), got %s", type(opts.progress))
  end

  local t0 = now()
  local p = lunet.zeros({ n, n })
  lunet.check(C.lunet_tsne_affinities(x.handle, perplexity, p.handle, nil))
  lunet.synchronize()
  local t1 = now()
  local y = lunet.randn({ n, 2 }, seed, 0, 1e-4)
  local update, gains = lunet.zeros({ n, 2 }), lunet.full({ n, 2 }, 1)
  for it = 1, iterations do
    local ex = it <= early and exaggeration or 1
    local mom = it <= switch and momentum or final_momentum
    lunet.check(C.lunet_tsne_step(p.handle, y.handle, update.handle, gains.handle, ex, mom, lr))
    if opts.progress and (it % 50 == 0 or it == iterations) then
      lunet.synchronize()
      opts.progress(it, iterations)
    end
  end
  local kl = ffi.new("float[1]")
  lunet.check(C.lunet_tsne_kl(p.handle, y.handle, kl))   -- also waits for the steps
  local t2 = now()
  local v = y:tobuffer()
  local points = {}
  for i = 0, n - 1 do points[i + 1] = { v[2 * i], v[2 * i + 1] } end
  return points, { kl = kl[0], seconds = t2 - t0, affinity_seconds = t1 - t0,
                   iterations = iterations, learning_rate = lr, perplexity = perplexity }
end

-- ---- measures ----------------------------------------------------------------------------

-- Check that points is a list of {x, y} and labels (when given) a list of the same length.
local function check_points(who, points, labels)
  if type(points) ~= "table" or #points == 0 then
    fail(who, "points must be a non-empty list of {x, y}, got %s",
         type(points) == "table" and "an empty table" or type(points))
  end
  for i, pt in ipairs(points) do
    if type(pt) ~= "table" or type(pt[1]) ~= "number" or type(pt[2]) ~= "number" then
      fail(who, "point %d must be {x, y} with two numbers", i)
    end
  end
  if labels ~= nil then
    if type(labels) ~= "table" or #labels ~= #points then
      fail(who, "labels must be a list of %d labels (one per point), got %s", #points,
           type(labels) == "table" and (#labels .. " labels") or type(labels))
    end
  end
end

-- Share of points whose nearest other point (Euclidean, in the embedding) has the same
-- label: 1 when classes form clean clusters, about 1/K for K classes mixed at random.
function M.neighbour_agreement(points, labels)
  check_points("neighbour_agreement", points, labels)
  if labels == nil then fail("neighbour_agreement", "labels are needed") end
  local n = #points
  if n < 2 then return 0 end
  local xs, ys = ffi.new("double[?]", n), ffi.new("double[?]", n)
  for i = 1, n do xs[i - 1], ys[i - 1] = points[i][1], points[i][2] end
  local same = 0
  for i = 0, n - 1 do
    local best, bj = math.huge, -1
    local xi, yi = xs[i], ys[i]
    for j = 0, n - 1 do
      if j ~= i then
        local dx, dy = xi - xs[j], yi - ys[j]
        local d = dx * dx + dy * dy
        if d < best then best, bj = d, j end
      end
    end
    if labels[bj + 1] == labels[i + 1] then same = same + 1 end
  end
  return same / n
end

-- ---- scatter plots (Cairo, as lunet.plot) -----------------------------------------------

-- Cairo and the drawing helpers come from lunet.plot.
local cairo, ok_cairo = plot.cairo, plot.cairo ~= nil
local text, line, fmt_tick = plot.text, plot.line, plot.fmt_tick

-- A scatter plot of points ({{x, y}, ...}) coloured by labels (a list of class numbers or
-- names, one per point; nil: one colour), with a legend of the classes, axes with ticks,
-- axis labels and a title, as a PNG. Options: title, xlabel, ylabel, width (760),
-- height (640), radius (2.5), alpha (0.75), class_names (a map label -> legend text).
function M.scatter(path, points, labels, opts)
  local who = "scatter"
  if type(path) ~= "string" or path == "" then fail(who, "path must be a non-empty string, got %s", type(path)) end
  check_points(who, points, labels)
  opts = check_opts(who, opts)
  if not ok_cairo then fail(who, "cannot load Cairo (libcairo2): apt-get install libcairo2") end
  local width, height = opts.width or 760, opts.height or 640
  if not is_integer(width, 200) or not is_integer(height, 200) then
    fail(who, "width and height must be integers of at least 200, got %s and %s", tostring(width), tostring(height))
  end
  local radius, alpha = positive(who, opts, "radius", 2.5), positive(who, opts, "alpha", 0.75)

  -- the classes, in order (numbers ascending, then names)
  local classes, index = {}, {}
  for _, l in ipairs(labels or {}) do
    if index[l] == nil then index[l] = true; classes[#classes + 1] = l end
  end
  table.sort(classes, function(a, b)
    if type(a) == type(b) then return a < b end
    return type(a) == "number"
  end)
  for i, l in ipairs(classes) do index[l] = i end

  local xlo, xhi, ylo, yhi = math.huge, -math.huge, math.huge, -math.huge
  for _, pt in ipairs(points) do
    if pt[1] == pt[1] and pt[2] == pt[2] then
      xlo, xhi = math.min(xlo, pt[1]), math.max(xhi, pt[1])
      ylo, yhi = math.min(ylo, pt[2]), math.max(yhi, pt[2])
    end
  end
  if xlo == math.huge then xlo, xhi, ylo, yhi = 0, 1, 0, 1 end
  local function widen(lo, hi)
    if hi - lo < 1e-12 then lo, hi = lo - 0.5, hi + 0.5 end
    local m = 0.04 * (hi - lo)
    return lo - m, hi + m
  end
  xlo, xhi = widen(xlo, xhi)
  ylo, yhi = widen(ylo, yhi)

  local legend_w = #classes > 0 and 70 or 0
  local left, right, top, bottom = 75, 20 + legend_w, 45, 60
  local px, py, pw, ph = left, top, width - left - right, height - top - bottom
  local function sx(v) return px + (v - xlo) / (xhi - xlo) * pw end
  local function sy(v) return py + ph - (v - ylo) / (yhi - ylo) * ph end

  local surface = cairo.cairo_image_surface_create(1, width, height)   -- RGB24
  if cairo.cairo_surface_status(surface) ~= 0 then fail(who, "cannot create a %dx%d image", width, height) end
  local cr = cairo.cairo_create(surface)
  cairo.cairo_set_source_rgb(cr, 1, 1, 1)
  cairo.cairo_paint(cr)
  cairo.cairo_select_font_face(cr, "DejaVu Sans", 0, 0)

  -- grid, ticks and labels
  local xt, xstep = plot.ticks(xlo, xhi, 7)
  local yt, ystep = plot.ticks(ylo, yhi, 7)
  for _, t in ipairs(xt) do
    if t >= xlo and t <= xhi then
      cairo.cairo_set_source_rgb(cr, 0.92, 0.92, 0.92); line(cr, sx(t), py, sx(t), py + ph)
      cairo.cairo_set_source_rgb(cr, 0.2, 0.2, 0.2); line(cr, sx(t), py + ph, sx(t), py + ph + 5)
      text(cr, fmt_tick(t, xstep), sx(t), py + ph + 9, 12, 0.5, 0)
    end
  end
  for _, t in ipairs(yt) do
    if t >= ylo and t <= yhi then
      cairo.cairo_set_source_rgb(cr, 0.92, 0.92, 0.92); line(cr, px, sy(t), px + pw, sy(t))
      cairo.cairo_set_source_rgb(cr, 0.2, 0.2, 0.2); line(cr, px - 5, sy(t), px, sy(t))
      text(cr, fmt_tick(t, ystep), px - 8, sy(t), 12, 1, 0.5)
    end
  end

  -- the points, in a shuffled-looking but fixed order so no class is drawn wholly on top
  local order = {}
  for i = 1, #points do order[i] = i end
  table.sort(order, function(a, b)
    local ha, hb = (a * 2654435761) % 4294967296, (b * 2654435761) % 4294967296
    if ha ~= hb then return ha < hb end
    return a < b
  end)
  for _, i in ipairs(order) do
    local pt = points[i]
    if pt[1] == pt[1] and pt[2] == pt[2] then
      local c = labels and plot.palette[(index[labels[i]] - 1) % #plot.palette + 1] or plot.palette[1]
      cairo.cairo_set_source_rgba(cr, c[1], c[2], c[3], alpha)
      cairo.cairo_new_path(cr)
      cairo.cairo_arc(cr, sx(pt[1]), sy(pt[2]), radius, 0, 2 * math.pi)
      cairo.cairo_fill(cr)
    end
  end

  -- frame, title, axis labels
  cairo.cairo_set_source_rgb(cr, 0, 0, 0)
  cairo.cairo_set_line_width(cr, 1.2)
  cairo.cairo_rectangle(cr, px, py, pw, ph)
  cairo.cairo_stroke(cr)
  if opts.title then text(cr, tostring(opts.title), px + pw / 2, 14, 15, 0.5, 0) end
  if opts.xlabel then text(cr, tostring(opts.xlabel), px + pw / 2, height - 26, 13, 0.5, 0) end
  if opts.ylabel then text(cr, tostring(opts.ylabel), 18, py + ph / 2, 13, 0.5, 0.5, -math.pi / 2) end

  -- legend: one swatch per class, right of the plot
  if #classes > 0 then
    local lx, ly = px + pw + 14, py
    local names = opts.class_names or {}
    for i, l in ipairs(classes) do
      local c = plot.palette[(i - 1) % #plot.palette + 1]
      cairo.cairo_set_source_rgb(cr, c[1], c[2], c[3])
      cairo.cairo_new_path(cr)
      cairo.cairo_arc(cr, lx + 6, ly + 10 + 20 * (i - 1), 5, 0, 2 * math.pi)
      cairo.cairo_fill(cr)
      cairo.cairo_set_source_rgb(cr, 0, 0, 0)
      text(cr, tostring(names[l] or l), lx + 18, ly + 10 + 20 * (i - 1), 13, 0, 0.5)
    end
  end

  local status = cairo.cairo_surface_write_to_png(surface, path)
  cairo.cairo_destroy(cr)
  cairo.cairo_surface_destroy(surface)
  if status ~= 0 then fail(who, "cannot write %s", path) end
  return path
end

-- ---- image grids -------------------------------------------------------------------------

-- The tiles of `images` as a list of {w, h, get(k) -> value of pixel k (0-based)}.
-- A Tensor is cut into tiles of its last two dimensions ([K,1,5,5] filters: K tiles of
-- 5x5; [1,6,28,28] feature maps: 6 tiles of 28x28); a list holds images {width=, height=,
-- pixels= (a flat table or a float pointer)} or 2-D tables of rows.
local function tiles_of(who, images)
  local tiles = {}
  if lunet.is_tensor(images) then
    local shape = images:shape()
    if #shape < 2 then fail(who, "a Tensor of images needs at least 2 dimensions [..,H,W], got %s", lunet.shape_str(shape)) end
    local h, w = shape[#shape - 1], shape[#shape]
    local buf = images:tobuffer()
    for t = 0, images:numel() / (h * w) - 1 do
      local base = t * h * w
      tiles[#tiles + 1] = { w = w, h = h, get = function(k) return buf[base + k] end }
    end
    return tiles
  end
  if type(images) ~= "table" or #images == 0 then
    fail(who, "images must be a Tensor [..,H,W] or a non-empty list of images, got %s",
         type(images) == "table" and "an empty table" or type(images))
  end
  for i, img in ipairs(images) do
    if type(img) ~= "table" then fail(who, "image %d is a %s, expected a table", i, type(img)) end
    if img.width then
      local w, h, px = img.width, img.height, img.pixels
      if not is_integer(w, 1) or not is_integer(h, 1) then
        fail(who, "image %d: width and height must be positive integers", i)
      end
      if (img.channels or 1) ~= 1 then fail(who, "image %d has %s channels, expected 1 (grey)", i, tostring(img.channels)) end
      if type(px) == "table" then
        if #px ~= w * h then fail(who, "image %d: %d pixels given, %dx%d needs %d", i, #px, w, h, w * h) end
        tiles[i] = { w = w, h = h, get = function(k) return px[k + 1] end }
      elseif type(px) == "cdata" then
        tiles[i] = { w = w, h = h, get = function(k) return px[k] end }
      else
        fail(who, "image %d: pixels must be a table or a float pointer, got %s", i, type(px))
      end
    elseif type(img[1]) == "table" then
      local h, w = #img, #img[1]
      for r = 1, h do
        if type(img[r]) ~= "table" or #img[r] ~= w then fail(who, "image %d: row %d does not have %d values", i, r, w) end
      end
      tiles[i] = { w = w, h = h, get = function(k) return img[math.floor(k / w) + 1][k % w + 1] end }
    else
      fail(who, "image %d must be {width=, height=, pixels=} or a table of rows", i)
    end
  end
  return tiles
end

-- A grid of small grey images, each scaled to [0,1] on its own (min to max; a constant
-- image is black), enlarged by nearest-neighbour scaling and separated by lines, as an
-- 8-bit grey PNG. Options: cols (default ceil(sqrt(K))), rows (default enough for K),
-- scale (default: tiles about 64 pixels wide), pad (separator width, 2), separator (its
-- grey level, 1 = white). Returns path and {rows=, cols=, width=, height=, scale=}.
function M.image_grid(path, images, opts)
  local who = "image_grid"
  if type(path) ~= "string" or path == "" then fail(who, "path must be a non-empty string, got %s", type(path)) end
  opts = check_opts(who, opts)
  local tiles = tiles_of(who, images)
  local k = #tiles
  local tw, th = tiles[1].w, tiles[1].h
  for i, t in ipairs(tiles) do
    if t.w ~= tw or t.h ~= th then
      fail(who, "image %d is %dx%d but image 1 is %dx%d; all must have one size", i, t.w, t.h, tw, th)
    end
  end
  for _, key in ipairs({ "rows", "cols", "scale" }) do
    if opts[key] ~= nil and not is_integer(opts[key], 1) then
      fail(who, "%s must be a positive integer, got %s", key, tostring(opts[key]))
    end
  end
  if opts.pad ~= nil and not is_integer(opts.pad, 0) then
    fail(who, "pad must be a non-negative integer, got %s", tostring(opts.pad))
  end
  local cols = opts.cols or (opts.rows and math.ceil(k / opts.rows)) or math.ceil(math.sqrt(k))
  local rows = opts.rows or math.ceil(k / cols)
  if rows * cols < k then
    fail(who, "a grid of %d rows and %d columns holds %d images, not %d", rows, cols, rows * cols, k)
  end
  local scale = opts.scale or math.max(1, math.floor(64 / math.max(tw, th)))
  local pad = opts.pad or 2
  local sep = opts.separator or 1
  if type(sep) ~= "number" or sep < 0 or sep > 1 then
    fail(who, "separator must be a grey level in [0, 1], got %s", tostring(sep))
  end
  local cw, ch = tw * scale, th * scale
  local width, height = cols * cw + (cols + 1) * pad, rows * ch + (rows + 1) * pad
  local buf = ffi.new("float[?]", width * height)
  for i = 0, width * height - 1 do buf[i] = sep end
  for t = 1, k do
    local tile = tiles[t]
    local lo, hi = math.huge, -math.huge
    for q = 0, tw * th - 1 do
      local v = tile.get(q)
      if v == v then lo, hi = math.min(lo, v), math.max(hi, v) end
    end
    local range = hi - lo
    local r, c = math.floor((t - 1) / cols), (t - 1) % cols
    local x0, y0 = pad + c * (cw + pad), pad + r * (ch + pad)
    for yy = 0, th - 1 do
      for xx = 0, tw - 1 do
        local v = tile.get(yy * tw + xx)
        v = (range > 0 and v == v) and (v - lo) / range or 0
        for dy = 0, scale - 1 do
          local row = (y0 + yy * scale + dy) * width + x0 + xx * scale
          for dx = 0, scale - 1 do buf[row + dx] = v end
        end
      end
    end
  end
  lio.write_png(path, width, height, 1, buf)
  return path, { rows = rows, cols = cols, width = width, height = height, scale = scale }
end

return M
