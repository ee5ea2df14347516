#pragma once
// Elementwise primitives for Context<Cuda<T>>, with the CPU family's semantics (backend/cpu/elementwise.hpp). Host code: each call
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
struct ElementwisePrimitives {
    template <class F>
    static void unary(Context<Cuda<T>>& ctx, F f, std::int64_t n, const T* x, T* y) {
        cuda::check_launch(cuda::launch::unary<T, F>(ctx.state.stream(), f, n, x, y), "unary");
    }
    template <class F>
    static void unary_backward(Context<Cuda<T>>& ctx, F f, std::int64_t n, const T* x, const T* y, const T* dy, T* dx) {
        cuda::check_launch(cuda::launch::unary_backward<T, F>(ctx.state.stream(), f, n, x, y, dy, dx),
                           "unary_backward");
    }
    static void add(Context<Cuda<T>>& ctx, std::int64_t n, const T* a, const T* b, T* y) {
        cuda::check_launch(cuda::launch::add<T>(ctx.state.stream(), n, a, b, y), "add");
    }
    static void axpy(Context<Cuda<T>>& ctx, std::int64_t n, T alpha, const T* x, T* y) {
        cuda::check_launch(cuda::launch::axpy<T>(ctx.state.stream(), n, alpha, x, y), "axpy");
    }
    static void scale(Context<Cuda<T>>& ctx, std::int64_t n, T alpha, const T* x, T* y) {
        cuda::check_launch(cuda::launch::scale<T>(ctx.state.stream(), n, alpha, x, y), "scale");
    }
    static void add_bias_rows(Context<Cuda<T>>& ctx, std::int64_t rows, std::int64_t cols, const T* bias, T* y) {
        cuda::check_launch(cuda::launch::add_bias_rows<T>(ctx.state.stream(), rows, cols, bias, y), "add_bias_rows");
    }
    static void add_bias_channels(Context<Cuda<T>>& ctx, std::int64_t N, std::int64_t C, std::int64_t L, const T* bias,
                                  T* y) {
        cuda::check_launch(cuda::launch::add_bias_channels<T>(ctx.state.stream(), N, C, L, bias, y),
                           "add_bias_channels");
    }
    static void transpose_middle(Context<Cuda<T>>& ctx, const T* x, std::int64_t A, std::int64_t B, std::int64_t C,
                                 std::int64_t D, T* y) {
        cuda::check_launch(cuda::launch::transpose_middle<T>(ctx.state.stream(), x, A, B, C, D, y), "transpose_middle");
    }
    // The same mask as the CPU: element i keeps when Philox(seed, offset + i) >= float(p).
    static void dropout(Context<Cuda<T>>& ctx, std::int64_t n, T p, std::uint64_t seed, std::uint64_t offset,
                        const T* x, T* y) {
        const T keep_scale = T(1) / (T(1) - p);
        cuda::check_launch(
            cuda::launch::dropout<T>(ctx.state.stream(), n, static_cast<float>(p), keep_scale, seed, offset, x, y),
            "dropout");
    }
};

}  // namespace fgclep::cuda
