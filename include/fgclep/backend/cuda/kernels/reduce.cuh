#pragma once
// The CUDA kernels and launchers of reductions (declared in launch.hpp; semantics of backend/cpu/reduce.hpp).
// nvcc only: src/cuda/kernels.cu includes every family.
#include "fgclep/backend/cuda/kernels/common.cuh"

namespace fgclep::cuda::kernels {

template <class T>
struct RowSumTerm {
    const T* x;
    std::int64_t cols;
    __device__ double operator()(std::int64_t r, std::int64_t c, int) const { return x[r * cols + c]; }
};
template <class T>
struct RowSumFinish {
    T beta;
    T* out;
    __device__ void operator()(std::int64_t c, const double* s) const {
        out[c] = (beta == T(0) ? T(0) : beta * out[c]) + static_cast<T>(s[0]);
    }
};

template <class T>
__global__ void __launch_bounds__(block_size)
    sum_channels(std::int64_t N, std::int64_t C, std::int64_t L, const T* x, T* out) {
    const std::int64_t M = N * L;
    FGCLEP_BLOCK_ROWS(c, C) {
        double acc = 0;
        for (std::int64_t m = threadIdx.x; m < M; m += blockDim.x) acc += x[((m / L) * C + c) * L + m % L];
        acc = block_all_sum(acc);
        if (threadIdx.x == 0) out[c] += static_cast<T>(acc);
    }
}
template <class T>
__global__ void mean_last(std::int64_t rows, std::int64_t L, const T* x, T* out) {
    const unsigned lane = threadIdx.x % warp_size;
    FGCLEP_WARP_ROWS(r, rows) {
        double acc = 0;
        for (std::int64_t l = lane; l < L; l += warp_size) acc += x[r * L + l];
        acc = warp_all_sum(acc);
        if (lane == 0) out[r] = static_cast<T>(acc / static_cast<double>(L));
    }
}
template <class T>
__global__ void broadcast_last(std::int64_t total, std::int64_t L, T alpha, const T* dy, T* dx) {
    FGCLEP_GRID_STRIDE(i, total) dx[i] = alpha * dy[i / L];
}
// One thread per output; the CPU's scan: padding is -inf, the first maximum wins, a NaN wins and stops.
template <class T>
__global__ void max_pool_1d_forward(const T* x, std::int64_t L, std::int64_t K, std::int64_t stride, std::int64_t pad,
                                    std::int64_t Lout, std::int64_t total, T* y, std::int32_t* argmax) {
    FGCLEP_GRID_STRIDE(j, total) {
        const std::int64_t o = j % Lout, r = j / Lout;
        const T* xr = x + r * L;
        const std::int64_t start = o * stride - pad;
        T best = -INFINITY;
        std::int64_t at = start > 0 ? start : 0;
        for (std::int64_t k = 0; k < K; ++k) {
            const std::int64_t i = start + k;
            if (i < 0 || i >= L) continue;
            const T v = xr[i];
            if (v > best || isnan(v)) {
                best = v;
                at = i;
                if (isnan(v)) break;
            }
        }
        y[j] = best;
        argmax[j] = static_cast<std::int32_t>(at);
    }
}
// dx must be zero on entry (the launcher clears it). See the header comment on the atomics.
template <class T>
__global__ void max_pool_1d_backward(const T* dy, const std::int32_t* argmax, std::int64_t L, std::int64_t Lout,
                                     std::int64_t total, T* dx) {
    FGCLEP_GRID_STRIDE(j, total) atomicAdd(dx + (j / Lout) * L + argmax[j], dy[j]);
}
// Stage 1: partials[blockIdx.x] = the block's share of the sum of squares.
template <class T>
__global__ void __launch_bounds__(block_size) sum_squares_partial(std::int64_t n, const T* x, double* partials) {
    double acc = 0;
    FGCLEP_GRID_STRIDE(i, n) acc += static_cast<double>(x[i]) * x[i];
    acc = block_all_sum(acc);
    if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}
// Stage 2, one block: *result = the sum of the partials. (A template only so that this header can define it.)
template <int = 0>
__global__ void __launch_bounds__(block_size) sum_partials(std::int64_t count, const double* partials, double* result) {
    double acc = 0;
    for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
    acc = block_all_sum(acc);
    if (threadIdx.x == 0) *result = acc;
}

}  // namespace fgclep::cuda::kernels

namespace fgclep::cuda::launch {

template <class T>
cudaError_t sum_rows(cudaStream_t stream, std::int64_t rows, std::int64_t cols, const T* x, T beta, T* out,
                     double* partials, std::int64_t chunks) {
    if (cols <= 0) return cudaSuccess;
    const dim3 grid(static_cast<unsigned>(ceil_div(cols, column_tile)), static_cast<unsigned>(chunks));
    if (const cudaError_t status = launch_kernel(kernels::column_sums_partial<1, kernels::RowSumTerm<T>>, grid,
                                                 dim3(column_tile, column_lanes), stream, rows, cols, chunks,
                                                 kernels::RowSumTerm<T>{x, cols}, partials))
        return status;
    return launch_kernel(kernels::column_sums_finish<1, kernels::RowSumFinish<T>>, elementwise_launch(cols), stream,
                         cols, chunks, partials, kernels::RowSumFinish<T>{beta, out});
}
template <class T>
cudaError_t sum_channels(cudaStream_t stream, std::int64_t N, std::int64_t C, std::int64_t L, const T* x, T* out) {
    return launch_kernel(kernels::sum_channels<T>, block_per_row_launch(C), stream, N, C, L, x, out);
}
template <class T>
cudaError_t mean_last(cudaStream_t stream, std::int64_t rows, std::int64_t L, const T* x, T* out) {
    return launch_kernel(kernels::mean_last<T>, warp_per_row_launch(rows), stream, rows, L, x, out);
}
template <class T>
cudaError_t broadcast_last(cudaStream_t stream, std::int64_t rows, std::int64_t L, T alpha, const T* dy, T* dx) {
    const std::int64_t total = rows * L;
    return launch_kernel(kernels::broadcast_last<T>, elementwise_launch(total), stream, total, L, alpha, dy, dx);
}
template <class T>
cudaError_t max_pool_1d_forward(cudaStream_t stream, const T* x, std::int64_t rows, std::int64_t L, std::int64_t K,
                                std::int64_t stride, std::int64_t pad, std::int64_t Lout, T* y, std::int32_t* argmax) {
    const std::int64_t total = rows * Lout;
    return launch_kernel(kernels::max_pool_1d_forward<T>, elementwise_launch(total), stream, x, L, K, stride, pad, Lout,
                         total, y, argmax);
}
template <class T>
cudaError_t max_pool_1d_backward(cudaStream_t stream, const T* dy, const std::int32_t* argmax, std::int64_t rows,
                                 std::int64_t L, std::int64_t Lout, T* dx) {
    if (rows * L == 0) return cudaSuccess;
    const cudaError_t cleared = cudaMemsetAsync(dx, 0, static_cast<std::size_t>(rows * L) * sizeof(T), stream);
    if (cleared != cudaSuccess) return cleared;
    const std::int64_t total = rows * Lout;
    return launch_kernel(kernels::max_pool_1d_backward<T>, elementwise_launch(total), stream, dy, argmax, L, Lout,
                         total, dx);
}
template <class T>
cudaError_t sum_squares(cudaStream_t stream, std::int64_t n, const T* x, double* partials, std::int64_t blocks,
                        double* result) {
    if (const cudaError_t status = launch_kernel(kernels::sum_squares_partial<T>, dim3(static_cast<unsigned>(blocks)),
                                                 dim3(block_size), stream, n, x, partials))
        return status;
    return launch_kernel(kernels::sum_partials<>, dim3(1), dim3(block_size), stream, blocks, partials, result);
}

}  // namespace fgclep::cuda::launch
