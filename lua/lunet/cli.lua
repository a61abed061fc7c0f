-- lunet.cli: command-line options for the scripts, with --help generated from the spec.
--   local opts = cli.parse(arg, {
--     usage = "luajit scripts/train_lenet.lua [options]",
--     description = "Trains LeNet-5.",
--     options = {
--       { "epochs", "number", 10, "passes over the training set" },
--       { "optimizer", "string", "sgd", "sgd or adam", choices = { "sgd", "adam" } },
--       { "resume", "flag", false, "continue from the last checkpoint" },
--     },
--   })
-- Unknown options and bad values end the script with a message (exit status 2).
local M = {}

local function help_text(spec)
  local lines = { "usage: " .. spec.usage, "" }
  if spec.description then lines[#lines + 1] = spec.description; lines[#lines + 1] = "" end
  lines[#lines + 1] = "options:"
  for _, o in ipairs(spec.options) do
    local name, kind, default, text = o[1], o[2], o[3], o[4]
    local left = "  --" .. name .. (kind == "flag" and "" or (" " .. (o.metavar or kind:upper())))
    local dflt = (kind ~= "flag" and default ~= nil) and (" (default: " .. tostring(default) .. ")") or ""
    lines[#lines + 1] = string.format("%-28s %s%s", left, text, dflt)
  end
  lines[#lines + 1] = string.format("%-28s %s", "  --help", "show this text")
  return table.concat(lines, "\n")
end
M.help_text = help_text

local function fail(msg)
  io.stderr:write(msg, "\n")
  os.exit(2, true)
end

-- Returns the options table and the list of positional arguments.
function M.parse(argv, spec, on_error)
  on_error = on_error or fail
  local by_name, opts, positional = {}, {}, {}
  for _, o in ipairs(spec.options) do
    by_name[o[1]] = o
    opts[o[1]:gsub("-", "_")] = o[3]
  end
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--help" or a == "-h" then
      print(help_text(spec))
      os.exit(0, true)
    end
    local name, inline = a:match("^%-%-([%w%-_]+)=(.*)$")
    name = name or a:match("^%-%-([%w%-_]+)$")
    if not name then
      positional[#positional + 1] = a
    else
      local o = by_name[name]
      if not o then return on_error("unknown option --" .. name .. " (see --help)") end
      local key = name:gsub("-", "_")
      if o[2] == "flag" then
        opts[key] = true
      else
        local v = inline
        if v == nil then
          i = i + 1
          v = argv[i]
        end
        if v == nil then return on_error("--" .. name .. " needs a value (see --help)") end
        if o[2] == "number" then
          local n = tonumber(v)
          if not n then return on_error("--" .. name .. " expects a number, got '" .. v .. "'") end
          v = n
        end
        if o.choices then
          local ok = false
          for _, c in ipairs(o.choices) do ok = ok or c == v end
          if not ok then
            return on_error("--" .. name .. " must be one of " .. table.concat(o.choices, ", ")
                            .. ", got '" .. tostring(v) .. "'")
          end
        end
        opts[key] = v
      end
    end
    i = i + 1
  end
  return opts, positional
end

return M
