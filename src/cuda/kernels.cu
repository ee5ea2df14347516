// The fgclep::cuda library: every kernel launcher of backend/cuda/launch.hpp, instantiated for float and double
// (and, for unary and unary_backward, for the activation functors of backend/functors.hpp).
#include "fgclep/backend/cuda/kernels.cuh"

#include <cstdint>

namespace fgclep::cuda::launch {

cudaError_t fill_bytes(cudaStream_t stream, void* data, std::int64_t n, std::uint64_t pattern, int element_size) {
    const Launch geometry = elementwise_launch(n);
    switch (element_size) {
        case 1:
            return launch_kernel(kernels::fill<std::uint8_t>, geometry, stream, static_cast<std::uint8_t*>(data), n,
                                 static_cast<std::uint8_t>(pattern));
        case 2:
            return launch_kernel(kernels::fill<std::uint16_t>, geometry, stream, static_cast<std::uint16_t*>(data), n,
                                 static_cast<std::uint16_t>(pattern));
        case 4:
            return launch_kernel(kernels::fill<std::uint32_t>, geometry, stream, static_cast<std::uint32_t*>(data), n,
                                 static_cast<std::uint32_t>(pattern));
        case 8:
            return launch_kernel(kernels::fill<std::uint64_t>, geometry, stream, static_cast<std::uint64_t*>(data), n,
                                 pattern);
        default:
            return cudaErrorInvalidValue;
    }
}

}  // namespace fgclep::cuda::launch

// Explicit instantiations: the definitions that the host-only ops headers link against.
#define FGCLEP_INSTANTIATE_UNARY(T, F)                                                                             \
    template cudaError_t fgclep::cuda::launch::unary<T, F>(cudaStream_t, F, std::int64_t, const T*, T*);          \
    template cudaError_t fgclep::cuda::launch::unary_backward<T, F>(cudaStream_t, F, std::int64_t, const T*,      \
                                                                    const T*, const T*, T*);

#define FGCLEP_INSTANTIATE(T)                                                                                      \
    FGCLEP_INSTANTIATE_UNARY(T, fgclep::fn::Relu)                                                                  \
    FGCLEP_INSTANTIATE_UNARY(T, fgclep::fn::GeluErf)                                                               \
    FGCLEP_INSTANTIATE_UNARY(T, fgclep::fn::Tanh)                                                                  \
    template cudaError_t fgclep::cuda::launch::scale_matrices<T>(cudaStream_t, std::int64_t, std::int64_t,         \
                                                                 std::int64_t, std::int64_t, std::int64_t, T, T*); \
    template cudaError_t fgclep::cuda::launch::add<T>(cudaStream_t, std::int64_t, const T*, const T*, T*);        \
    template cudaError_t fgclep::cuda::launch::axpy<T>(cudaStream_t, std::int64_t, T, const T*, T*);              \
    template cudaError_t fgclep::cuda::launch::scale<T>(cudaStream_t, std::int64_t, T, const T*, T*);             \
    template cudaError_t fgclep::cuda::launch::add_bias_rows<T>(cudaStream_t, std::int64_t, std::int64_t,         \
                                                                const T*, T*);                                     \
    template cudaError_t fgclep::cuda::launch::add_bias_channels<T>(cudaStream_t, std::int64_t, std::int64_t,     \
                                                                    std::int64_t, const T*, T*);                   \
    template cudaError_t fgclep::cuda::launch::transpose_middle<T>(cudaStream_t, const T*, std::int64_t,          \
                                                                   std::int64_t, std::int64_t, std::int64_t, T*);  \
    template cudaError_t fgclep::cuda::launch::dropout<T>(cudaStream_t, std::int64_t, float, T, std::uint64_t,    \
                                                          std::uint64_t, const T*, T*);                            \
    template cudaError_t fgclep::cuda::launch::im2col_1d<T>(cudaStream_t, const T*, std::int64_t, std::int64_t,   \
                                                            std::int64_t, std::int64_t, std::int64_t, std::int64_t, \
                                                            std::int64_t, std::int64_t, T*);                       \
    template cudaError_t fgclep::cuda::launch::col2im_1d<T>(cudaStream_t, const T*, std::int64_t, std::int64_t,   \
                                                            std::int64_t, std::int64_t, std::int64_t, std::int64_t, \
                                                            std::int64_t, std::int64_t, T*);                       \
    template cudaError_t fgclep::cuda::launch::batch_norm_forward_train<T>(                                        \
        cudaStream_t, const T*, std::int64_t, std::int64_t, std::int64_t, const T*, const T*, T, T, T*, T*, T*, T*, \
        T*);                                                                                                       \
    template cudaError_t fgclep::cuda::launch::batch_norm_forward_eval<T>(cudaStream_t, const T*, std::int64_t,   \
                                                                          std::int64_t, std::int64_t, const T*,    \
                                                                          const T*, const T*, const T*, T, T*, T*, \
                                                                          T*);                                     \
    template cudaError_t fgclep::cuda::launch::batch_norm_backward<T>(cudaStream_t, const T*, const T*,           \
                                                                      std::int64_t, std::int64_t, std::int64_t,    \
                                                                      const T*, const T*, const T*, bool, T*, T*,  \
                                                                      T*);                                         \
    template cudaError_t fgclep::cuda::launch::layer_norm_forward<T>(cudaStream_t, const T*, std::int64_t,        \
                                                                     std::int64_t, const T*, const T*, T, T*, T*,  \
                                                                     T*);                                          \
    template cudaError_t fgclep::cuda::launch::layer_norm_backward<T>(cudaStream_t, const T*, const T*,           \
                                                                      std::int64_t, std::int64_t, const T*,        \
                                                                      const T*, const T*, T*, T*, T*, double*,     \
                                                                      std::int64_t);                               \
    template cudaError_t fgclep::cuda::launch::masked_softmax_forward<T>(cudaStream_t, const T*, std::int64_t,    \
                                                                         std::int64_t, std::int64_t,               \
                                                                         const std::int32_t*, T, T*);              \
    template cudaError_t fgclep::cuda::launch::softmax_backward<T>(cudaStream_t, const T*, const T*,              \
                                                                   std::int64_t, std::int64_t, T, T*);             \
    template cudaError_t fgclep::cuda::launch::sum_rows<T>(cudaStream_t, std::int64_t, std::int64_t, const T*, T, \
                                                           T*, double*, std::int64_t);                             \
    template cudaError_t fgclep::cuda::launch::sum_channels<T>(cudaStream_t, std::int64_t, std::int64_t,          \
                                                               std::int64_t, const T*, T*);                        \
    template cudaError_t fgclep::cuda::launch::mean_last<T>(cudaStream_t, std::int64_t, std::int64_t, const T*,   \
                                                            T*);                                                   \
    template cudaError_t fgclep::cuda::launch::broadcast_last<T>(cudaStream_t, std::int64_t, std::int64_t, T,     \
                                                                 const T*, T*);                                    \
    template cudaError_t fgclep::cuda::launch::max_pool_1d_forward<T>(cudaStream_t, const T*, std::int64_t,       \
                                                                      std::int64_t, std::int64_t, std::int64_t,    \
                                                                      std::int64_t, std::int64_t, T*,              \
                                                                      std::int32_t*);                              \
    template cudaError_t fgclep::cuda::launch::max_pool_1d_backward<T>(cudaStream_t, const T*,                    \
                                                                       const std::int32_t*, std::int64_t,          \
                                                                       std::int64_t, std::int64_t, T*);            \
    template cudaError_t fgclep::cuda::launch::sum_squares<T>(cudaStream_t, std::int64_t, const T*, double*,      \
                                                              std::int64_t, double*);                              \
    template cudaError_t fgclep::cuda::launch::embedding_gather<T>(cudaStream_t, const T*, std::int64_t,          \
                                                                   std::int64_t, const std::int32_t*,              \
                                                                   std::int64_t, T*, unsigned long long*);         \
    template cudaError_t fgclep::cuda::launch::embedding_scatter_add<T>(cudaStream_t, const T*,                   \
                                                                        const std::int32_t*, std::int64_t,         \
                                                                        std::int64_t, std::int64_t, T*);           \
    template cudaError_t fgclep::cuda::launch::adamw_update<T>(cudaStream_t, std::int64_t,                        \
                                                               fgclep::fn::AdamWStep<T>, T*, const T*, T*, T*);

FGCLEP_INSTANTIATE(float)
FGCLEP_INSTANTIATE(double)
