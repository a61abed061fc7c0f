-- lunet.plot: charts as PNG files, drawn with Cairo (Debian's libcairo2) through FFI.
--   plot.lines("curves.png", { panels = {
--     { title = "loss", xlabel = "epoch", ylabel = "loss",
--       series = { { name = "train", x = {1, 2, 3}, y = {0.9, 0.5, 0.3} } } } } })
--   plot.heatmap("confusion.png", { title = "...", matrix = {{..}, ..}, labels = {"0", ..},
--                                   xlabel = "predicted", ylabel = "true" })
local ffi = require("ffi")

ffi.cdef [[
typedef struct _cairo cairo_t;
typedef struct _cairo_surface cairo_surface_t;
typedef struct { double x_bearing, y_bearing, width, height, x_advance, y_advance; } cairo_text_extents_t;
cairo_surface_t *cairo_image_surface_create(int format, int width, int height);
int cairo_surface_status(cairo_surface_t *surface);
int cairo_surface_write_to_png(cairo_surface_t *surface, const char *filename);
void cairo_surface_destroy(cairo_surface_t *surface);
cairo_t *cairo_create(cairo_surface_t *target);
void cairo_destroy(cairo_t *cr);
void cairo_save(cairo_t *cr);
void cairo_restore(cairo_t *cr);
void cairo_set_source_rgb(cairo_t *cr, double r, double g, double b);
void cairo_set_line_width(cairo_t *cr, double width);
void cairo_set_dash(cairo_t *cr, const double *dashes, int num_dashes, double offset);
void cairo_move_to(cairo_t *cr, double x, double y);
void cairo_line_to(cairo_t *cr, double x, double y);
void cairo_rectangle(cairo_t *cr, double x, double y, double width, double height);
void cairo_arc(cairo_t *cr, double xc, double yc, double radius, double angle1, double angle2);
void cairo_stroke(cairo_t *cr);
void cairo_fill(cairo_t *cr);
void cairo_paint(cairo_t *cr);
void cairo_translate(cairo_t *cr, double tx, double ty);
void cairo_rotate(cairo_t *cr, double angle);
void cairo_select_font_face(cairo_t *cr, const char *family, int slant, int weight);
void cairo_set_font_size(cairo_t *cr, double size);
void cairo_text_extents(cairo_t *cr, const char *utf8, cairo_text_extents_t *extents);
void cairo_show_text(cairo_t *cr, const char *utf8);
void cairo_set_source_rgba(cairo_t *cr, double r, double g, double b, double a);
void cairo_new_path(cairo_t *cr);
]]

local ok_load, cairo = pcall(ffi.load, "cairo.so.2")
if not ok_load then ok_load, cairo = pcall(ffi.load, "cairo") end

local M = { cairo = ok_load and cairo or nil }
local FORMAT_RGB24 = 1

-- Tableau-like palette: distinguishable and readable on white.
M.palette = {
  { 0.12, 0.47, 0.71 }, { 1.00, 0.50, 0.05 }, { 0.17, 0.63, 0.17 }, { 0.84, 0.15, 0.16 },
  { 0.58, 0.40, 0.74 }, { 0.55, 0.34, 0.29 }, { 0.89, 0.47, 0.76 }, { 0.50, 0.50, 0.50 },
  { 0.74, 0.74, 0.13 }, { 0.09, 0.75, 0.81 },
}

local function require_cairo()
  if not ok_load then
    error("lunet.plot: cannot load Cairo (libcairo2): apt-get install libcairo2", 0)
  end
end

-- "Nice" tick positions covering [lo, hi]: steps of 1, 2 or 5 times a power of ten.
function M.ticks(lo, hi, want)
  want = want or 6
  if hi <= lo then hi = lo + 1 end
  local raw = (hi - lo) / want
  local mag = 10 ^ math.floor(math.log10(raw))
  local step = mag
  for _, m in ipairs({ 1, 2, 5, 10 }) do
    if m * mag >= raw then step = m * mag; break end
  end
  local ticks = {}
  local k = math.ceil(lo / step - 1e-9)
  while k * step <= hi + step * 1e-9 do
    ticks[#ticks + 1] = tonumber(string.format("%.12g", k * step))   -- 0.6, not 0.6000000001
    k = k + 1
  end
  return ticks, tonumber(string.format("%.12g", step))
end

function M.fmt_tick(v, step)
  if step >= 1 and v == math.floor(v) then return string.format("%d", v) end
  local decimals = math.max(0, -math.floor(math.log10(step) + 1e-9))
  return string.format("%." .. decimals .. "f", v)
end

local Canvas = {}
Canvas.__index = Canvas

local function canvas(width, height)
  require_cairo()
  local surface = cairo.cairo_image_surface_create(FORMAT_RGB24, width, height)
  if cairo.cairo_surface_status(surface) ~= 0 then
    error(string.format("lunet.plot: cannot create a %dx%d image", width, height), 0)
  end
  local cr = cairo.cairo_create(surface)
  cairo.cairo_set_source_rgb(cr, 1, 1, 1)
  cairo.cairo_paint(cr)
  cairo.cairo_select_font_face(cr, "DejaVu Sans", 0, 0)
  return setmetatable({ surface = surface, cr = cr, width = width, height = height }, Canvas)
end

function Canvas:color(c) cairo.cairo_set_source_rgb(self.cr, c[1], c[2], c[3]) end

-- Drawing on a raw cairo_t (lunet.viz draws its scatter plots with these too).
function M.line(cr, x1, y1, x2, y2, width)
  cairo.cairo_set_line_width(cr, width or 1)
  cairo.cairo_move_to(cr, x1, y1)
  cairo.cairo_line_to(cr, x2, y2)
  cairo.cairo_stroke(cr)
end

-- Text anchored at (x, y): ax/ay 0 = left/top, 0.5 = centre, 1 = right/bottom.
function M.text(cr, s, x, y, size, ax, ay, angle)
  cairo.cairo_set_font_size(cr, size)
  local e = ffi.new("cairo_text_extents_t")
  cairo.cairo_text_extents(cr, s, e)
  cairo.cairo_save(cr)
  cairo.cairo_translate(cr, x, y)
  if angle then cairo.cairo_rotate(cr, angle) end
  cairo.cairo_move_to(cr, -e.x_advance * (ax or 0), e.height * (1 - (ay or 0)))
  cairo.cairo_show_text(cr, s)
  cairo.cairo_restore(cr)
end

function Canvas:line(x1, y1, x2, y2, width) M.line(self.cr, x1, y1, x2, y2, width) end
function Canvas:text(s, x, y, size, ax, ay, angle) M.text(self.cr, s, x, y, size, ax, ay, angle) end

function Canvas:save(path)
  local status = cairo.cairo_surface_write_to_png(self.surface, path)
  cairo.cairo_destroy(self.cr)
  cairo.cairo_surface_destroy(self.surface)
  if status ~= 0 then error("lunet.plot: cannot write " .. path, 0) end
end

local function range(series, key, lo, hi)
  for _, s in ipairs(series) do
    for _, v in ipairs(s[key]) do
      if v == v then lo = math.min(lo, v); hi = math.max(hi, v) end   -- skip NaN
    end
  end
  return lo, hi
end

-- One line chart in the box (x0, y0, w, h) of canvas c.
local function draw_panel(c, spec, x0, y0, w, h)
  local left, right, top, bottom = 70, 20, 40, 55
  local px, py, pw, ph = x0 + left, y0 + top, w - left - right, h - top - bottom
  local xlo, xhi = range(spec.series, "x", math.huge, -math.huge)
  local ylo, yhi = range(spec.series, "y", math.huge, -math.huge)
  if spec.ylim then ylo, yhi = spec.ylim[1], spec.ylim[2] end
  if xlo == math.huge then xlo, xhi = 0, 1 end
  if ylo == math.huge then ylo, yhi = 0, 1 end
  if xhi == xlo then xhi = xlo + 1 end
  if yhi == ylo then yhi = ylo + 1 end
  local xt, xstep = M.ticks(xlo, xhi, 8)
  local integer_x = true
  for _, sr in ipairs(spec.series) do
    for _, v in ipairs(sr.x) do integer_x = integer_x and v == math.floor(v) end
  end
  if integer_x and xstep < 1 then xt, xstep = M.ticks(xlo, xhi, math.max(1, xhi - xlo)) end   -- epochs: no 1.5
  local _, ystep0 = M.ticks(ylo, yhi, 6)
  if not spec.ylim then   -- the y axis starts and ends on a tick
    ylo, yhi = math.floor(ylo / ystep0 + 1e-9) * ystep0, math.ceil(yhi / ystep0 - 1e-9) * ystep0
  end
  local yt, ystep = M.ticks(ylo, yhi, 6)
  xlo, xhi = math.min(xlo, xt[1]), math.max(xhi, xt[#xt])
  ylo, yhi = math.min(ylo, yt[1]), math.max(yhi, yt[#yt])
  local function sx(v) return px + (v - xlo) / (xhi - xlo) * pw end
  local function sy(v) return py + ph - (v - ylo) / (yhi - ylo) * ph end
  -- grid, ticks and tick labels
  for _, t in ipairs(yt) do
    c:color({ 0.9, 0.9, 0.9 }); c:line(px, sy(t), px + pw, sy(t))
    c:color({ 0.2, 0.2, 0.2 }); c:line(px - 5, sy(t), px, sy(t))
    c:text(M.fmt_tick(t, ystep), px - 8, sy(t), 12, 1, 0.5)
  end
  for _, t in ipairs(xt) do
    c:color({ 0.2, 0.2, 0.2 }); c:line(sx(t), py + ph, sx(t), py + ph + 5)
    c:text(M.fmt_tick(t, xstep), sx(t), py + ph + 9, 12, 0.5, 0)
  end
  -- axes, title and labels
  c:color({ 0, 0, 0 })
  c:line(px, py + ph, px + pw, py + ph, 1.2)
  c:line(px, py, px, py + ph, 1.2)
  if spec.title then c:text(spec.title, px + pw / 2, y0 + 12, 15, 0.5, 0) end
  if spec.xlabel then c:text(spec.xlabel, px + pw / 2, y0 + h - 20, 13, 0.5, 0) end
  if spec.ylabel then c:text(spec.ylabel, x0 + 14, py + ph / 2, 13, 0.5, 0.5, -math.pi / 2) end
  -- the series, with a dot on each point
  for i, s in ipairs(spec.series) do
    local col = s.color or M.palette[(i - 1) % #M.palette + 1]
    c:color(col)
    cairo.cairo_set_line_width(c.cr, 2)
    for j = 1, #s.x do
      if j == 1 then cairo.cairo_move_to(c.cr, sx(s.x[j]), sy(s.y[j]))
      else cairo.cairo_line_to(c.cr, sx(s.x[j]), sy(s.y[j])) end
    end
    cairo.cairo_stroke(c.cr)
    for j = 1, #s.x do
      cairo.cairo_arc(c.cr, sx(s.x[j]), sy(s.y[j]), 3, 0, 2 * math.pi)
      cairo.cairo_fill(c.cr)
    end
  end
  -- legend box in the top right corner, or the bottom right with legend = "lower right"
  local lx, ly = px + pw - 150, py + 8
  if spec.legend == "lower right" then ly = py + ph - 16 - 18 * #spec.series end
  c:color({ 1, 1, 1 }); cairo.cairo_rectangle(c.cr, lx, ly, 142, 8 + 18 * #spec.series); cairo.cairo_fill(c.cr)
  c:color({ 0.6, 0.6, 0.6 }); cairo.cairo_set_line_width(c.cr, 1)
  cairo.cairo_rectangle(c.cr, lx, ly, 142, 8 + 18 * #spec.series); cairo.cairo_stroke(c.cr)
  for i, s in ipairs(spec.series) do
    c:color(s.color or M.palette[(i - 1) % #M.palette + 1])
    c:line(lx + 8, ly + 4 + 18 * i - 9, lx + 30, ly + 4 + 18 * i - 9, 2.5)
    c:color({ 0, 0, 0 })
    c:text(s.name or ("series " .. i), lx + 36, ly + 4 + 18 * i - 9, 12, 0, 0.5)
  end
end

local function check_series(spec, where)
  if type(spec.series) ~= "table" or #spec.series == 0 then
    error("lunet.plot: " .. where .. " needs a non-empty series list", 0)
  end
  for i, s in ipairs(spec.series) do
    if type(s.x) ~= "table" or type(s.y) ~= "table" or #s.x ~= #s.y then
      error(string.format("lunet.plot: %s series %d needs x and y tables of equal length", where, i), 0)
    end
  end
end

-- Line charts side by side in one PNG: opts.panels = { spec, ... }.
function M.lines(path, opts)
  local panels = opts.panels or { opts }
  for i, p in ipairs(panels) do check_series(p, "panel " .. i) end
  local pw, h = opts.panel_width or 560, opts.height or 420
  local c = canvas(pw * #panels, h)
  for i, p in ipairs(panels) do draw_panel(c, p, (i - 1) * pw, 0, pw, h) end
  c:save(path)
  return path
end

-- A matrix of counts as coloured cells with the numbers in them (a confusion matrix).
function M.heatmap(path, opts)
  local m = opts.matrix
  if type(m) ~= "table" or #m == 0 then error("lunet.plot.heatmap: matrix must be a non-empty table of rows", 0) end
  local n, k = #m, #m[1]
  local cell = opts.cell or 44
  local left, top = 90, 60
  local c = canvas(left + cell * k + 30, top + cell * n + 70)
  local maxv = 0
  for i = 1, n do for j = 1, k do maxv = math.max(maxv, m[i][j]) end end
  for i = 1, n do
    for j = 1, k do
      local v = maxv > 0 and m[i][j] / maxv or 0
      c:color({ 1 - 0.85 * v, 1 - 0.55 * v, 1 - 0.2 * v })
      cairo.cairo_rectangle(c.cr, left + (j - 1) * cell, top + (i - 1) * cell, cell, cell)
      cairo.cairo_fill(c.cr)
      c:color(v > 0.5 and { 1, 1, 1 } or { 0, 0, 0 })
      c:text(tostring(m[i][j]), left + (j - 0.5) * cell, top + (i - 0.5) * cell, 11, 0.5, 0.5)
    end
  end
  c:color({ 0, 0, 0 })
  local labels = opts.labels or {}
  for i = 1, n do c:text(labels[i] or tostring(i - 1), left - 8, top + (i - 0.5) * cell, 12, 1, 0.5) end
  for j = 1, k do c:text(labels[j] or tostring(j - 1), left + (j - 0.5) * cell, top + n * cell + 8, 12, 0.5, 0) end
  if opts.title then c:text(opts.title, left + k * cell / 2, 18, 15, 0.5, 0) end
  if opts.xlabel then c:text(opts.xlabel, left + k * cell / 2, top + n * cell + 32, 13, 0.5, 0) end
  if opts.ylabel then c:text(opts.ylabel, 16, top + n * cell / 2, 13, 0.5, 0.5, -math.pi / 2) end
  c:save(path)
  return path
end

return M
