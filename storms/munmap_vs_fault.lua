-- munmap racing faults on the same range.
--
-- The race: a page fault walks to a PTE and installs a frame while another
-- vCPU unmaps (and then re-maps) the very range. A fault that loses must end
-- in SEGV (not mapped), never install a PTE into a range that is gone or
-- belongs to the new mapping's extent without its generation; the unmap must
-- free every frame it zapped exactly once, after the TLB shootdown.
-- What the checker then proves at each safepoint: no PTE outside a mapping
-- (I1), no frame mapped twice or freed while mapped (I4), mappings plus free
-- space still tile the user range (I3), no lock left held (I8).
--
-- Shape: vCPU 0 unmaps and re-maps the region once per round; every other
-- vCPU write-faults all of it in random order in the same round. Faulters
-- accept SEGVs (expect = "any"): losing the race is the point.
-- Params: size (bytes, default 2 MiB), rounds (default 8).
local size = param("size", 2 * MiB)
local rounds = param("rounds", 8)
storm{name = "munmap_vs_fault"}

local victim = region{name = "victim", size = size}

thread{name = "unmapper", vcpu = 0,
  loop(rounds, {
    barrier("round"),
    sleep(300),                 -- let the faulters get going
    unmap(victim),
    sleep(100),
    map(victim),
    touch(victim, {stride = 64 * KiB}),   -- and fault some pages itself
  }),
}

for v = 1, VCPUS - 1 do
  thread{name = "faulter" .. v, vcpu = v,
    loop(rounds, {
      barrier("round"),
      touch(victim, {order = "random", expect = "any"}),
    }),
  }
end
