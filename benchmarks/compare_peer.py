#!/usr/bin/python3
"""Runs the PyTorch peer (shared/peers/torch_peer.py) and bench_encoders on the same cases (ecg_infer, ecg_train,
bert_train, fgclep_train), batch, ECG length, token sequence length, step count and thread count, one after the
other, and prints seconds per step and the ratio PyTorch / fgclep (above 1: fgclep is faster).

Usage:
  /usr/bin/python3 benchmarks/compare_peer.py BUILD_DIR/benchmarks/bench_encoders
      [--peer ../shared/peers/torch_peer.py] [--threads 2] [--batch 16] [--len 5000] [--seq 64]
      [--steps 3] [--case ecg_infer,ecg_train,bert_train,fgclep_train] [--wait-policy active|passive] [--markdown]

The peer runs as `OMP_NUM_THREADS=T /usr/bin/python3 PEER --case ... --batch B --len L --seq Q --steps S`; ours with
--threads T (and the same OMP_NUM_THREADS). Both time one warm-up step, then the mean of S steps.
"""
import argparse
import json
import os
import subprocess


def run(cmd, env):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return {r["case"]: r for r in (json.loads(line) for line in out.splitlines() if line.startswith("{"))}


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
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--case", default="ecg_infer,ecg_train")
    ap.add_argument("--wait-policy", choices=["active", "passive"],
                    help="OMP_WAIT_POLICY for both programs; passive keeps a machine shared with other work from "
                         "spinning OpenMP barriers against it (both use libgomp)")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    if a.wait_policy:
        env["OMP_WAIT_POLICY"] = a.wait_policy
    shape = ["--batch", str(a.batch), "--len", str(a.len), "--seq", str(a.seq), "--steps", str(a.steps)]
    ours = run([a.bench, "--threads", str(a.threads), "--case", a.case] + shape, env)
    peer_cases = ",".join(c for c in a.case.split(",") if not c.endswith("_folded"))
    theirs = run([a.python, a.peer, "--case", peer_cases] + shape, env)
    peer = next(iter(theirs.values()))["peer"] if theirs else "pytorch"

    rows = []
    for case, r in ours.items():
        t = theirs.get(case) or theirs.get(case.replace("_folded", ""))  # the folded case against plain eval
        rows.append((case, r["s_per_step"], t["s_per_step"] if t else None))
    setting = f"batch {a.batch}, len {a.len}, seq {a.seq}, {a.steps} steps, {a.threads} threads"
    if a.wait_policy:
        setting += f", OMP_WAIT_POLICY={a.wait_policy}"
    if a.markdown:
        print(f"| case | fgclep s/step | {peer} s/step | ratio (torch / fgclep) |")
        print("|---|---:|---:|---:|")
        for case, s, t in rows:
            print(f"| {case} | {s:.3f} | {t:.3f} | {t / s:.2f} |" if t else f"| {case} | {s:.3f} | - | - |")
        print(f"\n{setting}; ratio above 1: fgclep is faster")
    else:
        print(f"{'case':<18} {'fgclep s/step':>14} {'torch s/step':>13} {'ratio':>7}")
        for case, s, t in rows:
            print(f"{case:<18} {s:>14.3f} {t:>13.3f} {t / s:>7.2f}" if t else f"{case:<18} {s:>14.3f} {'-':>13} {'-':>7}")
        print(f"{setting}; ratio = {peer} time / fgclep time (above 1: fgclep is faster)")


if __name__ == "__main__":
    main()
