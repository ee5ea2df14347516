#!/usr/bin/env bash
# Data-parallel scaling of the full-size FG-CLEP training step on this machine: bench_distributed at 1 and 2 MPI
# ranks x 1 thread, and 1 rank x 2 threads (the same two cores used by threads instead of ranks), the same global
# batch; prints the JSON lines and the speed-ups. (mpirun binds each rank to one core; the threaded case is started
# with --bind-to none so that its threads get both.)
#
#   benchmarks/distributed_scaling.sh BUILD_DIR [bench_distributed options, e.g. --batch 8 --steps 2]
set -euo pipefail
build=$1
shift
exe=$build/benchmarks/bench_distributed
[[ -x $exe ]] || { echo "build bench_distributed first: cmake --build $build --target bench_distributed"; exit 1; }
[[ $(id -u) -ne 0 ]] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
one=$(mpirun -np 1 "$exe" --threads 1 "$@")
two=$(mpirun -np 2 --oversubscribe "$exe" --threads 1 "$@")
threads=$(OMP_NUM_THREADS=2 mpirun -np 1 --bind-to none "$exe" --threads 2 "$@")
echo "$one"
echo "$two"
echo "$threads"
python3 - "$one" "$two" "$threads" <<'PY'
import json, sys
a, b, t = (json.loads(x) for x in sys.argv[1:4])
print(f"CPU: {a['cpu']}; global batch {a['batch']}, 12 x {a['length']} samples, {a['seq']} tokens, "
      f"{a['parameters'] / 1e6:.1f} M parameters")
for r in (a, b):
    share = r['exposed_communication_s_per_step'] / r['s_per_step']
    print(f"{r['ranks']} rank(s) x 1 thread: {r['s_per_step']:.2f} s/step, {r['samples_per_s']:.3f} samples/s, "
          f"exposed communication {100 * share:.1f}% of the step, collectives in flight "
          f"{r['collectives_in_flight_s_per_step']:.2f} s/step")
print(f"1 rank x 2 threads: {t['s_per_step']:.2f} s/step, {t['samples_per_s']:.3f} samples/s")
print(f"speed-up at 2 ranks: {b['samples_per_s'] / a['samples_per_s']:.2f}x (ideal 2.00x); "
      f"2 ranks x 1 thread vs 1 rank x 2 threads: {b['samples_per_s'] / t['samples_per_s']:.2f}x")
PY
