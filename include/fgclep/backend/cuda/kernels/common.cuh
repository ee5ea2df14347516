#pragma once
// What every family of CUDA kernels shares (kernels/*.cuh, one per family as backend/cpu/): the loop macros, warp
// and block sums, the two-stage column sums, memory fills and launch_kernel. nvcc only.
//
// Conventions, so that CPU and GPU agree and the GPU agrees with itself:
//   - per-element math comes from backend/functors.hpp and core/rng.hpp (Philox), the code the CPU runs;
//   - reductions accumulate in double where the CPU does (norms, sums, pooling means, sums of squares), and
//     always in a fixed order (warp butterflies, fixed block counts, two-stage column sums): results are
//     deterministic and do not depend on the GPU model;
//   - no atomics where several writers could add to one element in a varying order, except max_pool_1d_backward,
//     where the sum starts from zero and (for ceil(K / stride) <= 2 overlapping windows, as in every common
//     pooling) at most two terms meet, so the order cannot change the result;
//   - every loop over elements is a 64-bit grid-stride loop (GridStride in mapping.hpp).
#include <cuda_runtime.h>

// FGCLEP_CUDA_HOST_EMULATION: tests/cuda/emulation's cuda_runtime.h, which runs these kernels on the host.
#if !defined(__CUDACC__) && !defined(FGCLEP_CUDA_HOST_EMULATION)
#error "fgclep/backend/cuda/kernels.cuh holds CUDA kernels and must be compiled by nvcc (it is built into fgclep::cuda)"
#endif

#include "fgclep/backend/cuda/launch.hpp"
#include "fgclep/backend/cuda/mapping.hpp"
#include "fgclep/backend/functors.hpp"
#include "fgclep/core/rng.hpp"

#include <array>
#include <cmath>
#include <cstdint>
#include <tuple>

// for (i = first index of this thread; i < n; i += all threads of the grid), in 64 bits.
#define FGCLEP_GRID_STRIDE(i, n)                                                                           \
    for (std::int64_t i = ::fgclep::cuda::GridStride::first(blockIdx.x, blockDim.x, threadIdx.x); i < (n); \
         i += ::fgclep::cuda::GridStride::step(gridDim.x, blockDim.x))

// Warp-uniform loop over rows, one warp per row (warp_per_row_launch).
#define FGCLEP_WARP_ROWS(row, rows)                                                                       \
    for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * ::fgclep::cuda::rows_per_warp_block + \
                            threadIdx.x / ::fgclep::cuda::warp_size;                                      \
         row < (rows); row += static_cast<std::int64_t>(gridDim.x) * ::fgclep::cuda::rows_per_warp_block)

// Block-uniform loop over rows, one block per row (block_per_row_launch).
#define FGCLEP_BLOCK_ROWS(row, rows) for (std::int64_t row = blockIdx.x; row < (rows); row += gridDim.x)

namespace fgclep::cuda::kernels {

constexpr unsigned full_warp = 0xffffffffu;

// The sum over the warp, in every lane. A butterfly: each step adds two equal-shaped partial sums, and a + b ==
// b + a, so every lane ends with the bit-identical result (the branch decisions that follow stay warp-uniform).
template <class V>
__device__ __forceinline__ V warp_all_sum(V v) {
    for (int offset = warp_size / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(full_warp, v, offset);
    return v;
}
// The maximum over the warp ignoring NaN (fmax), in every lane (fmax is commutative, so all lanes agree); -inf
// when every value is -inf or NaN. This is what the CPU's std::max(top, v) loop computes from top = -inf.
template <class V>
__device__ __forceinline__ V warp_all_max(V v) {
    for (int offset = warp_size / 2; offset > 0; offset /= 2) v = fmax(v, __shfl_xor_sync(full_warp, v, offset));
    return v;
}

// The sum over a block of block_size threads, returned to every thread; all of them must call it, from
// block-uniform control flow. Consecutive calls are safe: warp 0 reads warp_sums before the second barrier, and
// `total` is written again only after the next call's first barrier, which every thread reaches after reading it.
__device__ __forceinline__ double block_all_sum(double v) {
    __shared__ double warp_sums[block_size / warp_size];
    __shared__ double total;
    const unsigned lane = threadIdx.x % warp_size, warp = threadIdx.x / warp_size;
    v = warp_all_sum(v);
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    if (warp == 0) {
        double s = lane < block_size / warp_size ? warp_sums[lane] : 0.0;
        s = warp_all_sum(s);
        if (lane == 0) total = s;
    }
    __syncthreads();
    return total;
}

// --- memory ---

template <class U>
__global__ void fill(U* data, std::int64_t n, U value) {
    FGCLEP_GRID_STRIDE(i, n) data[i] = value;
}

template <class T>
__global__ void scale_matrices(std::int64_t rows, std::int64_t cols, std::int64_t ld, std::int64_t stride,
                               std::int64_t total, T beta, T* C) {
    FGCLEP_GRID_STRIDE(i, total) {
        const std::int64_t c = i % cols, rb = i / cols, r = rb % rows, b = rb / rows;
        T& e = C[b * stride + r * ld + c];
        e = beta == T(0) ? T(0) : beta * e;
    }
}

// Column sums, stage 1: block (column_tile, column_lanes) over columns [blockIdx.x * 32, +32) and the rows of
// chunk blockIdx.y; each of `Outputs` sums (of term(r, col, out)) goes to partials[(out * chunks + chunk) * cols
// + col]. Stage 2 (column_sums_finish) adds the chunks in order.
template <int Outputs, class Term>
__global__ void column_sums_partial(std::int64_t rows, std::int64_t cols, std::int64_t chunks, Term term,
                                    double* partials) {
    __shared__ double tile[Outputs][column_lanes][column_tile];
    const std::int64_t col = static_cast<std::int64_t>(blockIdx.x) * column_tile + threadIdx.x;
    const std::int64_t chunk = blockIdx.y;
    const std::int64_t r0 = chunk_begin(rows, chunks, chunk), r1 = chunk_begin(rows, chunks, chunk + 1);
    double acc[Outputs];
    for (int o = 0; o < Outputs; ++o) acc[o] = 0;
    if (col < cols)
        for (std::int64_t r = r0 + threadIdx.y; r < r1; r += column_lanes)
            for (int o = 0; o < Outputs; ++o) acc[o] += term(r, col, o);
    for (int o = 0; o < Outputs; ++o) tile[o][threadIdx.y][threadIdx.x] = acc[o];
    __syncthreads();
    if (threadIdx.y == 0 && col < cols)
        for (int o = 0; o < Outputs; ++o) {
            double s = 0;
            for (unsigned lane = 0; lane < column_lanes; ++lane) s += tile[o][lane][threadIdx.x];
            partials[(o * chunks + chunk) * cols + col] = s;
        }
}
// Stage 2: finish(col, sums) with the total of each output, one thread per column.
template <int Outputs, class Finish>
__global__ void column_sums_finish(std::int64_t cols, std::int64_t chunks, const double* partials, Finish finish) {
    FGCLEP_GRID_STRIDE(col, cols) {
        double s[Outputs];
        for (int o = 0; o < Outputs; ++o) {
            s[o] = 0;
            for (std::int64_t k = 0; k < chunks; ++k) s[o] += partials[(o * chunks + k) * cols + col];
        }
        finish(col, s);
    }
}

}  // namespace fgclep::cuda::kernels

namespace fgclep::cuda::launch {

// Launches kernel(args...) on a grid of `grid` blocks of `block` threads on `stream`, and returns the launch's
// status. The only launch of the library: the arguments are converted to the kernel's parameter types, as
// kernel<<<grid, block, 0, stream>>>(args...) would, and passed to cudaLaunchKernel, which the host emulation of
// the tests (tests/cuda/emulation) implements too.
template <class... Params, class... Args>
cudaError_t launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t stream, Args... args) {
    static_assert(sizeof...(Params) == sizeof...(Args), "launch_kernel: one argument per kernel parameter");
    std::tuple<Params...> values(args...);
    return std::apply(
        [&](auto&... value) {
            std::array<void*, sizeof...(Params)> pointers{static_cast<void*>(&value)...};
            return cudaLaunchKernel(kernel, grid, block, pointers.data(), 0, stream);
        },
        values);
}
// The same for a Launch geometry; launches nothing when it is empty.
template <class... Params, class... Args>
cudaError_t launch_kernel(void (*kernel)(Params...), Launch geometry, cudaStream_t stream, Args... args) {
    if (geometry.empty()) return cudaSuccess;
    return launch_kernel(kernel, dim3(geometry.grid), dim3(geometry.block), stream, args...);
}

template <class T>
cudaError_t scale_matrices(cudaStream_t stream, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                           std::int64_t stride, std::int64_t batch, T beta, T* C) {
    const std::int64_t total = batch * rows * cols;
    return launch_kernel(kernels::scale_matrices<T>, elementwise_launch(total), stream, rows, cols, ld, stride, total,
                         beta, C);
}

}  // namespace fgclep::cuda::launch
