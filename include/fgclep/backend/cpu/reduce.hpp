#pragma once
// Reductions and pooling for Context<Cpu<T>>.
#include "fgclep/backend/cpu.hpp"
#include "fgclep/backend/cpu/parallel.hpp"
#include "fgclep/core/context.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace fgclep::cpu {

template <class T>
struct ReducePrimitives {
    // out (cols) = beta * out + column sums of x (rows, cols). beta = 1 accumulates a bias gradient.
    static void sum_rows(Context<Cpu<T>>& ctx, std::int64_t rows, std::int64_t cols, const T* x, T beta, T* out) {
        cpu::parallel_chunks(ctx.state.thread_count(), cols, 64, [&](std::int64_t c0, std::int64_t c1) {
            std::vector<double> acc(static_cast<std::size_t>(c1 - c0), 0.0);
            for (std::int64_t r = 0; r < rows; ++r) {
                const T* xr = x + r * cols;
                for (std::int64_t c = c0; c < c1; ++c) acc[c - c0] += xr[c];
            }
            for (std::int64_t c = c0; c < c1; ++c)
                out[c] = (beta == T(0) ? T(0) : beta * out[c]) + static_cast<T>(acc[c - c0]);
        });
    }

    // out (C) += sums of x (N, C, L) over N and L (accumulate): a convolution's bias gradient.
    static void sum_channels(Context<Cpu<T>>& ctx, std::int64_t N, std::int64_t C, std::int64_t L, const T* x, T* out) {
        cpu::parallel_for(ctx.state.thread_count(), C, 4, [&](std::int64_t c) {
            double acc = 0;
            for (std::int64_t n = 0; n < N; ++n) {
                const T* xr = x + (n * C + c) * L;
                for (std::int64_t l = 0; l < L; ++l) acc += xr[l];
            }
            out[c] += static_cast<T>(acc);
        });
    }

    // out (rows) = mean of each row of x (rows, L): global average pooling of (N, C, L) with rows = N*C.
    static void mean_last(Context<Cpu<T>>& ctx, std::int64_t rows, std::int64_t L, const T* x, T* out) {
        cpu::parallel_for(ctx.state.thread_count(), rows, 64, [&](std::int64_t r) {
            double acc = 0;
            const T* xr = x + r * L;
            for (std::int64_t l = 0; l < L; ++l) acc += xr[l];
            out[r] = static_cast<T>(acc / static_cast<double>(L));
        });
    }

    // dx (rows, L) = alpha * dy[r] broadcast along each row: the backward of mean_last with alpha = 1/L.
    static void broadcast_last(Context<Cpu<T>>& ctx, std::int64_t rows, std::int64_t L, T alpha, const T* dy, T* dx) {
        cpu::parallel_for(ctx.state.thread_count(), rows, 64, [&](std::int64_t r) {
            const T v = alpha * dy[r];
            T* dxr = dx + r * L;
            for (std::int64_t l = 0; l < L; ++l) dxr[l] = v;
        });
    }

    // 1-D max pooling of x (rows, L) with padding treated as -inf (PyTorch's semantics). argmax receives the
    // index in [0, L) of each output's maximum, for backward.
    static void max_pool_1d_forward(Context<Cpu<T>>& ctx, const T* x, std::int64_t rows, std::int64_t L, std::int64_t K,
                                    std::int64_t stride, std::int64_t pad, std::int64_t Lout, T* y,
                                    std::int32_t* argmax) {
        cpu::parallel_for(ctx.state.thread_count(), rows, 16, [&](std::int64_t r) {
            const T* xr = x + r * L;
            for (std::int64_t o = 0; o < Lout; ++o) {
                const std::int64_t start = o * stride - pad;
                T best = -std::numeric_limits<T>::infinity();
                std::int64_t at = std::max<std::int64_t>(start, 0);
                for (std::int64_t k = 0; k < K; ++k) {
                    const std::int64_t i = start + k;
                    if (i < 0 || i >= L) continue;
                    if (xr[i] > best || std::isnan(xr[i])) {
                        best = xr[i];
                        at = i;
                        if (std::isnan(best)) break;
                    }
                }
                y[r * Lout + o] = best;
                argmax[r * Lout + o] = static_cast<std::int32_t>(at);
            }
        });
    }

    // dx (rows, L) is assigned: each dy element goes to the position its output took its maximum from.
    static void max_pool_1d_backward(Context<Cpu<T>>& ctx, const T* dy, const std::int32_t* argmax, std::int64_t rows,
                                     std::int64_t L, std::int64_t Lout, T* dx) {
        cpu::parallel_for(ctx.state.thread_count(), rows, 16, [&](std::int64_t r) {
            T* dxr = dx + r * L;
            for (std::int64_t l = 0; l < L; ++l) dxr[l] = T(0);
            for (std::int64_t o = 0; o < Lout; ++o) dxr[argmax[r * Lout + o]] += dy[r * Lout + o];
        });
    }

    // The sum of squares of x, in double on the host (for global-norm gradient clipping).
    static double sum_squares(Context<Cpu<T>>& ctx, std::int64_t n, const T* x) {
        double total = 0;
        const int threads = ctx.state.thread_count();
#if defined(_OPENMP)
#pragma omp parallel for reduction(+ : total) num_threads(threads) schedule(static) if (n > (1 << 16))
#endif
        for (std::int64_t i = 0; i < n; ++i) total += static_cast<double>(x[i]) * x[i];
        (void)threads;
        return total;
    }
};

}  // namespace fgclep::cpu
