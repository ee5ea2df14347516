#!/usr/bin/python3
"""Runs bench_layers and torch_layers.py on the same cases and thread count, one after the other in one run, and
prints a table of seconds per iteration with the ratio PyTorch / fgclep (above 1: fgclep is faster).

Usage: /usr/bin/python3 benchmarks/compare.py BUILD_DIR/benchmarks/bench_layers [--threads T] [--case ...] [--markdown]
"""
import argparse
import json
import os
import subprocess
import sys


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return {r["case"]: r for r in (json.loads(line) for line in out.splitlines() if line.startswith("{"))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--case", default="")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    extra = ["--case", a.case] if a.case else []
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    ours = run([a.bench, "--threads", str(a.threads)] + extra)
    torch_script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_layers.py")
    theirs = run([sys.executable, torch_script, "--threads", str(a.threads)] + extra)
    peer = next(iter(theirs.values()))["impl"] if theirs else "pytorch"
    rows = [(c, r["shape"], r["s_per_iter"], theirs[c]["s_per_iter"]) for c, r in ours.items() if c in theirs]
    if a.markdown:
        print(f"| case | shape | fgclep ms | {peer} ms | ratio (torch / fgclep) |")
        print("|---|---|---:|---:|---:|")
        for c, shape, s, t in rows:
            print(f"| {c} | {shape} | {s * 1e3:.2f} | {t * 1e3:.2f} | {t / s:.2f} |")
    else:
        print(f"{'case':<18} {'shape':<38} {'fgclep ms':>10} {'torch ms':>10} {'ratio':>7}")
        for c, shape, s, t in rows:
            print(f"{c:<18} {shape:<38} {s * 1e3:>10.2f} {t * 1e3:>10.2f} {t / s:>7.2f}")
    print(f"threads {a.threads}; ratio = {peer} time / fgclep time (above 1: fgclep is faster)")


if __name__ == "__main__":
    main()
