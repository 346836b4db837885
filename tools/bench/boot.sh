#!/bin/bash
# Boot benchmark: wall time for `gmm run --vcpus N` (workload boot) to reach
# DONE and exit, median of R runs, plus the guest-kernel instructions KVM
# counted (insn_emulation, exact on hosts that emulate ring 0).
#   tools/bench/boot.sh [VCPUS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
VCPUS=${1:-4}
RUNS=${2:-7}
GMM=build/tools/gmm
[ -x "$GMM" ] || { echo "build first: tools/bootstrap test or ninja -C build" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in $(seq 1 "$RUNS"); do
    start=$(date +%s%N)
    "$GMM" run --vcpus "$VCPUS" --quiet --json "$tmp/run$i.json" >/dev/null
    end=$(date +%s%N)
    echo $(( (end - start) / 1000 )) >>"$tmp/wall_us"
done
python3 - "$tmp" "$RUNS" "$VCPUS" <<'PY'
import json, statistics, sys, glob
tmp, runs, vcpus = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
walls = [int(x) / 1000 for x in open(f"{tmp}/wall_us")]
insns, modes, guest_ms = [], set(), []
for f in sorted(glob.glob(f"{tmp}/run*.json")):
    j = json.load(open(f))
    modes.add(j["kvm_mode"])
    guest_ms.append(j["duration_ns"] / 1e6)
    insns.append(sum(v["insn_emulation"] for v in j["kvm"]))
print(f"gmm run --vcpus {vcpus}: {runs} runs, kvm_mode {','.join(sorted(modes))}")
print(f"  wall time to exit   median {statistics.median(walls):8.1f} ms  (min {min(walls):.1f}, max {max(walls):.1f})")
print(f"  VM run (guest)      median {statistics.median(guest_ms):8.1f} ms")
print(f"  insn_emulation      median {statistics.median(insns):8.0f} (all vCPUs)")
PY
