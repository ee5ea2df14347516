#pragma once
// Embedding gather and scatter-add for Context<Cuda<T>>, with the CPU family's semantics (backend/cpu/embedding.hpp). Host code: each call
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
struct EmbeddingPrimitives {
    // Waits for the GPU to return the number of ids outside [0, V) (their rows are zero), as the CPU does.
    static std::int64_t embedding_gather(Context<Cuda<T>>& ctx, const T* table, std::int64_t V, std::int64_t D,
                                         const std::int32_t* ids, std::int64_t n, T* out) {
        if (n <= 0) return 0;
        const auto counter = cuda::detail::scratch<unsigned long long>(1);
        FGCLEP_CUDA_CHECK(cudaMemsetAsync(counter.get(), 0, sizeof(unsigned long long), ctx.state.stream()));
        cuda::check_launch(
            cuda::launch::embedding_gather<T>(ctx.state.stream(), table, V, D, ids, n, out, counter.get()),
            "embedding_gather");
        unsigned long long bad = 0;
        Cuda<T>::download(ctx.state, &bad, counter.get(), 1);
        return static_cast<std::int64_t>(bad);
    }
    static void embedding_scatter_add(Context<Cuda<T>>& ctx, const T* dout, const std::int32_t* ids, std::int64_t n,
                                      std::int64_t V, std::int64_t D, T* dtable) {
        cuda::check_launch(cuda::launch::embedding_scatter_add<T>(ctx.state.stream(), dout, ids, n, V, D, dtable),
                           "embedding_scatter_add");
    }
};

}  // namespace fgclep::cuda
