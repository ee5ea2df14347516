#pragma once
// The CUDA kernels and launchers of embedding gather and scatter-add (declared in launch.hpp; semantics of backend/cpu/embedding.hpp).
// nvcc only: src/cuda/kernels.cu includes every family.
#include "fgclep/backend/cuda/kernels/common.cuh"

namespace fgclep::cuda::kernels {

template <class T>
__global__ void embedding_gather(const T* table, std::int64_t V, std::int64_t D, const std::int32_t* ids,
                                 std::int64_t total, T* out, unsigned long long* bad_ids) {
    FGCLEP_GRID_STRIDE(j, total) {
        const std::int64_t i = D > 0 ? j / D : j, d = D > 0 ? j % D : 0;
        const std::int32_t id = ids[i];
        const bool valid = id >= 0 && id < V;
        if (D > 0) out[j] = valid ? table[static_cast<std::int64_t>(id) * D + d] : T(0);
        if (!valid && d == 0) atomicAdd(bad_ids, 1ull);  // counted once per id; integer, so order-free
    }
}
// One thread per column d, walking the ids in order: the only writer of column d of every row, so no races and
// the CPU's summation order.
template <class T>
__global__ void embedding_scatter_add(const T* dout, const std::int32_t* ids, std::int64_t n, std::int64_t V,
                                      std::int64_t D, T* dtable) {
    FGCLEP_GRID_STRIDE(d, D) {
        for (std::int64_t i = 0; i < n; ++i) {
            const std::int32_t id = ids[i];
            if (id < 0 || id >= V) continue;
            dtable[static_cast<std::int64_t>(id) * D + d] += dout[i * D + d];
        }
    }
}

}  // namespace fgclep::cuda::kernels

namespace fgclep::cuda::launch {

template <class T>
cudaError_t embedding_gather(cudaStream_t stream, const T* table, std::int64_t V, std::int64_t D,
                             const std::int32_t* ids, std::int64_t n, T* out, unsigned long long* bad_ids) {
    const std::int64_t total = D > 0 ? n * D : n;
    return launch_kernel(kernels::embedding_gather<T>, elementwise_launch(total), stream, table, V, D, ids, total, out,
                         bad_ids);
}
template <class T>
cudaError_t embedding_scatter_add(cudaStream_t stream, const T* dout, const std::int32_t* ids, std::int64_t n,
                                  std::int64_t V, std::int64_t D, T* dtable) {
    if (n == 0) return cudaSuccess;
    return launch_kernel(kernels::embedding_scatter_add<T>, elementwise_launch(D), stream, dout, ids, n, V, D, dtable);
}

}  // namespace fgclep::cuda::launch
