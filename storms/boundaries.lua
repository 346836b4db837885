-- Every operation on ranges that straddle 2 MiB and 1 GiB boundaries.
--
-- A 2 MiB boundary separates two leaf page tables (two PTLs, two extent
-- lists); a 1 GiB boundary separates two page directories, and with
-- --mm extents,placement=hier a mapping covering whole 2 MiB / 1 GiB slots is
-- stored once at the upper level and pushed down when an operation or fault
-- needs a lower table. Off-by-one errors at these edges split an extent at
-- the wrong page, lose the part in the second table, or leave an upper-level
-- record over a slot that got a child (I2, I3, I5).
--
-- Shape: every vCPU gets two private regions, one centred on a 2 MiB and one
-- on a 1 GiB boundary, and runs every operation on a sub-range that crosses
-- its boundary (widths differ per vCPU): unmap, read (must SEGV), map, write,
-- protect read-only, read, write (must SEGV), protect none, read (must SEGV),
-- protect back, write in random order, all checked exactly. On a shared
-- region centred on a 2 MiB boundary all vCPUs map, protect, touch and unmap
-- sub-ranges of random width around the same boundary (results race: "any").
-- Param big (bytes, default 0 = off) adds a mapping straddling a 1 GiB
-- boundary with whole 2 MiB slots on both sides (push-down under hier).
-- Params: span (bytes per region, default 4 MiB), rounds (default 3), big (default 0).
local span = param("span", 4 * MiB)
local rounds = param("rounds", 3)
local big = param("big", 0)
storm{name = "boundaries"}

local function boundary_offset(r, unit)   -- the boundary the region was centred on, relative to its start
  return (r.gva // unit + 1) * unit - r.gva
end

local shared = region{name = "shared_2M", size = span, straddle = "2M"}
local shared_b = boundary_offset(shared, 2 * MiB)

for v = 0, VCPUS - 1 do
  local ops = {}
  -- Private regions, one per vCPU and boundary kind: exact expectations.
  for _, kind in ipairs({{"2M", 2 * MiB}, {"1G", 1 * GiB}}) do
    local r = region{name = "across_" .. kind[1] .. "_v" .. v, size = span, straddle = kind[1]}
    local b = boundary_offset(r, kind[2])
    local lo = b - (v + 1) * 16 * PAGE          -- starts (v+1)*16 pages before the boundary
    local len = (2 * v + 3) * 16 * PAGE         -- ends (v+2)*16 pages after it: widths differ per vCPU
    if lo < 0 or lo + len > r.size then error("span " .. span .. " is too small for " .. VCPUS .. " vCPUs") end
    local function o(extra)
      local t = {offset = lo, length = len}
      for k, x in pairs(extra or {}) do t[k] = x end
      return t
    end
    ops[#ops + 1] = unmap(r, o())
    ops[#ops + 1] = expect_segv(r, o{stride = 16 * PAGE, access = "read"})
    ops[#ops + 1] = map(r, o())
    ops[#ops + 1] = touch(r, o{stride = 4 * PAGE})
    ops[#ops + 1] = protect(r, "r", o())
    ops[#ops + 1] = touch(r, o{stride = 4 * PAGE, access = "read"})
    ops[#ops + 1] = expect_segv(r, o{stride = 8 * PAGE})
    ops[#ops + 1] = protect(r, "none", o())
    ops[#ops + 1] = expect_segv(r, o{stride = 8 * PAGE, access = "read"})
    ops[#ops + 1] = protect(r, "rw", o())
    ops[#ops + 1] = touch(r, o{stride = 2 * PAGE, order = "random"})
  end
  -- The shared region: everyone at the same boundary, sub-ranges of random width; results race.
  local lo = shared_b - math.random(1, 64) * PAGE
  local sub = {offset = lo, length = shared_b - lo + math.random(1, 64) * PAGE, expect = "any"}
  ops[#ops + 1] = map(shared, sub)
  ops[#ops + 1] = protect(shared, v % 2 == 0 and "r" or "rw", sub)
  ops[#ops + 1] = touch(shared, {offset = sub.offset, length = sub.length, order = "random", expect = "any"})
  ops[#ops + 1] = unmap(shared, sub)
  if big > 0 and v == 0 then
    local whole = region{name = "big_1G", size = big, straddle = "1G", mapped = false}
    ops[#ops + 1] = map(whole)
    ops[#ops + 1] = touch(whole, {stride = 2 * MiB})
    ops[#ops + 1] = protect(whole, "r", {offset = whole.size // 2 - 2 * MiB, length = 4 * MiB})
    ops[#ops + 1] = unmap(whole)
  end
  thread{name = "v" .. v, vcpu = v, loop(rounds, ops)}
end
