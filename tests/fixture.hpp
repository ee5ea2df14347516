#pragma once
// Test helpers: PyTorch reference fixtures (safetensors files made by tests/fixtures/*.py) and comparisons.
#include "fgclep/core/context.hpp"
#include "fgclep/core/model.hpp"
#include "fgclep/core/rng.hpp"
#include "fgclep/io/safetensors.hpp"
#include "fgclep/io/state_dict.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
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
double closeness(Context<B>& ctx, const Tensor<B, E>& got, const std::vector<double>& expected, double rtol, double atol) {
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

}  // namespace fgclep::test
