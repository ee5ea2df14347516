#pragma once
// The CUDA kernels and launchers of attention (masked softmax) (declared in launch.hpp; semantics of backend/cpu/softmax.hpp).
// nvcc only: src/cuda/kernels.cu includes every family.
#include "fgclep/backend/cuda/kernels/common.cuh"

namespace fgclep::cuda::kernels {

// One warp per row of scores.
template <class T>
__global__ void masked_softmax_forward(const T* x, std::int64_t rows_per_batch, std::int64_t total_rows,
                                       std::int64_t cols, const std::int32_t* mask, T scale_by, T* y) {
    const unsigned lane = threadIdx.x % warp_size;
    FGCLEP_WARP_ROWS(r, total_rows) {
        const std::int32_t* m = mask ? mask + (r / rows_per_batch) * cols : nullptr;
        const T* xr = x + r * cols;
        T* yr = y + r * cols;
        T top = -INFINITY;
        bool any_key = false;
        for (std::int64_t c = lane; c < cols; c += warp_size)
            if (!m || m[c]) {
                top = fmax(top, scale_by * xr[c]);
                any_key = true;
            }
        top = warp_all_max(top);
        if (!__any_sync(full_warp, any_key)) {  // every key masked: zeros (warp-uniform)
            for (std::int64_t c = lane; c < cols; c += warp_size) yr[c] = T(0);
            continue;
        }
        // NaN scores (skipped by fmax) or all -inf scores make the row NaN below, as on the CPU and in PyTorch.
        T sum = 0;
        for (std::int64_t c = lane; c < cols; c += warp_size) {
            const T e = (!m || m[c]) ? exp(scale_by * xr[c] - top) : T(0);
            yr[c] = e;
            sum += e;
        }
        const T inv = T(1) / warp_all_sum(sum);
        for (std::int64_t c = lane; c < cols; c += warp_size) yr[c] *= inv;
    }
}
template <class T>
__global__ void softmax_backward(const T* y, const T* dy, std::int64_t rows, std::int64_t cols, T scale_by, T* dx) {
    const unsigned lane = threadIdx.x % warp_size;
    FGCLEP_WARP_ROWS(r, rows) {
        const T* yr = y + r * cols;
        const T* dyr = dy + r * cols;
        T* dxr = dx + r * cols;
        T dot = 0;
        for (std::int64_t c = lane; c < cols; c += warp_size) dot += dyr[c] * yr[c];
        dot = warp_all_sum(dot);
        for (std::int64_t c = lane; c < cols; c += warp_size) dxr[c] = scale_by * yr[c] * (dyr[c] - dot);
    }
}

}  // namespace fgclep::cuda::kernels

namespace fgclep::cuda::launch {

template <class T>
cudaError_t masked_softmax_forward(cudaStream_t stream, const T* x, std::int64_t batch, std::int64_t rows,
                                   std::int64_t cols, const std::int32_t* mask, T scale, T* y) {
    const std::int64_t total_rows = batch * rows;
    if (cols == 0) return cudaSuccess;
    return launch_kernel(kernels::masked_softmax_forward<T>, warp_per_row_launch(total_rows), stream, x, rows,
                         total_rows, cols, mask, scale, y);
}
template <class T>
cudaError_t softmax_backward(cudaStream_t stream, const T* y, const T* dy, std::int64_t rows, std::int64_t cols,
                             T scale, T* dx) {
    if (cols == 0) return cudaSuccess;
    return launch_kernel(kernels::softmax_backward<T>, warp_per_row_launch(rows), stream, y, dy, rows, cols, scale, dx);
}

}  // namespace fgclep::cuda::launch
