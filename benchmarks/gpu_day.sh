#!/usr/bin/env bash
# One command for a day with a GPU: builds the CUDA configuration, runs the GPU suite on the real device, and
# measures the paper's training step (ResNet1D-50 + BERT-base, batch 100) in fp32, TF32 and bf16, printing a table
# for docs/performance.md. Budget: under 8 minutes on a 16-core machine with one H100 (the build is most of it).
#
#   benchmarks/gpu_day.sh [BUILD_DIR]        default build-gpu-day; FGCLEP_NVCC overrides /usr/local/cuda/bin/nvcc
#
# On a machine without a GPU it configures and builds everything the GPU steps need (so a broken build shows up
# before a GPU is lent), says there is no device, and stops with status 0. Each step prints how long it took.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build-gpu-day}
nvcc=${FGCLEP_NVCC:-/usr/local/cuda/bin/nvcc}
jobs=$(nproc)
start_all=$SECONDS
step() {  # step <name> <command...>
    local name=$1 t0=$SECONDS
    shift
    echo "::: ${name}"
    "$@"
    echo "::: ${name}: $((SECONDS - t0)) s"
}

gpu=""
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)
    echo "::: GPU: ${gpu}"
else
    echo "::: no GPU here (nvidia-smi finds none): building only"
fi
[[ -x ${nvcc} ]] || { echo "gpu_day: no nvcc at ${nvcc} (set FGCLEP_NVCC)"; exit 1; }

# The device's own architecture when there is one; otherwise the project's default list.
arch=()
[[ -n ${gpu} ]] && arch=(-DCMAKE_CUDA_ARCHITECTURES=native)
step "configure" cmake -S . -B "${build}" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFGCLEP_CUDA=ON \
    -DCMAKE_CUDA_COMPILER="${nvcc}" -DFGCLEP_BUILD_BENCHMARKS=ON "${arch[@]}"
targets=(fgclep_cuda test_cuda cuda_train_step bench_cuda_step stage1_clep)
# test_nccl (NCCL over 2 ranks, docs/distributed.md) where MPI is installed; it skips unless each rank has a GPU.
ninja -C "${build}" -t targets all | grep -q '^test_nccl:' && targets+=(test_nccl)
step "build" cmake --build "${build}" -j"${jobs}" --target "${targets[@]}"

if [[ -z ${gpu} ]]; then
    echo "::: built in $((SECONDS - start_all)) s; the GPU suite and the measurements need a device"
    exit 0
fi

# test_cuda: every primitive, layer and an FgClep training step against Cpu<T>; example_cuda_train_step: a CNN
# trained on both backends.
step "GPU suite" ctest --test-dir "${build}" -L gpu --output-on-failure

results=${build}/gpu_day.jsonl
step "training step (batch 100)" bash -c "set -o pipefail; '${build}/benchmarks/bench_cuda_step' \
    --precision fp32,tf32,bf16 --batch 100 --steps 5 | tee '${results}'"

python3 - "${results}" "${gpu}" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
print(f"\nFgClep training step, ResNet1D-50 (12 x 5000) + BERT-base (64 tokens), batch 100, on {sys.argv[2]}:\n")
print("| precision | s/step | samples/s | peak device memory (GiB) | loss after the steps |")
print("|---|---:|---:|---:|---:|")
for r in rows:
    print(f"| {r['precision']} | {r['s_per_step']:.3f} | {r['samples_per_s']:.1f} | {r['peak_device_gib']:.1f} "
          f"| {r['last_loss']:.4f} |")
EOF
echo "::: gpu_day: $((SECONDS - start_all)) s in all"
