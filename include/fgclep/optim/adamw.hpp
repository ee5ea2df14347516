#pragma once
// AdamW (decoupled weight decay) over a model's parameter arena, step for step what torch.optim.AdamW computes
// (torch 1.13, single-tensor path, amsgrad off, maximize off).
//
// Decay groups: the arena lays out parameters with Decay::yes first, then Decay::no (biases, norm parameters),
// and trainable_segments() returns contiguous runs of one group. By default the Decay::no group gets no weight
// decay, which equals torch.optim.AdamW with two param groups (weights: weight_decay, the rest: 0). With
// decay_all every parameter decays, as torch's default single param group does.
//
// State: exp_avg and exp_avg_sq are flat tensors aligned with the arena (element i belongs to the parameter at
// arena offset i), and a step count per parameter, as torch keeps: a parameter's count advances only on steps
// where it is trainable, so a layer unfrozen after N steps starts its bias correction at 1, not at N + 1. Updates
// are fused over contiguous runs of parameters with the same decay group and step count (one run per group when
// nothing was ever frozen).
//
// The optimizer keeps a pointer to the arena, which a Model keeps at a fixed address even when the Model is moved;
// the model must outlive the optimizer.
#include "fgclep/backend/functors.hpp"
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/arena.hpp"
#include "fgclep/core/context.hpp"
#include "fgclep/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace fgclep {

struct AdamWOptions {
    double lr = 2e-5;
    double beta1 = 0.9, beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 1e-4;
    // true: every parameter decays (torch's default single param group); false: the Decay::no group does not.
    bool decay_all = false;

    // Throws fgclep::Error for settings torch.optim.AdamW would reject (written so that NaN fails every check).
    void validate() const {
        if (!(lr >= 0) || !std::isfinite(lr)) fail("AdamW needs a finite learning rate >= 0, got lr = {}", lr);
        if (!(beta1 >= 0 && beta1 < 1)) fail("AdamW needs beta1 in [0, 1), got beta1 = {}", beta1);
        if (!(beta2 >= 0 && beta2 < 1)) fail("AdamW needs beta2 in [0, 1), got beta2 = {}", beta2);
        if (!(eps >= 0) || !std::isfinite(eps)) fail("AdamW needs a finite eps >= 0, got eps = {}", eps);
        if (!(weight_decay >= 0) || !std::isfinite(weight_decay))
            fail("AdamW needs a finite weight_decay >= 0, got weight_decay = {}", weight_decay);
    }
};

template <Backend B>
class AdamW {
public:
    using T = typename B::value_type;

    explicit AdamW(ParameterArena<B>& arena, const AdamWOptions& options = {}) : arena_(&arena), options_(options) {
        options_.validate();
        for (std::size_t i = 0; i < arena.params().size(); ++i) order_.push_back(i);
        std::sort(order_.begin(), order_.end(),
                  [&](std::size_t a, std::size_t b) { return arena.params()[a].offset < arena.params()[b].offset; });
        steps_.assign(arena.params().size(), 0);
        const std::int64_t n = arena.values().numel();
        exp_avg_ = Tensor<B>::uninitialized(Shape{n});
        exp_avg_sq_ = Tensor<B>::uninitialized(Shape{n});
        typename B::State state{};
        B::fill(state, exp_avg_.data(), static_cast<std::size_t>(n), T(0));
        B::fill(state, exp_avg_sq_.data(), static_cast<std::size_t>(n), T(0));
    }

    // One update of every trainable parameter from the gradient arena, at the learning rate `lr` (a schedule's
    // value for this step; it replaces options().lr for this step only).
    void step(Context<B>& ctx, double lr) {
        if (!(lr >= 0) || !std::isfinite(lr))
            fail("AdamW step {} was given lr = {}; it must be finite and >= 0", step_ + 1, lr);
        if (arena_->values().numel() != exp_avg_.numel())
            fail("AdamW was built for {} parameter elements but the arena now holds {}; build a new optimizer",
                 exp_avg_.numel(), arena_->values().numel());
        ++step_;
        const auto& params = arena_->params();
        Tensor<B>& p = arena_->values();
        const Tensor<B>& g = arena_->grads();
        // Runs of parameters adjacent in the arena with equal decay group and step count share one fused update.
        std::int64_t run_offset = 0, run_size = 0, run_step = 0;
        Decay run_decay = Decay::yes;
        auto flush = [&] {
            if (run_size == 0) return;
            ops::adamw_update(ctx, run_size, coefficients(run_step, lr, run_decay), p.data() + run_offset,
                              g.data() + run_offset, exp_avg_.data() + run_offset, exp_avg_sq_.data() + run_offset);
            run_size = 0;
        };
        for (std::size_t i : order_) {
            const auto& e = params[i];
            if (!e.param->trainable || e.numel() == 0) continue;
            const std::int64_t t = ++steps_[i];
            if (run_size > 0 && (e.param->decay != run_decay || t != run_step || run_offset + run_size != e.offset))
                flush();
            if (run_size == 0) {
                run_offset = e.offset;
                run_decay = e.param->decay;
                run_step = t;
            }
            run_size += e.numel();
        }
        flush();
    }
    void step(Context<B>& ctx) { step(ctx, options_.lr); }

    // The per-element coefficients of step t (1-based) for one decay group, computed in double exactly as
    // torch's _single_tensor_adamw does and rounded to T once, as torch rounds its Python scalars.
    fn::AdamWStep<T> coefficients(std::int64_t step, double lr, Decay group) const {
        const double t = static_cast<double>(step);
        const double weight_decay = (group == Decay::yes || options_.decay_all) ? options_.weight_decay : 0.0;
        const double bias_correction1 = 1 - std::pow(options_.beta1, t);
        const double bias_correction2 = 1 - std::pow(options_.beta2, t);
        const double step_size = lr / bias_correction1;
        fn::AdamWStep<T> c;
        c.decay_factor = static_cast<T>(1 - lr * weight_decay);
        c.beta1 = static_cast<T>(options_.beta1);
        c.one_minus_beta1 = static_cast<T>(1 - options_.beta1);
        c.beta2 = static_cast<T>(options_.beta2);
        c.one_minus_beta2 = static_cast<T>(1 - options_.beta2);
        c.neg_step_size = static_cast<T>(-step_size);
        c.bias_correction2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
        c.eps = static_cast<T>(options_.eps);
        return c;
    }

    const AdamWOptions& options() const { return options_; }
    // Completed calls of step() (what a schedule counts).
    std::int64_t step_count() const { return step_; }
    // Each parameter's own step count (torch's state["step"]), in the arena's state_dict order: the next update
    // of parameter i uses parameter_steps()[i] + 1 in its bias corrections.
    const std::vector<std::int64_t>& parameter_steps() const { return steps_; }
    // First and second moments, one element per arena element (parameters in arena order, see arena.hpp).
    const Tensor<B>& exp_avg() const { return exp_avg_; }
    const Tensor<B>& exp_avg_sq() const { return exp_avg_sq_; }

    // Restores the state saved from step_count(), parameter_steps(), exp_avg() and exp_avg_sq() (a checkpoint of
    // this model). Nothing changes unless every part is valid.
    void load_state(Context<B>& ctx, std::int64_t step, const std::vector<std::int64_t>& parameter_steps,
                    const std::vector<T>& exp_avg, const std::vector<T>& exp_avg_sq) {
        const auto n = static_cast<std::size_t>(exp_avg_.numel());
        if (step < 0) fail("AdamW state: the step count must be >= 0, got {}", step);
        if (parameter_steps.size() != steps_.size())
            fail("AdamW state: {} parameter step counts for a model with {} parameters", parameter_steps.size(),
                 steps_.size());
        for (std::size_t i = 0; i < parameter_steps.size(); ++i)
            if (parameter_steps[i] < 0 || parameter_steps[i] > step)
                fail("AdamW state: parameter '{}' has step count {}, outside [0, {}]", arena_->params()[i].name,
                     parameter_steps[i], step);
        if (exp_avg.size() != n)
            fail("AdamW state: exp_avg has {} elements but the parameter arena has {}", exp_avg.size(), n);
        if (exp_avg_sq.size() != n)
            fail("AdamW state: exp_avg_sq has {} elements but the parameter arena has {}", exp_avg_sq.size(), n);
        for (std::size_t i = 0; i < n; ++i)
            if (!(exp_avg_sq[i] >= T(0)))
                fail("AdamW state: exp_avg_sq must be >= 0 everywhere, but element {} is {}", i, exp_avg_sq[i]);
        B::upload(ctx.state, exp_avg_.data(), exp_avg.data(), n);
        B::upload(ctx.state, exp_avg_sq_.data(), exp_avg_sq.data(), n);
        step_ = step;
        steps_ = parameter_steps;
    }
    // The same, for state saved when every parameter trained at every step (all counts equal to `step`).
    void load_state(Context<B>& ctx, std::int64_t step, const std::vector<T>& exp_avg,
                    const std::vector<T>& exp_avg_sq) {
        load_state(ctx, step, std::vector<std::int64_t>(steps_.size(), step), exp_avg, exp_avg_sq);
    }

private:
    ParameterArena<B>* arena_;
    AdamWOptions options_;
    Tensor<B> exp_avg_, exp_avg_sq_;
    std::int64_t step_ = 0;
    std::vector<std::int64_t> steps_;  // per parameter, state_dict order
    std::vector<std::size_t> order_;   // parameter indices in arena order
};

}  // namespace fgclep
