#pragma once
// The CUDA kernels and launchers of the fused AdamW update (declared in launch.hpp; semantics of backend/cpu/optim.hpp).
// nvcc only: src/cuda/kernels.cu includes every family.
#include "fgclep/backend/cuda/kernels/common.cuh"

namespace fgclep::cuda::kernels {

template <class T>
__global__ void adamw_update(std::int64_t n, fn::AdamWStep<T> step, T* p, const T* g, T* m, T* v) {
    FGCLEP_GRID_STRIDE(i, n) step(p[i], g[i], m[i], v[i]);
}

}  // namespace fgclep::cuda::kernels

namespace fgclep::cuda::launch {

template <class T>
cudaError_t adamw_update(cudaStream_t stream, std::int64_t n, fn::AdamWStep<T> step, T* p, const T* g, T* m, T* v) {
    return launch_kernel(kernels::adamw_update<T>, elementwise_launch(n), stream, n, step, p, g, m, v);
}

}  // namespace fgclep::cuda::launch
