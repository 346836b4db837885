-- Random storms, one per seed (tools/soak runs successive seeds).
--
-- Every choice below comes from math.random, which storm scripts draw from
-- --seed only: the same seed always gives the same programs, so a seed that
-- makes the checker report a violation reproduces it (modulo timing).
--
-- What it mixes: shared regions of random size, placement and sharing, on
-- which every thread maps, unmaps, protects and touches random sub-ranges
-- (results race: expect = "any"); a private region per thread whose state
-- the generator tracks, so its operations carry exact expectations (a write to
-- a read-only page must SEGV, protect over an unmapped region must fail with
-- ENOMEM, ...); phases separated by a barrier.
--
-- Each seed picks one of two modes, because a MAP_FIXED into a range that was
-- unmapped replaces whatever the kernel placed there in between (POSIX
-- semantics; with --mm extents,freecache=percpu hint maps do land in such
-- holes):
--   "fixed": every region has a fixed address; ranges are unmapped and mapped
--            again (munmap/mmap churn, holes).
--   "hint":  some shared regions are placed by the kernel, and thread 0
--            spawns and joins a worker (stack mmap/munmap) on a random vCPU;
--            fixed ranges are then never unmapped, only re-mapped over
--            (MAP_FIXED over one's own mapping) and protected.
-- Threads outnumber vCPUs in most seeds: VCPUS to 2 * VCPUS pinned threads.
-- With files = true (tools/soak passes it when gmm storm has a disk: the
-- temporary image's file0..file7 of 8 MiB), two file regions join the shared
-- ones: a private read-only one whose reads verify every page's signature
-- (a page of the wrong file or offset is a "wrong_page" failure) and which is
-- re-mapped with random files and offsets (file0..file3), and a shared
-- read-write one (file4..file7: its writes never reach the verified files).
-- Params: phases (default random 2..4), ops (per thread and phase, default
-- random 6..16), files (default false), file_size (default 8 MiB).
storm{name = "random"}

local phases = param("phases", math.random(2, 4))
local ops_per_phase = param("ops", math.random(6, 16))

local mode = math.random(2) == 1 and "fixed" or "hint"
local placements = { {}, {straddle = "2M"}, {straddle = "1G"}, {align = "2M"} }
if mode == "hint" then placements[#placements + 1] = {place = "hint"} end
local shared = {}
for i = 1, math.random(2, 4) do
  local t = {name = "s" .. i, size = math.random(2, 512) * PAGE,
             share = math.random(2) == 1 and "private" or "shared"}
  for k, x in pairs(placements[math.random(#placements)]) do t[k] = x end
  shared[i] = region(t)
end

local function pick(list) return list[math.random(#list)] end

local function shared_op(r)
  local pages = r.size // PAGE
  local first = math.random(0, pages - 1)
  local sub = {offset = first * PAGE, length = math.random(1, pages - first) * PAGE, expect = "any"}
  local hint = r.gva == 0
  local k = math.random(1, 10)
  if k == 1 then
    if hint then return map(r, {expect = "any"}) end   -- kernel-placed: whole region
    return map(r, sub)
  elseif k == 2 and hint then
    return unmap(r, {expect = "any"})   -- whole: a hole inside a kernel-placed region could be handed to a stack
  elseif k == 2 and mode == "fixed" then
    return unmap(r, sub)
  elseif k <= 4 then
    return protect(r, pick({"r", "rw", "none"}), sub)
  end
  sub.access = pick({"read", "write"})
  sub.order = pick({"seq", "random"})
  sub.stride = math.random(1, 4) * PAGE
  return touch(r, sub)
end

-- File regions (drawn only with files = true, so other seeds keep their programs).
local use_files = param("files", false)
local file_size = param("file_size", 8 * MiB)
local file_regions = {}
if use_files then
  -- Shared writes change the page cache's pages (and may reach the disk), so the
  -- verified private region reads file0..file3 and the shared one writes file4..file7.
  local function file_region(name, share, prot)
    local pages = math.random(1, 64)
    local first = share == "private" and 0 or 4
    return region{name = name, size = pages * PAGE, kind = "file", file = "file" .. math.random(first, first + 3),
                  offset = math.random(0, file_size // PAGE - pages) * PAGE, share = share, prot = prot}
  end
  file_regions[1] = file_region("fp", "private", "r")
  file_regions[2] = file_region("fs", "shared", "rw")
end

-- An op on a file region: re-maps with another file/offset, protects, touches
-- (the private one: reads that verify the page signatures).
local function file_op(r)
  local pages = r.size // PAGE
  local first = math.random(0, pages - 1)
  local sub = {offset = first * PAGE, length = math.random(1, pages - first) * PAGE, expect = "any"}
  local private = r.name == "fp"
  local k = math.random(1, 8)
  if k <= 2 then
    sub.file = "file" .. (private and math.random(0, 3) or math.random(4, 7))
    sub.file_offset = math.random(0, file_size // PAGE - pages) * PAGE
    return map(r, sub)
  elseif k == 3 and mode == "fixed" then
    return unmap(r, sub)
  elseif k == 3 then
    return protect(r, pick({"r", "none"}), sub)
  end
  sub.order = pick({"seq", "random"})
  if private then
    sub.access, sub.verify = "read", true
  else
    sub.access = pick({"read", "write"})
  end
  return touch(r, sub)
end

local function any_shared_op()
  if use_files and math.random(4) == 1 then return file_op(pick(file_regions)) end
  return shared_op(pick(shared))
end

-- A private region whose state we know at every step: exact expectations.
local function private_ops(own, state, n, out)
  for _ = 1, n do
    local k = math.random(1, 6)
    if k == 1 and mode == "fixed" then
      out[#out + 1] = unmap(own); state = "unmapped"
    elseif k == 1 then
      out[#out + 1] = map(own, {prot = "r"}); state = "r"   -- MAP_FIXED over its own mapping
    elseif k == 2 then
      out[#out + 1] = map(own); state = "rw"
    elseif k == 3 then
      local p = pick({"r", "rw", "none"})
      if state == "unmapped" then
        out[#out + 1] = protect(own, p, {expect = "ENOMEM"})
      else
        out[#out + 1] = protect(own, p); state = p
      end
    else
      local access = pick({"read", "write"})
      local ok = state == "rw" or (state == "r" and access == "read")
      out[#out + 1] = touch(own, {access = access, order = pick({"seq", "random"}), expect = ok and "ok" or "segv"})
    end
  end
  return state
end

-- Threads may outnumber vCPUs (the guest scheduler shares them): 0 to VCPUS
-- extra pinned threads, thread v on vCPU v mod VCPUS; in "hint" mode thread 0
-- spawns and joins a worker on a random vCPU.
local spawner_extra = mode == "hint"
local pinned = VCPUS + math.random(0, VCPUS)
if spawner_extra then
  local w = {}
  for _ = 1, math.random(2, 6) do w[#w + 1] = any_shared_op() end
  thread{name = "worker", vcpu = math.random(0, VCPUS - 1), spawned = true, w}
end

for v = 0, pinned - 1 do
  local own = region{name = "own" .. v, size = math.random(1, 32) * PAGE}
  local state = "rw"
  local ops = {}
  local spawned_once = false
  for p = 1, phases do
    for _ = 1, ops_per_phase do
      if math.random(3) == 1 then
        state = private_ops(own, state, 1, ops)
      else
        ops[#ops + 1] = any_shared_op()
      end
    end
    if v == 0 and spawner_extra and (math.random(2) == 1 or (p == phases and not spawned_once)) then
      spawned_once = true
      ops[#ops + 1] = spawn("worker")
      ops[#ops + 1] = touch(pick(shared), {expect = "any", order = "random"})
      ops[#ops + 1] = join("worker")
    end
    ops[#ops + 1] = barrier("phase")
  end
  thread{name = "t" .. v, vcpu = v % VCPUS, ops}
end
