-- File faults under long I/O latency racing unmap and re-map (ABA).
--
-- The race: a fault on a file mapping finds the page not resident, pins the
-- file, drops every lock and sleeps for the I/O; meanwhile the remapper
-- unmaps the range and maps another file (or another offset of one) at the
-- same address — the same layout, the same page-table pages. When the I/O
-- completes, a fault that revalidated only by address or pointer would
-- install the old file's page into the new mapping (ABA). guestmm revalidates
-- with a per-extent generation number (docs/guestmm.md "Sleeping faults"):
-- the run report's mm_revalidation_failures counts the faults it sent back.
--
-- Each round: the faulters read every page of the region in random order,
-- checking each page's signature (verify = true: a page of the wrong file or
-- offset is a failure of its own kind, "wrong_page"); the remapper waits a
-- little, so those faults are asleep on the disk, then unmaps and re-maps the
-- range with the next file/offset — every round another one, so the pages are
-- cold and every fault really waits for I/O. After the round's barrier the
-- faulters read every page again with the mapping stable: a page an ABA fault
-- installed would show the old file's signature there.
--
-- Run it with a slow disk, or the I/O is over before the unmap comes:
--   gmm storm storms/file_fault_aba.lua --disk-latency-us 2000 --check
-- (without --disk, gmm makes a temporary image with files file0..file7 of
-- 8 MiB each, every page signed). Params: rounds (default 12), size (the
-- region, default 256 KiB), faulters (default VCPUS: one per vCPU, the first
-- beside the remapper on vCPU 0; more than VCPUS share vCPUs), files (how
-- many of file0.. to cycle through, default 4), file_size (default 8 MiB),
-- delay_us (remapper's wait before it unmaps, default 300).
local rounds = param("rounds", 12)
local size = param("size", 256 * KiB)
local faulters = param("faulters", VCPUS)
local files = param("files", 4)
local file_size = param("file_size", 8 * MiB)
local delay_us = param("delay_us", 300)
storm{name = "file_fault_aba"}

if size > file_size then error("size " .. size .. " exceeds file_size " .. file_size) end
local slots = file_size // size  -- region-sized windows of a file

local f = region{name = "file", size = size, kind = "file", file = "file0", offset = 0, prot = "r",
                 share = "private"}

local remap = {}
for k = 1, rounds do
  remap[#remap + 1] = {
    barrier("go"), sleep(delay_us), unmap(f),
    map(f, {file = "file" .. (k % files), file_offset = ((k * 5) % slots) * size}),
    barrier("check"), barrier("checked"),
  }
end
thread{name = "remapper", vcpu = 0, remap}

for i = 1, faulters do
  thread{name = "faulter" .. i, vcpu = (i - 1) % VCPUS,
    loop(rounds, {
      barrier("go"),
      touch(f, {access = "read", order = "random", expect = "any", verify = true}),
      barrier("check"),
      touch(f, {access = "read", verify = true}),
      barrier("checked"),
    }),
  }
end
