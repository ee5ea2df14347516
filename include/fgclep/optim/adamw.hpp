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
// arena offset i), plus one global step count. torch keeps a step count per parameter; the two agree as long as
// every parameter that trains receives a gradient at every step (a frozen parameter keeps its moments, and on
// unfreezing resumes with the global count).
//
// The optimizer keeps a pointer to the arena: the model must outlive it and must not be moved while it is used.
#include "fgclep/backend/functors.hpp"
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/arena.hpp"
#include "fgclep/core/context.hpp"
#include "fgclep/core/error.hpp"

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
        const auto decayed = coefficients(step_, lr, Decay::yes), plain = coefficients(step_, lr, Decay::no);
        const Tensor<B>& p = arena_->values();
        const Tensor<B>& g = arena_->grads();
        for (const auto& s : arena_->trainable_segments())
            ops::adamw_update(ctx, s.size, s.decay == Decay::yes ? decayed : plain, p.data() + s.offset,
                              g.data() + s.offset, exp_avg_.data() + s.offset, exp_avg_sq_.data() + s.offset);
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
    // Completed steps; the next step() uses step_count() + 1 in its bias corrections, as torch's state["step"].
    std::int64_t step_count() const { return step_; }
    // First and second moments, one element per arena element (parameters in arena order, see arena.hpp).
    const Tensor<B>& exp_avg() const { return exp_avg_; }
    const Tensor<B>& exp_avg_sq() const { return exp_avg_sq_; }

    // Restores the state saved from step_count(), exp_avg() and exp_avg_sq() (a checkpoint of this model).
    void load_state(Context<B>& ctx, std::int64_t step, const std::vector<T>& exp_avg,
                    const std::vector<T>& exp_avg_sq) {
        const auto n = static_cast<std::size_t>(exp_avg_.numel());
        if (step < 0) fail("AdamW state: the step count must be >= 0, got {}", step);
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
    }

private:
    ParameterArena<B>* arena_;
    AdamWOptions options_;
    Tensor<B> exp_avg_, exp_avg_sq_;
    std::int64_t step_ = 0;
};

}  // namespace fgclep
