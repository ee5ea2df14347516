// Losses: values and gradients against PyTorch (fixtures/make_losses.py) on fixed embeddings, gradient checks in
// double including the loss parameters, options (learnable, detach, source, cap) and errors.
#include "fixture.hpp"

#include "fgclep/loss/fnm.hpp"
#include "fgclep/loss/infonce.hpp"
#include "fgclep/loss/objective.hpp"
#include "fgclep/loss/sigmoid.hpp"
#include "fgclep/testing/gradcheck.hpp"

#include <doctest/doctest.h>

using namespace fgclep;

namespace {

// An objective bound to its own arena, as a model would bind it.
template <class Objective, class B>
struct Bound {
    typename Objective::template impl<B> objective;
    ParameterArena<B> arena;
    explicit Bound(Context<B>& ctx, const typename Objective::Options& o = {}) : objective(o) {
        arena.bind(objective);
        arena.initialize(ctx.state, 0);
    }
    void set(Context<B>& ctx, const std::string& name, double v) {
        typename B::value_type x = static_cast<typename B::value_type>(v);
        B::upload(ctx.state, arena.param(name).value.data(), &x, 1);
    }
    double grad(Context<B>& ctx, const std::string& name) {
        typename B::value_type x{};
        B::download(ctx.state, &x, arena.param(name).grad.data(), 1);
        return static_cast<double>(x);
    }
};

template <class T>
double scalar(const io::SafetensorsFile& f, const std::string& name) {
    return f.get<double>(name).at(0);
}

// Forward and backward of `objective` on the fixture's inputs, compared with the case `prefix`.
template <class Objective, class B>
void check_case(Bound<Objective, B>& b, Context<B>& ctx, const std::string& prefix, bool with_features = false,
                bool check_features_grad = false) {
    using T = typename B::value_type;
    const auto f = test::fixture("losses.safetensors");
    const auto ecg = test::tensor_from(ctx, f, "ecg");
    const auto text = test::tensor_from(ctx, f, "text");
    const auto features = with_features ? test::tensor_from(ctx, f, "features") : Tensor<B>();
    ctx.training = true;
    b.arena.grads();
    B::fill(ctx.state, b.arena.grads().data(), static_cast<std::size_t>(b.arena.grads().numel()), T(0));
    const LossValue v = b.objective.forward(ctx, ecg, text, features);
    const double rtol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
    CHECK(v.total == doctest::Approx(scalar<T>(f, prefix + "/loss")).epsilon(rtol));
    const auto g = b.objective.backward(ctx);
    test::check_close(ctx, g.ecg, f, prefix + "/grad_ecg", std::is_same_v<T, float> ? 1e-4 : 1e-10, 1e-6);
    test::check_close(ctx, g.text, f, prefix + "/grad_text", std::is_same_v<T, float> ? 1e-4 : 1e-10, 1e-6);
    if (check_features_grad) {
        REQUIRE(g.features.defined());
        test::check_close(ctx, g.features, f, prefix + "/grad_features", std::is_same_v<T, float> ? 1e-4 : 1e-10, 1e-6);
    } else if (with_features) {  // used but detached: a zero gradient
        REQUIRE(g.features.defined());
        for (double x : ctx.to_host(g.features)) CHECK(x == 0);
    } else {
        CHECK_FALSE(g.features.defined());
    }
}

}  // namespace

TEST_CASE_TEMPLATE("SigmoidLoss matches PyTorch (values and gradients, t' and b included)", T, float, double) {
    using B = Cpu<T>;
    Context<B> ctx;
    const auto f = test::fixture("losses.safetensors");
    for (std::string c : {"a", "b"}) {
        CAPTURE(c);
        Bound<ContrastiveObjective<SigmoidLoss>, B> b(ctx);
        b.set(ctx, "sigmoid_loss.logit_scale", scalar<T>(f, "sigmoid/" + c + "/logit_scale"));
        b.set(ctx, "sigmoid_loss.logit_bias", scalar<T>(f, "sigmoid/" + c + "/logit_bias"));
        check_case(b, ctx, "sigmoid/" + c);
        const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-11;
        CHECK(b.grad(ctx, "sigmoid_loss.logit_scale") ==
              doctest::Approx(scalar<T>(f, "sigmoid/" + c + "/grad_logit_scale")).epsilon(tol));
        CHECK(b.grad(ctx, "sigmoid_loss.logit_bias") ==
              doctest::Approx(scalar<T>(f, "sigmoid/" + c + "/grad_logit_bias")).epsilon(tol));
    }
}

TEST_CASE_TEMPLATE("InfoNceLoss matches PyTorch's symmetric cross-entropy (learnable temperature)", T, float, double) {
    using B = Cpu<T>;
    Context<B> ctx;
    const auto f = test::fixture("losses.safetensors");
    for (std::string c : {"a", "b"}) {
        CAPTURE(c);
        Bound<ContrastiveObjective<InfoNceLoss>, B> b(ctx);
        b.set(ctx, "infonce_loss.logit_scale", scalar<T>(f, "infonce/" + c + "/logit_scale"));
        check_case(b, ctx, "infonce/" + c);
        CHECK(b.grad(ctx, "infonce_loss.logit_scale") ==
              doctest::Approx(scalar<T>(f, "infonce/" + c + "/grad_logit_scale"))
                  .epsilon(std::is_same_v<T, float> ? 1e-5 : 1e-11));
    }
}

TEST_CASE_TEMPLATE("FnmLoss matches PyTorch for both sources, attached and detached", T, float, double) {
    using B = Cpu<T>;
    Context<B> ctx;
    for (FnmSource source : {FnmSource::projected, FnmSource::features})
        for (bool detach : {false, true}) {
            const std::string prefix = std::string("fnm/") +
                                       (source == FnmSource::projected ? "projected" : "features") +
                                       (detach ? "/detached" : "/attached");
            CAPTURE(prefix);
            ContrastiveObjective<FnmLoss>::Options o;
            std::get<0>(o.losses).source = source;
            std::get<0>(o.losses).detach = detach;
            std::get<0>(o.losses).weight = 1;  // the fixture is the unweighted loss
            Bound<ContrastiveObjective<FnmLoss>, B> b(ctx, o);
            CHECK(b.objective.uses_text_features() == (source == FnmSource::features));
            const bool features = source == FnmSource::features;
            check_case(b, ctx, prefix, features, features && !detach);
        }
}

TEST_CASE_TEMPLATE("FG-CLEP's objective L_sig + 0.5 L_fnm matches PyTorch and reports each part", T, float, double) {
    using B = Cpu<T>;
    Context<B> ctx;
    const auto f = test::fixture("losses.safetensors");
    Bound<ContrastiveObjective<SigmoidLoss, FnmLoss>, B> b(ctx);  // defaults: t' = log 10, b = -10, lambda = 0.5
    check_case(b, ctx, "combined");
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-11;
    CHECK(b.grad(ctx, "sigmoid_loss.logit_scale") ==
          doctest::Approx(scalar<T>(f, "combined/grad_logit_scale")).epsilon(tol));
    CHECK(b.grad(ctx, "sigmoid_loss.logit_bias") ==
          doctest::Approx(scalar<T>(f, "combined/grad_logit_bias")).epsilon(tol));

    ctx.training = false;
    const LossValue v = b.objective.forward(ctx, test::tensor_from(ctx, f, "ecg"), test::tensor_from(ctx, f, "text"));
    REQUIRE(v.parts.size() == 2);
    CHECK(v.parts[0].first == "sigmoid_loss");
    CHECK(v.parts[1].first == "fnm_loss");
    CHECK(v.part("sigmoid_loss") == doctest::Approx(scalar<T>(f, "sigmoid/a/loss")).epsilon(tol));
    CHECK(v.part("fnm_loss") == doctest::Approx(scalar<T>(f, "fnm/projected/attached/loss")).epsilon(tol));
    CHECK(v.total == doctest::Approx(v.parts[0].second + 0.5 * v.parts[1].second).epsilon(1e-14));
    CHECK_THROWS_WITH(v.part("nope"), doctest::Contains("no loss 'nope'"));
}

namespace {
// Raw embeddings as probes of gradcheck_scalar. `uses_features`: the objective reads the pooled text features (FNM
// with that source); when it does not, their gradient must be zero, and the checker is told so.
template <class Objective>
testing::GradcheckResult gradcheck_objective(const typename Objective::Options& o, std::int64_t N, std::int64_t P,
                                             std::uint64_t seed, double logit_scale = 0.7, double bias = -1.5,
                                             bool uses_features = false) {
    using B = Cpu<double>;
    Context<B> ctx;
    Bound<Objective, B> b(ctx, o);
    for (auto& e : b.arena.params()) {
        if (e.name.ends_with("logit_scale")) b.set(ctx, e.name, logit_scale);
        if (e.name.ends_with("logit_bias")) b.set(ctx, e.name, bias);
    }
    Tensor<B> ecg = test::random_tensor(ctx, Shape{N, P}, seed), text = test::random_tensor(ctx, Shape{N, P}, seed + 1);
    Tensor<B> features = test::random_tensor(ctx, Shape{N, P + 3}, seed + 2);
    Tensor<B> decg, dtext, dfeatures;
    ctx.training = true;
    auto evaluate = [&](bool backward) {
        const LossValue v = b.objective.forward(ctx, ecg, text, features);
        if (backward) {
            auto g = b.objective.backward(ctx);
            decg = g.ecg;
            dtext = g.text;
            dfeatures = g.features.defined() ? g.features : ctx.zeros(features.shape());
        }
        return v.total;
    };
    return testing::gradcheck_scalar(
        b.arena, ctx, evaluate, {{"ecg", ecg, &decg}, {"text", text, &dtext}, {"features", features, &dfeatures}},
        {.eps = 1e-6,
         .tolerance = 1e-6,
         .expect_zero_gradient = uses_features ? std::vector<std::string>{} : std::vector<std::string>{"features"}});
}
}  // namespace

TEST_CASE("every loss passes a finite-difference gradient check in double, its parameters included") {
    SUBCASE("SigmoidLoss") {
        auto r = gradcheck_objective<ContrastiveObjective<SigmoidLoss>>({}, 7, 5, 11);
        CHECK_MESSAGE(r.ok, r.report());
        CHECK(r.checked == 7 * 5 * 2 + 7 * 8 + 2);
    }
    SUBCASE("SigmoidLoss at its initial t' = log 10, b = -10") {
        auto r = gradcheck_objective<ContrastiveObjective<SigmoidLoss>>({}, 5, 4, 12, std::log(10.0), -10);
        CHECK_MESSAGE(r.ok, r.report());
    }
    SUBCASE("InfoNceLoss") {
        auto r = gradcheck_objective<ContrastiveObjective<InfoNceLoss>>({}, 6, 5, 13, 1.2);
        CHECK_MESSAGE(r.ok, r.report());
    }
    SUBCASE(
        "FnmLoss, both sources (attached; a detached S is by design not the derivative, and is checked "
        "against PyTorch above)") {
        for (FnmSource source : {FnmSource::projected, FnmSource::features}) {
            ContrastiveObjective<FnmLoss>::Options o;
            std::get<0>(o.losses) = {0.5, source, false};
            auto r = gradcheck_objective<ContrastiveObjective<FnmLoss>>(o, 6, 5, 14, 0.7, -1.5,
                                                                        source == FnmSource::features);
            CHECK_MESSAGE(r.ok, r.report());
        }
    }
    SUBCASE("SigmoidLoss + FnmLoss + InfoNceLoss together") {
        auto r = gradcheck_objective<ContrastiveObjective<SigmoidLoss, FnmLoss, InfoNceLoss>>({}, 6, 5, 15);
        CHECK_MESSAGE(r.ok, r.report());
    }
}

TEST_CASE("a fixed temperature is not trained; the InfoNCE cap stops its gradient") {
    using B = Cpu<double>;
    Context<B> ctx;
    ContrastiveObjective<SigmoidLoss, InfoNceLoss>::Options o;
    std::get<0>(o.losses).learnable = false;
    std::get<1>(o.losses).logit_scale = 5.0;  // above the cap log 100
    Bound<ContrastiveObjective<SigmoidLoss, InfoNceLoss>, B> b(ctx, o);
    CHECK_FALSE(b.arena.param("sigmoid_loss.logit_scale").trainable);
    CHECK_FALSE(b.arena.param("sigmoid_loss.logit_bias").trainable);
    CHECK(b.arena.count(true) == 1);
    ctx.training = true;
    B::fill(ctx.state, b.arena.grads().data(), 3, 0.0);
    b.objective.forward(ctx, test::random_tensor(ctx, Shape{4, 3}, 1), test::random_tensor(ctx, Shape{4, 3}, 2));
    b.objective.backward(ctx);
    CHECK(b.grad(ctx, "sigmoid_loss.logit_scale") == 0);
    CHECK(b.grad(ctx, "sigmoid_loss.logit_bias") == 0);
    CHECK(b.grad(ctx, "infonce_loss.logit_scale") == 0);  // capped at log 100
    // The capped value acts as log 100: the loss equals one computed at exactly log 100.
    const double capped =
        b.objective.forward(ctx, test::random_tensor(ctx, Shape{4, 3}, 1), test::random_tensor(ctx, Shape{4, 3}, 2))
            .part("infonce_loss");
    b.set(ctx, "infonce_loss.logit_scale", std::log(100.0));
    const double at_cap =
        b.objective.forward(ctx, test::random_tensor(ctx, Shape{4, 3}, 1), test::random_tensor(ctx, Shape{4, 3}, 2))
            .part("infonce_loss");
    CHECK(capped == doctest::Approx(at_cap).epsilon(1e-14));
}

TEST_CASE("the sigmoid loss is stable at extreme logits and calibrates match probabilities") {
    using B = Cpu<double>;
    Context<B> ctx;
    Bound<ContrastiveObjective<SigmoidLoss>, B> b(ctx);
    b.set(ctx, "sigmoid_loss.logit_scale", 700.0);  // exp(700) ~ 1e304: logits far beyond exp's range
    const Tensor<B> e = test::random_tensor(ctx, Shape{3, 4}, 5);
    ctx.training = true;
    const double v = b.objective.forward(ctx, e, e).total;
    CHECK(std::isfinite(v));
    auto g = b.objective.backward(ctx);
    for (double x : ctx.to_host(g.ecg)) CHECK(std::isfinite(x));

    Bound<ContrastiveObjective<SigmoidLoss, FnmLoss>, B> fresh(ctx);
    const MatchCalibration c = fresh.objective.calibration(ctx);
    CHECK(c.scale == doctest::Approx(10.0).epsilon(1e-15));
    CHECK(c.bias == -10);
    CHECK(c.probability(1.0) == doctest::Approx(0.5));
    CHECK(c.probability(-1.0) == doctest::Approx(1 / (1 + std::exp(20.0))));
}

TEST_CASE("objective errors name what is wrong") {
    using B = Cpu<double>;
    Context<B> ctx;
    Bound<ContrastiveObjective<SigmoidLoss>, B> b(ctx);
    CHECK_THROWS_WITH(b.objective.forward(ctx, ctx.zeros(Shape{4, 3}), ctx.zeros(Shape{4, 5})),
                      doctest::Contains("same shape (N, P), got (4, 3) and (4, 5)"));
    CHECK_THROWS_WITH(b.objective.backward(ctx), doctest::Contains("forward in training mode first"));
    ContrastiveObjective<FnmLoss>::Options o;
    std::get<0>(o.losses).source = FnmSource::features;
    Bound<ContrastiveObjective<FnmLoss>, B> fnm(ctx, o);
    CHECK_THROWS_WITH(fnm.objective.forward(ctx, ctx.zeros(Shape{4, 3}), ctx.zeros(Shape{4, 3})),
                      doctest::Contains("pooled text features"));
    SigmoidLoss::Options bad;
    bad.logit_scale = std::nan("");
    CHECK_THROWS_WITH(SigmoidLoss::impl<B>{bad}, doctest::Contains("SigmoidLoss needs finite initial values"));
}

TEST_CASE("an inference forward between a training forward and its backward changes nothing") {
    using B = Cpu<double>;
    Context<B> ctx;
    Bound<ContrastiveObjective<SigmoidLoss, FnmLoss>, B> b(ctx);
    const Tensor<B> e = test::random_tensor(ctx, Shape{5, 4}, 1), t = test::random_tensor(ctx, Shape{5, 4}, 2);
    ctx.training = true;
    b.objective.forward(ctx, e, t);
    const auto plain = ctx.to_host(b.objective.backward(ctx).ecg);
    b.objective.forward(ctx, e, t);
    ctx.training = false;
    b.objective.forward(ctx, test::random_tensor(ctx, Shape{3, 4}, 3), test::random_tensor(ctx, Shape{3, 4}, 4));
    ctx.training = true;
    CHECK(ctx.to_host(b.objective.backward(ctx).ecg) == plain);
}
