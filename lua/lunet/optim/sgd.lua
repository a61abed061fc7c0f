-- lunet.optim.sgd: stochastic gradient descent as PyTorch's torch.optim.SGD (dampening 0,
-- no Nesterov), one lunet_sgd_step launch per parameter:
--   g' = g + weight_decay * p;  v = momentum * v + g';  p = p - lr * v
-- (with momentum 0 there is no velocity: p = p - lr * g').
--   local opt = optim.SGD(model:parameters(), {lr = 0.01, momentum = 0.9, weight_decay = 5e-4})
-- opt.lr, opt.momentum and opt.weight_decay may be changed between steps (schedules).
local lunet = require("lunet")
local Optimizer = require("lunet.optim").Optimizer

local C = lunet.C

local SGD = Optimizer:extend("SGD")

SGD.defaults = { lr = 0.01, momentum = 0, weight_decay = 0 }

function SGD:init(params, opts)
  self:init_params(params)
  local o = self:options(opts, SGD.defaults)
  self:check_non_negative("lr", o.lr)
  self:check_non_negative("momentum", o.momentum)
  self:check_non_negative("weight_decay", o.weight_decay)
  self.lr, self.momentum, self.weight_decay = o.lr, o.momentum, o.weight_decay
  for i = 1, #self.params do   -- allocate the state once, up front
    for _, what in ipairs(self:buffer_names()) do self:state_tensor(i, what) end
  end
end

function SGD:describe()
  return string.format("SGD(lr=%g, momentum=%g, weight_decay=%g)", self.lr, self.momentum,
                       self.weight_decay)
end

function SGD:buffer_names()
  if self.momentum ~= 0 then return { "velocity" } end
  return {}
end

function SGD:step()
  self:check_non_negative("lr", self.lr)
  self:check_non_negative("momentum", self.momentum)
  self:check_non_negative("weight_decay", self.weight_decay)
  local with_velocity = self.momentum ~= 0
  for i, p in ipairs(self.params) do
    local velocity = with_velocity and self:state_tensor(i, "velocity").handle or nil
    lunet.check(C.lunet_sgd_step(p.value.handle, p.grad.handle, velocity, self.lr,
                                 self.momentum, self.weight_decay))
  end
  self.step_count = self.step_count + 1
  return self
end

return SGD
