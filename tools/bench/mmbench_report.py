#!/usr/bin/env python3
"""Hosted guestmm benchmark: runs `gmm mmbench` several times per case and
prints medians and the ratios that BENCHMARKS.md quotes against the targets.

usage: tools/bench/mmbench_report.py [--gmm PATH] [--runs N] [--seconds S]

Each case runs N times (default 3); 1- and 2-thread runs alternate so that
machine noise hits both sides of a ratio alike. Ratios are taken per round
(within one run pair) and the median over rounds is reported.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def run(gmm, workload, mm, threads, seconds, size=None):
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        cmd = gmm + ["mmbench", "--workload", workload, "--mm", mm, "--threads", str(threads),
                     "--seconds", str(seconds), "--json", f.name]
        if size:
            cmd += ["--size", size]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        return json.load(open(f.name))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gmm", default=os.environ.get("GMM", "build/tools/gmm"),
                    help="gmm binary (default $GMM or build/tools/gmm)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3)
    a = ap.parse_args()
    gmm = a.gmm.split()
    rows = []

    def scaling(workload, mm, size=None):
        r1, r2, ratios = [], [], []
        for _ in range(a.runs):
            one = run(gmm, workload, mm, 1, a.seconds, size)["ops_per_sec"]
            two = run(gmm, workload, mm, 2, a.seconds, size)["ops_per_sec"]
            r1.append(one)
            r2.append(two)
            ratios.append(two / one)
        rows.append((f"{workload} {mm}" + (f" size={size}" if size else ""), statistics.median(r1),
                     statistics.median(r2), statistics.median(ratios)))
        return statistics.median(ratios)

    def mixed(mm):
        keep = []
        solo_l, fault_l = [], []
        for _ in range(a.runs):
            solo = run(gmm, "page_fault1", mm, 1, a.seconds)["ops_per_sec"]
            m = run(gmm, "mixed", mm, 2, a.seconds)
            fault = m["per_thread"][1]  # thread 1 faults while thread 0 churns mmap1
            solo_l.append(solo)
            fault_l.append(fault)
            keep.append(fault / solo)
        return statistics.median(solo_l), statistics.median(fault_l), statistics.median(keep)

    print(f"# {a.runs} runs of {a.seconds}s each; medians", flush=True)
    mmap1_x = scaling("mmap1", "extents")
    pf_x = scaling("page_fault1", "extents")
    scaling("mmap1", "extents,freecache=percpu")
    scaling("mmap1", "global")
    scaling("page_fault1", "global")
    print(f"{'case':48} {'1 thread':>12} {'2 threads':>12} {'ratio':>7}")
    for name, one, two, ratio in rows:
        print(f"{name:48} {one:12.0f} {two:12.0f} {ratio:7.2f}")
    print()
    for mm in ("extents", "global"):
        solo, fault, keep = mixed(mm)
        print(f"mixed {mm:10} solo faults/s {solo:12.0f}  faulting thread in mixed {fault:12.0f}  kept {keep:6.1%}")
        if mm == "extents":
            mixed_keep = keep
    print()
    print(f"target extents mmap1 2T/1T >= 1.8: {mmap1_x:.2f} {'MET' if mmap1_x >= 1.8 else 'MISSED'}")
    print(f"target extents page_fault1 2T/1T >= 1.8: {pf_x:.2f} {'MET' if pf_x >= 1.8 else 'MISSED'}")
    print(f"target extents mixed keeps >= 90%: {mixed_keep:.1%} {'MET' if mixed_keep >= 0.9 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
