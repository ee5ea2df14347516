#pragma once
// The CUDA kernels of fgclep and their launchers (declared in launch.hpp). nvcc only: src/cuda/kernels.cu
// includes this file and instantiates every launcher into the fgclep::cuda library; users' own files never need
// it, except to instantiate unary/unary_backward for a functor of their own (see launch.hpp).
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
#if !defined(__CUDACC__)
#error "fgclep/backend/cuda/kernels.cuh holds CUDA kernels and must be compiled by nvcc (it is built into fgclep::cuda)"
#endif

#include "fgclep/backend/cuda/launch.hpp"
#include "fgclep/backend/cuda/mapping.hpp"
#include "fgclep/backend/functors.hpp"
#include "fgclep/core/rng.hpp"

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

// for (i = first index of this thread; i < n; i += all threads of the grid), in 64 bits.
#define FGCLEP_GRID_STRIDE(i, n)                                                                              \
    for (std::int64_t i = ::fgclep::cuda::GridStride::first(blockIdx.x, blockDim.x, threadIdx.x); i < (n);  \
         i += ::fgclep::cuda::GridStride::step(gridDim.x, blockDim.x))

// Warp-uniform loop over rows, one warp per row (warp_per_row_launch).
#define FGCLEP_WARP_ROWS(row, rows)                                                                           \
    for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * ::fgclep::cuda::rows_per_warp_block +    \
                            threadIdx.x / ::fgclep::cuda::warp_size;                                          \
         row < (rows); row += static_cast<std::int64_t>(gridDim.x) * ::fgclep::cuda::rows_per_warp_block)

// Block-uniform loop over rows, one block per row (block_per_row_launch).
#define FGCLEP_BLOCK_ROWS(row, rows) \
    for (std::int64_t row = blockIdx.x; row < (rows); row += gridDim.x)

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

// --- elementwise ---

template <class T, class F>
__global__ void unary(F f, std::int64_t n, const T* x, T* y) {
    FGCLEP_GRID_STRIDE(i, n) y[i] = f(x[i]);
}
template <class T, class F>
__global__ void unary_backward(F f, std::int64_t n, const T* x, const T* y, const T* dy, T* dx) {
    FGCLEP_GRID_STRIDE(i, n) dx[i] = dy[i] * f.derivative(x[i], y[i]);
}
template <class T>
__global__ void add(std::int64_t n, const T* a, const T* b, T* y) {
    FGCLEP_GRID_STRIDE(i, n) y[i] = a[i] + b[i];
}
template <class T>
__global__ void axpy(std::int64_t n, T alpha, const T* x, T* y) {
    FGCLEP_GRID_STRIDE(i, n) y[i] += alpha * x[i];
}
template <class T>
__global__ void scale(std::int64_t n, T alpha, const T* x, T* y) {
    FGCLEP_GRID_STRIDE(i, n) y[i] = alpha * x[i];
}
template <class T>
__global__ void add_bias_rows(std::int64_t total, std::int64_t cols, const T* bias, T* y) {
    FGCLEP_GRID_STRIDE(i, total) y[i] += bias[i % cols];
}
template <class T>
__global__ void add_bias_channels(std::int64_t total, std::int64_t C, std::int64_t L, const T* bias, T* y) {
    FGCLEP_GRID_STRIDE(i, total) y[i] += bias[(i / L) % C];
}
// y (A, C, B, D) = x (A, B, C, D), one thread per output element.
template <class T>
__global__ void transpose_middle(const T* x, std::int64_t B, std::int64_t C, std::int64_t D, std::int64_t total,
                                 T* y) {
    FGCLEP_GRID_STRIDE(j, total) {
        const std::int64_t d = j % D, acb = j / D;  // acb = (a * C + c) * B + b
        const std::int64_t b = acb % B, ac = acb / B;
        const std::int64_t c = ac % C, a = ac / C;
        y[j] = x[((a * B + b) * C + c) * D + d];
    }
}
template <class T>
__global__ void dropout(std::int64_t n, float threshold, T keep_scale, std::uint64_t seed, std::uint64_t offset,
                        const T* x, T* y) {
    FGCLEP_GRID_STRIDE(i, n) {
        y[i] = Philox::uniform(seed, offset + static_cast<std::uint64_t>(i)) >= threshold ? x[i] * keep_scale : T(0);
    }
}

// --- convolution ---

// col (N, C*K, Lout): one thread per col element.
template <class T>
__global__ void im2col_1d(const T* x, std::int64_t L, std::int64_t K, std::int64_t stride, std::int64_t pad,
                          std::int64_t dilation, std::int64_t Lout, std::int64_t total, T* col) {
    FGCLEP_GRID_STRIDE(j, total) {
        const std::int64_t o = j % Lout, nck = j / Lout;  // nck = (n * C + c) * K + k
        const std::int64_t k = nck % K, nc = nck / K;
        const std::int64_t i = o * stride - pad + k * dilation;
        col[j] = (i >= 0 && i < L) ? x[nc * L + i] : T(0);
    }
}
// dx (N, C, L) as a gather, one thread per dx element: position i received col[nc][k][o] for every k with
// o * stride = i + pad - k * dilation, 0 <= o < Lout. Summed in increasing k from zero, the CPU's order.
template <class T>
__global__ void col2im_1d(const T* col, std::int64_t L, std::int64_t K, std::int64_t stride, std::int64_t pad,
                          std::int64_t dilation, std::int64_t Lout, std::int64_t total, T* dx) {
    FGCLEP_GRID_STRIDE(j, total) {
        const std::int64_t i = j % L, nc = j / L;
        T acc = T(0);
        for (std::int64_t k = 0; k < K; ++k) {
            const std::int64_t t = i + pad - k * dilation;
            if (t < 0) break;  // t only decreases with k
            if (t % stride != 0) continue;
            const std::int64_t o = t / stride;
            if (o < Lout) acc += col[(nc * K + k) * Lout + o];
        }
        dx[j] = acc;
    }
}

// --- normalisation ---

// One block per channel: two passes for the statistics (mean, then squared deviations), one for y.
template <class T>
__global__ void __launch_bounds__(block_size)
    batch_norm_forward_train(const T* x, std::int64_t N, std::int64_t C, std::int64_t L, const T* gamma, const T* beta,
                             T eps, T momentum, T* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var) {
    const std::int64_t M = N * L;
    FGCLEP_BLOCK_ROWS(c, C) {
        double sum = 0;
        for (std::int64_t m = threadIdx.x; m < M; m += blockDim.x) sum += x[((m / L) * C + c) * L + m % L];
        const double mean = block_all_sum(sum) / static_cast<double>(M);
        double sq = 0;
        for (std::int64_t m = threadIdx.x; m < M; m += blockDim.x) {
            const double d = x[((m / L) * C + c) * L + m % L] - mean;
            sq += d * d;
        }
        sq = block_all_sum(sq);
        const double var = sq / static_cast<double>(M);
        const double invstd = 1.0 / sqrt(var + static_cast<double>(eps));
        const T scale_c = static_cast<T>(invstd * gamma[c]);
        const T shift_c = static_cast<T>(beta[c] - mean * invstd * gamma[c]);
        for (std::int64_t m = threadIdx.x; m < M; m += blockDim.x) {
            const std::int64_t at = ((m / L) * C + c) * L + m % L;
            y[at] = x[at] * scale_c + shift_c;
        }
        if (threadIdx.x == 0) {
            save_mean[c] = static_cast<T>(mean);
            save_invstd[c] = static_cast<T>(invstd);
            const double unbiased = M > 1 ? sq / static_cast<double>(M - 1) : var;
            running_mean[c] = static_cast<T>((1 - momentum) * running_mean[c] + momentum * mean);
            running_var[c] = static_cast<T>((1 - momentum) * running_var[c] + momentum * unbiased);
        }
    }
}

// One thread per element of y, and (the first C threads) per channel for the saved statistics.
template <class T>
__global__ void batch_norm_forward_eval(const T* x, std::int64_t C, std::int64_t L, std::int64_t total,
                                        const T* gamma, const T* beta, const T* running_mean, const T* running_var,
                                        T eps, T* y, T* save_mean, T* save_invstd) {
    const std::int64_t n = total > C ? total : C;
    FGCLEP_GRID_STRIDE(i, n) {
        if (i < C) {
            save_mean[i] = running_mean[i];
            save_invstd[i] = static_cast<T>(1.0 / sqrt(static_cast<double>(running_var[i]) + eps));
        }
        if (i < total) {
            const std::int64_t c = (i / L) % C;
            const T invstd = static_cast<T>(1.0 / sqrt(static_cast<double>(running_var[c]) + eps));
            const T scale_c = invstd * gamma[c];
            const T shift_c = beta[c] - running_mean[c] * scale_c;
            y[i] = x[i] * scale_c + shift_c;
        }
    }
}

// One block per channel: the two sums, then dx; thread 0 accumulates dgamma and dbeta.
template <class T>
__global__ void __launch_bounds__(block_size)
    batch_norm_backward(const T* dy, const T* x, std::int64_t N, std::int64_t C, std::int64_t L, const T* gamma,
                        const T* mean, const T* invstd, bool batch_statistics, T* dx, T* dgamma, T* dbeta) {
    const std::int64_t M = N * L;
    const double Md = static_cast<double>(M);
    FGCLEP_BLOCK_ROWS(c, C) {
        const double mu = mean[c], is = invstd[c];
        double sum_dy = 0, sum_dy_xhat = 0;
        for (std::int64_t m = threadIdx.x; m < M; m += blockDim.x) {
            const std::int64_t at = ((m / L) * C + c) * L + m % L;
            sum_dy += dy[at];
            sum_dy_xhat += dy[at] * (x[at] - mu) * is;
        }
        sum_dy = block_all_sum(sum_dy);
        sum_dy_xhat = block_all_sum(sum_dy_xhat);
        const double g = gamma[c] * is;
        for (std::int64_t m = threadIdx.x; m < M; m += blockDim.x) {
            const std::int64_t at = ((m / L) * C + c) * L + m % L;
            if (batch_statistics) {
                const double xhat = (x[at] - mu) * is;
                dx[at] = static_cast<T>(g * (dy[at] - sum_dy / Md - xhat * sum_dy_xhat / Md));
            } else {
                dx[at] = static_cast<T>(g * dy[at]);
            }
        }
        if (threadIdx.x == 0) {
            if (dgamma) dgamma[c] += static_cast<T>(sum_dy_xhat);
            if (dbeta) dbeta[c] += static_cast<T>(sum_dy);
        }
    }
}

// One warp per row.
template <class T>
__global__ void layer_norm_forward(const T* x, std::int64_t rows, std::int64_t D, const T* gamma, const T* beta,
                                   T eps, T* y, T* save_mean, T* save_rstd) {
    const unsigned lane = threadIdx.x % warp_size;
    FGCLEP_WARP_ROWS(r, rows) {
        const T* xr = x + r * D;
        T* yr = y + r * D;
        double sum = 0;
        for (std::int64_t d = lane; d < D; d += warp_size) sum += xr[d];
        const double mean = warp_all_sum(sum) / static_cast<double>(D);
        double sq = 0;
        for (std::int64_t d = lane; d < D; d += warp_size) sq += (xr[d] - mean) * (xr[d] - mean);
        const double rstd = 1.0 / sqrt(warp_all_sum(sq) / static_cast<double>(D) + static_cast<double>(eps));
        const T m = static_cast<T>(mean), s = static_cast<T>(rstd);
        for (std::int64_t d = lane; d < D; d += warp_size) yr[d] = (xr[d] - m) * s * gamma[d] + beta[d];
        if (lane == 0) {
            save_mean[r] = m;
            save_rstd[r] = s;
        }
    }
}

// dx, one warp per row.
template <class T>
__global__ void layer_norm_backward_input(const T* dy, const T* x, std::int64_t rows, std::int64_t D, const T* gamma,
                                          const T* mean, const T* rstd, T* dx) {
    const unsigned lane = threadIdx.x % warp_size;
    FGCLEP_WARP_ROWS(r, rows) {
        const T* xr = x + r * D;
        const T* dyr = dy + r * D;
        T* dxr = dx + r * D;
        const double mu = mean[r], s = rstd[r];
        double sum_g = 0, sum_g_xhat = 0;
        for (std::int64_t d = lane; d < D; d += warp_size) {
            const double g = static_cast<double>(dyr[d]) * gamma[d];
            sum_g += g;
            sum_g_xhat += g * (xr[d] - mu) * s;
        }
        const double mg = warp_all_sum(sum_g) / static_cast<double>(D);
        const double mgx = warp_all_sum(sum_g_xhat) / static_cast<double>(D);
        for (std::int64_t d = lane; d < D; d += warp_size) {
            const double xhat = (xr[d] - mu) * s;
            dxr[d] = static_cast<T>(s * (static_cast<double>(dyr[d]) * gamma[d] - mg - xhat * mgx));
        }
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

template <class T>
struct LayerNormParamTerms {
    const T *dy, *x, *mean, *rstd;
    std::int64_t D;
    __device__ double operator()(std::int64_t r, std::int64_t d, int out) const {
        const T g = dy[r * D + d];
        if (out == 1) return g;
        const double mu = mean[r], s = rstd[r];
        return g * (x[r * D + d] - mu) * s;
    }
};
template <class T>
struct LayerNormParamFinish {
    T *dgamma, *dbeta;
    __device__ void operator()(std::int64_t d, const double* s) const {
        if (dgamma) dgamma[d] += static_cast<T>(s[0]);
        if (dbeta) dbeta[d] += static_cast<T>(s[1]);
    }
};
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

// --- attention ---

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

// --- reductions ---

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
__global__ void __launch_bounds__(block_size) sum_partials(std::int64_t count, const double* partials,
                                                           double* result) {
    double acc = 0;
    for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
    acc = block_all_sum(acc);
    if (threadIdx.x == 0) *result = acc;
}

// --- embedding ---

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

// --- optimisation ---

template <class T>
__global__ void adamw_update(std::int64_t n, fn::AdamWStep<T> step, T* p, const T* g, T* m, T* v) {
    FGCLEP_GRID_STRIDE(i, n) step(p[i], g[i], m[i], v[i]);
}

}  // namespace fgclep::cuda::kernels

// ------------------------------------------------------------------------------------------------------------------
// Launchers: geometry from mapping.hpp, nothing launched for empty work, cudaGetLastError() returned.

namespace fgclep::cuda::launch {

// Launches kernel<<<geometry, stream>>>(args...) unless the geometry is empty; returns cudaGetLastError().
template <class... Params, class... Args>
cudaError_t launch_kernel(void (*kernel)(Params...), Launch geometry, cudaStream_t stream, Args... args) {
    if (geometry.empty()) return cudaSuccess;
    kernel<<<geometry.grid, geometry.block, 0, stream>>>(args...);
    return cudaGetLastError();
}

template <class T>
cudaError_t scale_matrices(cudaStream_t stream, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                           std::int64_t stride, std::int64_t batch, T beta, T* C) {
    const std::int64_t total = batch * rows * cols;
    return launch_kernel(kernels::scale_matrices<T>, elementwise_launch(total), stream, rows, cols, ld, stride, total,
                         beta, C);
}

template <class T, class F>
cudaError_t unary(cudaStream_t stream, F f, std::int64_t n, const T* x, T* y) {
    return launch_kernel(kernels::unary<T, F>, elementwise_launch(n), stream, f, n, x, y);
}
template <class T, class F>
cudaError_t unary_backward(cudaStream_t stream, F f, std::int64_t n, const T* x, const T* y, const T* dy, T* dx) {
    return launch_kernel(kernels::unary_backward<T, F>, elementwise_launch(n), stream, f, n, x, y, dy, dx);
}
template <class T>
cudaError_t add(cudaStream_t stream, std::int64_t n, const T* a, const T* b, T* y) {
    return launch_kernel(kernels::add<T>, elementwise_launch(n), stream, n, a, b, y);
}
template <class T>
cudaError_t axpy(cudaStream_t stream, std::int64_t n, T alpha, const T* x, T* y) {
    return launch_kernel(kernels::axpy<T>, elementwise_launch(n), stream, n, alpha, x, y);
}
template <class T>
cudaError_t scale(cudaStream_t stream, std::int64_t n, T alpha, const T* x, T* y) {
    return launch_kernel(kernels::scale<T>, elementwise_launch(n), stream, n, alpha, x, y);
}
template <class T>
cudaError_t add_bias_rows(cudaStream_t stream, std::int64_t rows, std::int64_t cols, const T* bias, T* y) {
    const std::int64_t total = rows * cols;
    return launch_kernel(kernels::add_bias_rows<T>, elementwise_launch(total), stream, total, cols, bias, y);
}
template <class T>
cudaError_t add_bias_channels(cudaStream_t stream, std::int64_t N, std::int64_t C, std::int64_t L, const T* bias,
                              T* y) {
    const std::int64_t total = N * C * L;
    return launch_kernel(kernels::add_bias_channels<T>, elementwise_launch(total), stream, total, C, L, bias, y);
}
template <class T>
cudaError_t transpose_middle(cudaStream_t stream, const T* x, std::int64_t A, std::int64_t B, std::int64_t C,
                             std::int64_t D, T* y) {
    const std::int64_t total = A * B * C * D;
    return launch_kernel(kernels::transpose_middle<T>, elementwise_launch(total), stream, x, B, C, D, total, y);
}
template <class T>
cudaError_t dropout(cudaStream_t stream, std::int64_t n, float threshold, T keep_scale, std::uint64_t seed,
                    std::uint64_t offset, const T* x, T* y) {
    return launch_kernel(kernels::dropout<T>, elementwise_launch(n), stream, n, threshold, keep_scale, seed, offset, x,
                         y);
}

template <class T>
cudaError_t im2col_1d(cudaStream_t stream, const T* x, std::int64_t N, std::int64_t C, std::int64_t L, std::int64_t K,
                      std::int64_t stride, std::int64_t pad, std::int64_t dilation, std::int64_t Lout, T* col) {
    const std::int64_t total = N * C * K * Lout;
    return launch_kernel(kernels::im2col_1d<T>, elementwise_launch(total), stream, x, L, K, stride, pad, dilation, Lout,
                         total, col);
}
template <class T>
cudaError_t col2im_1d(cudaStream_t stream, const T* col, std::int64_t N, std::int64_t C, std::int64_t L,
                      std::int64_t K, std::int64_t stride, std::int64_t pad, std::int64_t dilation, std::int64_t Lout,
                      T* dx) {
    const std::int64_t total = N * C * L;
    return launch_kernel(kernels::col2im_1d<T>, elementwise_launch(total), stream, col, L, K, stride, pad, dilation,
                         Lout, total, dx);
}

template <class T>
cudaError_t batch_norm_forward_train(cudaStream_t stream, const T* x, std::int64_t N, std::int64_t C, std::int64_t L,
                                     const T* gamma, const T* beta, T eps, T momentum, T* y, T* save_mean,
                                     T* save_invstd, T* running_mean, T* running_var) {
    return launch_kernel(kernels::batch_norm_forward_train<T>, block_per_row_launch(C), stream, x, N, C, L, gamma, beta,
                         eps, momentum, y, save_mean, save_invstd, running_mean, running_var);
}
template <class T>
cudaError_t batch_norm_forward_eval(cudaStream_t stream, const T* x, std::int64_t N, std::int64_t C, std::int64_t L,
                                    const T* gamma, const T* beta, const T* running_mean, const T* running_var, T eps,
                                    T* y, T* save_mean, T* save_invstd) {
    const std::int64_t total = N * C * L;
    return launch_kernel(kernels::batch_norm_forward_eval<T>, elementwise_launch(total > C ? total : C), stream, x, C,
                         L, total, gamma, beta, running_mean, running_var, eps, y, save_mean, save_invstd);
}
template <class T>
cudaError_t batch_norm_backward(cudaStream_t stream, const T* dy, const T* x, std::int64_t N, std::int64_t C,
                                std::int64_t L, const T* gamma, const T* mean, const T* invstd, bool batch_statistics,
                                T* dx, T* dgamma, T* dbeta) {
    return launch_kernel(kernels::batch_norm_backward<T>, block_per_row_launch(C), stream, dy, x, N, C, L, gamma, mean,
                         invstd, batch_statistics, dx, dgamma, dbeta);
}
template <class T>
cudaError_t layer_norm_forward(cudaStream_t stream, const T* x, std::int64_t rows, std::int64_t D, const T* gamma,
                               const T* beta, T eps, T* y, T* save_mean, T* save_rstd) {
    return launch_kernel(kernels::layer_norm_forward<T>, warp_per_row_launch(rows), stream, x, rows, D, gamma, beta,
                         eps, y, save_mean, save_rstd);
}
template <class T>
cudaError_t layer_norm_backward(cudaStream_t stream, const T* dy, const T* x, std::int64_t rows, std::int64_t D,
                                const T* gamma, const T* mean, const T* rstd, T* dx, T* dgamma, T* dbeta,
                                double* partials, std::int64_t chunks) {
    const Launch rows_launch = warp_per_row_launch(rows);
    if (!rows_launch.empty())
        kernels::layer_norm_backward_input<T><<<rows_launch.grid, rows_launch.block, 0, stream>>>(dy, x, rows, D, gamma,
                                                                                                  mean, rstd, dx);
    if ((dgamma || dbeta) && D > 0) {
        const dim3 grid(static_cast<unsigned>(ceil_div(D, column_tile)), static_cast<unsigned>(chunks));
        kernels::column_sums_partial<2><<<grid, dim3(column_tile, column_lanes), 0, stream>>>(
            rows, D, chunks, kernels::LayerNormParamTerms<T>{dy, x, mean, rstd, D}, partials);
        const Launch finish = elementwise_launch(D);
        kernels::column_sums_finish<2><<<finish.grid, finish.block, 0, stream>>>(
            D, chunks, partials, kernels::LayerNormParamFinish<T>{dgamma, dbeta});
    }
    return cudaGetLastError();
}

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

template <class T>
cudaError_t sum_rows(cudaStream_t stream, std::int64_t rows, std::int64_t cols, const T* x, T beta, T* out,
                     double* partials, std::int64_t chunks) {
    if (cols <= 0) return cudaSuccess;
    const dim3 grid(static_cast<unsigned>(ceil_div(cols, column_tile)), static_cast<unsigned>(chunks));
    kernels::column_sums_partial<1><<<grid, dim3(column_tile, column_lanes), 0, stream>>>(
        rows, cols, chunks, kernels::RowSumTerm<T>{x, cols}, partials);
    const Launch finish = elementwise_launch(cols);
    kernels::column_sums_finish<1><<<finish.grid, finish.block, 0, stream>>>(cols, chunks, partials,
                                                                            kernels::RowSumFinish<T>{beta, out});
    return cudaGetLastError();
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
    kernels::sum_squares_partial<T><<<static_cast<unsigned>(blocks), block_size, 0, stream>>>(n, x, partials);
    kernels::sum_partials<><<<1, block_size, 0, stream>>>(blocks, partials, result);
    return cudaGetLastError();
}

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

template <class T>
cudaError_t adamw_update(cudaStream_t stream, std::int64_t n, fn::AdamWStep<T> step, T* p, const T* g, T* m, T* v) {
    return launch_kernel(kernels::adamw_update<T>, elementwise_launch(n), stream, n, step, p, g, m, v);
}

}  // namespace fgclep::cuda::launch

#undef FGCLEP_GRID_STRIDE
#undef FGCLEP_WARP_ROWS
#undef FGCLEP_BLOCK_ROWS
