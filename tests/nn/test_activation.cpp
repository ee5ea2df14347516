// ReLU, GELU (erf) and Tanh: PyTorch parity of forward and backward on inputs that include 0 and large |x|,
// gradient checks in double, and the input-gradient contract.
#include "fixture.hpp"

#include "fgclep/nn/activation.hpp"
#include "fgclep/testing/gradcheck.hpp"

#include <cmath>

using namespace fgclep;

namespace {
template <class Spec, class T>
void check_against_torch(const std::string& name) {
    using B = Cpu<T>;
    constexpr bool is_float = std::is_same_v<T, float>;
    const double rtol = is_float ? 1e-4 : 1e-12, atol = is_float ? 1e-6 : 1e-14;
    INFO("activation ", name);
    auto f = test::fixture("transformer_layers.safetensors");
    Context<B> ctx;
    ctx.training = true;
    Model<Spec, B> model;
    auto x = test::tensor_from(ctx, f, name + ".x");
    auto y = model.forward(ctx, x);
    test::check_close(ctx, y, f, name + ".y", rtol, atol);
    auto dx = model.backward(ctx, test::tensor_from(ctx, f, name + ".dy"));
    test::check_close(ctx, dx, f, name + ".dx", rtol, atol);
    for (T v : ctx.to_host(y)) CHECK(std::isfinite(v));
    for (T v : ctx.to_host(dx)) CHECK(std::isfinite(v));
}

// Inputs for finite differences: normal values plus large ones, all at least 0.01 from ReLU's kink at 0.
template <class B>
Tensor<B> gradcheck_input(Context<B>& ctx) {
    HostRng rng(17);
    std::vector<double> v = {-12.0, -6.0, 6.0, 12.0, -0.5, 0.5};
    while (v.size() < 30) {
        const double x = 2 * rng.normal();
        if (std::abs(x) > 0.01) v.push_back(x);
    }
    return ctx.from_host(Shape{5, 6}, v);
}

template <class Spec>
void gradcheck_activation() {
    using B = Cpu<double>;
    Context<B> ctx;
    ctx.training = true;
    Model<Spec, B> model;
    auto result = testing::gradcheck(model, ctx, gradcheck_input(ctx));
    INFO(Spec::name, ": ", result.report());
    CHECK(result.ok);
    CHECK(result.checked == 30);
}
}  // namespace

TEST_CASE_TEMPLATE("ReLU, GELU and Tanh match torch forward and backward, including 0 and |x| up to 30", T, float,
                   double) {
    check_against_torch<ReLU, T>("relu");
    check_against_torch<GELU, T>("gelu");
    check_against_torch<Tanh, T>("tanh");
}

TEST_CASE("ReLU, GELU and Tanh pass the gradient check in double") {
    gradcheck_activation<ReLU>();
    gradcheck_activation<GELU>();
    gradcheck_activation<Tanh>();
}

TEST_CASE("activations at the edges: ReLU's gradient at 0 is 0 (as torch), GELU and Tanh saturate cleanly") {
    using B = Cpu<float>;
    Context<B> ctx;
    ctx.training = true;
    auto x = ctx.from_host(Shape{5}, std::vector<float>{-100.0f, -0.0f, 0.0f, 1e-30f, 100.0f});
    auto ones = ctx.full(Shape{5}, 1.0f);
    Model<ReLU, B> relu;
    relu.forward(ctx, x);
    CHECK(ctx.to_host(relu.backward(ctx, ones)) == std::vector<float>{0, 0, 0, 1, 1});
    Model<GELU, B> gelu;
    auto g = ctx.to_host(gelu.forward(ctx, x));
    CHECK(g[0] == 0.0f);
    CHECK(g[4] == 100.0f);
    const auto dg = ctx.to_host(gelu.backward(ctx, ones));
    // The vectorised float path's exp stops at ~1e-39, so the far tail is ~1e-37 rather than torch's exact 0.
    CHECK(std::abs(dg[0]) <= 1e-30f);
    CHECK(std::vector<float>(dg.begin() + 1, dg.end()) == std::vector<float>{0.5f, 0.5f, 0.5f, 1});
    Model<Tanh, B> tanh;
    CHECK(ctx.to_host(tanh.forward(ctx, x)) == std::vector<float>{-1, -0.0f, 0, 1e-30f, 1});
    CHECK(ctx.to_host(tanh.backward(ctx, ones)) == std::vector<float>{0, 1, 1, 1, 0});
}

TEST_CASE("activations report a missing forward and a wrong gradient shape with their module path") {
    using B = Cpu<float>;
    Context<B> ctx;
    Model<GELU, B> model({}, 0, "text.encoder.layer.0.intermediate.intermediate_act_fn");
    CHECK_THROWS_WITH_AS(model.backward(ctx, ctx.zeros(Shape{2})),
                         "fgclep: text.encoder.layer.0.intermediate.intermediate_act_fn (GELU): backward needs a "
                         "forward pass in training mode first",
                         Error);
    ctx.training = true;
    model.forward(ctx, ctx.zeros(Shape{2, 3}));
    CHECK_THROWS_WITH_AS(model.backward(ctx, ctx.zeros(Shape{3, 2})),
                         "fgclep: text.encoder.layer.0.intermediate.intermediate_act_fn (GELU): expected an output "
                         "gradient of shape (2, 3), got (3, 2)",
                         Error);
}

TEST_CASE("ReLU keeps NaN, as PyTorch does, on both the scalar and the vectorised path") {
    CHECK(std::isnan(fn::Relu{}(std::nan(""))));
    Context<Cpu<float>> cf;
    std::vector<float> xf{std::nanf(""), -1, 2}, yf(3);
    ops::unary(cf, fn::Relu{}, 3, xf.data(), yf.data());
    CHECK(std::isnan(yf[0]));
    CHECK(yf[1] == 0);
    Context<Cpu<double>> cd;
    std::vector<double> xd{std::nan(""), -1, 2}, yd(3);
    ops::unary(cd, fn::Relu{}, 3, xd.data(), yd.data());
    CHECK(std::isnan(yd[0]));
    CHECK(yd[2] == 2);
}
