#pragma once
// Attention primitives (masked softmax and its backward) for Context<Cuda<T>>, with the CPU family's semantics (backend/cpu/softmax.hpp). Host code: each call
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
struct SoftmaxPrimitives {
    static void masked_softmax_forward(Context<Cuda<T>>& ctx, const T* x, std::int64_t batch, std::int64_t rows,
                                       std::int64_t cols, const std::int32_t* mask, T scale, T* y) {
        cuda::check_launch(
            cuda::launch::masked_softmax_forward<T>(ctx.state.stream(), x, batch, rows, cols, mask, scale, y),
            "masked_softmax_forward");
    }
    static void softmax_backward(Context<Cuda<T>>& ctx, const T* y, const T* dy, std::int64_t rows, std::int64_t cols,
                                 T scale, T* dx) {
        cuda::check_launch(cuda::launch::softmax_backward<T>(ctx.state.stream(), y, dy, rows, cols, scale, dx),
                           "softmax_backward");
    }
};

}  // namespace fgclep::cuda
