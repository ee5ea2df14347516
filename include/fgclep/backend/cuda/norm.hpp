#pragma once
// Normalisation primitives (batch norm, layer norm) for Context<Cuda<T>>, with the CPU family's semantics (backend/cpu/norm.hpp). Host code: each call
// checks its arguments where the CPU would, queues kernels from the fgclep::cuda library (launch.hpp) on the
// context's stream and checks the launch.
#include "fgclep/backend/cuda/device.hpp"
#include "fgclep/backend/cuda/launch.hpp"
#include "fgclep/backend/cuda/mapping.hpp"
#include "fgclep/backend/cuda/scratch.hpp"
#include "fgclep/backend/functors.hpp"
#include "fgclep/core/context.hpp"

#include <cstdint>

namespace fgclep::cuda {

template <class T>
struct NormPrimitives {
    static void batch_norm_forward_train(Context<Cuda<T>>& ctx, const T* x, std::int64_t N, std::int64_t C,
                                         std::int64_t L, const T* gamma, const T* beta, T eps, T momentum, T* y,
                                         T* save_mean, T* save_invstd, T* running_mean, T* running_var) {
        cuda::check_launch(
            cuda::launch::batch_norm_forward_train<T>(ctx.state.stream(), x, N, C, L, gamma, beta, eps, momentum, y,
                                                      save_mean, save_invstd, running_mean, running_var),
            "batch_norm_forward_train");
    }
    static void batch_norm_forward_eval(Context<Cuda<T>>& ctx, const T* x, std::int64_t N, std::int64_t C,
                                        std::int64_t L, const T* gamma, const T* beta, const T* running_mean,
                                        const T* running_var, T eps, T* y, T* save_mean, T* save_invstd) {
        cuda::check_launch(
            cuda::launch::batch_norm_forward_eval<T>(ctx.state.stream(), x, N, C, L, gamma, beta, running_mean,
                                                     running_var, eps, y, save_mean, save_invstd),
            "batch_norm_forward_eval");
    }
    static void batch_norm_backward(Context<Cuda<T>>& ctx, const T* dy, const T* x, std::int64_t N, std::int64_t C,
                                    std::int64_t L, const T* gamma, const T* mean, const T* invstd,
                                    bool batch_statistics, T* dx, T* dgamma, T* dbeta) {
        cuda::check_launch(cuda::launch::batch_norm_backward<T>(ctx.state.stream(), dy, x, N, C, L, gamma, mean, invstd,
                                                                batch_statistics, dx, dgamma, dbeta),
                           "batch_norm_backward");
    }
    static void layer_norm_forward(Context<Cuda<T>>& ctx, const T* x, std::int64_t rows, std::int64_t D, const T* gamma,
                                   const T* beta, T eps, T* y, T* save_mean, T* save_rstd) {
        cuda::check_launch(cuda::launch::layer_norm_forward<T>(ctx.state.stream(), x, rows, D, gamma, beta, eps, y,
                                                               save_mean, save_rstd),
                           "layer_norm_forward");
    }
    static void layer_norm_backward(Context<Cuda<T>>& ctx, const T* dy, const T* x, std::int64_t rows, std::int64_t D,
                                    const T* gamma, const T* mean, const T* rstd, T* dx, T* dgamma, T* dbeta) {
        const std::int64_t chunks = cuda::column_reduce_chunks(rows);
        std::shared_ptr<double[]> partials;
        if ((dgamma || dbeta) && D > 0)
            partials = cuda::detail::scratch<double>(static_cast<std::size_t>(2 * chunks * D));
        cuda::check_launch(cuda::launch::layer_norm_backward<T>(ctx.state.stream(), dy, x, rows, D, gamma, mean, rstd,
                                                                dx, dgamma, dbeta, partials.get(), chunks),
                           "layer_norm_backward");
    }
};

}  // namespace fgclep::cuda
