#pragma once
// The Backend concept: what a backend type must provide so that tensors, contexts and layers can use it.
//
// A backend is a type (Cpu<float>, Cpu<double>, Cuda<float>, Cuda<double>) bound once at the top of a model. It
// provides its scalar type, its per-context state, and the memory primitives (allocate, fill, copy, upload,
// download). Its compute primitives are a specialisation of Primitives<B> (static functions, one family per
// header), which the vocabulary of backend/ops.hpp forwards to. Layers never branch on the backend: they call
// ops::, and the backend type picks the implementation when the layer is instantiated.
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <type_traits>

namespace fgclep {

template <class B>
concept Backend = requires(typename B::State& state, float* f, const float* cf, std::size_t n) {
    typename B::value_type;
    typename B::State;
    { B::name } -> std::convertible_to<std::string_view>;
    { B::host_accessible } -> std::convertible_to<bool>;
    { B::template allocate<float>(n) } -> std::same_as<std::shared_ptr<float[]>>;
    B::fill(state, f, n, 0.0f);
    B::copy(state, f, cf, n);      // device to device
    B::upload(state, f, cf, n);    // host to device
    B::download(state, f, cf, n);  // device to host
    B::synchronize(state);
};

// The compute primitives of backend B: specialised by each backend (backend/cpu/primitives.hpp,
// backend/cuda/primitives.hpp). The primary template is only reached for a backend that has none.
template <class B>
struct Primitives {
    static_assert(!std::is_same_v<B, B>,
                  "fgclep: no compute primitives for this backend type: a backend specialises fgclep::Primitives<B> "
                  "(see backend/ops.hpp); for Cuda<T>, include fgclep/backend/cuda.hpp and link fgclep::cuda");
};

}  // namespace fgclep
