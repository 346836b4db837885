-- A thread-creation storm: more threads than vCPUs, stacks mapped while others fault.
--
-- Every spawn maps a fresh 64 KiB stack (mmap, kernel-placed) and makes its
-- lowest page a PROT_NONE guard (mprotect); every join unmaps it. Those writes
-- to the free space and to the page tables race with faults of the other
-- threads and with the new thread's own first faults on its stack, so the
-- storm exercises hint maps and unmaps next to live faults, frames recycled
-- from one thread's stack into another's, and shootdowns to vCPUs whose
-- threads come and go.
--
-- Oversubscribed: each round the spawner (vCPU 0) starts `workers` threads
-- (default 2 * VCPUS + 1), worker w on vCPU w mod VCPUS, so several share
-- every vCPU (the guest scheduler time-slices them: 5 ms quantum in user
-- mode, switches when one blocks), while a pinned faulter on every vCPU —
-- vCPU 0 included, beside the spawner — keeps faulting the shared region.
-- Threads are created while others on the same vCPU are mid-fault, and a
-- thread can be preempted between its own faults and its stack's unmap.
-- Params: spawns (rounds, default 12), workers (per round, default
-- 2 * VCPUS + 1, capped so the storm stays within 64 threads), size (the
-- shared region, default 2 MiB).
local rounds = param("spawns", 12)
local workers = math.min(param("workers", 2 * VCPUS + 1), 64 - 1 - VCPUS)
local size = param("size", 2 * MiB)
storm{name = "thread_spawn"}

local shared = region{name = "shared", size = size}

local starts, joins = {}, {}
for w = 1, workers do
  local own = region{name = "own" .. w, size = 128 * KiB, place = "hint", mapped = false}
  thread{name = "worker" .. w, vcpu = w % VCPUS, spawned = true,
    touch(shared, {order = "random", stride = 32 * KiB}),
    map(own), touch(own), protect(own, "r"), touch(own, {access = "read"}), unmap(own),
  }
  starts[#starts + 1] = spawn("worker" .. w)
  joins[#joins + 1] = join("worker" .. w)
end

thread{name = "spawner", vcpu = 0,
  loop(rounds, { starts, touch(shared, {order = "random", stride = 16 * KiB}), joins }),
}
for v = 0, VCPUS - 1 do
  thread{name = "faulter" .. v, vcpu = v,
    loop(rounds, { touch(shared, {order = "random", stride = 8 * KiB}), sleep(300) }),
  }
end
