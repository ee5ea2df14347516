#!/usr/bin/env bash
# stage1_clep under `mpirun -np 2` (ctest example_stage1_clep_mpi): what docs/distributed.md promises.
#   1. a run stopped part-way (--max-steps) and resumed ends with weights bit-identical to an uninterrupted run,
#      and only rank 0 prints;
#   2. a rank killed mid-epoch (SIGKILL) ends the job with an error naming it within the time set, the newest
#      checkpoint stays intact, and the resumed run ends with the uninterrupted run's weights;
#   3. a rank that hangs (SIGSTOP) is named by the other rank's collective timeout, and the job ends;
#   4. stage 2 scored by two ranks writes what one process writes.
#
#   check_distributed.sh STAGE1_CLEP STAGE2_FEATURES CORPUS_DIR WORK_DIR MPIEXEC
set -euo pipefail
stage1=$1 stage2=$2 corpus=$3 work=$4 mpiexec=$5
# Open MPI refuses root unless told (CI runs as root).
[[ $(id -u) -ne 0 ]] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_WAIT_POLICY=passive
rm -rf "$work"
mkdir -p "$work"
run() {
    "$mpiexec" -n 2 --oversubscribe "$stage1" "$corpus" --model tiny --batch-size 16 --threads 1 --workers 1 "$@"
}
steps_logged() { if [[ -f $1/log.jsonl ]]; then grep -c '"event":"step"' "$1/log.jsonl" || true; else echo 0; fi; }
# The pid of rank R of the job writing to DIR (mpirun's own process has no rank in its environment).
rank_pid() {
    local p
    for p in $(pgrep -f "$stage1 .*$2"); do
        if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1"; then
            echo "$p"
            return
        fi
    done
}
# Starts a long run in the background (its launcher's pid in $job) and waits until it has logged $2 steps.
start_long_run() {
    run --out "$work/$1" $long >"$work/$1.out" 2>"$work/$1.err" &
    job=$!
    until (($(steps_logged "$work/$1") >= $2)); do
        kill -0 "$job" 2>/dev/null || { echo "the run ended before step $2"; cat "$work/$1.err"; exit 1; }
        sleep 0.05
    done
}

echo "--- 1. stop and resume"
run --out "$work/whole" --epochs 2 >"$work/whole.out"
run --out "$work/parts" --epochs 2 --max-steps 3 >/dev/null
test ! -e "$work/parts/model.safetensors"
run --out "$work/parts" --epochs 2 >"$work/parts.out"
cat "$work/parts.out"
grep -q 'trained 8 of 8 steps (resumed)' "$work/parts.out"
cmp "$work/whole/model.safetensors" "$work/parts/model.safetensors"
test "$(grep -c '^model:' "$work/whole.out")" -eq 1  # rank 1 printed nothing
grep -q '"world_size":2' "$work/whole/log.jsonl"

echo "--- 2. a rank killed mid-epoch"
long="--epochs 6 --checkpoint-every 1 --collective-timeout 20"
run --out "$work/reference" $long >/dev/null
start=$(date +%s)
start_long_run killed 6
kill -9 "$(rank_pid 1 "$work/killed")"
if wait "$job"; then
    echo "the job went on after rank 1 was killed"
    exit 1
fi
elapsed=$(($(date +%s) - start))
cat "$work/killed.err"
grep -q 'rank 1' "$work/killed.err"
((elapsed < 60))
run --out "$work/killed" $long >"$work/resumed.out"
cat "$work/resumed.out"
grep -q 'trained 24 of 24 steps (resumed)' "$work/resumed.out"
cmp "$work/reference/model.safetensors" "$work/killed/model.safetensors"
echo "killed rank: the job ended in ${elapsed} s; the resumed run matches the uninterrupted one"

echo "--- 3. a hung rank"
long="--epochs 10 --checkpoint-every 20 --collective-timeout 3"
start=$(date +%s)
start_long_run hung 3
stopped=$(rank_pid 1 "$work/hung")
kill -STOP "$stopped"
status=0
wait "$job" || status=$?
elapsed=$(($(date +%s) - start))
kill -9 "$stopped" 2>/dev/null || true
cat "$work/hung.err"
((status != 0))
grep -q 'rank 1 does not answer' "$work/hung.err"
((elapsed < 60))
echo "hung rank: named by rank 0 in ${elapsed} s"

echo "--- 4. stage 2 split among the ranks"
"$stage2" "$corpus" --stage1 "$work/whole" --out "$work/stage2_one" --threads 1 --workers 1 >/dev/null
"$mpiexec" -n 2 --oversubscribe "$stage2" "$corpus" --stage1 "$work/whole" --out "$work/stage2_two" --threads 1 \
    --workers 1 >"$work/stage2_two.out"
cat "$work/stage2_two.out"
cmp "$work/stage2_one/statistics.txt" "$work/stage2_two/statistics.txt"
python3 - "$work/stage2_one/features.jsonl" "$work/stage2_two/features.jsonl" <<'PY'
import json, math, sys
one = [json.loads(l) for l in open(sys.argv[1])]
two = [json.loads(l) for l in open(sys.argv[2])]
assert len(one) == len(two) > 0, (len(one), len(two))
for a, b in zip(one, two):
    pa, pb = a.pop("probabilities", []), b.pop("probabilities", [])
    assert len(pa) == len(pb) and all(math.isclose(x, y, rel_tol=1e-5, abs_tol=1e-7) for x, y in zip(pa, pb)), (pa, pb)
    for d in (a, b):
        for k in d.get("kept", []):
            if isinstance(k, dict):
                k.pop("probability", None)
    assert a == b, (a, b)
print(f"stage 2: {len(one)} records, the same from 1 and 2 ranks")
PY
