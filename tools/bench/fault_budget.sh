#!/bin/bash
# Fault-path instruction budget (issue 4): guest-kernel instructions (KVM's
# insn_emulation, exact where ring 0 is emulated, so one run per point is
# enough) per page fault and per operation, for page_fault1 / mmap1 / mixed,
# both policies, lockstat off and on (BENCHMARKS.md, "Fault-path instruction
# budget").
#   tools/bench/fault_budget.sh [BUILD_DIR] [VCPUS]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
VCPUS=${2:-1}
GMM=$BUILD/tools/gmm
[ -x "$GMM" ] || { echo "build first: ninja -C $BUILD (or pass the build directory)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for wl in page_fault1 mmap1 mixed; do
    for mm in extents global; do
        for ls in off on; do
            extra=()
            case $wl in  # small enough for a loaded 2-core host; the counts are exact anyway
                page_fault1) extra=(--param iterations=2) ;;
                mmap1) extra=(--param iterations=50) ;;
                mixed) extra=() ;;  # the defaults: 4 MiB, 4 rounds
            esac
            v=$VCPUS
            [ "$wl" = mixed ] && [ "$v" -lt 2 ] && v=2
            "$GMM" run -q --vcpus "$v" --workload "$wl" --mm "$mm" --param lockstat="$ls" "${extra[@]}" \
                --timeout 600 --json "$tmp/$wl-$mm-$ls.json" >/dev/null
        done
    done
done
python3 - "$tmp" <<'PY'
import json, sys
tmp = sys.argv[1]
print(f"{'workload':12} {'--mm':8} {'lockstat':>8} {'vCPUs':>5} {'insns/op':>9} {'insns/fault':>12}")
for wl in ("page_fault1", "mmap1", "mixed"):
    for mm in ("extents", "global"):
        for ls in ("off", "on"):
            j = json.load(open(f"{tmp}/{wl}-{mm}-{ls}.json"))
            if j["kvm_mode"] != "emulated":
                sys.exit("kvm_mode is not 'emulated': insn_emulation does not count ring-0 instructions here")
            if j["exit"]["status"] != 0:
                sys.exit(f"{wl} {mm} lockstat={ls}: run failed: {j['exit']}")
            op = j.get("guest_kernel_insns_per_op", float("nan"))
            f = j.get("guest_kernel_insns_per_fault", float("nan"))
            print(f"{wl:12} {mm:8} {ls:>8} {j['vcpus']:>5} {op:>9.1f} {f:>12.1f}")
PY
