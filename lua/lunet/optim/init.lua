-- lunet.optim: optimizers that update parameters in place on the device.
--
--   local optim = require("lunet.optim")
--   local opt = optim.SGD(model:parameters(), {lr = 0.01, momentum = 0.9})
--   opt:zero_grad(); ...forward, backward...; opt:step()
--
-- params is a list of {name=, value=Tensor, grad=Tensor} (Module:parameters(); a module
-- itself is accepted too). State tensors (velocity, Adam's m and v) are allocated once.
-- opt:state() returns {step=, buffers={key -> Tensor}} for checkpoints (the live
-- tensors, not copies) and opt:load_state(state) copies such a table back. A buffer's
-- key is "<parameter name>.<buffer>" ("weight.velocity"), or "<i>:<name>.<buffer>" for
-- every parameter when the names are missing or not unique.
local lunet = require("lunet")

local M = {}

local Optimizer = { __name = "Optimizer" }
Optimizer.__index = Optimizer
M.Optimizer = Optimizer

-- A subclass: local SGD = Optimizer:extend("SGD"); SGD(params, opts) makes one.
function Optimizer:extend(name)
  local cls = { __name = name, super = self }
  cls.__index = cls
  cls.__tostring = self.__tostring
  return setmetatable(cls, {
    __index = self,
    __call = function(c, ...)
      local obj = setmetatable({}, c)
      obj:init(...)
      return obj
    end,
  })
end

function Optimizer:error(fmt, ...)
  error(self.__name .. ": " .. string.format(fmt, ...), 0)
end

function Optimizer:__tostring() return self:describe() end

-- value must be a number >= 0 ("lr must be a non-negative number, got -1").
function Optimizer:check_non_negative(what, value)
  if type(value) ~= "number" or not (value >= 0) or value == math.huge then
    self:error("%s must be a non-negative number, got %s", what, tostring(value))
  end
end

-- 0 <= value < 1.
function Optimizer:check_fraction(what, value)
  if type(value) ~= "number" or not (value >= 0 and value < 1) then
    self:error("%s must be a number in [0, 1), got %s", what, tostring(value))
  end
end

-- opts merged over defaults; an unknown key is an error (catches typos like "lrate").
function Optimizer:options(opts, defaults)
  if opts ~= nil and type(opts) ~= "table" then
    self:error("options must be a table, got %s", type(opts))
  end
  local merged = {}
  for k, v in pairs(defaults) do merged[k] = v end
  for k, v in pairs(opts or {}) do
    if defaults[k] == nil then
      local known = {}
      for name in pairs(defaults) do known[#known + 1] = name end
      table.sort(known)
      self:error("unknown option '%s' (known: %s)", tostring(k), table.concat(known, ", "))
    end
    merged[k] = v
  end
  return merged
end

local function check_param(self, i, p)
  if type(p) ~= "table" then self:error("parameter %d is a %s, expected {name=, value=, grad=}", i, type(p)) end
  local label = p.name and string.format("%d (%s)", i, tostring(p.name)) or tostring(i)
  if not lunet.is_tensor(p.value) then self:error("parameter %s has no value Tensor", label) end
  if not lunet.is_tensor(p.grad) then self:error("parameter %s has no grad Tensor", label) end
  if not p.grad:has_shape(p.value:shape()) then
    self:error("parameter %s has grad of shape %s but value of shape %s", label,
               lunet.shape_str(p.grad:shape()), lunet.shape_str(p.value:shape()))
  end
end

-- Keys of the state buffers: the names when they are unique, else "<i>:<name>".
local function state_prefixes(params)
  local seen, unique = {}, true
  for _, p in ipairs(params) do
    if type(p.name) ~= "string" or p.name == "" or seen[p.name] then unique = false end
    if type(p.name) == "string" then seen[p.name] = true end
  end
  local prefixes = {}
  for i, p in ipairs(params) do
    prefixes[i] = unique and p.name or string.format("%d:%s", i, tostring(p.name or "param"))
  end
  return prefixes
end

-- Validate and keep the parameter list; step_count starts at 0.
function Optimizer:init_params(params)
  if type(params) == "table" and type(params.parameters) == "function" then
    params = params:parameters()
  end
  if type(params) ~= "table" then
    self:error("params must be a list of {name=, value=Tensor, grad=Tensor} (model:parameters()), got %s",
               type(params))
  end
  if #params == 0 then self:error("params is an empty list: nothing to optimize") end
  local list = {}
  for i, p in ipairs(params) do
    check_param(self, i, p)
    list[i] = p
  end
  self.params = list
  self._prefixes = state_prefixes(list)
  self._state = {}      -- per parameter index: { buffer name -> Tensor }
  self.step_count = 0
end

-- The state tensor `what` of parameter i, made (zeros) on first use.
function Optimizer:state_tensor(i, what)
  local s = self._state[i]
  if s == nil then s = {}; self._state[i] = s end
  local t = s[what]
  if t == nil then
    t = lunet.zeros(self.params[i].value:shape())
    s[what] = t
  end
  return t
end

-- The names of the state buffers each parameter has now (subclasses override).
function Optimizer:buffer_names() return {} end

function Optimizer:zero_grad()
  for _, p in ipairs(self.params) do p.grad:fill(0) end
  return self
end

function Optimizer:state()
  local buffers = {}
  for i = 1, #self.params do
    for _, what in ipairs(self:buffer_names()) do
      buffers[self._prefixes[i] .. "." .. what] = self:state_tensor(i, what)
    end
  end
  return { step = self.step_count, buffers = buffers }
end

function Optimizer:load_state(state)
  if type(state) ~= "table" then self:error("load_state: expected a table {step=, buffers=}, got %s", type(state)) end
  local step = state.step
  if type(step) ~= "number" or step ~= math.floor(step) or step < 0 then
    self:error("load_state: step must be a non-negative integer, got %s", tostring(step))
  end
  local buffers = state.buffers or {}
  if type(buffers) ~= "table" then self:error("load_state: buffers must be a table, got %s", type(buffers)) end
  local expected = {}
  for i = 1, #self.params do
    for _, what in ipairs(self:buffer_names()) do
      local key = self._prefixes[i] .. "." .. what
      expected[key] = true
      local src = buffers[key]
      if not lunet.is_tensor(src) then self:error("load_state: buffer '%s' is missing", key) end
      local dst = self:state_tensor(i, what)
      if not src:has_shape(dst:shape()) then
        self:error("load_state: buffer '%s' has shape %s, expected %s", key,
                   lunet.shape_str(src:shape()), lunet.shape_str(dst:shape()))
      end
    end
  end
  local unknown = {}
  for key in pairs(buffers) do
    if not expected[key] then unknown[#unknown + 1] = tostring(key) end
  end
  table.sort(unknown)
  if #unknown > 0 then self:error("load_state: unknown buffer '%s'", unknown[1]) end
  -- everything checked: now copy, so a bad state changes nothing
  for i = 1, #self.params do
    for _, what in ipairs(self:buffer_names()) do
      local src = buffers[self._prefixes[i] .. "." .. what]
      local dst = self:state_tensor(i, what)
      if src ~= dst then dst:copy(src) end
    end
  end
  self.step_count = step
  return self
end

-- optim.SGD and optim.Adam load on first use, so that sgd.lua and adam.lua can require
-- this module for the base class in any order.
local classes = { SGD = "lunet.optim.sgd", Adam = "lunet.optim.adam" }
return setmetatable(M, {
  __index = function(t, key)
    local path = classes[key]
    if path == nil then return nil end
    local cls = require(path)
    rawset(t, key, cls)
    return cls
  end,
})
