#!/usr/bin/python3
"""Runs the PyTorch peer (shared/peers/torch_peer.py) and bench_encoders on the same cases (ecg_infer, ecg_train,
bert_train, fgclep_train), batch, ECG length, token sequence length, step count and thread count, and prints seconds
per step and the ratio PyTorch / fgclep (above 1: fgclep is faster).

Usage:
  /usr/bin/python3 benchmarks/compare_peer.py BUILD_DIR/benchmarks/bench_encoders
      [--peer ../shared/peers/torch_peer.py] [--threads 2] [--batch 16] [--len 5000] [--seq 64]
      [--steps 5] [--repeats 3] [--case ecg_infer,ecg_train,bert_train,fgclep_train]
      [--precision fp32[,bf16]] [--busy-core K] [--wait-policy active|passive] [--markdown]

The peer runs as `OMP_NUM_THREADS=T /usr/bin/python3 PEER --case ... --batch B --len L --seq Q --steps S`; ours with
--threads T (and the same OMP_NUM_THREADS). Each run times, per case, one warm-up step and then the mean of S steps
(the peer's timeit; bench_encoders does the same). The two programs run alternately, R times each (ours, peer,
ours, peer, ...), and each figure is the median over the R runs of the per-run s/step, with the full range
(min-max) beside it; the ratio is the ratio of the medians, its range min(peer)/max(ours) .. max(peer)/min(ours).
Both programs must report T threads ("threads" in their JSON), or the comparison stops with an error. The output
names the CPU and the flags ours was built with (-march=native: ours is built for this CPU, PyTorch is Debian's
generic build with its own run-time dispatch).

--precision runs every case once per listed precision: ours with --precision P (the bf16 matmul precision), the
peer with --dtype P (torch.autocast bf16). Each case runs in its own process, so each program's peak resident
memory (ru_maxrss, from wait4) is that case's. Before the cases, the same run measures the GEMM limits: a 2048^3
product in each precision, by ours (its GEMM engine) and by PyTorch (torch.mm), the best of several; the limit is
the faster of the two, and the ResNet1D-50 cases report their GFLOP/s as a percentage of it (forward FLOPs counted
from the peer's Conv1d layers, training taken as 3x the forward, the usual count). --busy-core K keeps core K busy
with a spinning process (pinned by taskset) during every run: the shared-machine comparison.
--peer-keeps-memory runs the peer with glibc keeping freed memory: on machines where page faults are expensive,
PyTorch's allocator (which returns large blocks to the system) otherwise pays them for every activation of every
step, and the comparison would measure that rather than the arithmetic.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

PEER_KEEPS_MEMORY = "glibc.malloc.trim_threshold=1073741824:glibc.malloc.mmap_threshold=33554432"

GEMM_LIMIT_SNIPPET = """
import json, sys, time, torch
n = 2048
for dtype in (torch.float32, torch.bfloat16):
    a = torch.randn(n, n).to(dtype); b = torch.randn(n, n).to(dtype)
    torch.mm(a, b); best = 1e30
    for _ in range(5):
        t0 = time.perf_counter(); torch.mm(a, b); best = min(best, time.perf_counter() - t0)
    print(json.dumps({"precision": "fp32" if dtype == torch.float32 else "bf16", "gflops": 2 * n ** 3 / best / 1e9}))
"""

RESNET_FLOPS_SNIPPET = """
import importlib.util, json, sys, torch
spec = importlib.util.spec_from_file_location("peer", sys.argv[1]); peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer)
m = peer.ResNet1D().eval(); flops = [0]
def hook(mod, inp, out):
    flops[0] += 2 * out.numel() * mod.in_channels * mod.kernel_size[0] // mod.groups
for mod in m.modules():
    if isinstance(mod, torch.nn.Conv1d):
        mod.register_forward_hook(hook)
with torch.no_grad():
    m(torch.zeros(1, 12, int(sys.argv[2])))
print(json.dumps({"forward_flops_per_sample": flops[0]}))
"""


def run_measured(cmd, env):
    """Runs one program on one case and returns (its JSON lines by case, its peak RSS in MiB)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    # wait4 gives this child's own rusage (ru_maxrss in KiB on Linux); read the pipes first so it cannot block
    # (stderr is small: progress and errors).
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"compare_peer: {' '.join(cmd)} failed with exit status {proc.returncode}:\n{err.decode()}")
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    return {r["case"]: r for r in lines}, usage.ru_maxrss / 1024.0


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


def cpu_flags():
    """The flags that matter for these kernels, as /proc/cpuinfo lists them."""
    wanted = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "amx_bf16", "amx_tile"]
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return " ".join(w for w in wanted if w in have) or "none of " + " ".join(wanted)
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
    ap.add_argument("--precision", default="fp32", help="fp32, bf16 or both (comma-separated)")
    ap.add_argument("--busy-core", type=int, help="keep this core busy with a spinning process during every run")
    ap.add_argument("--peer-keeps-memory", action="store_true",
                    help="run the peer with glibc told to keep freed memory (GLIBC_TUNABLES trim and mmap "
                         "thresholds), so PyTorch does not page-fault its activations in again every step")
    ap.add_argument("--wait-policy", choices=["active", "passive"],
                    help="OMP_WAIT_POLICY for both programs; passive keeps a machine shared with other work from "
                         "spinning OpenMP barriers against it (both use libgomp)")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    if a.threads < 1 or a.steps < 1 or a.repeats < 1:
        sys.exit("compare_peer: --threads, --steps and --repeats must be >= 1")
    precisions = [p for p in a.precision.split(",") if p]
    if not precisions or any(p not in ("fp32", "bf16") for p in precisions):
        sys.exit(f"compare_peer: --precision takes fp32, bf16 or fp32,bf16, not {a.precision}")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    if a.wait_policy:
        env["OMP_WAIT_POLICY"] = a.wait_policy
    peer_env = dict(env)
    if a.peer_keeps_memory:
        peer_env["GLIBC_TUNABLES"] = PEER_KEEPS_MEMORY
    shape = ["--batch", str(a.batch), "--len", str(a.len), "--seq", str(a.seq), "--steps", str(a.steps)]
    cases = [c for c in a.case.split(",") if c]

    busy = None
    if a.busy_core is not None:
        busy = subprocess.Popen(["taskset", "-c", str(a.busy_core), a.python, "-c", "while True: pass"])
    try:
        # The limits, in this run: ours (its GEMM engine) and PyTorch's torch.mm, 2048^3, the best of several.
        limits = {}
        for p in precisions:
            ours_gemm, _ = run_measured([a.bench, "--threads", str(a.threads), "--case", "gemm", "--precision", p,
                                         "--steps", "5"], env)
            limits[p] = {"fgclep": ours_gemm["gemm"]["gflops"]}
        torch_gemm = subprocess.run([a.python, "-c", GEMM_LIMIT_SNIPPET], capture_output=True, text=True, env=env,
                                    check=True).stdout
        for line in torch_gemm.splitlines():
            r = json.loads(line)
            if r["precision"] in limits:
                limits[r["precision"]]["pytorch"] = r["gflops"]
        flops = json.loads(subprocess.run([a.python, "-c", RESNET_FLOPS_SNIPPET, a.peer, str(a.len)],
                                          capture_output=True, text=True, env=env, check=True).stdout)
        forward = flops["forward_flops_per_sample"] * a.batch
        case_flops = {"ecg_infer": forward, "ecg_infer_folded": forward, "ecg_train": 3 * forward}

        # runs[(precision, case)] = ([ours s/step], [peer s/step], [ours RSS], [peer RSS])
        runs = {}
        for k in range(a.repeats):
            for p in precisions:
                for case in cases:
                    print(f"run {k + 1}/{a.repeats}: {case} {p}", file=sys.stderr, flush=True)
                    ours, ours_rss = run_measured([a.bench, "--threads", str(a.threads), "--case", case,
                                                   "--precision", p] + shape, env)
                    check_threads("bench_encoders", ours, a.threads)
                    entry = runs.setdefault((p, case), ([], [], [], [], ours[case]))
                    entry[0].append(ours[case]["s_per_step"])
                    entry[2].append(ours_rss)
                    if case.endswith("_folded"):
                        continue  # the peer has no folded case: compared with its plain inference below
                    theirs, peer_rss = run_measured([a.python, a.peer, "--case", case, "--dtype", p] + shape, peer_env)
                    check_threads("the peer", theirs, a.threads)
                    entry[1].append(theirs[case]["s_per_step"])
                    entry[3].append(peer_rss)
                    entry[4]["peer"] = theirs[case].get("peer", "pytorch")
    finally:
        if busy:
            busy.kill()
            busy.wait()

    first = next(iter(runs.values()))[4]
    peer = next((e[4]["peer"] for e in runs.values() if "peer" in e[4]), "pytorch")
    machine = f"CPU: {cpu_model()}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable); flags: {cpu_flags()}"
    built = (f"fgclep built with {first.get('compiler', '?')}: {first.get('flags', '?')} (vector extensions: "
             f"{first.get('isa', '?')}), GEMM engine {first.get('engine', '?')}; {peer} is the distribution's "
             f"generic build")
    setting = (f"batch {a.batch}, len {a.len}, seq {a.seq}, {a.threads} threads (both reported {a.threads}); each "
               f"figure the median (min-max) over {a.repeats} alternating runs of 1 warm-up + mean of {a.steps} "
               f"steps, one process per case")
    if a.wait_policy:
        setting += f", OMP_WAIT_POLICY={a.wait_policy}"
    if a.busy_core is not None:
        setting += f", core {a.busy_core} kept busy by another process"
    if a.peer_keeps_memory:
        setting += f", the peer with GLIBC_TUNABLES={PEER_KEEPS_MEMORY}"
    limit_text = "; ".join(
        f"{p}: fgclep {v['fgclep']:.0f}, {peer} {v.get('pytorch', float('nan')):.0f} GFLOP/s" for p, v in limits.items())

    header = ["case", "precision", "fgclep s/step", f"{peer} s/step", f"ratio ({peer} / fgclep)", "fgclep % of limit",
              "peak RSS fgclep / peer (MiB)", "RSS ratio"]
    rows = []
    for p in precisions:
        for case in cases:
            entry = runs.get((p, case))
            if not entry:
                continue
            ours_t, peer_t, ours_rss, peer_rss = entry[:4]
            if case.endswith("_folded"):
                plain = runs.get((p, case.replace("_folded", "")))
                peer_t, peer_rss = (plain[1], plain[3]) if plain else ([], [])
            s = spread(ours_t)
            row = [case, p, f"{s[0]:.3f} ({s[1]:.3f}-{s[2]:.3f})"]
            if peer_t:
                t = spread(peer_t)
                row += [f"{t[0]:.3f} ({t[1]:.3f}-{t[2]:.3f})",
                        f"{t[0] / s[0]:.2f} ({t[1] / s[2]:.2f}-{t[2] / s[1]:.2f})"]
            else:
                row += ["-", "-"]
            limit = max(limits[p].values())
            row.append(f"{100 * case_flops[case] / s[0] / 1e9 / limit:.0f}%" if case in case_flops else "-")
            rss_o = statistics.median(ours_rss)
            if peer_rss:
                rss_p = statistics.median(peer_rss)
                row += [f"{rss_o:.0f} / {rss_p:.0f}", f"{rss_o / rss_p:.2f}"]
            else:
                row += [f"{rss_o:.0f} / -", "-"]
            rows.append(row)

    if a.markdown:
        print("| " + " | ".join(header) + " |")
        print("|---|---|" + "---:|" * (len(header) - 2))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        print(f"\n{machine}.\n\n{built}.\n\nGEMM limits (2048^3, best of 5, this run): {limit_text}; % of limit is "
              f"against the faster. ResNet1D-50 forward: {flops['forward_flops_per_sample'] / 1e9:.2f} GFLOP per "
              f"sample (training counted as 3x).\n\n{setting}; ratio above 1: fgclep is faster; RSS ratio below 1: "
              f"fgclep uses less memory.")
    else:
        print(machine)
        print(built)
        print(f"GEMM limits (2048^3, best of 5): {limit_text}")
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        for row in rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
        print(f"{setting}; ratio = {peer} time / fgclep time (above 1: fgclep is faster)")


if __name__ == "__main__":
    main()
