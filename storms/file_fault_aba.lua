-- File faults under long I/O latency racing unmap and re-map (ABA).
--
-- The race this storm is for: a fault on a file mapping finds the page not
-- resident, pins the file, drops every lock and sleeps for the I/O; meanwhile
-- another thread unmaps the range and maps something else at the same address
-- (the same layout, perhaps even the same page-table page). When the I/O
-- completes, a fault that revalidates only by address or pointer would install
-- the old file's page into the new mapping (ABA). guestmm catches this with a
-- per-extent generation number (docs/guestmm.md "Sleeping faults"); this storm
-- would prove it under the checker in the guest.
--
-- NOT RUNNABLE YET: the guest kernel has no file-backed mappings (issue 5), so
-- `gmm storm` refuses the file region below with "not supported until
-- file-backed mappings exist (issue 5)" (exit 2) and the test suite records it
-- as skipped with that reason. The hosted guestmm test test_sleeping_fault.cpp
-- covers the generation check without a VM.
storm{name = "file_fault_aba"}

local file = region{name = "file", size = 2 * MiB, kind = "file", share = "private"}

thread{name = "faulter", vcpu = 0, loop(20, { touch(file, {order = "random", expect = "any"}) })}
thread{name = "remapper", vcpu = 1, loop(20, { unmap(file), map(file) })}
