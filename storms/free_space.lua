-- Free-space exhaustion and fragmentation.
--
-- Page-table-resident designs keep free virtual space in a separate allocator
-- (a free-range tree, optionally per-CPU chunks: --mm extents,freecache=percpu),
-- which becomes the shared hot spot for mmap-heavy loads. This storm drives it
-- to the two ends: fragmentation (every vCPU maps many small kernel-placed
-- ranges of mixed sizes, unmaps every other one, and maps again into the holes,
-- concurrently) and exhaustion (vCPU 0 maps 8 TiB ranges until the 128 TiB user
-- range is full: the 16th must fail with ENOMEM; after unmapping every other
-- ones, 12 TiB maps must fail with ENOMEM too while 4 TiB ones fit in the holes).
-- The checker verifies that mappings plus free ranges (tree and per-CPU chunks)
-- tile the user range exactly after all of it (I3).
--
-- The exhaustion phase needs a policy that stores a huge mapping cheaply:
-- --mm global (one VMA) or extents,placement=hier (one record per 1 GiB slot).
-- Under extents,placement=leaf each 2 MiB of a mapping costs a page-table page
-- (the seed's stated cost), so 8 TiB would need 4 Mi of them: the phase is left
-- out there (the program says so in a print) and fragmentation runs alone.
-- Params: pieces (small maps per vCPU and round, default 24), rounds (default 3).
local pieces = param("pieces", 24)
local rounds = param("rounds", 3)
storm{name = "free_space"}

local leaf = MM:find("placement=leaf", 1, true) ~= nil
for v = 0, VCPUS - 1 do
  local small = {}
  for i = 1, pieces do
    small[i] = region{name = "v" .. v .. "_" .. i, size = math.random(1, 16) * PAGE, place = "hint", mapped = false}
  end
  local ops = {}
  for i = 1, pieces do ops[#ops + 1] = map(small[i]) end
  for i = 1, pieces, 2 do ops[#ops + 1] = unmap(small[i]) end
  for i = 1, pieces, 2 do ops[#ops + 1] = map(small[i]); ops[#ops + 1] = touch(small[i]) end
  for i = 1, pieces do ops[#ops + 1] = unmap(small[i]) end
  local body = { loop(rounds, ops) }
  if v == 0 and not leaf then
    local big = {}
    for i = 1, 16 do
      big[i] = region{name = "big" .. i, size = 8 * TiB, place = "hint", mapped = false}
      -- 15 x 8 TiB fit in the 128 TiB user range (with what the runner and the others use); the 16th cannot.
      body[#body + 1] = map(big[i], {expect = i < 16 and "ok" or "ENOMEM"})
    end
    -- Unmap the even ones: 7 holes of 8 TiB, each between two mapped ones (the odd
    -- ones, 15 the last mapped before the small free tail), so no hole is wider.
    for i = 2, 14, 2 do body[#body + 1] = unmap(big[i]) end
    for i = 1, 4 do
      local wide = region{name = "wide" .. i, size = 12 * TiB, place = "hint", mapped = false}
      body[#body + 1] = map(wide, {expect = "ENOMEM"})   -- the holes are 8 TiB
      local narrow = region{name = "narrow" .. i, size = 4 * TiB, place = "hint", mapped = false}
      body[#body + 1] = map(narrow)
      body[#body + 1] = touch(narrow, {stride = 1 * TiB})  -- 4 pages, each in another 1 GiB slot
      body[#body + 1] = unmap(narrow)
    end
    for i = 1, 15, 2 do body[#body + 1] = unmap(big[i]) end
  elseif v == 0 then
    print("free_space: exhaustion phase left out under " .. MM .. " (each 2 MiB costs a page-table page)")
  end
  thread{name = "v" .. v, vcpu = v, body}
end
