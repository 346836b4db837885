#!/bin/sh
# Deterministic instruction counts for the guestmm core (valgrind callgrind):
#  1. single-thread cost per fault, global vs extents (target: extents within 10%);
#  2. placement=hier: map+unmap of 1 GiB vs 2 MiB (target: at most 2x).
# usage: tools/bench/callgrind_mm.sh [GMM_COMMAND...]   (default: build/tools/gmm)
set -eu
[ $# -gt 0 ] || set -- build/tools/gmm
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Inclusive instructions of calls to one function over a run.
ir_of() {  # ir_of FUNCTION_PATTERN -- command...
  pat=$1; shift 2
  valgrind --tool=callgrind --callgrind-out-file="$out/cg" --toggle-collect="$pat" "$@" >/dev/null 2>&1
  callgrind_annotate "$out/cg" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }'
}

faults=4096  # one page_fault1 round over 16 MiB
echo "# instructions per fault (page_fault1, 1 thread, $faults faults, toggle-collect on AddressSpace::fault)"
for mm in global extents extents,placement=hier; do
  ir=$(ir_of 'gmm::mm::AddressSpace::fault(*' -- "$@" mmbench --workload page_fault1 --mm "$mm" --threads 1 \
       --size 16M --iterations 1)
  echo "$mm $ir $((ir / faults))" | awk '{ printf "%-28s total %12d  per fault %6d\n", $1, $2, $3 }'
done

iters=200
echo "# instructions per map+unmap pair (mmap1, 1 thread, $iters pairs)"
for mm in extents,placement=hier extents global; do
  for size in 2M 1G; do
    m=$(ir_of 'gmm::mm::AddressSpace::map(*' -- "$@" mmbench --workload mmap1 --mm "$mm" --threads 1 \
        --size "$size" --iterations $iters)
    u=$(ir_of 'gmm::mm::AddressSpace::unmap(*' -- "$@" mmbench --workload mmap1 --mm "$mm" --threads 1 \
        --size "$size" --iterations $iters)
    echo "$mm $size $(( (m + u) / iters ))" | awk '{ printf "%-28s %4s  map+unmap %9d\n", $1, $2, $3 }'
  done
done
