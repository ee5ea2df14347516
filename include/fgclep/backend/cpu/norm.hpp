#pragma once
// Batch norm and layer norm primitives for Context<Cpu<T>>. Sums are accumulated in double.
#include "fgclep/backend/cpu.hpp"
#include "fgclep/backend/cpu/parallel.hpp"
#include "fgclep/core/context.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <vector>

namespace fgclep::cpu {

template <class T>
struct NormPrimitives {
    // Training-mode batch norm over x (N, C, L): statistics per channel over N and L. Writes y, the batch mean and
    // 1/sqrt(var + eps) per channel (for backward), and updates the running statistics in place as PyTorch does
    // (biased variance for normalising, unbiased for the running estimate). Each (n, c) row is summed as a vectorised
    // Eigen array in T; the N row sums of a channel are combined in double.
    static void batch_norm_forward_train(Context<Cpu<T>>& ctx, const T* x, std::int64_t N, std::int64_t C,
                                         std::int64_t L, const T* gamma, const T* beta, T eps, T momentum, T* y,
                                         T* save_mean, T* save_invstd, T* running_mean, T* running_var) {
        using Row = Eigen::Array<T, Eigen::Dynamic, 1>;
        const std::int64_t M = N * L;
        cpu::parallel_for(ctx.state.thread_count(), C, 1, [&](std::int64_t c) {
            // One pass for both moments (a centred second pass would read x once more), taken about a pivot K
            // from the channel's own values (its first one), so that E[(x-K)^2] - E[x-K]^2 does not cancel
            // catastrophically when the mean is large next to the spread.
            const T pivot = x[c * L];
            double sum = 0, sq = 0;
            for (std::int64_t n = 0; n < N; ++n) {
                const auto centred = Eigen::Map<const Row>(x + (n * C + c) * L, L) - pivot;
                sum += centred.sum();
                sq += centred.square().sum();
            }
            const double shifted_mean = sum / static_cast<double>(M);
            const double mean = static_cast<double>(pivot) + shifted_mean;
            const double var = std::max(0.0, sq / static_cast<double>(M) - shifted_mean * shifted_mean);
            sq = var * static_cast<double>(M);  // the centred sum of squares, for the unbiased running variance
            const double invstd = 1.0 / std::sqrt(var + static_cast<double>(eps));
            const T scale = static_cast<T>(invstd * gamma[c]);
            const T shift = static_cast<T>(beta[c] - mean * invstd * gamma[c]);
            for (std::int64_t n = 0; n < N; ++n)
                Eigen::Map<Row>(y + (n * C + c) * L, L) = Eigen::Map<const Row>(x + (n * C + c) * L, L) * scale + shift;
            save_mean[c] = static_cast<T>(mean);
            save_invstd[c] = static_cast<T>(invstd);
            const double unbiased = M > 1 ? sq / static_cast<double>(M - 1) : var;
            running_mean[c] = static_cast<T>((1 - momentum) * running_mean[c] + momentum * mean);
            running_var[c] = static_cast<T>((1 - momentum) * running_var[c] + momentum * unbiased);
        });
    }

    // Evaluation-mode batch norm with the running statistics. Also writes the mean and 1/sqrt(var + eps) it used, so
    // that batch_norm_backward serves both modes.
    static void batch_norm_forward_eval(Context<Cpu<T>>& ctx, const T* x, std::int64_t N, std::int64_t C,
                                        std::int64_t L, const T* gamma, const T* beta, const T* running_mean,
                                        const T* running_var, T eps, T* y, T* save_mean, T* save_invstd) {
        using Row = Eigen::Array<T, Eigen::Dynamic, 1>;
        for (std::int64_t c = 0; c < C; ++c) {
            save_mean[c] = running_mean[c];
            save_invstd[c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps));
        }
        cpu::parallel_for(ctx.state.thread_count(), N * C, 16, [&](std::int64_t nc) {
            const std::int64_t c = nc % C;
            const T scale = save_invstd[c] * gamma[c];
            const T shift = beta[c] - save_mean[c] * scale;
            Eigen::Map<Row>(y + nc * L, L) = Eigen::Map<const Row>(x + nc * L, L) * scale + shift;
        });
    }

    // Gradients of batch norm. With batch_statistics (training mode) the mean and variance depend on x and the
    // full formula applies; otherwise they are constants. dx is assigned; dgamma and dbeta are accumulated
    // (either may be null to skip a frozen parameter).
    static void batch_norm_backward(Context<Cpu<T>>& ctx, const T* dy, const T* x, std::int64_t N, std::int64_t C,
                                    std::int64_t L, const T* gamma, const T* mean, const T* invstd,
                                    bool batch_statistics, T* dx, T* dgamma, T* dbeta) {
        using Row = Eigen::Array<T, Eigen::Dynamic, 1>;
        const double M = static_cast<double>(N * L);
        cpu::parallel_for(ctx.state.thread_count(), C, 1, [&](std::int64_t c) {
            const T mu = mean[c], is = invstd[c];
            double sum_dy = 0, sum_dy_xmu = 0;
            for (std::int64_t n = 0; n < N; ++n) {
                const Eigen::Map<const Row> xr(x + (n * C + c) * L, L), dyr(dy + (n * C + c) * L, L);
                sum_dy += dyr.sum();
                sum_dy_xmu += (dyr * (xr - mu)).sum();
            }
            const double sum_dy_xhat = sum_dy_xmu * is;
            const T g = static_cast<T>(gamma[c] * static_cast<double>(is));
            for (std::int64_t n = 0; n < N; ++n) {
                const Eigen::Map<const Row> xr(x + (n * C + c) * L, L), dyr(dy + (n * C + c) * L, L);
                Eigen::Map<Row> dxr(dx + (n * C + c) * L, L);
                if (batch_statistics) {
                    // dx = g * (dy - mean(dy) - xhat * mean(dy * xhat)), xhat = (x - mu) * is
                    const T a = static_cast<T>(sum_dy / M), b = static_cast<T>(sum_dy_xhat / M * is);
                    dxr = g * (dyr - a - (xr - mu) * b);
                } else {
                    dxr = g * dyr;
                }
            }
            if (dgamma) dgamma[c] += static_cast<T>(sum_dy_xhat);
            if (dbeta) dbeta[c] += static_cast<T>(sum_dy);
        });
    }

    // Layer norm over the last dimension of x (rows, D). Writes y, and per row the mean and 1/sqrt(var + eps).
    // Rows are Eigen arrays so the reductions vectorise; sums are in T, as PyTorch's are (two-pass variance).
    static void layer_norm_forward(Context<Cpu<T>>& ctx, const T* x, std::int64_t rows, std::int64_t D, const T* gamma,
                                   const T* beta, T eps, T* y, T* save_mean, T* save_rstd) {
        using Row = Eigen::Array<T, Eigen::Dynamic, 1>;
        const Eigen::Map<const Row> g(gamma, D), b(beta, D);
        cpu::parallel_for(ctx.state.thread_count(), rows, 8, [&](std::int64_t r) {
            const Eigen::Map<const Row> xr(x + r * D, D);
            const T mean = xr.mean();
            const T rstd = T(1) / std::sqrt((xr - mean).square().mean() + eps);
            Eigen::Map<Row>(y + r * D, D) = (xr - mean) * (rstd * g) + b;
            save_mean[r] = mean;
            save_rstd[r] = rstd;
        });
    }

    // Gradients of layer norm: dx assigned; dgamma, dbeta accumulated (null to skip). One pass over the rows in
    // fixed blocks of rows: each block sums its dgamma and dbeta contributions privately, and the block sums are
    // added in block order afterwards, so the result is bitwise the same whatever the thread count or scheduling.
    static void layer_norm_backward(Context<Cpu<T>>& ctx, const T* dy, const T* x, std::int64_t rows, std::int64_t D,
                                    const T* gamma, const T* mean, const T* rstd, T* dx, T* dgamma, T* dbeta) {
        using Row = Eigen::Array<T, Eigen::Dynamic, 1>;
        constexpr std::int64_t block_rows = 64;
        const std::int64_t blocks = (rows + block_rows - 1) / block_rows;
        const bool parameter_grads = dgamma || dbeta;
        std::vector<Row> block_g(parameter_grads ? blocks : 0), block_b(parameter_grads ? blocks : 0);
        const Eigen::Map<const Row> g(gamma, D);
        cpu::parallel_for(ctx.state.thread_count(), blocks, 1, [&](std::int64_t blk) {
            Row xhat(D), gdy(D), sum_g, sum_b;
            if (parameter_grads) sum_g = Row::Zero(D), sum_b = Row::Zero(D);
            for (std::int64_t r = blk * block_rows; r < std::min(rows, (blk + 1) * block_rows); ++r) {
                const Eigen::Map<const Row> xr(x + r * D, D), dyr(dy + r * D, D);
                const T s = rstd[r];
                xhat = (xr - mean[r]) * s;
                gdy = dyr * g;
                const T mg = gdy.mean(), mgx = (gdy * xhat).mean();
                Eigen::Map<Row>(dx + r * D, D) = s * (gdy - mg - xhat * mgx);
                if (parameter_grads) {
                    sum_g += dyr * xhat;
                    sum_b += dyr;
                }
            }
            if (parameter_grads) {
                block_g[blk] = std::move(sum_g);
                block_b[blk] = std::move(sum_b);
            }
        });
        for (std::int64_t blk = 0; blk < (parameter_grads ? blocks : 0); ++blk) {
            if (dgamma) Eigen::Map<Row>(dgamma, D) += block_g[blk];
            if (dbeta) Eigen::Map<Row>(dbeta, D) += block_b[blk];
        }
    }
};

}  // namespace fgclep::cpu
