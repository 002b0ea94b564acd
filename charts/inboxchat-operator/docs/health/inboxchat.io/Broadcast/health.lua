-- Argo CD health check for inboxchat.io/Broadcast, following kstatus: a
-- generation the operator has not observed yet is Progressing, Stalled=True
-- (a failed broadcast, or one paused automatically for too many failures)
-- is Degraded, Ready=True is Healthy, Reconciling=True is Progressing.
-- Phases: Failed is Degraded, Paused (spec.suspend) is Suspended,
-- Succeeded is Healthy.
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
local phase = nil
if obj.status ~= nil then
  observed = obj.status.observedGeneration
  phase = obj.status.phase
end
if observed == nil or (generation ~= nil and observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the latest generation of the Broadcast"
  return hs
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = text(stalled, "The Broadcast is stalled")
  return hs
end

if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = "The Broadcast failed"
  if obj.status.lastError ~= nil and obj.status.lastError.text ~= nil then
    hs.message = "The Broadcast failed: " .. obj.status.lastError.text
  end
  return hs
end

local ready = condition("Ready")
if phase == "Paused" then
  hs.status = "Suspended"
  hs.message = text(ready, "The Broadcast is paused by spec.suspend; clear it to resume")
  return hs
end

if phase == "Succeeded" or (ready ~= nil and ready.status == "True") then
  hs.status = "Healthy"
  hs.message = text(ready, "The Broadcast succeeded")
  return hs
end

local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = text(reconciling, "The Broadcast is in progress")
  return hs
end

hs.status = "Progressing"
if phase ~= nil then
  hs.message = "The Broadcast is " .. phase
else
  hs.message = "Waiting for the operator to start the Broadcast"
end
return hs
