#!/bin/bash
# Cost of lock statistics in the guest: guest-kernel instructions (KVM's
# insn_emulation, exact where ring 0 is emulated) per anonymous page fault of
# page_fault1 with `--param lockstat=on` versus `off`, per policy and vCPU
# count, median of RUNS runs each (BENCHMARKS.md, "lockstat overhead").
#   tools/bench/lockstat_overhead.sh [RUNS] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
BUILD=${2:-build}
GMM=$BUILD/tools/gmm
[ -x "$GMM" ] || { echo "build first: ninja -C $BUILD (or pass the build directory)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for mm in extents global; do
    for vcpus in 1 2; do
        for ls in off on; do
            for i in $(seq 1 "$RUNS"); do
                "$GMM" run -q --vcpus "$vcpus" --workload page_fault1 --mm "$mm" --param lockstat="$ls" \
                    --json "$tmp/$mm-$vcpus-$ls-$i.json" >/dev/null
            done
        done
    done
done
python3 - "$tmp" "$RUNS" <<'PY'
import glob, json, statistics, sys
tmp, runs = sys.argv[1], int(sys.argv[2])
def med(mm, v, ls, key):
    vals = []
    for f in glob.glob(f"{tmp}/{mm}-{v}-{ls}-*.json"):
        j = json.load(open(f))
        if j["kvm_mode"] != "emulated":
            sys.exit("kvm_mode is not 'emulated': insn_emulation does not count ring-0 instructions here")
        if j["exit"]["status"] != 0:
            sys.exit(f"{f}: run failed: {j['exit']}")
        vals.append(key(j))
    return statistics.median(vals)
def rmw(j):
    c = [x for x in j["lockstat_per_vcpu"] if x["faults"]]
    return sum(x["fault_atomic_rmw"] for x in c) / sum(x["faults"] for x in c) if c else float("nan")
print(f"page_fault1, guest-kernel instructions per anonymous fault (median of {runs} runs)")
print(f"{'--mm':8} {'vCPUs':>5} {'lockstat=off':>13} {'lockstat=on':>12} {'overhead':>9} {'atomic RMWs/fault':>18}")
worst = 0.0
for mm in ("extents", "global"):
    for v in (1, 2):
        off = med(mm, v, "off", lambda j: j["guest_kernel_insns_per_fault"])
        on = med(mm, v, "on", lambda j: j["guest_kernel_insns_per_fault"])
        pct = 100.0 * (on - off) / off
        worst = max(worst, pct)
        print(f"{mm:8} {v:>5} {off:>13.1f} {on:>12.1f} {pct:>8.1f}% {med(mm, v, 'on', rmw):>18.1f}")
print(f"worst overhead {worst:.1f}% (target: at most 15%)")
PY
