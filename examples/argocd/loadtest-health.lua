-- Argo CD health check for loadgate.dev/LoadTest.
-- Without it Argo CD treats a LoadTest hook as done the moment it exists; with it a sync
-- waits for the verdict: Pass -> Healthy; Fail, Error, Invalid -> Degraded (the sync fails);
-- anything else (no status yet, Pending, WaitingForTarget, Running, Collecting) -> Progressing.
local hs = {}
local st = obj.status
if st == nil or (st.phase == nil and st.verdict == nil) then
  hs.status = "Progressing"
  hs.message = "Waiting for the loadgate operator to pick up the LoadTest"
  return hs
end

local function detail()
  local parts = {}
  if st.reason ~= nil and st.reason ~= "" then
    table.insert(parts, tostring(st.reason))
  end
  if st.summary ~= nil then
    if st.summary.rps ~= nil then
      table.insert(parts, "rps " .. tostring(st.summary.rps))
    end
    if st.summary.p95Ms ~= nil then
      table.insert(parts, "p95 " .. tostring(st.summary.p95Ms) .. " ms")
    end
  end
  return table.concat(parts, "; ")
end

local verdict = st.verdict
if verdict == "Pass" then
  hs.status = "Healthy"
  hs.message = "Pass: " .. detail()
elseif verdict == "Fail" or verdict == "Error" or verdict == "Invalid" then
  hs.status = "Degraded"
  hs.message = verdict .. ": " .. detail()
elseif st.phase == "Failed" then
  -- the operator always pairs Failed with verdict Error; never leave a sync hanging on it
  hs.status = "Degraded"
  hs.message = "Failed: " .. detail()
else
  hs.status = "Progressing"
  hs.message = tostring(st.phase or "Pending") .. ": " .. detail()
end
return hs
