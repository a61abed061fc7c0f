-- lunet.tuning (the kernel parameters of the device: get/set, bad values, save/load, bad
-- files) and scripts/tune.lua (--help, a --quick run saving into a temporary
-- LUNET_CACHE_DIR, --show, --dry-run, --reset, a corrupt file, LUNET_TUNING=0).
-- The in-process tests save only to explicit paths: the context's own tuning file lives
-- in the shared test kernel cache.
local lunet = require("lunet")
local tuning = require("lunet.tuning")
local nn = require("lunet.nn")
local tu = require("testutil")

local ROOT = "."
local SCRIPT = ROOT .. "/scripts/tune.lua"
local tmp = tu.tmpdir("tuning-spec")

-- Runs scripts/tune.lua with `args` and the environment assignments `env` (a string such
-- as "LUNET_CACHE_DIR=/x"); returns stdout, stderr, exit status.
local function tune(args, env)
  local cmd = (env or "") .. " " .. tu.command(tu.LUAJIT .. " " .. tu.q(SCRIPT), args)
  return tu.sh(cmd, tmp)
end

local write = tu.write

local exists = tu.exists

-- The device defaults differ between CPUs and GPUs (gemm.variant: reg or tiled); the
-- tests run on whatever device LUNET_DEVICE picks.
local ON_GPU = require("lunet.context").device().type == "gpu"
local function device_default(key)
  local k = tuning.key(key)
  return ON_GPU and k.gpu_default or k.cpu_default
end
local VARIANT = device_default("gemm.variant")
local OTHER_VARIANT = VARIANT == "reg" and "tiled" or "reg"   -- one that a saved file keeps

describe("lunet.tuning", function()
  before_each(function() tuning.reset() end)
  after_each(function() tuning.reset() end)

  it("lists the keys with their allowed values and defaults", function()
    local keys = {}
    for _, k in ipairs(tuning.keys()) do keys[k.name] = k end
    assert.are.same({ "reg", "tiled" }, keys["gemm.variant"].allowed)
    assert.is_false(keys["gemm.variant"].numeric)
    assert.are.equal("reg", keys["gemm.variant"].cpu_default)
    assert.are.equal("tiled", keys["gemm.variant"].gpu_default)
    assert.are.same({ 2, 4, 8, 16 }, keys["gemm.rm"].allowed)
    assert.is_true(keys["gemm.rm"].numeric)
    assert.are.equal(8, keys["gemm.rm"].cpu_default)
    assert.is_truthy(keys["gemm.tile"].description:find("tile"))
    assert.are.equal(keys["gemm.dv"], tuning.key("gemm.dv") and keys["gemm.dv"])
    tu.fails_with('unknown key "gemm.x" (known keys: gemm.variant, gemm.rm', tuning.key, "gemm.x")
  end)

  it("gets and sets values: numbers for integer keys, strings for names", function()
    assert.are.equal(VARIANT, tuning.get("gemm.variant"))
    assert.are.equal(16, tuning.get("gemm.rn"))
    assert.is_false(tuning.is_set("gemm.rn"))
    tuning.set("gemm.rn", 8)
    assert.are.equal(8, tuning.get("gemm.rn"))
    assert.is_true(tuning.is_set("gemm.rn"))
    tuning.set("gemm.variant", "tiled")
    assert.are.equal("tiled", tuning.all()["gemm.variant"])
    tuning.set("gemm.rn", nil)   -- back to the default
    assert.are.equal(16, tuning.get("gemm.rn"))
    assert.is_false(tuning.is_set("gemm.rn"))
    assert.are.equal("tiled", tuning.get("gemm.variant"))
    tuning.reset()
    assert.are.equal(VARIANT, tuning.get("gemm.variant"))
  end)

  it("rejects unknown keys and values that are not allowed, changing nothing", function()
    tuning.set("gemm.rm", 4)
    tu.fails_exactly('tuning_set: gemm.rm = "3" is not allowed (allowed: 2|4|8|16)', tuning.set, "gemm.rm", 3)
    tu.fails_with('gemm.variant = "gpu" is not allowed (allowed: reg|tiled)', tuning.set, "gemm.variant", "gpu")
    tu.fails_with('tuning_set: unknown key "gemm.rmm" (known keys: gemm.variant', tuning.set, "gemm.rmm", 4)
    tu.fails_with('tuning_get: unknown key "nope"', tuning.get, "nope")
    tu.fails_with('unknown key "nope"', tuning.is_set, "nope")
    assert.are.equal(4, tuning.get("gemm.rm"))
  end)

  it("saves and loads files, and a bad file is an error that changes nothing", function()
    local path = tmp .. "/saved.txt"
    tuning.set("gemm.variant", OTHER_VARIANT)
    tuning.set("gemm.tile", 32)
    assert.are.equal(path, tuning.save(path))
    local text = tu.slurp(path)
    assert.is_truthy(text:find("\ngemm.variant = " .. OTHER_VARIANT .. "\n", 1, true), text)
    assert.is_truthy(text:find("\ngemm.tile = 32\n", 1, true), text)
    assert.is_falsy(text:find("gemm.rm", 1, true), text)   -- defaults are not written
    tuning.reset()
    tuning.set("gemm.rm", 2)
    tuning.load(path)
    assert.are.same({ OTHER_VARIANT, 32, 8 }, { tuning.get("gemm.variant"), tuning.get("gemm.tile"), tuning.get("gemm.rm") })

    write(path, "gemm.variant = reg\ngemm.tile = 48\n")
    tu.fails_exactly("tuning file " .. path .. ', line 2: gemm.tile = "48" is not allowed (allowed: 64|32|16|8|4)',
                     tuning.load, path)
    write(path, "gemm.colour = blue\n")
    tu.fails_with('line 1: unknown key "gemm.colour"', tuning.load, path)
    write(path, "\0\1\2\3")
    tu.fails_with("binary data, not a tuning file", tuning.load, path)
    tu.fails_with("cannot open: No such file", tuning.load, tmp .. "/absent.txt")
    assert.are.same({ OTHER_VARIANT, 32 }, { tuning.get("gemm.variant"), tuning.get("gemm.tile") })
    tu.fails_with("cannot create " .. tmp .. "/no/dir/t.txt", tuning.save, tmp .. "/no/dir/t.txt")
  end)

  it("reaches the ops: a dense layer gives the same result with either GEMM variant", function()
    lunet.manual_seed(3)
    local layer = nn.Linear(37, 11)
    local x = lunet.randn({ 5, 37 })
    local results = {}
    for _, variant in ipairs({ "reg", "tiled" }) do
      tuning.set("gemm.variant", variant)
      results[variant] = layer:forward(x):totable()
    end
    local a, b = results.reg, results.tiled
    assert.are.equal(55, #a)
    for i = 1, 55 do assert(math.abs(a[i] - b[i]) < 1e-4, "differs at " .. i) end
  end)
end)

describe("scripts/tune.lua", function()
  it("has --help", function()
    local out, _, status = tune({ "--help" })
    assert.are.equal(0, status)
    for _, opt in ipairs({ "--quick", "--dry-run", "--show", "--reset", "--batch", "--rounds", "--device" }) do
      assert.is_truthy(out:find(opt, 1, true), "--help lacks " .. opt)
    end
    assert.is_truthy(out:find("LUNET_TUNING=0", 1, true))
  end)

  it("rejects bad options", function()
    local _, err, status = tune({ "--batch", "0" })
    assert.are.equal(2, status)
    assert.is_truthy(err:find("--batch must be an integer from 1 to 4096, got 0", 1, true), err)
  end)

  it("times a --quick run, saves the choice, shows it, survives a bad file and resets", function()
    local cache = tmp .. "/cache"
    local env = "LUNET_CACHE_DIR=" .. tu.q(cache)
    -- --dry-run: the table, nothing written
    local out, err, status = tune({ "--quick", "--dry-run" }, env)
    assert.are.equal(0, status, err)
    assert.is_truthy(out:find("dry run: nothing saved", 1, true), out)
    local path = out:match("the file would be (%S+)%)")
    assert.is_truthy(path and path:find(cache .. "/tuning-", 1, true), out)
    assert.is_false(exists(path))

    out, err, status = tune({ "--quick" }, env)
    assert.are.equal(0, status, err)
    for _, want in ipairs({ "c1.fwd", "f1.dx", "reg block", "dot block", "tile", "rm=8 rn=16 *",
                            "chosen: ", "gemm.variant = ", "direct pos=8 taps=8", "im2col",
                            "chosen for convolutions: ", "saved to " .. path }) do
      assert.is_truthy(out:find(want, 1, true), "output lacks " .. want .. ":\n" .. out)
    end
    local text = tu.slurp(path)
    local variant = text:match("\ngemm.variant = (%a+)\n")
    assert.is_truthy(variant == "reg" or variant == "tiled", text)
    assert.is_truthy(text:find("\ngemm.rm = %d+\n"), text)
    local algo = text:match("\nconv.algo = (%w+)\n")   -- %w: im2col has a digit
    assert.is_truthy(algo == "direct" or algo == "im2col", text)

    -- a new process reads the file
    out, err, status = tune({ "--show" }, env)
    assert.are.equal(0, status, err)
    assert.is_truthy(out:find("tuning file: " .. path, 1, true), out)
    assert.is_truthy(out:find("gemm.variant +" .. variant .. " +%(file;"), out)
    assert.is_truthy(out:find("gemm.tile +64 +%(default;") or out:find("gemm.tile +%d+ +%(file;"), out)

    -- LUNET_TUNING=0: the defaults
    out, err, status = tune({ "--show" }, env .. " LUNET_TUNING=0")
    assert.are.equal(0, status, err)
    assert.is_truthy(out:find("gemm.variant +" .. VARIANT .. " +%(default;"), out)
    assert.is_truthy(out:find("LUNET_TUNING=0: the file is not read", 1, true), out)

    -- a corrupt file: a warning, the defaults, and the script still works
    write(path, "gemm.variant = fast\n")
    out, err, status = tune({ "--show" }, env)
    assert.are.equal(0, status, err)
    assert.is_truthy(err:find("lunet: warning: tuning file " .. path .. ', line 1: gemm.variant = "fast" is not allowed',
                              1, true), err)
    assert.is_truthy(err:find("the file is ignored and the device defaults apply", 1, true), err)
    assert.is_truthy(out:find("gemm.variant +" .. VARIANT .. " +%(default;"), out)

    out, err, status = tune({ "--reset" }, env)
    assert.are.equal(0, status, err)
    assert.is_truthy(out:find("removed " .. path, 1, true), out)
    assert.is_false(exists(path))
    out = tune({ "--reset" }, env)
    assert.is_truthy(out:find("(nothing to do)", 1, true), out)
  end)
end)
