#pragma once
// The Backend concept: what a backend type must provide so that tensors, contexts and layers can use it.
//
// A backend is a type (Cpu<float>, Cpu<double>, later Cuda<float>) bound once at the top of a model. It
// provides its scalar type, its per-context state, and the memory primitives (allocate, fill, copy, upload,
// download). The compute primitives are free functions in fgclep::ops overloaded on Context<Backend>, listed in
// backend/ops.hpp. Layers never branch on the backend: they call those primitives.
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

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

}  // namespace fgclep
