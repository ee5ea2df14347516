#pragma once
// Finite-difference gradient checking for any layer, in double precision (public, like dlib's test_layer).
// docs/testing.md describes the probe, the sampling and the pass rule; in short:
//   - gradcheck probes f(x, θ) = <layer(x), R> with a fixed random R; gradcheck_scalar takes any scalar function;
//   - new tensors are NaN during the analytic pass (an element never written shows up), parameter gradients are
//     pre-filled with random G0 (a layer that assigns instead of accumulating fails; frozen ones must keep G0);
//   - elements are sampled without replacement, one per stratum of the tensor, ends included;
//   - the pass rule is relative, with a floor tied to the tensor's own gradient scale, and a tensor whose gradient
//     is zero everywhere it was checked fails unless the test says it expects that.
#include "fgclep/backend/cpu.hpp"
#include "fgclep/core/model.hpp"
#include "fgclep/core/rng.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace fgclep::testing {

struct GradcheckOptions {
    double eps = 1e-5;
    // An element passes when |analytic - numeric| <= tolerance * max(|numeric|, floor), where floor is the larger
    // of scale_floor * (the largest |numeric| among the tensor's checked elements) and rounding / tolerance.
    // `rounding` is what floating point alone can make a central difference wrong by: machine epsilon times the
    // magnitude of the probed sum (sum of |terms|, or |f| for gradcheck_scalar) over eps. So elements of ordinary
    // size are held to a relative error; only those far below the rest of their tensor, or below what the central
    // difference can resolve, are held to an absolute one, never looser than the rounding.
    double tolerance = 1e-6;
    double scale_floor = 1e-3;
    // Elements checked per tensor: one drawn from each of this many equal strata (the first and the last element
    // included), without replacement; every element when the tensor is smaller.
    std::int64_t max_checks_per_tensor = 200;
    std::uint64_t seed = 20240613;
    bool check_input = true;  // false for layers whose input is not differentiable (token ids)
    // A checked tensor whose central differences are all below zero_gradient (in absolute value) fails: comparing
    // zeros with zeros proves nothing (a dead ReLU, an unused parameter). Name here the tensors ("input", a
    // parameter's or probe's name) whose gradient is zero by design (the key bias of softmax attention, an input
    // the loss ignores); "key.bias" also names every "<path>.key.bias". Their analytic gradient must then be below
    // zero_gradient too.
    double zero_gradient = 1e-9;
    std::vector<std::string> expect_zero_gradient = {};
};

struct GradcheckResult {
    bool ok = true;
    std::int64_t checked = 0;  // distinct elements compared (frozen tensors: every element, checked unchanged)
    double max_error = 0;      // the worst |analytic - numeric| / max(|numeric|, floor) over all checked elements
    std::string worst;         // the element it came from, "name[index]"
    std::vector<std::string> failures;  // the first few, worded for a test log

    std::string report() const {
        std::string s = fmt::format("gradcheck: {} elements checked, worst relative error {:.3g}{}, {}\n", checked,
                                    max_error, worst.empty() ? "" : " at " + worst, ok ? "passed" : "FAILED");
        for (auto& f : failures) s += "  " + f + "\n";
        return s;
    }
};

// A probed value and the magnitude its rounding error scales with: the sum of the |terms| it added up. gradcheck
// makes these itself; a gradcheck_scalar function may return one instead of a double when its value is a sum whose
// terms cancel (a plain double counts as its own magnitude, which then underestimates the rounding).
struct ProbeValue {
    double value = 0;
    double magnitude = 0;
};

namespace detail {
// One index from each of `max_checks` equal strata of [0, n), the first stratum giving 0 and the last n - 1:
// distinct, spread over the whole tensor, and random inside each stratum.
inline std::vector<std::int64_t> sample_indices(std::int64_t n, std::int64_t max_checks, HostRng& rng) {
    std::vector<std::int64_t> idx;
    if (n <= max_checks) {
        for (std::int64_t i = 0; i < n; ++i) idx.push_back(i);
        return idx;
    }
    const std::int64_t k = std::max<std::int64_t>(max_checks, 2);
    for (std::int64_t s = 0; s < k; ++s) {
        const std::int64_t lo = s * n / k, hi = (s + 1) * n / k;  // n > k: every stratum holds at least one index
        if (s == 0)
            idx.push_back(0);
        else if (s == k - 1)
            idx.push_back(n - 1);
        else
            idx.push_back(lo + static_cast<std::int64_t>(rng.next() % static_cast<std::uint64_t>(hi - lo)));
    }
    return idx;
}

// What a probe evaluation may change and must find as it was: the random offset (dropout), BatchNorm's running
// statistics and the step counters.
class ModelStateSnapshot {
public:
    ModelStateSnapshot(ParameterArena<Cpu<double>>& arena, Context<Cpu<double>>& ctx)
        : arena_(arena), ctx_(ctx), offset_(ctx.offset), buffers_(ctx.to_host(arena.buffer_values())) {
        for (auto& c : arena.counters()) counters_.push_back(c.counter->value);
    }
    void restore() const {
        ctx_.offset = offset_;
        Cpu<double>::upload(ctx_.state, arena_.buffer_values().data(), buffers_.data(), buffers_.size());
        for (std::size_t i = 0; i < counters_.size(); ++i) arena_.counters()[i].counter->value = counters_[i];
    }

private:
    ParameterArena<Cpu<double>>& arena_;
    Context<Cpu<double>>& ctx_;
    std::uint64_t offset_;
    std::vector<double> buffers_;
    std::vector<std::int64_t> counters_;
};

// New tensors are NaN while it lives (reset even if the pass throws).
struct NanSentinelScope {
    Context<Cpu<double>>& ctx;
    explicit NanSentinelScope(Context<Cpu<double>>& c) : ctx(c) {
        ctx.fill_new_tensors = std::numeric_limits<double>::quiet_NaN();
    }
    ~NanSentinelScope() { ctx.fill_new_tensors.reset(); }
    NanSentinelScope(const NanSentinelScope&) = delete;
    NanSentinelScope& operator=(const NanSentinelScope&) = delete;
};

// A central difference and how much floating-point rounding alone can move it.
struct CentralDifference {
    double value = 0;
    double rounding = 0;
};

// (f(v + eps) - f(v - eps)) / (2 eps) for the element at `element`, which is put back afterwards.
template <class Evaluate>
CentralDifference central_difference(double* element, double eps, Evaluate&& evaluate) {
    const double v = *element;
    *element = v + eps;
    const ProbeValue plus = evaluate();
    *element = v - eps;
    const ProbeValue minus = evaluate();
    *element = v;
    // Each evaluation is off by a few ulps of its magnitude; 8 covers the accumulated rounding of a long sum.
    const double rounding =
        8 * std::numeric_limits<double>::epsilon() * std::max(plus.magnitude, minus.magnitude) / eps;
    return {(plus.value - minus.value) / (2 * eps), rounding};
}

// Checks the sampled elements of one tensor: `numeric_at(i)` perturbs element i and returns its central difference,
// `analytic(i)` the computed derivative. All central differences of the tensor are taken first, so the floor can
// be tied to the tensor's own scale.
template <class Numeric, class Analytic>
void check_tensor(GradcheckResult& result, const GradcheckOptions& options, HostRng& rng, const std::string& name,
                  std::int64_t n, Numeric&& numeric_at, Analytic&& analytic) {
    const std::vector<std::int64_t> indices = sample_indices(n, options.max_checks_per_tensor, rng);
    std::vector<double> numeric;
    numeric.reserve(indices.size());
    double scale = 0, rounding = 0;
    for (std::int64_t i : indices) {
        const CentralDifference d = numeric_at(i);
        numeric.push_back(d.value);
        if (std::isfinite(d.value)) scale = std::max(scale, std::abs(d.value));
        if (std::isfinite(d.rounding)) rounding = std::max(rounding, d.rounding);
    }
    // Below this a central difference cannot tell a gradient from zero.
    const double zero_level = std::max(options.zero_gradient, rounding);
    auto fail_with = [&](std::string message) {
        result.ok = false;
        if (result.failures.size() < 12) result.failures.push_back(std::move(message));
    };
    const bool zero_expected = std::any_of(
        options.expect_zero_gradient.begin(), options.expect_zero_gradient.end(), [&](const std::string& e) {
            return name == e ||
                   (name.size() > e.size() && name.ends_with(e) && name[name.size() - e.size() - 1] == '.');
        });
    if (!indices.empty() && scale < zero_level && !zero_expected)
        fail_with(
            fmt::format("{}: the gradient is zero at all {} checked elements (largest |numeric| {:.3g}): the "
                        "check proves nothing; make it non-zero or list '{}' in expect_zero_gradient",
                        name, indices.size(), scale, name));
    if (zero_expected && scale >= zero_level)
        fail_with(fmt::format("{}: expected a zero gradient, but a central difference is {:.3g}", name, scale));
    const double floor = std::max(options.scale_floor * scale, rounding / options.tolerance);
    for (std::size_t k = 0; k < indices.size(); ++k) {
        ++result.checked;
        const double a = analytic(indices[k]), num = numeric[k];
        const double denominator = std::max({std::abs(num), floor, std::numeric_limits<double>::min()});
        // An expected zero gradient must be zero up to rounding, like its central differences.
        double err = zero_expected ? (std::abs(a) < zero_level ? 0.0 : std::numeric_limits<double>::infinity())
                                   : std::abs(a - num) / denominator;
        if (std::isnan(err)) err = std::numeric_limits<double>::infinity();
        if (!(err <= options.tolerance))
            fail_with(fmt::format("{}[{}]: analytic {:.9g}, numeric {:.9g} (relative error {:.3g}, floor {:.3g})", name,
                                  indices[k], a, num, err, floor));
        if (result.worst.empty() || err > result.max_error) {
            result.max_error = err;
            result.worst = fmt::format("{}[{}]", name, indices[k]);
        }
    }
}

// A frozen parameter's gradient must still hold the pre-filled G0 in every element.
inline void check_frozen(GradcheckResult& result, const std::string& name, const double* grads, const double* g0,
                         std::int64_t n) {
    result.checked += n;
    for (std::int64_t i = 0; i < n; ++i)
        if (grads[i] != g0[i]) {
            result.ok = false;
            result.failures.push_back(fmt::format("{} is frozen but its gradient changed (element {})", name, i));
            return;
        }
}

// Every parameter of the arena: a frozen one must have kept G0, a trainable one's gradient (what backward added to
// G0) is compared with central differences of `probe`.
template <class Probe>
void check_parameters(GradcheckResult& result, const GradcheckOptions& options, HostRng& rng,
                      ParameterArena<Cpu<double>>& arena, const std::vector<double>& grads,
                      const std::vector<double>& g0, Probe&& probe) {
    for (auto& e : arena.params()) {
        if (!e.param->trainable) {
            check_frozen(result, e.name, grads.data() + e.offset, g0.data() + e.offset, e.numel());
            continue;
        }
        double* value = e.param->value.data();
        check_tensor(
            result, options, rng, e.name, e.numel(),
            [&](std::int64_t i) { return central_difference(value + i, options.eps, probe); },
            [&](std::int64_t i) {
                const std::size_t at = static_cast<std::size_t>(e.offset + i);
                return grads[at] - g0[at];
            });
    }
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
    const detail::ModelStateSnapshot state(arena, ctx);

    // Analytic gradients, with the NaN sentinel in new tensors.
    std::optional<detail::NanSentinelScope> sentinel(std::in_place, ctx);
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
    state.restore();

    auto probe = [&](const auto& input) {
        Tensor<B> out = model.forward(ctx, input);
        state.restore();
        ProbeValue f;
        const double* o = out.data();
        for (std::int64_t i = 0; i < out.numel(); ++i) {
            const double term = o[i] * r[static_cast<std::size_t>(i)];
            f.value += term;
            f.magnitude += std::abs(term);
        }
        return f;
    };

    // Input gradient.
    if constexpr (std::is_same_v<std::decay_t<decltype(x)>, Tensor<B>> && std::is_same_v<InputGrad, Tensor<B>>) {
        if (options.check_input) {
            if (!(dx.shape() == x.shape()))
                fail("gradcheck: the input gradient has shape {} but the input has {}", dx.shape(), x.shape());
            for (std::int64_t i = 0; i < dx.numel(); ++i)
                if (std::isnan(dx.data()[i])) {
                    result.ok = false;
                    result.failures.push_back(fmt::format("input gradient element {} was never written", i));
                    break;
                }
            Tensor<B> xp = ctx.clone(x);
            detail::check_tensor(
                result, options, rng, "input", x.numel(),
                [&](std::int64_t i) {
                    return detail::central_difference(xp.data() + i, options.eps, [&] { return probe(xp); });
                },
                [&](std::int64_t i) { return dx.data()[i]; });
        }
    }

    // Parameter gradients.
    detail::check_parameters(result, options, rng, arena, grads, g0, [&] { return probe(x); });
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
// a whole FgClep model. `evaluate(bool backward)` runs the forward pass and returns the scalar (a double, or a
// ProbeValue); with backward = true it also runs the backward pass, which accumulates into the arena's gradients
// and assigns each probe's grad.
// The traps, sampling and pass rule are gradcheck's; the arena's gradients are given back as they were.
template <class F>
GradcheckResult gradcheck_scalar(ParameterArena<Cpu<double>>& arena, Context<Cpu<double>>& ctx, F&& evaluate,
                                 const std::vector<ScalarProbe>& probes = {}, const GradcheckOptions& options = {}) {
    using B = Cpu<double>;
    HostRng rng(options.seed);
    GradcheckResult result;
    const detail::ModelStateSnapshot state(arena, ctx);
    const std::vector<double> grads_before = ctx.to_host(arena.grads());
    std::vector<double> g0(static_cast<std::size_t>(arena.grads().numel()));
    for (auto& v : g0) v = rng.normal();
    B::upload(ctx.state, arena.grads().data(), g0.data(), g0.size());
    {
        const detail::NanSentinelScope sentinel(ctx);
        evaluate(true);
    }
    const std::vector<double> grads = ctx.to_host(arena.grads());
    std::vector<std::vector<double>> probe_grads;
    for (auto& p : probes) {
        if (!p.grad || !p.grad->defined() || !(p.grad->shape() == p.value.shape()))
            fail("gradcheck_scalar: the backward pass did not assign a gradient of shape {} to '{}'", p.value.shape(),
                 p.name);
        probe_grads.push_back(ctx.to_host(*p.grad));
    }
    state.restore();

    auto probe = [&] {
        const auto f = evaluate(false);
        state.restore();
        if constexpr (std::is_same_v<std::decay_t<decltype(f)>, ProbeValue>)
            return f;
        else
            return ProbeValue{static_cast<double>(f), std::abs(static_cast<double>(f))};
    };
    for (std::size_t k = 0; k < probes.size(); ++k) {
        Tensor<Cpu<double>> probed = probes[k].value;  // a handle: the probe's own storage is perturbed
        double* data = probed.data();
        detail::check_tensor(
            result, options, rng, probes[k].name, probes[k].value.numel(),
            [&](std::int64_t i) { return detail::central_difference(data + i, options.eps, probe); },
            [&](std::int64_t i) { return probe_grads[k][static_cast<std::size_t>(i)]; });
    }
    detail::check_parameters(result, options, rng, arena, grads, g0, probe);
    B::upload(ctx.state, arena.grads().data(), grads_before.data(), grads_before.size());
    return result;
}

}  // namespace fgclep::testing
