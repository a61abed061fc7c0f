-- lunet.optim.adam: Adam as PyTorch's torch.optim.Adam (L2 weight decay added to the
-- gradient, bias correction with the 1-based step), one lunet_adam_step launch per
-- parameter:
--   g' = g + weight_decay * p;  m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2
--   p = p - lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
--   local opt = optim.Adam(model:parameters(), {lr = 1e-3, betas = {0.9, 0.999}})
local lunet = require("lunet")
local Optimizer = require("lunet.optim").Optimizer

local C = lunet.C

local Adam = Optimizer:extend("Adam")

Adam.defaults = { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0 }

function Adam:init(params, opts)
  self:init_params(params)
  local o = self:options(opts, Adam.defaults)
  self.lr, self.eps, self.weight_decay = o.lr, o.eps, o.weight_decay
  if type(o.betas) ~= "table" then
    self:error("betas must be a table {beta1, beta2}, got %s", type(o.betas))
  end
  self.betas = { o.betas[1], o.betas[2] }
  self:check()
  for i = 1, #self.params do   -- allocate the state once, up front
    self:state_tensor(i, "m")
    self:state_tensor(i, "v")
  end
end

function Adam:check()
  self:check_non_negative("lr", self.lr)
  self:check_fraction("betas[1]", self.betas[1])
  self:check_fraction("betas[2]", self.betas[2])
  if type(self.eps) ~= "number" or not (self.eps > 0) or self.eps == math.huge then
    self:error("eps must be a positive number, got %s", tostring(self.eps))
  end
  self:check_non_negative("weight_decay", self.weight_decay)
end

function Adam:describe()
  return string.format("Adam(lr=%g, betas=(%g, %g), eps=%g, weight_decay=%g)", self.lr,
                       self.betas[1], self.betas[2], self.eps, self.weight_decay)
end

function Adam:buffer_names() return { "m", "v" } end

function Adam:step()
  self:check()
  local t = self.step_count + 1
  for i, p in ipairs(self.params) do
    lunet.check(C.lunet_adam_step(p.value.handle, p.grad.handle, self:state_tensor(i, "m").handle,
                                  self:state_tensor(i, "v").handle, self.lr, self.betas[1],
                                  self.betas[2], self.eps, self.weight_decay, t))
  end
  self.step_count = t
  return self
end

return Adam
