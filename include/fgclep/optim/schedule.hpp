#pragma once
// WarmupCosine: linear warm-up from 0 to base_lr, then half a cosine down to min_lr, as Hugging Face
// transformers' get_cosine_schedule_with_warmup (num_cycles = 0.5; with min_lr, as
// get_cosine_with_min_lr_schedule_with_warmup) applied through torch's LambdaLR.
//
// Convention (LambdaLR's): lr(k) is the learning rate of optimizer step k, counted from 0. So the very first step
// of a warm-up runs at lr 0 and step `warmup_steps` is the first at base_lr:
//
//     for (std::int64_t k = 0; k < schedule.total_steps; ++k) { ...; optimizer.step(ctx, schedule.lr(k)); }
//
// From total_steps on the learning rate stays at min_lr (Hugging Face's formula would rise again after it).
#include "fgclep/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>

namespace fgclep {

struct WarmupCosine {
    double base_lr = 0;
    std::int64_t warmup_steps = 0;
    std::int64_t total_steps = 0;
    double min_lr = 0;

    // Warm-up over the first `warmup_fraction` of the steps, rounded up as Hugging Face's Trainer does with
    // warmup_ratio (ceil(total_steps * warmup_fraction)); method.md's schedule is from_fraction(lr, steps, 0.1).
    static WarmupCosine from_fraction(double base_lr, std::int64_t total_steps, double warmup_fraction,
                                      double min_lr = 0) {
        if (!(warmup_fraction >= 0 && warmup_fraction <= 1))
            fail("WarmupCosine needs a warm-up fraction in [0, 1], got {}", warmup_fraction);
        if (total_steps < 1) fail("WarmupCosine needs total_steps >= 1, got {}", total_steps);
        const auto warmup = static_cast<std::int64_t>(std::ceil(static_cast<double>(total_steps) * warmup_fraction));
        WarmupCosine s{base_lr, std::min(warmup, total_steps), total_steps, min_lr};
        s.validate();
        return s;
    }

    void validate() const {
        if (!(base_lr >= 0) || !std::isfinite(base_lr))
            fail("WarmupCosine needs a finite base_lr >= 0, got {}", base_lr);
        if (!(min_lr >= 0 && min_lr <= base_lr))
            fail("WarmupCosine needs 0 <= min_lr <= base_lr, got min_lr = {} with base_lr = {}", min_lr, base_lr);
        if (total_steps < 1) fail("WarmupCosine needs total_steps >= 1, got {}", total_steps);
        if (warmup_steps < 0 || warmup_steps > total_steps)
            fail("WarmupCosine needs 0 <= warmup_steps <= total_steps, got warmup_steps = {} with total_steps = {}",
                 warmup_steps, total_steps);
    }

    // The learning rate of optimizer step `step` (0-based). Computed as base_lr * factor with Hugging Face's
    // factor arithmetic, so values agree with it to the last bit or two.
    double lr(std::int64_t step) const {
        validate();
        if (step < 0) fail("WarmupCosine: the step must be >= 0, got {}", step);
        if (step >= total_steps) return min_lr;
        if (step < warmup_steps)
            return base_lr * (static_cast<double>(step) / static_cast<double>(std::max<std::int64_t>(1, warmup_steps)));
        const double progress = static_cast<double>(step - warmup_steps) /
                                static_cast<double>(std::max<std::int64_t>(1, total_steps - warmup_steps));
        const double cosine = std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * 0.5 * 2.0 * progress)));
        if (min_lr == 0) return base_lr * cosine;
        const double min_rate = min_lr / base_lr;
        return base_lr * (cosine * (1 - min_rate) + min_rate);
    }
};

}  // namespace fgclep
