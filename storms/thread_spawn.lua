-- A thread-creation storm: stacks mapped while others fault.
--
-- Every spawn maps a fresh 64 KiB stack (mmap) and makes its lowest page a
-- PROT_NONE guard (mprotect); every join unmaps it. Those writes to the free
-- space and to the page tables race with faults of the other threads and with
-- the new thread's own first faults on its stack, so the storm exercises hint
-- maps and unmaps next to live faults, frames recycled from one thread's
-- stack into another's, and shootdowns to vCPUs that come and go.
--
-- What it covers, honestly: the kernel runs one user thread per vCPU
-- (THREAD_CREATE on a busy vCPU returns -EAGAIN), so threads are created and
-- exit repeatedly on the free vCPUs; there are never more threads than vCPUs.
-- With 2 vCPUs the spawner faults between spawns itself; with 3 or more a
-- dedicated faulter runs on vCPU 1 and workers on vCPUs 2 and up.
-- Params: spawns (per worker, default 12), size (shared region, default 2 MiB).
local spawns = param("spawns", 12)
local size = param("size", 2 * MiB)
storm{name = "thread_spawn"}

local shared = region{name = "shared", size = size}
local first_worker = VCPUS >= 3 and 2 or 1

local cycle = {}
for v = first_worker, VCPUS - 1 do
  local own = region{name = "own" .. v, size = 256 * KiB, place = "hint", mapped = false}
  thread{name = "worker" .. v, vcpu = v, spawned = true,
    touch(shared, {order = "random", stride = 32 * KiB}),
    map(own), touch(own), protect(own, "r"), touch(own, {access = "read"}), unmap(own),
  }
  cycle[#cycle + 1] = spawn("worker" .. v)
end
for v = first_worker, VCPUS - 1 do cycle[#cycle + 1] = join("worker" .. v) end

if first_worker == 1 then
  thread{name = "spawner", vcpu = 0,
    loop(spawns, { cycle, touch(shared, {order = "random", stride = 16 * KiB}) }),
  }
else
  thread{name = "spawner", vcpu = 0, loop(spawns, { cycle })}
  thread{name = "faulter", vcpu = 1,
    loop(spawns, { touch(shared, {order = "random", stride = 8 * KiB}), sleep(500) }),
  }
end
