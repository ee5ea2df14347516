#pragma once
// Convolution primitives (im2col_1d, col2im_1d) for Context<Cuda<T>>, with the CPU family's semantics (backend/cpu/conv.hpp). Host code: each call
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
struct ConvPrimitives {
    static void im2col_1d(Context<Cuda<T>>& ctx, const T* x, std::int64_t N, std::int64_t C, std::int64_t L,
                          std::int64_t K, std::int64_t stride, std::int64_t pad, std::int64_t dilation,
                          std::int64_t Lout, T* col) {
        cuda::check_launch(
            cuda::launch::im2col_1d<T>(ctx.state.stream(), x, N, C, L, K, stride, pad, dilation, Lout, col),
            "im2col_1d");
    }
    static void col2im_1d(Context<Cuda<T>>& ctx, const T* col, std::int64_t N, std::int64_t C, std::int64_t L,
                          std::int64_t K, std::int64_t stride, std::int64_t pad, std::int64_t dilation,
                          std::int64_t Lout, T* dx) {
        cuda::check_launch(
            cuda::launch::col2im_1d<T>(ctx.state.stream(), col, N, C, L, K, stride, pad, dilation, Lout, dx),
            "col2im_1d");
    }
};

}  // namespace fgclep::cuda
