#!/bin/sh
# Host time of one invariant check (issue 6 target: checking a 1 GiB guest
# with 256 MiB mapped takes under 200 ms of host time).
#  1. Without KVM: checker-speed (tools/bench/checker_speed.cpp) - hosted
#     guestmm address spaces and synthetic 1 GiB VM images, 256 MiB mapped and
#     every page faulted; medians of --runs checks.
#  2. With --vm (needs /dev/kvm and the guest images): a real guest running
#     page_fault1 on 2 vCPUs in 1 GiB of RAM, checked --runs times at
#     safepoints by `gmm check` (whose time also covers I6's pagemap reads
#     and I7's dirty-log request); prints every check line and the median.
# usage: tools/bench/checker_speed.sh [--build DIR] [--gmm GMM] [--runs N] [--vm]
#          [--vm-size BYTES_PER_VCPU] [--vm-iterations N] [--vm-settle SEC] [--vm-interval MS]
# The guest's threads map, fault in and unmap their range over and over, so
# the mapped amount at a check varies: read the PTE count on each check line.
set -eu
build=build
gmm=
runs=11
vm=0
size=128M
iterations=1000
settle=5
interval=1000
usage() {
  echo "usage: $0 [--build DIR] [--gmm GMM] [--runs N] [--vm] [--vm-size SIZE] [--vm-iterations N] [--vm-settle SEC] [--vm-interval MS]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || [ "$1" = --vm ] || usage
  case $1 in
    --build) build=$2; shift 2 ;;
    --gmm) gmm=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --vm) vm=1; shift ;;
    --vm-size) size=$2; shift 2 ;;
    --vm-iterations) iterations=$2; shift 2 ;;
    --vm-settle) settle=$2; shift 2 ;;
    --vm-interval) interval=$2; shift 2 ;;
    *) usage ;;
  esac
done

echo "## without KVM: $build/tools/bench/checker-speed --runs $runs"
"$build/tools/bench/checker-speed" --runs "$runs"
[ "$vm" = 1 ] || exit 0

[ -n "$gmm" ] || gmm=$build/tools/gmm
name=checker-speed-$$
out=$(mktemp -d)
vm_pid=
cleanup() {
  [ -z "$vm_pid" ] || kill "$vm_pid" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT
echo "## real VM: gmm run --workload page_fault1 --vcpus 2 --mem 1G --param size=$size --param iterations=$iterations"
"$gmm" run --workload page_fault1 --vcpus 2 --mem 1G --param size="$size" --param iterations="$iterations" \
  --name "$name" --timeout 900 --quiet >"$out/run.txt" 2>&1 &
vm_pid=$!
# gmm check refuses until the workload has published its address space.
tries=0
until "$gmm" check "$name" --count 1 >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ $tries -ge 240 ] || ! kill -0 "$vm_pid" 2>/dev/null; then
    echo "the VM never became checkable:" >&2
    cat "$out/run.txt" >&2
    exit 1
  fi
  sleep 0.5
done
sleep "$settle"  # let the threads fault their first pages in
echo "## gmm check $name --count $runs --interval $interval"
rc=0
"$gmm" check "$name" --count "$runs" --interval "$interval" --json "$out/check.json" || rc=$?
grep -E '"host_ns_median"|"ptes"|"frames"' "$out/check.json" || true
exit $rc
