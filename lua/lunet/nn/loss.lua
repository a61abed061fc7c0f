-- lunet.nn.loss: criterions. CrossEntropyLoss is the fused, numerically stable
-- softmax + cross-entropy of lunet_softmax_xent_forward/backward, averaged over the batch.
--
--   local crit = nn.CrossEntropyLoss()
--   local loss = crit:forward(logits, labels)       -- a Lua number (reads back one float)
--   local grad = crit:backward(logits, labels)      -- Tensor of logits' shape
--   local dev = crit:forward_async(logits, labels)  -- Tensor [1] on the device, no read back
--
-- logits is a Tensor [N,K]; labels is a Lua table of N 0-based integer classes (checked
-- here, then uploaded into a cached [N] tensor) or a device Tensor [N] of class indices
-- stored as floats (not checked: a bad label there makes the loss NaN).
local lunet = require("lunet")
local Module = require("lunet.nn.module")

local ffi, C = lunet.ffi, lunet.C

local CrossEntropyLoss = Module:extend("CrossEntropyLoss")

function CrossEntropyLoss:init()
  Module.init(self)
  self._loss_host = ffi.new("float[1]")
end

function CrossEntropyLoss:describe() return "CrossEntropyLoss()" end

-- The loss of a batch is one number: {1} for logits {N,K}.
function CrossEntropyLoss:output_shape(input_shape)
  if type(input_shape) ~= "table" or #input_shape ~= 2 then
    self:error("expected input [N,K], got %s",
               type(input_shape) == "table" and lunet.shape_str(input_shape) or type(input_shape))
  end
  return { 1 }
end

-- A table of class indices: N entries, each an integer in 0..K-1, uploaded to the device.
function CrossEntropyLoss:_upload_labels(labels, n, k)
  if #labels ~= n then
    self:error("expected %d labels (one per row of logits [%d,%d]), got %d", n, n, k, #labels)
  end
  local values, same = {}, self._label_values ~= nil and #self._label_values == n
  for i = 1, n do
    local v = labels[i]
    if type(v) ~= "number" or v ~= math.floor(v) or v < 0 or v > k - 1 then
      local shown = type(v) == "number" and tostring(v) or string.format("%s (a %s)", tostring(v), type(v))
      self:error("label %d is %s, expected an integer in 0..%d", i, shown, k - 1)
    end
    values[i] = v
    same = same and self._label_values[i] == v
  end
  local buf = self:buffer("labels", { n })
  -- forward then backward with the same labels: upload once
  if not same then
    buf:set(values)
    self._label_values = values
  end
  return buf
end

-- labels as a device Tensor [N], from a table or a Tensor.
function CrossEntropyLoss:_labels(labels, logits)
  local n, k = logits:dim(1), logits:dim(2)
  if lunet.is_tensor(labels) then
    if not labels:has_shape({ n }) then
      self:error("labels has shape %s but logits has shape %s (expected labels [%d])",
                 lunet.shape_str(labels:shape()), lunet.shape_str(logits:shape()), n)
    end
    return labels
  end
  if type(labels) ~= "table" then
    self:error("labels must be a table of class indices or a Tensor [N], got %s", type(labels))
  end
  return self:_upload_labels(labels, n, k)
end

function CrossEntropyLoss:_check(logits, labels)
  self:check_input(logits, 2, "[N,K]")
  return self:_labels(labels, logits)
end

-- The mean loss as a device Tensor [1] (a cached buffer, overwritten by the next call).
function CrossEntropyLoss:forward_async(logits, labels)
  local label_tensor = self:_check(logits, labels)
  local loss = self:buffer("loss", { 1 })
  lunet.check(C.lunet_softmax_xent_forward(logits.handle, label_tensor.handle, loss.handle))
  return loss
end

-- The mean loss as a Lua number.
function CrossEntropyLoss:forward(logits, labels)
  local loss = self:forward_async(logits, labels)
  lunet.check(C.lunet_tensor_download(loss.handle, self._loss_host, 1))
  self.output = self._loss_host[0]
  return self.output
end

-- d loss / d logits = (softmax(logits) - onehot(labels)) / N, in a buffer of logits' shape.
function CrossEntropyLoss:backward(logits, labels)
  local label_tensor = self:_check(logits, labels)
  local grad = self:buffer("grad_input", logits:shape())
  lunet.check(C.lunet_softmax_xent_backward(logits.handle, label_tensor.handle, grad.handle))
  return grad
end

-- A criterion has no parameters.
function CrossEntropyLoss:parameters() return {} end

return { CrossEntropyLoss = CrossEntropyLoss }
