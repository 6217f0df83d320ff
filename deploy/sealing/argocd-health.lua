-- Argo CD health check for SealedSecret (bitnami.com/v1alpha1), read from the Synced condition
-- the sealing controller writes. Its reason code (NoMatchingKey, ScopeMismatch, TemplateError,
-- ForeignSecret, Immutable) leads the message, so the Argo CD UI says why a SealedSecret is
-- Degraded without a look at the controller's log.
--
-- Install it in the argocd-cm ConfigMap (it replaces Argo CD's built-in check for the kind):
--
--   data:
--     resource.customizations.health.bitnami.com_SealedSecret: |
--       <this file's content>
--
-- Healthy: Synced=True for the current generation. Degraded: Synced=False. Progressing: no
-- status yet, or status for an older generation (the controller has not seen the change).
local hs = {}
hs.status = "Progressing"
hs.message = "Waiting for the sealing controller to unseal"

if obj.status == nil then
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local observed = obj.status.observedGeneration
if generation ~= nil and observed ~= nil and observed < generation then
  hs.message = "Waiting for the sealing controller to unseal generation " .. generation
  return hs
end

if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "Synced" then
      local message = condition.message or ""
      if condition.reason ~= nil and condition.reason ~= "" then
        if message ~= "" then
          message = condition.reason .. ": " .. message
        else
          message = condition.reason
        end
      end
      if condition.status == "True" then
        hs.status = "Healthy"
        if message == "" then
          message = "Unsealed"
        end
        hs.message = message
      elseif condition.status == "False" then
        hs.status = "Degraded"
        if message == "" then
          message = "Failed to unseal"
        end
        hs.message = message
      end
      return hs
    end
  end
end
return hs
