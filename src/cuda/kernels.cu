// The fgclep::cuda library: every kernel launcher of backend/cuda/launch.hpp, instantiated for float and double
// (and, for unary and unary_backward, for the activation functors of backend/functors.hpp).
#include "fgclep/backend/cuda/kernels.cuh"

#include <cstdint>
#include <tuple>

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

// Every launcher for float and double (and unary, unary_backward for the functors of backend/functors.hpp), emitted
// into this library for the host-only headers to link against. Taking each launcher's address instantiates it
// with the signature launch.hpp declares, so no signature is restated here: a launcher added to launch.hpp and
// kernels/ is instantiated by adding its name to this table.
namespace fgclep::cuda::launch {
namespace {
template <class T>
struct Instantiate {
    template <class F>
    static constexpr auto unary_launchers = std::make_tuple(&unary<T, F>, &unary_backward<T, F>);
    static constexpr auto launchers = std::make_tuple(
        unary_launchers<fn::Relu>, unary_launchers<fn::GeluErf>, unary_launchers<fn::Tanh>, &scale_matrices<T>, &add<T>,
        &axpy<T>, &scale<T>, &add_bias_rows<T>, &add_bias_channels<T>, &transpose_middle<T>, &dropout<T>, &im2col_1d<T>,
        &col2im_1d<T>, &batch_norm_forward_train<T>, &batch_norm_forward_eval<T>, &batch_norm_backward<T>,
        &layer_norm_forward<T>, &layer_norm_backward<T>, &masked_softmax_forward<T>, &softmax_backward<T>, &sum_rows<T>,
        &sum_channels<T>, &mean_last<T>, &broadcast_last<T>, &max_pool_1d_forward<T>, &max_pool_1d_backward<T>,
        &sum_squares<T>, &embedding_gather<T>, &embedding_scatter_add<T>, &adamw_update<T>);
};
}  // namespace
// ODR-used from an exported symbol, so the compiler must emit every launcher in the table.
const void* instantiated_launchers[] = {&Instantiate<float>::launchers, &Instantiate<double>::launchers};
}  // namespace fgclep::cuda::launch
