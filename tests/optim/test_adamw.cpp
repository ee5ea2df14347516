// AdamW: parity with torch.optim.AdamW (decay groups, decay_all, frozen parameters), state save/restore, errors.
#include "fixture.hpp"

#include "fgclep/nn/activation.hpp"
#include "fgclep/nn/linear.hpp"
#include "fgclep/nn/sequential.hpp"
#include "fgclep/optim/adamw.hpp"

#include <fmt/format.h>

#include <cmath>

using namespace fgclep;

namespace {

using Mlp = Sequential<Linear, GELU, Linear>;
constexpr int kSteps = 6;  // as in make_optim.py

template <class B>
Model<Mlp, B> initial_model(Context<B>& ctx, const io::SafetensorsFile& f) {
    Model<Mlp, B> model({{4, 6}, {}, {6, 3}});
    test::load_weights(model, ctx, f, "init.");
    return model;
}

// Fills the whole gradient arena (frozen parameters too) from the fixture tensors "<prefix><name>".
template <class B>
void set_grads(Model<Mlp, B>& model, Context<B>& ctx, const io::SafetensorsFile& f, const std::string& prefix) {
    for (auto& e : model.arena().params()) ctx.copy(e.param->grad, test::tensor_from<B>(ctx, f, prefix + e.name));
}

// The slice of a flat, arena-aligned state tensor that belongs to parameter `name`.
template <class B>
Tensor<B> slice_of(const Model<Mlp, B>& model, Tensor<B> flat, const std::string& name) {
    for (auto& e : model.arena().params())
        if (e.name == name) return Tensor<B>(e.param->shape, flat.storage(), flat.data() + e.offset);
    FAIL("no parameter ", name);
    return {};
}

template <class T>
std::vector<T> host(Context<Cpu<T>>& ctx, const Tensor<Cpu<T>>& t) {
    return ctx.to_host(t);
}

template <class T>
struct Tolerance;
template <>
struct Tolerance<float> {
    static constexpr double rtol = 1e-4, atol = 1e-6, moment_atol = 1e-9;
};
template <>
struct Tolerance<double> {
    static constexpr double rtol = 1e-10, atol = 1e-13, moment_atol = 1e-16;
};

// Runs the six fixture steps of `name` and compares parameters after every step and the final moments.
template <class T>
void check_against_torch(const std::string& name, bool decay_all, const std::string& frozen_prefix) {
    using B = Cpu<T>;
    using Tol = Tolerance<T>;
    auto f = test::fixture("optim.safetensors");
    Context<B> ctx;
    auto model = initial_model(ctx, f);
    if (!frozen_prefix.empty()) CHECK(model.freeze(frozen_prefix) == 2);
    const auto o = f.get<double>("adamw." + name + ".options");
    AdamWOptions options;
    options.beta1 = o[0];
    options.beta2 = o[1];
    options.eps = o[2];
    options.weight_decay = o[3];
    options.decay_all = decay_all;
    AdamW<B> optimizer(model.arena(), options);
    const auto lrs = f.get<double>("adamw.lr");
    REQUIRE(lrs.size() == kSteps);

    for (int k = 0; k < kSteps; ++k) {
        INFO("case ", name, ", step ", k);
        set_grads(model, ctx, f, fmt::format("grad{}.", k));
        optimizer.step(ctx, lrs[k]);
        for (auto& e : model.arena().params())
            test::check_close(ctx, e.param->value, f, fmt::format("adamw.{}.step{}.{}", name, k, e.name), Tol::rtol,
                              Tol::atol);
    }
    CHECK(optimizer.step_count() == kSteps);
    for (auto& e : model.arena().params()) {
        const auto m = slice_of(model, optimizer.exp_avg(), e.name);
        const auto v = slice_of(model, optimizer.exp_avg_sq(), e.name);
        if (!e.param->trainable) {
            // torch keeps no state for a parameter without a gradient; ours stays at its initial zeros
            for (T x : host(ctx, m)) CHECK(x == T(0));
            for (T x : host(ctx, v)) CHECK(x == T(0));
            CHECK(host(ctx, e.param->value) == f.get<T>("init." + e.name));
            continue;
        }
        test::check_close(ctx, m, f, "adamw." + name + ".exp_avg." + e.name, Tol::rtol, Tol::moment_atol);
        test::check_close(ctx, v, f, "adamw." + name + ".exp_avg_sq." + e.name, Tol::rtol, Tol::moment_atol);
    }
}

}  // namespace

TEST_CASE_TEMPLATE("AdamW matches torch.optim.AdamW with param groups weights (decay) and biases (no decay)", T, float,
                   double) {
    check_against_torch<T>("groups", false, "");
}

TEST_CASE_TEMPLATE("AdamW with decay_all matches torch.optim.AdamW with a single param group", T, float, double) {
    check_against_torch<T>("all", true, "");
}

TEST_CASE_TEMPLATE("AdamW leaves frozen parameters and their moments alone, as torch does without a gradient", T, float,
                   double) {
    check_against_torch<T>("frozen", false, "0");
}

TEST_CASE("the decay groups really differ: without decay_all biases do not decay") {
    // With zero gradients only the decay moves parameters: weights shrink by (1 - lr * wd), biases stay.
    auto f = test::fixture("optim.safetensors");
    Context<Cpu<double>> ctx;
    for (bool decay_all : {false, true}) {
        auto model = initial_model(ctx, f);
        model.zero_grad(ctx);
        AdamWOptions options;
        options.weight_decay = 0.5;
        options.decay_all = decay_all;
        AdamW<Cpu<double>> optimizer(model.arena(), options);
        optimizer.step(ctx, 0.1);
        for (auto& e : model.arena().params()) {
            const bool decays = decay_all || e.param->decay == Decay::yes;
            const auto before = f.get<double>("init." + e.name), after = host(ctx, e.param->value);
            for (std::size_t i = 0; i < before.size(); ++i)
                CHECK(after[i] == doctest::Approx(before[i] * (decays ? 0.95 : 1.0)).epsilon(1e-14));
        }
    }
}

TEST_CASE("AdamW coefficients follow torch's _single_tensor_adamw") {
    auto f = test::fixture("optim.safetensors");
    Context<Cpu<double>> ctx;
    auto model = initial_model(ctx, f);
    AdamWOptions options;
    options.weight_decay = 0.01;
    AdamW<Cpu<double>> optimizer(model.arena(), options);
    const auto c = optimizer.coefficients(3, 0.02, Decay::yes);
    CHECK(c.decay_factor == 1 - 0.02 * 0.01);
    CHECK(c.neg_step_size == -(0.02 / (1 - std::pow(0.9, 3.0))));
    CHECK(c.bias_correction2_sqrt == std::sqrt(1 - std::pow(0.999, 3.0)));
    CHECK(c.one_minus_beta1 == 1 - 0.9);
    CHECK(c.one_minus_beta2 == 1 - 0.999);
    CHECK(c.eps == 1e-8);
    CHECK(optimizer.coefficients(3, 0.02, Decay::no).decay_factor == 1.0);
}

TEST_CASE("step(ctx) uses options.lr and step(ctx, lr) overrides it for one step") {
    auto f = test::fixture("optim.safetensors");
    Context<Cpu<float>> ctx;
    auto a = initial_model(ctx, f), b = initial_model(ctx, f);
    AdamWOptions options;
    options.lr = 0.02;
    AdamW<Cpu<float>> by_options(a.arena(), options), by_argument(b.arena(), options);
    for (int k = 0; k < 3; ++k) {
        set_grads(a, ctx, f, fmt::format("grad{}.", k));
        set_grads(b, ctx, f, fmt::format("grad{}.", k));
        by_options.step(ctx);
        by_argument.step(ctx, 0.02);
    }
    CHECK(host(ctx, a.arena().values()) == host(ctx, b.arena().values()));
    by_argument.step(ctx, 0.5);  // a different lr gives a different result: the argument is used
    by_options.step(ctx);
    CHECK(host(ctx, a.arena().values()) != host(ctx, b.arena().values()));
    CHECK(by_argument.options().lr == 0.02);
}

TEST_CASE("freezing mid-training keeps values and moments; unfreezing resumes") {
    auto f = test::fixture("optim.safetensors");
    Context<Cpu<double>> ctx;
    auto model = initial_model(ctx, f);
    AdamW<Cpu<double>> optimizer(model.arena(), {});
    auto run = [&](int k) {
        set_grads(model, ctx, f, fmt::format("grad{}.", k));
        optimizer.step(ctx, 0.01);
    };
    run(0);
    run(1);
    auto snapshot = [&](const std::string& name) {
        return std::vector{host(ctx, model.parameter(name).value),
                           host(ctx, slice_of(model, optimizer.exp_avg(), name)),
                           host(ctx, slice_of(model, optimizer.exp_avg_sq(), name))};
    };
    const auto frozen_before = snapshot("2.weight"), trained_before = snapshot("0.weight");
    CHECK(model.freeze("2") == 2);
    run(2);
    run(3);
    CHECK(snapshot("2.weight") == frozen_before);
    CHECK(snapshot("0.weight") != trained_before);
    CHECK(optimizer.step_count() == 4);
    model.unfreeze("2");
    run(4);
    CHECK(snapshot("2.weight") != frozen_before);
}

TEST_CASE("load_state restores a run exactly") {
    auto f = test::fixture("optim.safetensors");
    Context<Cpu<float>> ctx;
    auto straight = initial_model(ctx, f), first = initial_model(ctx, f), resumed = initial_model(ctx, f);
    AdamWOptions options;
    options.weight_decay = 0.01;
    AdamW<Cpu<float>> opt_straight(straight.arena(), options), opt_first(first.arena(), options);
    const auto lrs = f.get<double>("adamw.lr");
    for (int k = 0; k < kSteps; ++k) {
        set_grads(straight, ctx, f, fmt::format("grad{}.", k));
        opt_straight.step(ctx, lrs[k]);
    }
    for (int k = 0; k < 3; ++k) {
        set_grads(first, ctx, f, fmt::format("grad{}.", k));
        opt_first.step(ctx, lrs[k]);
    }
    // "Checkpoint": parameters plus optimizer state, through host memory.
    ctx.copy(resumed.arena().values(), first.arena().values());
    AdamW<Cpu<float>> opt_resumed(resumed.arena(), options);
    opt_resumed.load_state(ctx, opt_first.step_count(), host(ctx, opt_first.exp_avg()),
                           host(ctx, opt_first.exp_avg_sq()));
    CHECK(opt_resumed.step_count() == 3);
    for (int k = 3; k < kSteps; ++k) {
        set_grads(resumed, ctx, f, fmt::format("grad{}.", k));
        opt_resumed.step(ctx, lrs[k]);
    }
    CHECK(host(ctx, resumed.arena().values()) == host(ctx, straight.arena().values()));
    CHECK(host(ctx, opt_resumed.exp_avg()) == host(ctx, opt_straight.exp_avg()));
    CHECK(host(ctx, opt_resumed.exp_avg_sq()) == host(ctx, opt_straight.exp_avg_sq()));
}

TEST_CASE("each parameter keeps its own step count, as torch does: a layer unfrozen late starts at step 1") {
    auto f = test::fixture("optim.safetensors");
    Context<Cpu<double>> ctx;
    auto late = initial_model(ctx, f);
    AdamW<Cpu<double>> optimizer(late.arena(), {});
    late.freeze("2");
    for (int k = 0; k < 5; ++k) {
        set_grads(late, ctx, f, fmt::format("grad{}.", k));
        optimizer.step(ctx, 0.01);
    }
    // The same parameters, and an optimizer that has never seen layer "2": its first update of "2" is step 1.
    auto fresh = initial_model(ctx, f);
    ctx.copy(fresh.arena().values(), late.arena().values());
    fresh.freeze("0");
    AdamW<Cpu<double>> fresh_optimizer(fresh.arena(), {});

    late.unfreeze("2");
    set_grads(late, ctx, f, "grad5.");
    set_grads(fresh, ctx, f, "grad5.");
    optimizer.step(ctx, 0.01);
    fresh_optimizer.step(ctx, 0.01);
    CHECK(host(ctx, late.parameter("2.weight").value) == host(ctx, fresh.parameter("2.weight").value));
    CHECK(host(ctx, late.parameter("2.bias").value) == host(ctx, fresh.parameter("2.bias").value));
    CHECK(optimizer.parameter_steps() == std::vector<std::int64_t>{6, 6, 1, 1});
    CHECK(optimizer.step_count() == 6);
    CHECK_THROWS_WITH_AS(fresh_optimizer.load_state(ctx, 1, {1, 1, 2, 1}, host(ctx, fresh_optimizer.exp_avg()),
                                                    host(ctx, fresh_optimizer.exp_avg_sq())),
                         "fgclep: AdamW state: parameter '2.weight' has step count 2, outside [0, 1]", Error);
}

TEST_CASE("AdamW rejects bad options and bad state with clear messages") {
    auto f = test::fixture("optim.safetensors");
    Context<Cpu<float>> ctx;
    auto model = initial_model(ctx, f);
    auto build = [&](auto change) {
        AdamWOptions o;
        change(o);
        AdamW<Cpu<float>> optimizer(model.arena(), o);
    };
    CHECK_THROWS_WITH_AS(build([](AdamWOptions& o) { o.lr = -1; }),
                         "fgclep: AdamW needs a finite learning rate >= 0, got lr = -1", Error);
    CHECK_THROWS_WITH_AS(build([](AdamWOptions& o) { o.beta1 = 1; }),
                         "fgclep: AdamW needs beta1 in [0, 1), got beta1 = 1", Error);
    CHECK_THROWS_WITH_AS(build([](AdamWOptions& o) { o.beta2 = -0.5; }),
                         "fgclep: AdamW needs beta2 in [0, 1), got beta2 = -0.5", Error);
    CHECK_THROWS_WITH_AS(build([](AdamWOptions& o) { o.eps = NAN; }),
                         "fgclep: AdamW needs a finite eps >= 0, got eps = nan", Error);
    CHECK_THROWS_WITH_AS(build([](AdamWOptions& o) { o.weight_decay = -1e-4; }),
                         "fgclep: AdamW needs a finite weight_decay >= 0, got weight_decay = -0.0001", Error);
    CHECK_NOTHROW(build([](AdamWOptions& o) { o.lr = 0, o.beta1 = 0, o.beta2 = 0, o.eps = 0, o.weight_decay = 0; }));

    AdamW<Cpu<float>> optimizer(model.arena(), {});
    CHECK_THROWS_WITH_AS(optimizer.step(ctx, -0.1),
                         "fgclep: AdamW step 1 was given lr = -0.1; it must be finite and >= 0", Error);
    CHECK(optimizer.step_count() == 0);  // a refused step does not count

    const std::size_t n = static_cast<std::size_t>(model.arena().values().numel());
    CHECK(n == 4 * 6 + 6 + 6 * 3 + 3);
    const std::vector<float> zeros(n, 0.0f), short_state(n - 1, 0.0f);
    CHECK_THROWS_WITH_AS(optimizer.load_state(ctx, -1, zeros, zeros),
                         "fgclep: AdamW state: the step count must be >= 0, got -1", Error);
    CHECK_THROWS_WITH_AS(optimizer.load_state(ctx, 5, short_state, zeros),
                         "fgclep: AdamW state: exp_avg has 50 elements but the parameter arena has 51", Error);
    CHECK_THROWS_WITH_AS(optimizer.load_state(ctx, 5, zeros, short_state),
                         "fgclep: AdamW state: exp_avg_sq has 50 elements but the parameter arena has 51", Error);
    auto negative = zeros;
    negative[7] = -1.0f;
    CHECK_THROWS_WITH_AS(optimizer.load_state(ctx, 5, zeros, negative),
                         "fgclep: AdamW state: exp_avg_sq must be >= 0 everywhere, but element 7 is -1", Error);
    CHECK(optimizer.step_count() == 0);  // a refused load changes nothing
}

TEST_CASE("an optimizer keeps updating its model after the model is moved") {
    auto f = test::fixture("optim.safetensors");
    Context<Cpu<double>> ctx;
    std::vector<Model<Mlp, Cpu<double>>> models;
    models.push_back(initial_model(ctx, f));
    AdamW<Cpu<double>> optimizer(models[0].arena(), {});
    for (int i = 0; i < 8; ++i) models.push_back(initial_model(ctx, f));  // reallocates: models[0] is moved
    set_grads(models[0], ctx, f, "grad0.");
    const auto before = host(ctx, models[0].arena().values());
    optimizer.step(ctx, 0.01);
    CHECK(host(ctx, models[0].arena().values()) != before);
}
