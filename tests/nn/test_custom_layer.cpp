// The worked example of docs/layers.md ("Adding a layer"), compiled and checked here so the guide cannot rot:
// a user-defined layer composes with the library's, passes the gradient checker and names itself in errors.
#include <doctest/doctest.h>

#include "fgclep/fgclep.hpp"
#include "fgclep/testing/gradcheck.hpp"

// --- begin docs/layers.md example ---
// Bias: y = x + b over the last dimension, with a learnable b.
struct Bias {
    struct Options {
        std::int64_t features = 0;
    };
    static constexpr std::string_view name = "Bias";
    template <fgclep::Backend B>
    struct impl;
};

template <fgclep::Backend B>
struct Bias::impl : fgclep::Module {
    using T = typename B::value_type;
    Options options;
    fgclep::Param<B> bias;

    explicit impl(const Options& o)
        : Module(Bias::name), options(o), bias("bias", {o.features}, fgclep::Decay::no, fgclep::Init::zeros()) {}

    template <class V>
    void visit(V& v) {
        v.param(bias);  // state_dict name: "<path>.bias"
    }

    fgclep::Tensor<B> forward(fgclep::Context<B>& ctx, const fgclep::Tensor<B>& x) {
        if (x.rank() < 1 || x.shape().back() != options.features)
            fail("expected input (*, {}), got {}", options.features, x.shape());
        fgclep::Tensor<B> y = ctx.clone(x);  // never modify the input
        fgclep::ops::add_bias_rows(ctx, x.shape().rows(), options.features, bias.value.data(), y.data());
        rows = ctx.training ? x.shape().rows() : -1;  // all backward needs
        return y;
    }

    fgclep::Tensor<B> backward(fgclep::Context<B>& ctx, const fgclep::Tensor<B>& dy) {
        if (rows < 0) fail("backward needs a forward pass in training mode first");
        if (bias.trainable)  // accumulate into the gradient arena, skip when frozen
            fgclep::ops::sum_rows(ctx, rows, options.features, dy.data(), T(1), bias.grad.data());
        rows = -1;
        return ctx.clone(dy);  // the input gradient: a fresh tensor, assigned
    }

private:
    std::int64_t rows = -1;
};
// --- end docs/layers.md example ---

using namespace fgclep;

TEST_CASE("a user-defined layer composes, passes the gradient check and names itself in errors") {
    static_assert(LayerSpec<Bias>);
    using Net = Sequential<Linear, Named<"shift", Bias>, Tanh>;
    Context<Cpu<double>> ctx;
    ctx.training = true;
    Model<Net, Cpu<double>> net({{3, 4}, {4}, {}}, 1, "head");
    CHECK(net.arena().params().back().name == "head.shift.bias");
    HostRng rng(5);
    std::vector<double> x(2 * 3);
    for (auto& v : x) v = rng.normal();
    // Non-zero bias values, so the check also sees the forward use them.
    auto b = net.parameter("head.shift.bias").value;
    for (std::int64_t i = 0; i < 4; ++i) b[i] = 0.1 * double(i) - 0.15;
    auto result = testing::gradcheck(net, ctx, ctx.from_host(Shape{2, 3}, x));
    INFO(result.report());
    CHECK(result.ok);
    CHECK_THROWS_WITH_AS(net.module().get<1>().forward(ctx, ctx.zeros(Shape{2, 3})),
                         "fgclep: head.shift (Bias): expected input (*, 4), got (2, 3)", Error);
}
