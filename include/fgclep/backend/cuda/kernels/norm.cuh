#pragma once
// The CUDA kernels and launchers of normalisation (batch norm, layer norm) (declared in launch.hpp; semantics of backend/cpu/norm.hpp).
// nvcc only: src/cuda/kernels.cu includes every family.
#include "fgclep/backend/cuda/kernels/common.cuh"

namespace fgclep::cuda::kernels {

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
__global__ void batch_norm_forward_eval(const T* x, std::int64_t C, std::int64_t L, std::int64_t total, const T* gamma,
                                        const T* beta, const T* running_mean, const T* running_var, T eps, T* y,
                                        T* save_mean, T* save_invstd) {
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
__global__ void layer_norm_forward(const T* x, std::int64_t rows, std::int64_t D, const T* gamma, const T* beta, T eps,
                                   T* y, T* save_mean, T* save_rstd) {
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

}  // namespace fgclep::cuda::kernels

namespace fgclep::cuda::launch {

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
    if (const cudaError_t status = launch_kernel(kernels::layer_norm_backward_input<T>, warp_per_row_launch(rows),
                                                 stream, dy, x, rows, D, gamma, mean, rstd, dx))
        return status;
    if (!(dgamma || dbeta) || D <= 0) return cudaSuccess;
    const dim3 grid(static_cast<unsigned>(ceil_div(D, column_tile)), static_cast<unsigned>(chunks));
    if (const cudaError_t status = launch_kernel(kernels::column_sums_partial<2, kernels::LayerNormParamTerms<T>>, grid,
                                                 dim3(column_tile, column_lanes), stream, rows, D, chunks,
                                                 kernels::LayerNormParamTerms<T>{dy, x, mean, rstd, D}, partials))
        return status;
    return launch_kernel(kernels::column_sums_finish<2, kernels::LayerNormParamFinish<T>>, elementwise_launch(D),
                         stream, D, chunks, partials, kernels::LayerNormParamFinish<T>{dgamma, dbeta});
}

}  // namespace fgclep::cuda::launch
