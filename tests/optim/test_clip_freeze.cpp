// clip_grad_norm: parity with torch.nn.utils.clip_grad_norm_, frozen parameters, non-finite norms, errors; freezing
// by name prefix and its effect on backward, clipping and AdamW together.
#include "fixture.hpp"

#include "fgclep/nn/activation.hpp"
#include "fgclep/nn/linear.hpp"
#include "fgclep/nn/repeat.hpp"
#include "fgclep/nn/sequential.hpp"
#include "fgclep/optim/adamw.hpp"
#include "fgclep/optim/clip.hpp"

#include <cmath>
#include <limits>

using namespace fgclep;

namespace {

using Mlp = Sequential<Linear, GELU, Linear>;

template <class B>
Model<Mlp, B> model_with_grads(Context<B>& ctx, const io::SafetensorsFile& f) {
    Model<Mlp, B> model({{4, 6}, {}, {6, 3}});
    test::load_weights(model, ctx, f, "init.");
    for (auto& e : model.arena().params()) ctx.copy(e.param->grad, test::tensor_from<B>(ctx, f, "clip.grad." + e.name));
    return model;
}

bool close(double got, double expected, double rtol) { return std::abs(got - expected) <= rtol * std::abs(expected); }

template <class T>
constexpr double norm_rtol = std::is_same_v<T, float> ? 1e-6 : 1e-13;
template <class T>
constexpr double grad_rtol = std::is_same_v<T, float> ? 1e-5 : 1e-12;

}  // namespace

TEST_CASE_TEMPLATE("clip_grad_norm matches torch when it clips", T, float, double) {
    using B = Cpu<T>;
    auto f = test::fixture("optim.safetensors");
    Context<B> ctx;
    auto model = model_with_grads(ctx, f);
    const double max_norm = f.get<double>("clip.clipped.max_norm")[0];
    const double norm = clip_grad_norm(ctx, model.arena(), max_norm);
    CHECK(close(norm, f.get<double>("clip.clipped.norm")[0], norm_rtol<T>));
    CHECK(norm > max_norm);
    for (auto& e : model.arena().params())
        test::check_close(ctx, e.param->grad, f, "clip.clipped." + e.name, grad_rtol<T>, 0.0);
    // The clipped gradients have norm max_norm (up to the 1e-6 guard).
    CHECK(close(clip_grad_norm(ctx, model.arena(), std::numeric_limits<double>::infinity()), max_norm, 1e-5));
}

TEST_CASE_TEMPLATE("clip_grad_norm matches torch and leaves gradients alone when it does not clip", T, float, double) {
    using B = Cpu<T>;
    auto f = test::fixture("optim.safetensors");
    Context<B> ctx;
    auto model = model_with_grads(ctx, f);
    const auto before = ctx.to_host(model.arena().grads());
    const double norm = clip_grad_norm(ctx, model.arena(), f.get<double>("clip.unclipped.max_norm")[0]);
    CHECK(close(norm, f.get<double>("clip.unclipped.norm")[0], norm_rtol<T>));
    CHECK(ctx.to_host(model.arena().grads()) == before);
    for (auto& e : model.arena().params())
        test::check_close(ctx, e.param->grad, f, "clip.unclipped." + e.name, grad_rtol<T>, 0.0);
    // max_norm = infinity only measures.
    CHECK(clip_grad_norm(ctx, model.arena(), std::numeric_limits<double>::infinity()) == norm);
    CHECK(ctx.to_host(model.arena().grads()) == before);
}

TEST_CASE_TEMPLATE("clip_grad_norm ignores frozen parameters, as torch ignores parameters without .grad", T, float,
                   double) {
    using B = Cpu<T>;
    auto f = test::fixture("optim.safetensors");
    Context<B> ctx;
    auto model = model_with_grads(ctx, f);
    CHECK(model.freeze("0") == 2);
    const auto frozen_weight = ctx.to_host(model.parameter("0.weight").grad);
    const auto frozen_bias = ctx.to_host(model.parameter("0.bias").grad);
    const double norm = clip_grad_norm(ctx, model.arena(), f.get<double>("clip.frozen.max_norm")[0]);
    CHECK(close(norm, f.get<double>("clip.frozen.norm")[0], norm_rtol<T>));
    test::check_close(ctx, model.parameter("2.weight").grad, f, "clip.frozen.2.weight", grad_rtol<T>, 0.0);
    test::check_close(ctx, model.parameter("2.bias").grad, f, "clip.frozen.2.bias", grad_rtol<T>, 0.0);
    CHECK(ctx.to_host(model.parameter("0.weight").grad) == frozen_weight);  // neither counted nor scaled
    CHECK(ctx.to_host(model.parameter("0.bias").grad) == frozen_bias);
}

TEST_CASE("a non-finite gradient norm is returned and the gradients are left alone") {
    auto f = test::fixture("optim.safetensors");
    Context<Cpu<float>> ctx;
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
        auto model = model_with_grads(ctx, f);
        model.parameter("2.bias").grad.data()[1] = bad;
        const auto before = ctx.to_host(model.arena().grads());
        const double norm = clip_grad_norm(ctx, model.arena(), 1e-3);
        CHECK_FALSE(std::isfinite(norm));
        CHECK(std::isnan(norm) == std::isnan(bad));
        const auto after = ctx.to_host(model.arena().grads());
        for (std::size_t i = 0; i < after.size(); ++i)
            CHECK((after[i] == before[i] || (std::isnan(after[i]) && std::isnan(before[i]))));
    }
    // A NaN in a frozen parameter's gradient does not matter.
    auto model = model_with_grads(ctx, f);
    model.freeze("2.bias");
    model.parameter("2.bias").grad.data()[0] = std::numeric_limits<float>::quiet_NaN();
    CHECK(std::isfinite(clip_grad_norm(ctx, model.arena(), 1.0)));
}

TEST_CASE("clip_grad_norm refuses a max_norm that is not positive") {
    auto f = test::fixture("optim.safetensors");
    Context<Cpu<float>> ctx;
    auto model = model_with_grads(ctx, f);
    CHECK_THROWS_WITH_AS(clip_grad_norm(ctx, model.arena(), 0.0), "fgclep: clip_grad_norm needs max_norm > 0, got 0",
                         Error);
    CHECK_THROWS_WITH_AS(clip_grad_norm(ctx, model.arena(), -1.0), "fgclep: clip_grad_norm needs max_norm > 0, got -1",
                         Error);
    CHECK_THROWS_WITH_AS(clip_grad_norm(ctx, model.arena(), std::nan("")),
                         "fgclep: clip_grad_norm needs max_norm > 0, got nan", Error);
}

TEST_CASE("freeze matches whole name components and reports typos") {
    using Stack = Repeat<Linear>;
    Model<Stack, Cpu<float>> stack(Stack::Options::times(11, {2, 2}), 0, "encoder.layer");
    CHECK(stack.freeze("encoder.layer.1") == 2);  // 1.weight and 1.bias, not 10.*
    for (auto& e : stack.arena().params()) {
        const bool in_block_1 = e.name.rfind("encoder.layer.1.", 0) == 0;
        CHECK(e.param->trainable == !in_block_1);
    }
    CHECK(stack.parameter_count(true) == 10 * 6);
    CHECK(stack.freeze("encoder.layer.10.weight") == 1);  // an exact name
    CHECK(stack.parameter_count(true) == 10 * 6 - 4);
    CHECK(stack.unfreeze("encoder.layer") == 22);
    CHECK(stack.parameter_count(true) == 11 * 6);
    CHECK_THROWS_WITH_AS(stack.freeze("encoder.layer.11"),
                         "fgclep: no parameter is named 'encoder.layer.11' or lies under it; the first parameter is "
                         "'encoder.layer.0.weight'",
                         Error);
    CHECK_THROWS_WITH_AS(stack.freeze("encoder.lay"), doctest::Contains("no parameter is named 'encoder.lay'"), Error);
}

TEST_CASE("a frozen layer gets no gradient, no clipping and no update through a whole training step") {
    auto f = test::fixture("optim.safetensors");
    Context<Cpu<double>> ctx;
    ctx.training = true;
    Model<Mlp, Cpu<double>> model({{4, 6}, {}, {6, 3}});
    test::load_weights(model, ctx, f, "init.");
    model.freeze("0");
    const auto segments = model.arena().trainable_segments();
    std::int64_t covered = 0;
    for (auto& s : segments) covered += s.size;
    CHECK(covered == model.parameter_count(true));
    CHECK(covered == 6 * 3 + 3);

    AdamWOptions options;
    options.lr = 0.01;
    AdamW<Cpu<double>> optimizer(model.arena(), options);
    const auto frozen_before = ctx.to_host(model.parameter("0.weight").value);
    const auto trained_before = ctx.to_host(model.parameter("2.weight").value);
    model.zero_grad(ctx);
    auto y = model.forward(ctx, ctx.full(Shape{5, 4}, 0.5));
    model.backward(ctx, ctx.full(y.shape(), 1.0));
    for (double g : ctx.to_host(model.parameter("0.weight").grad)) CHECK(g == 0.0);
    const double norm = clip_grad_norm(ctx, model.arena(), 1e-3);
    CHECK(norm > 1e-3);
    CHECK(close(clip_grad_norm(ctx, model.arena(), std::numeric_limits<double>::infinity()), 1e-3, 1e-5));
    optimizer.step(ctx);
    CHECK(ctx.to_host(model.parameter("0.weight").value) == frozen_before);
    CHECK(ctx.to_host(model.parameter("2.weight").value) != trained_before);
}
