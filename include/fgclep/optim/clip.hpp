#pragma once
// Global-norm gradient clipping over a model's gradient arena, as torch.nn.utils.clip_grad_norm_ (norm_type 2).
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/arena.hpp"
#include "fgclep/core/context.hpp"
#include "fgclep/core/error.hpp"

#include <cmath>

namespace fgclep {

// Computes the 2-norm of the gradients of all trainable parameters taken together (frozen parameters are
// ignored, as torch ignores parameters whose .grad is None) and, when it exceeds max_norm, scales those gradients
// by max_norm / (total_norm + 1e-6). Returns the norm before clipping. max_norm = infinity only measures.
//
// Unlike torch, a non-finite norm (a NaN or Inf gradient somewhere) leaves the gradients untouched and is
// returned as is, so the caller can skip the step; torch would multiply every gradient by NaN.
template <Backend B>
double clip_grad_norm(Context<B>& ctx, ParameterArena<B>& arena, double max_norm) {
    using T = typename B::value_type;
    if (!(max_norm > 0)) fail("clip_grad_norm needs max_norm > 0, got {}", max_norm);
    const auto segments = arena.trainable_segments();
    T* grads = arena.grads().data();
    double sum = 0;
    for (const auto& s : segments) sum += ops::sum_squares(ctx, s.size, grads + s.offset);
    const double total_norm = std::sqrt(sum);
    if (!std::isfinite(total_norm)) return total_norm;
    const double clip_coef = max_norm / (total_norm + 1e-6);
    if (clip_coef < 1)
        for (const auto& s : segments)
            ops::scale(ctx, s.size, static_cast<T>(clip_coef), grads + s.offset, grads + s.offset);
    return total_norm;
}

}  // namespace fgclep
