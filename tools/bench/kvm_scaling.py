#!/usr/bin/env python3
"""Does the host serialise what the guest runs in parallel? (issue 4)

Per round, back to back (ROUNDS rounds; medians of per-round ratios, so a
noisy host moment hits both sides of a ratio):
  - control: `lockhammer shared=0` on 1 and on 2 vCPUs (every vCPU takes its
    own lock in a ring-0 loop: no page faults, no page-table writes): per-vCPU
    TSC cycles of the same loop (`hammer_cycles`); 2 x t(1) / t(2) is what the
    host gave two vCPUs at that moment.
  - scaling: `page_fault1` on 1 and 2 vCPUs per --mm policy: total ops/s at 2
    / at 1, alone and divided by the round's control; the guest's own lock
    contentions and instructions per fault (which do not change with the vCPU
    count if the guest is not the serialiser). The first policy also runs
    with `--free-frames punch` (the VMM's hole punching) for comparison.
  - mixed: `mixed` on 2 vCPUs (thread 0 churns mmap/munmap, thread 1 runs
    page_fault1): the faulting thread's rate against page_fault1 alone on 1
    vCPU in the same round.
With --perf (root, `perf` installed) it also records the host during one 2-
and one 1-vCPU page_fault1 (`perf record -a -g`): the share of the VMM's
samples in the host kernel's spin/rw-lock slow paths and the KVM functions
they came from; and counts the host's IPIs and TLB flushes (`perf stat`)
during one 2-vCPU page_fault1 per --free-frames method.

  tools/bench/kvm_scaling.py [--build DIR] [--rounds N] [--mm POLICY]... [--perf] [--json FILE]
"""
import argparse
import collections
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

LOCK_SLOWPATH = re.compile(r"(queued_(spin|read|write)_lock_slowpath|__pv_queued_spin_lock_slowpath|"
                           r"rwsem_down_(read|write)_slowpath|osq_lock)")


def run_gmm(gmm, out, vcpus, workload, params, mm=None, prefix=(), extra=()):
    cmd = list(prefix) + [gmm, "run", "-q", "--vcpus", str(vcpus), "--workload", workload, "--timeout", "600",
                          "--json", out]
    for p in params:
        cmd += ["--param", p]
    if mm:
        cmd += ["--mm", mm]
    cmd += list(extra)
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()[-400:]}")
    with open(out) as f:
        return json.load(f)


def ring0_cycles(j):
    return [v["results"]["hammer_cycles"] for v in j["per_vcpu"]]


def op_figures(j):
    ops = j["ops_total"]
    contentions = sum(l["contentions"] for l in j["lockstat"])
    return {"ops_per_sec": j["ops_per_sec"], "insns_per_op": j["guest_kernel_insns_per_op"],
            "contentions_per_op": contentions / ops if ops else float("nan"),
            "exits_per_op": sum(k["exits"] for k in j["kvm"]) / ops if ops else float("nan")}


def perf_profile(gmm, tmp, vcpus, fault_params, mm):
    data = os.path.join(tmp, f"perf-{vcpus}.data")
    out = os.path.join(tmp, f"perf-{vcpus}.json")
    run_gmm(gmm, out, vcpus, "page_fault1", fault_params, mm,
            prefix=["perf", "record", "-q", "-a", "-g", "-o", data, "--"])
    script = subprocess.run(["perf", "script", "-i", data, "-F", "comm,tid,ip,sym"], capture_output=True, text=True)
    samples = 0
    in_lock = 0
    callers = collections.Counter()
    leaf_syms = collections.Counter()
    for block in script.stdout.split("\n\n"):
        lines = [l for l in block.strip().splitlines() if l.strip()]
        if not lines:
            continue
        comm = lines[0].split()[0]
        if not comm.startswith("gmm"):  # the VMM and its threads (gmm-vcpuN, gmm-blk-io)
            continue
        samples += 1
        syms = [l.split(None, 1)[1].split("+")[0] if len(l.split(None, 1)) > 1 else "?" for l in lines[1:]]
        if syms:
            leaf_syms[syms[0]] += 1
        if syms and LOCK_SLOWPATH.search(syms[0]):
            in_lock += 1
            caller = next((s for s in syms[1:] if "kvm" in s or "pvm" in s or "mmu" in s), "(no kvm frame)")
            callers[caller] += 1
    return {"vcpus": vcpus, "samples": samples, "lock_slowpath_samples": in_lock,
            "lock_slowpath_share": in_lock / samples if samples else float("nan"),
            "lock_callers": callers.most_common(6), "top_leaf_symbols": leaf_syms.most_common(8),
            "ops_per_sec": json.load(open(out))["ops_per_sec"]}


def perf_host_events(gmm, tmp, vcpus, fault_params, mm, how):
    out = os.path.join(tmp, "ev.json")
    stat = os.path.join(tmp, "ev.csv")
    run_gmm(gmm, out, vcpus, "page_fault1", fault_params, mm,
            prefix=["perf", "stat", "-a", "-x", ",", "-o", stat, "-e", "ipi:ipi_send_cpu,tlb:tlb_flush", "--"],
            extra=["--free-frames", how])
    counts = {}
    for line in open(stat):
        f = line.strip().split(",")
        if len(f) > 2 and f[0].isdigit():
            counts[f[2]] = int(f[0])
    faults = sum(v["results"].get("mm_faults_installed", 0) for v in json.load(open(out))["per_vcpu"])
    return {"free_frames": how, "vcpus": vcpus, "faults": faults, "ipis": counts.get("ipi:ipi_send_cpu", -1),
            "tlb_flushes": counts.get("tlb:tlb_flush", -1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mm", action="append", help="policies (repeatable; default: extents,freecache=percpu, "
                                                  "extents, global)")
    ap.add_argument("--perf", action="store_true", help="profile the host with perf (root)")
    ap.add_argument("--json", help="write the figures as JSON")
    ap.add_argument("--fault-size", default="8M", help="page_fault1 and mixed size per thread (default 8M)")
    ap.add_argument("--hammer-iterations", default="3000")
    ap.add_argument("--mmap-iterations", default="200", help="mmap1 map/unmap pairs per thread (default 200)")
    a = ap.parse_args()
    if a.rounds < 1:
        sys.exit("--rounds: at least 1")
    gmm = os.path.join(a.build, "tools", "gmm")
    if not os.access(gmm, os.X_OK):
        sys.exit(f"{gmm}: not built (ninja -C {a.build})")
    if a.perf and not shutil.which("perf"):
        sys.exit("--perf: perf is not installed (apt-get install linux-perf)")
    policies = a.mm or ["extents,freecache=percpu", "extents", "global"]
    fault_params = [f"size={a.fault_size}", "iterations=2"]
    hammer_params = ["shared=0", f"iterations={a.hammer_iterations}"]
    # cells: (workload, policy, free-frames method); mmap1 frees no frames
    cells = ([("page_fault1", mm, "zero") for mm in policies] + [("page_fault1", policies[0], "punch")] +
             [("mmap1", mm, "zero") for mm in policies])
    params_of = {"page_fault1": fault_params, "mmap1": [f"size={a.fault_size}", f"iterations={a.mmap_iterations}"]}
    tmp = tempfile.mkdtemp(prefix="gmm-kvm-scaling-")
    control, pf, mixed = [], {c: [] for c in cells}, {mm: [] for mm in policies}
    kvm_mode = None
    t0 = time.time()
    try:
        for r in range(a.rounds):
            print(f"\rround {r + 1}/{a.rounds} ... {time.time() - t0:.0f} s ", end="", file=sys.stderr)
            h1 = run_gmm(gmm, os.path.join(tmp, "h.json"), 1, "lockhammer", hammer_params)
            h2 = run_gmm(gmm, os.path.join(tmp, "h.json"), 2, "lockhammer", hammer_params)
            kvm_mode = h1["kvm_mode"]
            control.append(2 * statistics.median(ring0_cycles(h1)) / statistics.median(ring0_cycles(h2)))
            for wl, mm, how in cells:
                extra = ["--free-frames", how]
                f1 = op_figures(run_gmm(gmm, os.path.join(tmp, "f.json"), 1, wl, params_of[wl], mm, extra=extra))
                f2 = op_figures(run_gmm(gmm, os.path.join(tmp, "f.json"), 2, wl, params_of[wl], mm, extra=extra))
                pf[(wl, mm, how)].append((f1, f2))
                if wl == "page_fault1" and how == "zero":
                    j = run_gmm(gmm, os.path.join(tmp, "m.json"), 2, "mixed", fault_params, mm)
                    v = j["per_vcpu"][1]
                    faulter = v["ops"] / (v["results"]["measured_ns"] / 1e9)
                    mixed[mm].append(faulter / f1["ops_per_sec"])
        print(file=sys.stderr)
        prof, events = [], []
        if a.perf:
            for v in (2, 1):
                print(f"perf: {v} vCPU(s) ...", file=sys.stderr)
                prof.append(perf_profile(gmm, tmp, v, fault_params, policies[0]))
            for how in ("zero", "punch"):
                events.append(perf_host_events(gmm, tmp, 2, fault_params, policies[0], how))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    med = statistics.median
    fmt = lambda xs: " ".join(f"{x:.2f}" for x in xs)
    load = os.getloadavg()
    print(f"kvm_mode {kvm_mode}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {a.rounds} round(s); "
          f"medians of per-round ratios (2.00 = linear scaling)")
    print(f"control: ring-0 loop on 2 vCPUs vs 1: {med(control):.2f}  (rounds: {fmt(control)})")
    summary = {"control": control, "scaling": [], "mixed": []}
    print(f"{'workload, policy':52} {'ops/s 1':>8} {'ops/s 2':>8} {'2 vs 1':>7} {'/ctrl':>6} "
          f"{'insns/op':>9} {'cont/op':>8} {'exits/op':>9}")
    for (wl, mm, how), rows in pf.items():
        ratios = [b["ops_per_sec"] / a_["ops_per_sec"] for a_, b in rows]
        vs = [x / c for x, c in zip(ratios, control)]
        o1 = med(a_["ops_per_sec"] for a_, _ in rows)
        o2 = med(b["ops_per_sec"] for _, b in rows)
        ins = med(b["insns_per_op"] for _, b in rows)
        cont = med(b["contentions_per_op"] for _, b in rows)
        ex = med(b["exits_per_op"] for _, b in rows)
        label = f"{wl} {mm}" + (f" --free-frames {how}" if wl == "page_fault1" else "")
        print(f"{label:52} {o1:8.0f} {o2:8.0f} {med(ratios):7.2f} {med(vs):6.2f} {ins:9.1f} {cont:8.4f} {ex:9.2f}")
        print(f"{'':52} rounds: {fmt(ratios)}")
        summary["scaling"].append({"workload": wl, "mm": mm, "free_frames": how, "ops_per_sec_1": o1, "ops_per_sec_2": o2,
                                       "scaling": med(ratios), "scaling_vs_control": med(vs), "rounds": ratios,
                                       "insns_per_op_2": ins, "contentions_per_op_2": cont})
    print("mixed (2 vCPUs): the faulting thread's rate / page_fault1 alone on 1 vCPU (1.00 = keeps all);")
    print("  /ctrl: divided by the round's per-vCPU ring-0 rate on 2 vCPUs vs 1 (control / 2)")
    for mm, ks in mixed.items():
        vs = [k / (c / 2) for k, c in zip(ks, control)]
        print(f"  {mm:38} {med(ks):6.2f}  /ctrl {med(vs):5.2f}  (rounds: {fmt(ks)})")
        summary["mixed"].append({"mm": mm, "kept": med(ks), "kept_vs_control": med(vs), "rounds": ks})
    for p in prof:
        print(f"host profile, page_fault1 on {p['vcpus']} vCPU(s) ({p['ops_per_sec']:.0f} ops/s): "
              f"{p['samples']} VMM samples, {100 * p['lock_slowpath_share']:.1f}% in host lock slow paths")
        for caller, n in p["lock_callers"]:
            print(f"    {n:6d}  from {caller}")
        print("  top leaf symbols: " + ", ".join(f"{s} {100 * n / max(p['samples'], 1):.1f}%"
                                                for s, n in p["top_leaf_symbols"]))
    for e in events:
        print(f"host events, page_fault1 on 2 vCPUs, --free-frames {e['free_frames']}: {e['ipis']} IPIs, "
              f"{e['tlb_flushes']} TLB flushes for {e['faults']} guest faults")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"kvm_mode": kvm_mode, "load": load, "rounds": a.rounds, **summary, "perf": prof,
                       "host_events": events}, f, indent=1)


if __name__ == "__main__":
    main()
