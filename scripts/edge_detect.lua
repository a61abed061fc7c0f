-- Edge detection with hand-made filters, run as lunet's nn.Conv2d on the device.
--   luajit scripts/edge_detect.lua photo.png [OUT_PREFIX] [--filter "0 1 2 / 2 2 0 / 0 1 2"]
local script_dir = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "."
package.path = script_dir .. "/../lua/?.lua;" .. script_dir .. "/../lua/?/init.lua;" .. package.path

local cli = require("lunet.cli")
local opts, positional = cli.parse(arg, {
  usage = "luajit scripts/edge_detect.lua [IN.png] [OUT_PREFIX] [options]",
  description = "Finds edges in a PNG (grey, RGB or RGBA, 8 or 16 bits; colour is turned into grey by\n"
    .. "luminance) with hand-made 3x3 filters, run on the device as one nn.Conv2d with 5 output\n"
    .. "channels (weights set to these filters, bias 0):\n"
    .. "  vertical    1 0 -1 / 1 0 -1 / 1 0 -1\n"
    .. "  horizontal  1 1 1 / 0 0 0 / -1 -1 -1          (the transpose)\n"
    .. "  sobel       sqrt(gx^2 + gy^2) of Sobel x (1 0 -1 / 2 0 -2 / 1 0 -1) and Sobel y (its transpose)\n"
    .. "  laplacian   0 1 0 / 1 -4 1 / 0 1 0\n"
    .. "It writes OUT_PREFIX-input.png (the grey input), OUT_PREFIX-vertical.png, -horizontal.png,\n"
    .. "-sobel.png, -laplacian.png, and with --filter OUT_PREFIX-custom.png (a second nn.Conv2d).\n"
    .. "Each output is shown as |response| / max|response|: 0 (black) is no response, 1 (white)\n"
    .. "the strongest (an image with no response at all is black). As in PyTorch, the filter is not flipped\n"
    .. "(cross-correlation). With --padding replicate (the default) or zero the outputs have the\n"
    .. "input's size (even-sized filters are padded as PyTorch's padding=\"same\").\n"
    .. "Without IN.png it draws a sample (a square, a circle and a triangle) and uses that.\n"
    .. "OUT_PREFIX defaults to runs/edges/<name of IN.png without .png> in the checkout\n"
    .. "(runs/edges/shapes for the sample).",
  options = {
    { "filter", "string", nil, "your own filter: rows of numbers separated by /, any size, e.g. \"0 1 2 / 2 2 0 / 0 1 2\"", metavar = "ROWS" },
    { "padding", "string", "replicate", "image borders: replicate (repeat the border pixels), zero, or valid (no padding: the output shrinks by filter size - 1)",
      metavar = "MODE",
      choices = { "replicate", "zero", "valid" } },
    { "out", "string", nil, "the same as OUT_PREFIX", metavar = "PREFIX" },
    { "sample-size", "number", 128, "width and height of the drawn sample image", metavar = "N" },
    { "device", "string", nil, "OpenCL device: index or name substring (default: LUNET_DEVICE, first GPU, first device)" },
  },
})

local function usage_error(msg) io.stderr:write("edge_detect: ", msg, " (see --help)\n"); os.exit(2, true) end
local function die(msg) io.stderr:write("edge_detect: ", msg, "\n"); os.exit(1, true) end

if #positional > 2 then
  usage_error(string.format("expected at most IN.png and OUT_PREFIX, got %d arguments: %s", #positional,
                            table.concat(positional, " ")))
end
local in_path, prefix = positional[1], positional[2]
if prefix and opts.out and prefix ~= opts.out then
  usage_error("OUT_PREFIX given twice: " .. prefix .. " and --out " .. opts.out)
end
prefix = prefix or opts.out
if opts.sample_size < 16 or opts.sample_size > 4096 or opts.sample_size ~= math.floor(opts.sample_size) then
  usage_error("--sample-size must be an integer from 16 to 4096, got " .. tostring(opts.sample_size))
end

local edges = require("lunet.edges")
local custom
if opts.filter then
  local okf, f = pcall(edges.parse_filter, opts.filter)
  if not okf then usage_error("--filter " .. tostring(f):gsub("^filter: ", "")) end
  custom = f
end

local lunet = require("lunet")
if opts.device then
  local okd, err = pcall(lunet.set_device, opts.device)
  if not okd then die(tostring(err)) end
end
local lio = require("lunet.io")

-- ---- the input --------------------------------------------------------------------------
local grey, name
if in_path then
  local okr, img = pcall(lio.read_png, in_path)
  if not okr then die(tostring(img)) end
  grey = edges.to_grey(img)
  name = in_path:match("([^/]*)$"):gsub("%.[pP][nN][gG]$", "")
  if name == "" then name = "image" end
  print(string.format("input: %s, %dx%d, %s", in_path, grey.width, grey.height,
                      img.channels >= 3 and "colour, turned into grey" or "grey"))
else
  grey = edges.sample_image(opts.sample_size)
  name = "shapes"
  print(string.format("no IN.png given: using a drawn sample image (%dx%d: a square, a circle and a triangle)",
                      grey.width, grey.height))
end

local root = script_dir .. "/.."
prefix = prefix or (root .. "/runs/edges/" .. name)
local dir = prefix:match("^(.*)/[^/]*$")
if dir and dir ~= "" then os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'") end

local device = lunet.device()
print(string.format("lunet %s on %s (%s); padding: %s", lunet.version, device.name, device.platform, opts.padding))

-- ---- the filters, on the device -----------------------------------------------------------
local ok, maps = pcall(edges.detect, grey, { padding = opts.padding })
if not ok then die(tostring(maps)) end
local custom_map
if custom then
  local okc, outs = pcall(edges.convolve, grey, { custom }, { padding = opts.padding })
  if not okc then die(tostring(outs)) end
  custom_map = outs[1]
end

-- ---- files ------------------------------------------------------------------------------
local written = {}
local function write(suffix, map, what)
  local path = prefix .. "-" .. suffix .. ".png"
  local n = map.width * map.height
  local view, maxv = map.values, nil
  if suffix ~= "input" then view, maxv = edges.normalise(map.values, n) end
  local okw, err = pcall(lio.write_png, path, map.width, map.height, 1, view)
  if not okw then die(tostring(err)) end
  written[#written + 1] = path
  print(string.format("  %-16s %dx%d  %s%s", suffix, map.width, map.height, what,
                      maxv and string.format(" (max |response| %.4g shown as white)", maxv) or ""))
end

print("outputs:")
write("input", { width = grey.width, height = grey.height, values = grey.pixels }, "the grey input")
write("vertical", maps.vertical, "vertical edges")
write("horizontal", maps.horizontal, "horizontal edges")
write("sobel", maps.sobel, "Sobel magnitude")
write("laplacian", maps.laplacian, "Laplacian")
if custom_map then
  local rows = {}
  for r, row in ipairs(custom) do
    local cells = {}
    for c, v in ipairs(row) do cells[c] = string.format("%.6g", v) end
    rows[r] = table.concat(cells, " ")
  end
  write("custom", custom_map, edges.filter_size(custom) .. " filter " .. table.concat(rows, " / "))
end
print("wrote:")
for _, path in ipairs(written) do print("  " .. path) end
