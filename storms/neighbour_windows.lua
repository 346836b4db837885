-- map/unmap churn in neighbouring 2 MiB windows.
--
-- Each leaf page table covers one 2 MiB window; its lock (PTL) guards that
-- window's PTEs and extents. Operations whose range crosses from one window
-- into the next take two PTLs in address order, and a writer in a window
-- races with the neighbours' writers and faults at the shared boundary. A
-- wrong lock order deadlocks (the stall watchdog reports it); a missing lock
-- leaves extents that overlap or leak across the boundary (I2, I3) or a PTE
-- without an extent (I1).
--
-- Shape: a region of 2 windows per vCPU. Thread v churns its own two windows
-- (unmap, map, touch) and, every round, a 2 MiB range centred on the boundary
-- with its right neighbour (map FIXED over it, protect, touch, unmap), so each
-- boundary is contended by two threads. Everything that crosses into a
-- neighbour's window accepts errors and SEGVs (expect = "any").
-- Params: rounds (default 10).
local rounds = param("rounds", 10)
storm{name = "neighbour_windows"}

local W = 2 * MiB
local windows = 2 * VCPUS
local r = region{name = "windows", size = windows * W, align = "2M"}

for v = 0, VCPUS - 1 do
  local mine = 2 * v * W
  local across = ((2 * v + 2) % windows) * W - W // 2   -- centred on the boundary to the right
  if across < 0 then across = across + windows * W end
  local ops = {
    unmap(r, {offset = mine, length = 2 * W, expect = "any"}),
    map(r, {offset = mine, length = 2 * W, expect = "any"}),
    touch(r, {offset = mine, length = 2 * W, stride = 64 * KiB, expect = "any"}),
  }
  if across + W <= windows * W then
    ops[#ops + 1] = map(r, {offset = across, length = W, expect = "any"})
    ops[#ops + 1] = protect(r, "r", {offset = across, length = W, expect = "any"})
    ops[#ops + 1] = touch(r, {offset = across, length = W, access = "read", stride = 32 * KiB, expect = "any"})
    ops[#ops + 1] = unmap(r, {offset = across, length = W, expect = "any"})
  end
  thread{name = "window" .. v, vcpu = v, loop(rounds, ops)}
end
