-- Helpers shared by the busted specs (tests/lua is on package.path through helper.lua):
--   local tu = require("testutil")
-- Error checks, shell quoting, file reading, temporary directories and running scripts
-- with LuaJIT while capturing what they print.
local M = {}

-- busted gives the specs luassert as `assert`; a required module sees the plain global.
local assert = require("luassert")

-- The LuaJIT that runs the scripts under test.
M.LUAJIT = os.getenv("LUNET_TEST_LUAJIT") or "luajit"

-- fn(...) must raise an error whose message contains `pattern` as plain text.
function M.fails_with(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.is_truthy(tostring(err):find(pattern, 1, true),
                   "message \"" .. tostring(err) .. "\" lacks \"" .. pattern .. "\"")
end

-- fn(...) must raise an error whose message is exactly `expected`.
function M.fails_exactly(expected, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error: " .. expected)
  assert.are.equal(expected, tostring(err))
end

-- `s` quoted for a POSIX shell.
function M.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- The whole content of the file at `path`, or "" when it cannot be read.
function M.slurp(path)
  local f = io.open(path, "rb")
  local s = f and f:read("*a") or ""
  if f then f:close() end
  return s
end

-- Writes `content` to the file at `path` (replacing it); fails the test when it cannot.
function M.write(path, content)
  local f = assert(io.open(path, "wb"))
  f:write(content)
  f:close()
end

-- True when a file at `path` can be opened for reading.
function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- Makes a new directory $LUNET_TEST_TMP/<prefix>-<time>-<random> (/tmp without the
-- variable) and returns its path.
function M.tmpdir(prefix)
  local dir = (os.getenv("LUNET_TEST_TMP") or "/tmp") .. "/" .. prefix .. "-" .. tostring(os.time()) ..
              "-" .. tostring(math.random(1e9))
  os.execute("mkdir -p " .. M.q(dir))
  return dir
end

-- Wall-clock seconds, with a fraction.
function M.now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("*l"))
  p:close()
  return t
end

-- `program` followed by each of `args` quoted, as one command line.
function M.command(program, args)
  local parts = { program }
  for _, a in ipairs(args or {}) do parts[#parts + 1] = M.q(a) end
  return table.concat(parts, " ")
end

-- Runs the command line `cmd` with its stdout and stderr sent to files in the directory
-- `dir`; returns stdout, stderr and the exit status.
function M.sh(cmd, dir)
  local out, err = dir .. "/stdout.txt", dir .. "/stderr.txt"
  local p = io.popen(cmd .. " >" .. M.q(out) .. " 2>" .. M.q(err) .. "; echo $?")
  local status = tonumber(p:read("*a"):match("(%d+)"))
  p:close()
  return M.slurp(out), M.slurp(err), status
end

-- Runs `script` with LuaJIT and the quoted `args`; returns stdout, stderr, the exit status
-- and the seconds it took. opts.tmp (required): the directory for the captured output;
-- opts.cwd: a directory to run it from.
function M.run(script, args, opts)
  local cmd = M.command(M.LUAJIT .. " " .. M.q(script), args)
  if opts.cwd then cmd = "cd " .. M.q(opts.cwd) .. " && " .. cmd end
  local t0 = M.now()
  local out, err, status = M.sh(cmd, opts.tmp)
  return out, err, status, M.now() - t0
end

return M
