#pragma once
// Temporary device memory for one CUDA primitive (partial sums, counters), from the caching allocator.
#include "fgclep/backend/cuda/device.hpp"

#include <cstddef>
#include <memory>

namespace fgclep::cuda::detail {
// Freed when the primitive returns, with its kernels possibly still queued: safe, see CachingAllocator.
template <class E>
std::shared_ptr<E[]> scratch(std::size_t n) {
    return Cuda<float>::template allocate<E>(n);
}
}  // namespace fgclep::cuda::detail
