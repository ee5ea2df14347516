#pragma once
// Reductions (row and channel sums, means, max pooling, sum of squares) for Context<Cuda<T>>, with the CPU family's semantics (backend/cpu/reduce.hpp). Host code: each call
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
struct ReducePrimitives {
    static void sum_rows(Context<Cuda<T>>& ctx, std::int64_t rows, std::int64_t cols, const T* x, T beta, T* out) {
        if (cols <= 0) return;
        const std::int64_t chunks = cuda::column_reduce_chunks(rows);
        const auto partials = cuda::detail::scratch<double>(static_cast<std::size_t>(chunks * cols));
        cuda::check_launch(
            cuda::launch::sum_rows<T>(ctx.state.stream(), rows, cols, x, beta, out, partials.get(), chunks),
            "sum_rows");
    }
    static void sum_channels(Context<Cuda<T>>& ctx, std::int64_t N, std::int64_t C, std::int64_t L, const T* x,
                             T* out) {
        cuda::check_launch(cuda::launch::sum_channels<T>(ctx.state.stream(), N, C, L, x, out), "sum_channels");
    }
    static void mean_last(Context<Cuda<T>>& ctx, std::int64_t rows, std::int64_t L, const T* x, T* out) {
        cuda::check_launch(cuda::launch::mean_last<T>(ctx.state.stream(), rows, L, x, out), "mean_last");
    }
    static void broadcast_last(Context<Cuda<T>>& ctx, std::int64_t rows, std::int64_t L, T alpha, const T* dy, T* dx) {
        cuda::check_launch(cuda::launch::broadcast_last<T>(ctx.state.stream(), rows, L, alpha, dy, dx),
                           "broadcast_last");
    }
    static void max_pool_1d_forward(Context<Cuda<T>>& ctx, const T* x, std::int64_t rows, std::int64_t L,
                                    std::int64_t K, std::int64_t stride, std::int64_t pad, std::int64_t Lout, T* y,
                                    std::int32_t* argmax) {
        cuda::check_launch(
            cuda::launch::max_pool_1d_forward<T>(ctx.state.stream(), x, rows, L, K, stride, pad, Lout, y, argmax),
            "max_pool_1d_forward");
    }
    static void max_pool_1d_backward(Context<Cuda<T>>& ctx, const T* dy, const std::int32_t* argmax, std::int64_t rows,
                                     std::int64_t L, std::int64_t Lout, T* dx) {
        cuda::check_launch(cuda::launch::max_pool_1d_backward<T>(ctx.state.stream(), dy, argmax, rows, L, Lout, dx),
                           "max_pool_1d_backward");
    }
    // The sum of squares of x, in double, on the host: waits for the GPU.
    static double sum_squares(Context<Cuda<T>>& ctx, std::int64_t n, const T* x) {
        if (n <= 0) return 0.0;
        const std::int64_t blocks = cuda::reduction_blocks(n);
        const auto partials = cuda::detail::scratch<double>(static_cast<std::size_t>(blocks + 1));
        double* result = partials.get() + blocks;
        cuda::check_launch(cuda::launch::sum_squares<T>(ctx.state.stream(), n, x, partials.get(), blocks, result),
                           "sum_squares");
        double total = 0;
        Cuda<T>::download(ctx.state, &total, result, 1);
        return total;
    }
};

}  // namespace fgclep::cuda
