#pragma once
// ops::im2col_1d and ops::col2im_1d for Context<Cpu<T>>: the unfolding that turns a 1-D convolution into GEMMs.
//
// Layout: x is (N, C, L); col is (N, C*K, Lout) with col[n][c*K + k][o] = x[n][c][o*stride - pad + k*dilation]
// (0 outside the signal). A 1x1 convolution with stride 1 and no padding needs no unfolding: the Conv1d layer
// skips these calls (the fast path).
#include "fgclep/backend/cpu.hpp"
#include "fgclep/backend/cpu/parallel.hpp"
#include "fgclep/core/context.hpp"

namespace fgclep::cpu {

template <class T>
struct ConvPrimitives {
    static void im2col_1d(Context<Cpu<T>>& ctx, const T* x, std::int64_t N, std::int64_t C, std::int64_t L,
                          std::int64_t K, std::int64_t stride, std::int64_t pad, std::int64_t dilation,
                          std::int64_t Lout, T* col) {
        cpu::parallel_for(ctx.state.thread_count(), N * C, 4, [&](std::int64_t nc) {
            const T* xr = x + nc * L;
            T* out = col + nc * K * Lout;  // rows c*K .. c*K+K-1 of sample n are contiguous
            for (std::int64_t k = 0; k < K; ++k) {
                T* row = out + k * Lout;
                const std::int64_t shift = k * dilation - pad;
                for (std::int64_t o = 0; o < Lout; ++o) {
                    const std::int64_t i = o * stride + shift;
                    row[o] = (i >= 0 && i < L) ? xr[i] : T(0);
                }
            }
        });
    }

    // The adjoint of im2col_1d: dx (N, C, L) is *assigned* the sum of every col entry that came from it.
    static void col2im_1d(Context<Cpu<T>>& ctx, const T* col, std::int64_t N, std::int64_t C, std::int64_t L,
                          std::int64_t K, std::int64_t stride, std::int64_t pad, std::int64_t dilation,
                          std::int64_t Lout, T* dx) {
        cpu::parallel_for(ctx.state.thread_count(), N * C, 4, [&](std::int64_t nc) {
            T* xr = dx + nc * L;
            const T* in = col + nc * K * Lout;
            for (std::int64_t i = 0; i < L; ++i) xr[i] = T(0);
            for (std::int64_t k = 0; k < K; ++k) {
                const T* row = in + k * Lout;
                const std::int64_t shift = k * dilation - pad;
                for (std::int64_t o = 0; o < Lout; ++o) {
                    const std::int64_t i = o * stride + shift;
                    if (i >= 0 && i < L) xr[i] += row[o];
                }
            }
        });
    }
};

}  // namespace fgclep::cpu
