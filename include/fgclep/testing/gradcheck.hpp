#pragma once
// Finite-difference gradient checking for any layer, in double precision (public, like dlib's test_layer).
//
// The probe is f(x, θ) = <layer(x), R> with a fixed random R. During the analytic forward and backward(R):
//   - new tensors are filled with NaN (Context::fill_new_tensors), so an output or input-gradient element the
//     layer forgot to write shows up;
//   - parameter gradients are pre-filled with random values G0, so a layer that assigns instead of accumulating
//     fails, and frozen parameters must leave G0 untouched.
// Each checked element's analytic gradient is compared with (f(v + eps) - f(v - eps)) / (2 eps). Dropout sees
// the same random numbers on every evaluation (the context's random offset is rewound), BatchNorm's running
// statistics and counters are restored afterwards.
#include "fgclep/backend/cpu.hpp"
#include "fgclep/core/model.hpp"
#include "fgclep/core/rng.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace fgclep::testing {

struct GradcheckOptions {
    double eps = 1e-5;
    // An element passes when |analytic - numeric| <= tolerance * max(1, |numeric|).
    double tolerance = 1e-6;
    // Elements checked per tensor (evenly spread plus the ends); every element when the tensor is smaller.
    std::int64_t max_checks_per_tensor = 200;
    std::uint64_t seed = 20240613;
    bool check_input = true;  // false for layers whose input is not differentiable (token ids)
};

struct GradcheckResult {
    bool ok = true;
    std::int64_t checked = 0;
    double max_error = 0;
    std::vector<std::string> failures;  // the first few, worded for a test log

    std::string report() const {
        std::string s = fmt::format("gradcheck: {} elements checked, max error {:.3g}, {}\n", checked, max_error,
                                    ok ? "passed" : "FAILED");
        for (auto& f : failures) s += "  " + f + "\n";
        return s;
    }
};

namespace detail {
inline std::vector<std::int64_t> sample_indices(std::int64_t n, std::int64_t max_checks, HostRng& rng) {
    std::vector<std::int64_t> idx;
    if (n <= max_checks) {
        for (std::int64_t i = 0; i < n; ++i) idx.push_back(i);
        return idx;
    }
    idx.push_back(0);
    idx.push_back(n - 1);
    while (static_cast<std::int64_t>(idx.size()) < max_checks) idx.push_back(static_cast<std::int64_t>(rng.next() % n));
    return idx;
}
}  // namespace detail

// Checks the input gradient (if the input is a double tensor and options.check_input) and every parameter
// gradient of `model` at input x. ctx.training selects the mode checked.
template <LayerSpec S>
GradcheckResult gradcheck(Model<S, Cpu<double>>& model, Context<Cpu<double>>& ctx,
                          const typename Model<S, Cpu<double>>::input_type& x, const GradcheckOptions& options = {}) {
    using B = Cpu<double>;
    auto& arena = model.arena();
    HostRng rng(options.seed);
    GradcheckResult result;

    const std::uint64_t offset0 = ctx.offset;
    const std::vector<double> buffers0 = ctx.to_host(arena.buffer_values());
    std::vector<std::int64_t> counters0;
    for (auto& c : arena.counters()) counters0.push_back(c.counter->value);
    auto restore_state = [&] {
        ctx.offset = offset0;
        B::upload(ctx.state, arena.buffer_values().data(), buffers0.data(), buffers0.size());
        for (std::size_t i = 0; i < counters0.size(); ++i) arena.counters()[i].counter->value = counters0[i];
    };

    // Analytic gradients. Forward and backward run with the NaN sentinel in new tensors (reset even if the layer
    // throws), so an output or input-gradient element the layer never writes shows up.
    struct SentinelScope {
        Context<B>& ctx;
        explicit SentinelScope(Context<B>& c) : ctx(c) { ctx.fill_new_tensors = std::numeric_limits<double>::quiet_NaN(); }
        ~SentinelScope() { ctx.fill_new_tensors.reset(); }
    };
    std::optional<SentinelScope> sentinel(std::in_place, ctx);
    Tensor<B> y = model.forward(ctx, x);
    for (std::int64_t i = 0; i < y.numel(); ++i)
        if (std::isnan(y.data()[i])) {
            result.ok = false;
            result.failures.push_back(fmt::format("output element {} was never written (or is NaN)", i));
            break;
        }
    std::vector<double> r(static_cast<std::size_t>(y.numel()));
    for (auto& v : r) v = rng.normal();
    std::vector<double> g0(static_cast<std::size_t>(arena.grads().numel()));
    for (auto& v : g0) v = rng.normal();
    B::upload(ctx.state, arena.grads().data(), g0.data(), g0.size());
    const Tensor<B> R = ctx.from_host(y.shape(), r);

    // Layers whose input is not differentiable (token ids) return nothing from backward.
    using InputGrad = decltype(model.backward(ctx, R));
    Tensor<B> dx;
    if constexpr (std::is_void_v<InputGrad>)
        model.backward(ctx, R);
    else
        dx = model.backward(ctx, R);
    sentinel.reset();
    const std::vector<double> grads = ctx.to_host(arena.grads());
    restore_state();

    auto probe = [&](const auto& input) {
        Tensor<B> out = model.forward(ctx, input);
        restore_state();
        double f = 0;
        const double* o = out.data();
        for (std::int64_t i = 0; i < out.numel(); ++i) f += o[i] * r[static_cast<std::size_t>(i)];
        return f;
    };
    auto compare = [&](const std::string& what, std::int64_t index, double analytic, double numeric) {
        ++result.checked;
        const double err = std::abs(analytic - numeric) / std::max(1.0, std::abs(numeric));
        if (!(err <= options.tolerance)) {  // also catches NaN
            result.ok = false;
            if (result.failures.size() < 12)
                result.failures.push_back(fmt::format("{}[{}]: analytic {:.9g}, numeric {:.9g}", what, index, analytic, numeric));
        }
        if (std::isnan(err))
            result.max_error = std::numeric_limits<double>::infinity();
        else
            result.max_error = std::max(result.max_error, err);
    };

    // Input gradient.
    if constexpr (std::is_same_v<std::decay_t<decltype(x)>, Tensor<B>> && std::is_same_v<InputGrad, Tensor<B>>) {
        if (options.check_input) {
            if (!(dx.shape() == x.shape()))
                fail("gradcheck: the input gradient has shape {} but the input has {}", dx.shape(), x.shape());
            Tensor<B> xp = ctx.clone(x);
            for (std::int64_t i : detail::sample_indices(x.numel(), options.max_checks_per_tensor, rng)) {
                const double v = xp.data()[i];
                xp.data()[i] = v + options.eps;
                const double fp = probe(xp);
                xp.data()[i] = v - options.eps;
                const double fm = probe(xp);
                xp.data()[i] = v;
                compare("input", i, dx.data()[i], (fp - fm) / (2 * options.eps));
            }
            for (std::int64_t i = 0; i < dx.numel(); ++i)
                if (std::isnan(dx.data()[i])) {
                    result.ok = false;
                    result.failures.push_back(fmt::format("input gradient element {} was never written", i));
                    break;
                }
        }
    }

    // Parameter gradients.
    for (auto& e : arena.params()) {
        double* value = e.param->value.data();
        for (std::int64_t i : detail::sample_indices(e.numel(), options.max_checks_per_tensor, rng)) {
            const std::size_t at = static_cast<std::size_t>(e.offset + i);
            if (!e.param->trainable) {
                ++result.checked;
                if (grads[at] != g0[at]) {
                    result.ok = false;
                    result.failures.push_back(fmt::format("{} is frozen but its gradient changed", e.name));
                }
                continue;
            }
            const double v = value[i];
            value[i] = v + options.eps;
            const double fp = probe(x);
            value[i] = v - options.eps;
            const double fm = probe(x);
            value[i] = v;
            compare(e.name, i, grads[at] - g0[at], (fp - fm) / (2 * options.eps));
        }
    }
    return result;
}

// A tensor, other than a parameter, whose gradient gradcheck_scalar checks: the function reads `value` and its
// backward assigns `grad` (an input of a loss, say).
struct ScalarProbe {
    std::string name;
    Tensor<Cpu<double>> value;
    Tensor<Cpu<double>>* grad = nullptr;
};

// Checks the gradients of a scalar function of a model's parameters, for what is not a Layer: a loss, an objective,
// a whole FgClep model. `evaluate(bool backward)` runs the forward pass and returns the scalar; with backward = true
// it also runs the backward pass, which accumulates into the arena's gradients and assigns each probe's grad.
// As in gradcheck, parameter gradients are pre-filled with random values (accumulation and frozen parameters are
// checked), new tensors are NaN during the analytic pass, and the random offset, buffers and counters are restored
// after every evaluation.
template <class F>
GradcheckResult gradcheck_scalar(ParameterArena<Cpu<double>>& arena, Context<Cpu<double>>& ctx, F&& evaluate,
                                 const std::vector<ScalarProbe>& probes = {}, const GradcheckOptions& options = {}) {
    using B = Cpu<double>;
    HostRng rng(options.seed);
    GradcheckResult result;
    const std::uint64_t offset0 = ctx.offset;
    const std::vector<double> buffers0 = ctx.to_host(arena.buffer_values());
    std::vector<std::int64_t> counters0;
    for (auto& c : arena.counters()) counters0.push_back(c.counter->value);
    auto restore_state = [&] {
        ctx.offset = offset0;
        B::upload(ctx.state, arena.buffer_values().data(), buffers0.data(), buffers0.size());
        for (std::size_t i = 0; i < counters0.size(); ++i) arena.counters()[i].counter->value = counters0[i];
    };
    const std::vector<double> grads_before = ctx.to_host(arena.grads());  // given back at the end
    std::vector<double> g0(static_cast<std::size_t>(arena.grads().numel()));
    for (auto& v : g0) v = rng.normal();
    B::upload(ctx.state, arena.grads().data(), g0.data(), g0.size());
    ctx.fill_new_tensors = std::numeric_limits<double>::quiet_NaN();
    try {
        evaluate(true);
    } catch (...) {
        ctx.fill_new_tensors.reset();
        throw;
    }
    ctx.fill_new_tensors.reset();
    const std::vector<double> grads = ctx.to_host(arena.grads());
    std::vector<std::vector<double>> probe_grads;
    for (auto& p : probes) {
        if (!p.grad || !p.grad->defined() || !(p.grad->shape() == p.value.shape()))
            fail("gradcheck_scalar: the backward pass did not assign a gradient of shape {} to '{}'", p.value.shape(), p.name);
        probe_grads.push_back(ctx.to_host(*p.grad));
    }
    restore_state();

    auto value = [&] {
        const double f = evaluate(false);
        restore_state();
        return f;
    };
    auto compare = [&](const std::string& what, std::int64_t index, double analytic, double numeric) {
        ++result.checked;
        const double err = std::abs(analytic - numeric) / std::max(1.0, std::abs(numeric));
        if (!(err <= options.tolerance)) {
            result.ok = false;
            if (result.failures.size() < 12)
                result.failures.push_back(fmt::format("{}[{}]: analytic {:.9g}, numeric {:.9g}", what, index, analytic, numeric));
        }
        result.max_error = std::isnan(err) ? std::numeric_limits<double>::infinity() : std::max(result.max_error, err);
    };
    auto check_elements = [&](const std::string& name, double* data, std::int64_t n, auto&& analytic) {
        for (std::int64_t i : detail::sample_indices(n, options.max_checks_per_tensor, rng)) {
            const double v = data[i];
            data[i] = v + options.eps;
            const double fp = value();
            data[i] = v - options.eps;
            const double fm = value();
            data[i] = v;
            compare(name, i, analytic(i), (fp - fm) / (2 * options.eps));
        }
    };
    for (std::size_t k = 0; k < probes.size(); ++k)
        check_elements(probes[k].name, probes[k].value.data(), probes[k].value.numel(),
                       [&](std::int64_t i) { return probe_grads[k][static_cast<std::size_t>(i)]; });
    for (auto& e : arena.params()) {
        if (!e.param->trainable) {
            for (std::int64_t i = 0; i < e.numel(); ++i) {
                const std::size_t at = static_cast<std::size_t>(e.offset + i);
                if (grads[at] != g0[at]) {
                    result.ok = false;
                    result.failures.push_back(fmt::format("{} is frozen but its gradient changed", e.name));
                    break;
                }
            }
            ++result.checked;
            continue;
        }
        check_elements(e.name, e.param->value.data(), e.numel(), [&](std::int64_t i) {
            const std::size_t at = static_cast<std::size_t>(e.offset + i);
            return grads[at] - g0[at];
        });
    }
    B::upload(ctx.state, arena.grads().data(), grads_before.data(), grads_before.size());
    return result;
}

}  // namespace fgclep::testing
