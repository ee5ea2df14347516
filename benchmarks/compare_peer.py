#!/usr/bin/python3
"""Runs the PyTorch peer (shared/peers/torch_peer.py) and bench_encoders on the same cases (ecg_infer, ecg_train,
bert_train, fgclep_train), batch, ECG length, token sequence length, step count and thread count, and prints seconds
per step and the ratio PyTorch / fgclep (above 1: fgclep is faster).

Usage:
  /usr/bin/python3 benchmarks/compare_peer.py BUILD_DIR/benchmarks/bench_encoders
      [--peer ../shared/peers/torch_peer.py] [--threads 2] [--batch 16] [--len 5000] [--seq 64]
      [--steps 5] [--repeats 3] [--case ecg_infer,ecg_train,bert_train,fgclep_train]
      [--wait-policy active|passive] [--markdown]

The peer runs as `OMP_NUM_THREADS=T /usr/bin/python3 PEER --case ... --batch B --len L --seq Q --steps S`; ours with
--threads T (and the same OMP_NUM_THREADS). Each run times, per case, one warm-up step and then the mean of S steps
(the peer's timeit; bench_encoders does the same). The two programs run alternately, R times each (ours, peer,
ours, peer, ...), and each figure is the median over the R runs of the per-run s/step, with the full range
(min-max) beside it; the ratio is the ratio of the medians, its range min(peer)/max(ours) .. max(peer)/min(ours).
Both programs must report T threads ("threads" in their JSON), or the comparison stops with an error. The output
names the CPU and the flags ours was built with (-march=native: ours is built for this CPU, PyTorch is Debian's
generic build with its own run-time dispatch).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def run(cmd, env):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"compare_peer: {' '.join(cmd)} failed with exit status {proc.returncode}:\n{proc.stderr}")
    return {r["case"]: r for r in (json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{"))}


def check_threads(who, results, threads):
    """Both sides must have run with exactly the requested thread count."""
    for case, r in results.items():
        if "threads" not in r:
            sys.exit(f"compare_peer: {who} reported no thread count for {case}")
        if int(r["threads"]) != threads:
            sys.exit(f"compare_peer: {who} ran {case} with {r['threads']} threads, not --threads {threads}: "
                     f"the comparison would not be like for like")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def spread(values):
    return statistics.median(values), min(values), max(values)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench", help="path of the bench_encoders binary")
    # The project's shared material lies beside its root (../shared), as on the development machines and in CI.
    default_peer = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "peers", "torch_peer.py")
    ap.add_argument("--peer", default=os.path.normpath(default_peer), help="path of torch_peer.py")
    ap.add_argument("--python", default="/usr/bin/python3", help="the Python that has PyTorch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--len", type=int, default=5000)
    ap.add_argument("--seq", type=int, default=64, help="token sequence length (bert_train, fgclep_train)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per run, after one warm-up step")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each program, alternating ours and the peer's")
    ap.add_argument("--case", default="ecg_infer,ecg_train")
    ap.add_argument("--wait-policy", choices=["active", "passive"],
                    help="OMP_WAIT_POLICY for both programs; passive keeps a machine shared with other work from "
                         "spinning OpenMP barriers against it (both use libgomp)")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    if a.threads < 1 or a.steps < 1 or a.repeats < 1:
        sys.exit("compare_peer: --threads, --steps and --repeats must be >= 1")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    if a.wait_policy:
        env["OMP_WAIT_POLICY"] = a.wait_policy
    shape = ["--batch", str(a.batch), "--len", str(a.len), "--seq", str(a.seq), "--steps", str(a.steps)]
    cases = [c for c in a.case.split(",") if c]
    # The peer has no folded case: ours with BatchNorm folded is compared with its plain inference.
    peer_cases = ",".join(dict.fromkeys(c.replace("_folded", "") for c in cases))

    ours_runs, peer_runs = [], []
    for k in range(a.repeats):
        print(f"run {k + 1}/{a.repeats}: fgclep", file=sys.stderr, flush=True)
        ours = run([a.bench, "--threads", str(a.threads), "--case", ",".join(cases)] + shape, env)
        check_threads("bench_encoders", ours, a.threads)
        ours_runs.append(ours)
        print(f"run {k + 1}/{a.repeats}: peer", file=sys.stderr, flush=True)
        theirs = run([a.python, a.peer, "--case", peer_cases] + shape, env)
        check_threads("the peer", theirs, a.threads)
        peer_runs.append(theirs)
    first = next(iter(ours_runs[0].values()), {})
    peer = next(iter(peer_runs[0].values()), {}).get("peer", "pytorch")

    rows = []  # (case, ours (median, min, max), peer's or None)
    for case in cases:
        mine = [r[case]["s_per_step"] for r in ours_runs if case in r]
        if len(mine) != a.repeats:
            sys.exit(f"compare_peer: bench_encoders did not report {case} in every run")
        base = case.replace("_folded", "")
        theirs = [r[base]["s_per_step"] for r in peer_runs if base in r]
        rows.append((case, spread(mine), spread(theirs) if len(theirs) == a.repeats else None))

    setting = (f"batch {a.batch}, len {a.len}, seq {a.seq}, {a.threads} threads (both reported {a.threads}); each "
               f"figure the median (min-max) over {a.repeats} alternating runs of 1 warm-up + mean of {a.steps} steps")
    if a.wait_policy:
        setting += f", OMP_WAIT_POLICY={a.wait_policy}"
    machine = f"CPU: {cpu_model()}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable)"
    built = (f"fgclep built with {first.get('compiler', '?')}: {first.get('flags', '?')} (vector extensions: "
             f"{first.get('isa', '?')}); {peer} is the distribution's generic build")

    def ratio(s, t):  # peer / ours: median of each, then the range
        return t[0] / s[0], t[1] / s[2], t[2] / s[1]

    if a.markdown:
        print(f"| case | fgclep s/step, median (min–max) | {peer} s/step, median (min–max) | "
              f"ratio ({peer} / fgclep), of the medians (range) |")
        print("|---|---:|---:|---:|")
        for case, s, t in rows:
            mine = f"{s[0]:.3f} ({s[1]:.3f}–{s[2]:.3f})"
            if t:
                r = ratio(s, t)
                print(f"| {case} | {mine} | {t[0]:.3f} ({t[1]:.3f}–{t[2]:.3f}) | {r[0]:.2f} ({r[1]:.2f}–{r[2]:.2f}) |")
            else:
                print(f"| {case} | {mine} | - | - |")
        print(f"\n{machine}; {built}. {setting}; ratio above 1: fgclep is faster.")
    else:
        print(machine)
        print(built)
        print(f"{'case':<18} {'fgclep s/step (min-max)':>26} {'peer s/step (min-max)':>26} "
              f"{'ratio (range)':>20}")
        for case, s, t in rows:
            mine = f"{s[0]:.3f} ({s[1]:.3f}-{s[2]:.3f})"
            if t:
                r = ratio(s, t)
                print(f"{case:<18} {mine:>26} {f'{t[0]:.3f} ({t[1]:.3f}-{t[2]:.3f})':>26} "
                      f"{f'{r[0]:.2f} ({r[1]:.2f}-{r[2]:.2f})':>20}")
            else:
                print(f"{case:<18} {mine:>26} {'-':>26} {'-':>20}")
        print(f"{setting}; ratio = {peer} time / fgclep time (above 1: fgclep is faster)")


if __name__ == "__main__":
    main()
