-- Argo CD health check for inboxchat.io/Tenant, following kstatus: a
-- generation the operator has not observed yet is Progressing, Stalled=True
-- is Degraded, Ready=True is Healthy, Reconciling=True is Progressing.
-- spec.suspend (app scaled to zero, no new Jobs) is Suspended.
-- Uses only Lua's base library, which Argo CD always opens.
local function condition(t)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == t then
      return c
    end
  end
  return nil
end

local function text(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    if c.reason ~= nil and c.reason ~= "" then
      return c.reason .. ": " .. c.message
    end
    return c.message
  end
  return fallback
end

local hs = {}
local generation = obj.metadata.generation
local observed = nil
if obj.status ~= nil then
  observed = obj.status.observedGeneration
end
if observed == nil or (generation ~= nil and observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the latest generation of the Tenant"
  return hs
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = text(stalled, "The Tenant is stalled")
  return hs
end

local ready = condition("Ready")
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = text(ready, "The Tenant is suspended: the app is scaled to zero and no new Jobs start")
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready, "The Tenant is provisioned")
  return hs
end

local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = text(reconciling, "The operator is provisioning the Tenant")
  return hs
end

hs.status = "Progressing"
hs.message = text(ready, "Waiting for the Tenant to become Ready")
return hs
