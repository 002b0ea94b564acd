-- Argo CD health check for inboxchat.io/PolicyUpdate, following kstatus: a
-- generation the operator has not observed yet is Progressing, Stalled=True
-- (a duplicate version, a missing document, no SMTP, failed e-mails) is
-- Degraded, Ready=True is Healthy, Reconciling=True is Progressing (also
-- while the version waits for its effectiveAt).
-- Phases: Published and Superseded (an older version replaced by a newer
-- one, which is its normal end) are Healthy, Failed is Degraded.
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
  hs.message = "Waiting for the operator to observe the latest generation of the PolicyUpdate"
  return hs
end

local ready = condition("Ready")
if phase == "Superseded" then
  hs.status = "Healthy"
  if obj.status.supersededBy ~= nil and obj.status.supersededBy ~= "" then
    hs.message = "Superseded by PolicyUpdate " .. obj.status.supersededBy
  else
    hs.message = text(ready, "Superseded by a newer version")
  end
  return hs
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = text(stalled, "The PolicyUpdate is stalled")
  return hs
end

if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = "E-mailing the users about the PolicyUpdate failed"
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready, "The PolicyUpdate is published")
  return hs
end

local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = text(reconciling, "The PolicyUpdate is in progress")
  return hs
end

hs.status = "Progressing"
if phase ~= nil then
  hs.message = "The PolicyUpdate is " .. phase
else
  hs.message = "Waiting for the operator to reconcile the PolicyUpdate"
end
return hs
