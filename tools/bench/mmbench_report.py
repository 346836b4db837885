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
import resource
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
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        d = json.load(open(f.name))
        cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        # CPU time per operation: on a loaded machine this still shows whether an
        # operation gets dearer with a second thread (sharing), even when the
        # threads cannot get two whole cores.
        d["cpu_ns_per_op"] = cpu_s * 1e9 / max(1.0, d["ops_per_sec"] * d["seconds"])
        return d


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
        r1, r2, ratios, c1, c2 = [], [], [], [], []
        for _ in range(a.runs):
            one = run(gmm, workload, mm, 1, a.seconds, size)
            two = run(gmm, workload, mm, 2, a.seconds, size)
            r1.append(one["ops_per_sec"])
            r2.append(two["ops_per_sec"])
            ratios.append(two["ops_per_sec"] / one["ops_per_sec"])
            c1.append(one["cpu_ns_per_op"])
            c2.append(two["cpu_ns_per_op"])
        rows.append((f"{workload} {mm}" + (f" size={size}" if size else ""), statistics.median(r1),
                     statistics.median(r2), statistics.median(ratios), statistics.median(c1),
                     statistics.median(c2)))
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
    print(f"{'case':40} {'ops/s 1T':>11} {'ops/s 2T':>11} {'ratio':>6} {'cpu ns/op 1T':>13} {'2T':>9}")
    for name, one, two, ratio, cpu1, cpu2 in rows:
        print(f"{name:40} {one:11.0f} {two:11.0f} {ratio:6.2f} {cpu1:13.1f} {cpu2:9.1f}")
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
