#!/usr/bin/env bash
# Times the compilation of one user file (benchmarks/compile_probe.cpp: FgClep<ResNet1D50, BertBase, SigmoidLoss,
# FnmLoss> with the Trainer) at -O2, header-only and with FGCLEP_EXTERN_GEMM, as the compile-time goal states it.
#
#   benchmarks/compile_time.sh BUILD_DIR    (a configured build tree: for its generated fgclep/version.hpp)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build=${1:?usage: compile_time.sh BUILD_DIR}
flags=(-std=c++20 -O2 -fopenmp -I"${root}/include" -I"${build}/generated/include" -I/usr/include/eigen3 -c
       "${root}/benchmarks/compile_probe.cpp" -o /dev/null)
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cores; $(g++ --version | head -1)"
for mode in header-only extern-gemm; do
    extra=()
    [[ ${mode} == extern-gemm ]] && extra=(-DFGCLEP_EXTERN_GEMM)
    start=${EPOCHREALTIME/./}
    g++ "${flags[@]}" "${extra[@]}"
    us=$((${EPOCHREALTIME/./} - start))
    echo "${mode}: $((us / 1000000)).$((us / 100000 % 10)) s"
done
