#pragma once
// Dropout: in training, zeroes each element with probability p and scales the rest by 1 / (1 - p) (inverted
// dropout, as torch.nn.Dropout); in evaluation, the identity. The random numbers come from the context's Philox
// stream, so backward re-draws the same mask from the remembered offset instead of storing it.
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/concepts.hpp"
#include "fgclep/core/saved.hpp"

namespace fgclep {

struct Dropout {
    struct Options {
        double p = 0.1;
    };
    static constexpr std::string_view name = "Dropout";
    template <Backend B>
    struct impl;
};

template <Backend B>
struct Dropout::impl : Module {
    using T = typename B::value_type;
    Options options;

    explicit impl(const Options& o = {}) : Module(Dropout::name), options(o) {
        if (!(o.p >= 0 && o.p <= 1)) fgclep::fail("Dropout needs p in [0, 1], got {}", o.p);
    }

    template <class V>
    void visit(V&) {}

    // Eval mode and p = 0 return x itself (no copy); p = 1 gives zeros.
    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
        saved_shape = x.shape();
        if (!ctx.training || options.p == 0) {
            last = Pass::identity;
            return x;
        }
        if (options.p == 1) {
            last = Pass::zeros;
            return ctx.zeros(x.shape());
        }
        last = Pass::masked;
        offset = ctx.reserve_random(static_cast<std::uint64_t>(x.numel()));
        seed = ctx.seed;
        Tensor<B> y = ctx.empty(x.shape());
        ops::dropout(ctx, x.numel(), T(options.p), seed, offset, x.data(), y.data());
        return y;
    }

    // The gradient goes through the mask of the last forward (the identity after an eval-mode forward).
    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
        const Pass pass = last;
        last = Pass::none;
        if (pass == Pass::none) fail("backward needs a forward pass first");
        expect_output_gradient(*this, dy.shape(), saved_shape);
        if (pass == Pass::identity) return dy;
        if (pass == Pass::zeros) return ctx.zeros(dy.shape());
        Tensor<B> dx = ctx.empty(dy.shape());
        ops::dropout(ctx, dy.numel(), T(options.p), seed, offset, dy.data(), dx.data());
        return dx;
    }

private:
    enum class Pass { none, identity, zeros, masked };
    Pass last = Pass::none;
    Shape saved_shape;
    std::uint64_t seed = 0, offset = 0;
};

}  // namespace fgclep
