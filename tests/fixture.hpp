#pragma once
// Test helpers: PyTorch reference fixtures (safetensors files made by tests/fixtures/*.py) and comparisons.
#include "fgclep/core/context.hpp"
#include "fgclep/core/model.hpp"
#include "fgclep/core/rng.hpp"
#include "fgclep/io/safetensors.hpp"
#include "fgclep/io/state_dict.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

namespace fgclep::test {

// A tensor of shift + scale * N(0, 1) values from a seeded host generator.
template <class B>
Tensor<B> random_tensor(Context<B>& ctx, Shape shape, std::uint64_t seed, double scale = 1, double shift = 0) {
    HostRng rng(seed);
    std::vector<typename B::value_type> v(static_cast<std::size_t>(shape.numel()));
    for (auto& x : v) x = static_cast<typename B::value_type>(shift + scale * rng.normal());
    return ctx.from_host(shape, v);
}

inline io::SafetensorsFile fixture(const std::string& file) {
    return io::SafetensorsFile::read(std::string(FGCLEP_FIXTURES) + "/" + file);
}

template <class B, class E = typename B::value_type>
Tensor<B, E> tensor_from(Context<B>& ctx, const io::SafetensorsFile& f, const std::string& name) {
    return ctx.from_host(f.shape(name), f.get<E>(name));
}

// Loads a model's parameters and buffers from the fixture tensors named "<prefix><state_dict name>".
template <class S, class B>
void load_weights(Model<S, B>& model, Context<B>& ctx, const io::SafetensorsFile& f, const std::string& prefix) {
    io::load_state(model.arena(), ctx.state, f, {prefix, false});
}

// max over elements of |a - b| / (atol + rtol * |b|); <= 1 means "close" in numpy.allclose's sense.
template <class B, class E>
double closeness(Context<B>& ctx, const Tensor<B, E>& got, const std::vector<double>& expected, double rtol,
                 double atol) {
    auto g = ctx.to_host(got);
    REQUIRE(g.size() == expected.size());
    double worst = 0;
    for (std::size_t i = 0; i < g.size(); ++i) {
        const double r = std::abs(double(g[i]) - expected[i]) / (atol + rtol * std::abs(expected[i]));
        worst = std::isnan(r) ? INFINITY : std::max(worst, r);
    }
    return worst;
}

// Checks got against the fixture tensor `name` within rtol/atol, with the fixture name in the failure message.
template <class B, class E>
void check_close(Context<B>& ctx, const Tensor<B, E>& got, const io::SafetensorsFile& f, const std::string& name,
                 double rtol = 1e-4, double atol = 1e-5) {
    INFO("comparing with reference tensor '", name, "' of ", f.source());
    REQUIRE(got.shape() == f.shape(name));
    CHECK(closeness(ctx, got, f.get<double>(name), rtol, atol) <= 1.0);
}

// Tolerances against a float64 PyTorch reference. Layers: float 1e-4 relative and 1e-5 absolute, double much
// tighter. Whole models: the absolute part is scaled by the reference tensor's largest magnitude (an element near
// zero in a tensor of large values carries the rounding of large terms, e.g. BatchNorm's backward cancelling them).
template <class T>
constexpr double layer_rtol = std::is_same_v<T, float> ? 1e-4 : 1e-10;
template <class T>
constexpr double layer_atol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
template <class T>
constexpr double model_rtol = std::is_same_v<T, float> ? 1e-4 : 1e-9;
template <class T>
constexpr double model_atol = std::is_same_v<T, float> ? 1e-5 : 1e-11;

// check_close with the layer tolerances of the element type.
template <class B>
void expect_close(Context<B>& ctx, const Tensor<B>& got, const io::SafetensorsFile& f, const std::string& name) {
    using T = typename B::value_type;
    check_close(ctx, got, f, name, layer_rtol<T>, layer_atol<T>);
}

// check_close with the model tolerances: the absolute floor is model_atol times the reference's largest magnitude.
template <class B>
void expect_close_model(Context<B>& ctx, const Tensor<B>& got, const io::SafetensorsFile& f, const std::string& name) {
    using T = typename B::value_type;
    double largest = 0;
    for (double v : f.get<double>(name)) largest = std::max(largest, std::abs(v));
    check_close(ctx, got, f, name, model_rtol<T>, model_atol<T> * std::max(largest, 1e-3));
}

}  // namespace fgclep::test
