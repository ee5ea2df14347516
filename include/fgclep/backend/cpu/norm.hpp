#pragma once
// Batch norm and layer norm primitives for Context<Cpu<T>>. Sums are accumulated in double.
#include "fgclep/backend/cpu.hpp"
#include "fgclep/backend/cpu/parallel.hpp"
#include "fgclep/core/context.hpp"

#include <cmath>
#include <vector>

namespace fgclep::ops {

// Training-mode batch norm over x (N, C, L): statistics per channel over N and L. Writes y, the batch mean and
// 1/sqrt(var + eps) per channel (for backward), and updates the running statistics in place as PyTorch does
// (biased variance for normalising, unbiased for the running estimate).
template <class T>
void batch_norm_forward_train(Context<Cpu<T>>& ctx, const T* x, std::int64_t N, std::int64_t C, std::int64_t L,
                              const T* gamma, const T* beta, T eps, T momentum, T* y, T* save_mean, T* save_invstd,
                              T* running_mean, T* running_var) {
    const std::int64_t M = N * L;
    cpu::parallel_for(ctx.state.thread_count(), C, 1, [&](std::int64_t c) {
        double sum = 0;
        for (std::int64_t n = 0; n < N; ++n) {
            const T* xr = x + (n * C + c) * L;
            for (std::int64_t l = 0; l < L; ++l) sum += xr[l];
        }
        const double mean = sum / static_cast<double>(M);
        double sq = 0;
        for (std::int64_t n = 0; n < N; ++n) {
            const T* xr = x + (n * C + c) * L;
            for (std::int64_t l = 0; l < L; ++l) {
                const double d = xr[l] - mean;
                sq += d * d;
            }
        }
        const double var = sq / static_cast<double>(M);
        const double invstd = 1.0 / std::sqrt(var + static_cast<double>(eps));
        const T scale = static_cast<T>(invstd * gamma[c]);
        const T shift = static_cast<T>(beta[c] - mean * invstd * gamma[c]);
        for (std::int64_t n = 0; n < N; ++n) {
            const T* xr = x + (n * C + c) * L;
            T* yr = y + (n * C + c) * L;
            for (std::int64_t l = 0; l < L; ++l) yr[l] = xr[l] * scale + shift;
        }
        save_mean[c] = static_cast<T>(mean);
        save_invstd[c] = static_cast<T>(invstd);
        const double unbiased = M > 1 ? sq / static_cast<double>(M - 1) : var;
        running_mean[c] = static_cast<T>((1 - momentum) * running_mean[c] + momentum * mean);
        running_var[c] = static_cast<T>((1 - momentum) * running_var[c] + momentum * unbiased);
    });
}

// Evaluation-mode batch norm with the running statistics. Also writes the mean and 1/sqrt(var + eps) it used, so
// that batch_norm_backward serves both modes.
template <class T>
void batch_norm_forward_eval(Context<Cpu<T>>& ctx, const T* x, std::int64_t N, std::int64_t C, std::int64_t L,
                             const T* gamma, const T* beta, const T* running_mean, const T* running_var, T eps, T* y,
                             T* save_mean, T* save_invstd) {
    for (std::int64_t c = 0; c < C; ++c) {
        save_mean[c] = running_mean[c];
        save_invstd[c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps));
    }
    cpu::parallel_for(ctx.state.thread_count(), N * C, 16, [&](std::int64_t nc) {
        const std::int64_t c = nc % C;
        const T scale = save_invstd[c] * gamma[c];
        const T shift = beta[c] - save_mean[c] * scale;
        const T* xr = x + nc * L;
        T* yr = y + nc * L;
        for (std::int64_t l = 0; l < L; ++l) yr[l] = xr[l] * scale + shift;
    });
}

// Gradients of batch norm. With batch_statistics (training mode) the mean and variance depend on x and the
// full formula applies; otherwise they are constants. dx is assigned; dgamma and dbeta are accumulated
// (either may be null to skip a frozen parameter).
template <class T>
void batch_norm_backward(Context<Cpu<T>>& ctx, const T* dy, const T* x, std::int64_t N, std::int64_t C,
                         std::int64_t L, const T* gamma, const T* mean, const T* invstd, bool batch_statistics, T* dx,
                         T* dgamma, T* dbeta) {
    const double M = static_cast<double>(N * L);
    cpu::parallel_for(ctx.state.thread_count(), C, 1, [&](std::int64_t c) {
        double sum_dy = 0, sum_dy_xhat = 0;
        const double mu = mean[c], is = invstd[c];
        for (std::int64_t n = 0; n < N; ++n) {
            const T* xr = x + (n * C + c) * L;
            const T* dyr = dy + (n * C + c) * L;
            for (std::int64_t l = 0; l < L; ++l) {
                sum_dy += dyr[l];
                sum_dy_xhat += dyr[l] * (xr[l] - mu) * is;
            }
        }
        const double g = gamma[c] * is;
        for (std::int64_t n = 0; n < N; ++n) {
            const T* xr = x + (n * C + c) * L;
            const T* dyr = dy + (n * C + c) * L;
            T* dxr = dx + (n * C + c) * L;
            if (batch_statistics) {
                for (std::int64_t l = 0; l < L; ++l) {
                    const double xhat = (xr[l] - mu) * is;
                    dxr[l] = static_cast<T>(g * (dyr[l] - sum_dy / M - xhat * sum_dy_xhat / M));
                }
            } else {
                for (std::int64_t l = 0; l < L; ++l) dxr[l] = static_cast<T>(g * dyr[l]);
            }
        }
        if (dgamma) dgamma[c] += static_cast<T>(sum_dy_xhat);
        if (dbeta) dbeta[c] += static_cast<T>(sum_dy);
    });
}

// Layer norm over the last dimension of x (rows, D). Writes y, and per row the mean and 1/sqrt(var + eps).
template <class T>
void layer_norm_forward(Context<Cpu<T>>& ctx, const T* x, std::int64_t rows, std::int64_t D, const T* gamma,
                        const T* beta, T eps, T* y, T* save_mean, T* save_rstd) {
    cpu::parallel_for(ctx.state.thread_count(), rows, 8, [&](std::int64_t r) {
        const T* xr = x + r * D;
        T* yr = y + r * D;
        double sum = 0;
        for (std::int64_t d = 0; d < D; ++d) sum += xr[d];
        const double mean = sum / static_cast<double>(D);
        double sq = 0;
        for (std::int64_t d = 0; d < D; ++d) sq += (xr[d] - mean) * (xr[d] - mean);
        const double rstd = 1.0 / std::sqrt(sq / static_cast<double>(D) + static_cast<double>(eps));
        const T m = static_cast<T>(mean), s = static_cast<T>(rstd);
        for (std::int64_t d = 0; d < D; ++d) yr[d] = (xr[d] - m) * s * gamma[d] + beta[d];
        save_mean[r] = m;
        save_rstd[r] = s;
    });
}

// Gradients of layer norm: dx assigned; dgamma, dbeta accumulated (null to skip).
template <class T>
void layer_norm_backward(Context<Cpu<T>>& ctx, const T* dy, const T* x, std::int64_t rows, std::int64_t D,
                         const T* gamma, const T* mean, const T* rstd, T* dx, T* dgamma, T* dbeta) {
    const int threads = ctx.state.thread_count();
    cpu::parallel_for(threads, rows, 8, [&](std::int64_t r) {
        const T* xr = x + r * D;
        const T* dyr = dy + r * D;
        T* dxr = dx + r * D;
        const double mu = mean[r], s = rstd[r];
        double sum_g = 0, sum_g_xhat = 0;
        for (std::int64_t d = 0; d < D; ++d) {
            const double g = static_cast<double>(dyr[d]) * gamma[d];
            sum_g += g;
            sum_g_xhat += g * (xr[d] - mu) * s;
        }
        const double mg = sum_g / static_cast<double>(D), mgx = sum_g_xhat / static_cast<double>(D);
        for (std::int64_t d = 0; d < D; ++d) {
            const double xhat = (xr[d] - mu) * s;
            dxr[d] = static_cast<T>(s * (static_cast<double>(dyr[d]) * gamma[d] - mg - xhat * mgx));
        }
    });
    if (!dgamma && !dbeta) return;
    // Column sums, split by columns so that no two threads write the same element.
    cpu::parallel_chunks(threads, D, 64, [&](std::int64_t d0, std::int64_t d1) {
        std::vector<double> sg(static_cast<std::size_t>(d1 - d0), 0.0), sb(static_cast<std::size_t>(d1 - d0), 0.0);
        for (std::int64_t r = 0; r < rows; ++r) {
            const T* xr = x + r * D;
            const T* dyr = dy + r * D;
            const double mu = mean[r], s = rstd[r];
            for (std::int64_t d = d0; d < d1; ++d) {
                sg[d - d0] += dyr[d] * (xr[d] - mu) * s;
                sb[d - d0] += dyr[d];
            }
        }
        for (std::int64_t d = d0; d < d1; ++d) {
            if (dgamma) dgamma[d] += static_cast<T>(sg[d - d0]);
            if (dbeta) dbeta[d] += static_cast<T>(sb[d - d0]);
        }
    });
}

}  // namespace fgclep::ops
