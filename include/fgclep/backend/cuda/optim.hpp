#pragma once
// The fused AdamW update for Context<Cuda<T>>, with the CPU family's semantics (backend/cpu/optim.hpp). Host code: each call
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
struct OptimPrimitives {
    static void adamw_update(Context<Cuda<T>>& ctx, std::int64_t n, const fn::AdamWStep<T>& step, T* p, const T* g,
                             T* m, T* v) {
        cuda::check_launch(cuda::launch::adamw_update<T>(ctx.state.stream(), n, step, p, g, m, v), "adamw_update");
    }
};

}  // namespace fgclep::cuda
