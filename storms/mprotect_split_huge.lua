-- mprotect of part of one huge mapping that every vCPU is faulting.
--
-- The case Linux reviewers raised against per-VMA locking: mprotect of the
-- middle of one large mapping splits it into three while every other thread
-- faults in the same mapping, so faults that looked the mapping up before the
-- split race with the split itself. With the extents design the split happens
-- window by window under page-table locks; a fault must see either the old or
-- the new protection for its address, never a writable PTE in a read-only part
-- (I1), and the extents must stay well formed, sorted and non-overlapping in
-- every page-table page the split crosses (I2).
--
-- Shape: vCPU 0 cycles the middle half through read-only, PROT_NONE (a small
-- piece inside it) and back to read-write; the others write-fault the whole
-- mapping in random order (SEGVs on the protected part are expected) and then
-- read it (reads of the read-only part succeed, PROT_NONE SEGVs).
-- Params: size (bytes, default 8 MiB), rounds (default 6), stride (bytes, default 16 KiB).
local size = param("size", 8 * MiB)
local rounds = param("rounds", 6)
local stride = param("stride", 16 * KiB)
storm{name = "mprotect_split_huge"}

local huge = region{name = "huge", size = size}
local quarter, half = size // 4, size // 2

thread{name = "protector", vcpu = 0,
  loop(rounds, {
    barrier("round"),
    protect(huge, "r", {offset = quarter, length = half}),
    sleep(200),
    protect(huge, "none", {offset = half, length = 16 * PAGE}),
    sleep(200),
    protect(huge, "rw", {offset = quarter, length = half}),
    -- Back to read-write: reading and writing it all must work again.
    touch(huge, {stride = 256 * KiB}),
  }),
}

for v = 1, VCPUS - 1 do
  thread{name = "faulter" .. v, vcpu = v,
    loop(rounds, {
      barrier("round"),
      touch(huge, {order = "random", stride = stride, expect = "any"}),
      touch(huge, {access = "read", stride = stride, expect = "any"}),
    }),
  }
end
