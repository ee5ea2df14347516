#pragma once
// LayerNorm: y = (x - mean) / sqrt(var + eps) * weight + bias over the last dimension, as torch.nn.LayerNorm with
// an int normalized_shape (biased variance; BERT uses eps = 1e-12).
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/concepts.hpp"
#include "fgclep/core/param.hpp"
#include "fgclep/core/saved.hpp"

namespace fgclep {

struct LayerNorm {
    struct Options {
        std::int64_t normalized_shape = 0;
        double eps = 1e-5;
    };
    static constexpr std::string_view name = "LayerNorm";
    template <Backend B>
    struct impl;
};

template <Backend B>
struct LayerNorm::impl : Module {
    using T = typename B::value_type;
    Options options;
    Param<B> weight, bias;

    explicit impl(const Options& o)
        : Module(LayerNorm::name),
          options(o),
          weight("weight", {o.normalized_shape}, Decay::no, Init::ones()),
          bias("bias", {o.normalized_shape}, Decay::no, Init::zeros()) {
        if (o.normalized_shape <= 0)
            fgclep::fail("LayerNorm needs a positive normalized_shape, got {}", o.normalized_shape);
        if (!(o.eps > 0)) fgclep::fail("LayerNorm needs a positive eps, got {}", o.eps);
    }

    template <class V>
    void visit(V& v) {
        v.param(weight);
        v.param(bias);
    }

    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
        const std::int64_t D = options.normalized_shape;
        if (x.rank() < 1 || x.shape().back() != D) fail("expected input (*, {}), got {}", D, x.shape());
        const std::int64_t rows = x.shape().rows();
        Tensor<B> y = ctx.empty(x.shape());
        Tensor<B> mean = ctx.empty(Shape{rows}), rstd = ctx.empty(Shape{rows});
        ops::layer_norm_forward(ctx, x.data(), rows, D, weight.value.data(), bias.value.data(), T(options.eps),
                                y.data(), mean.data(), rstd.data());
        saved_input.keep(ctx, x);
        saved_mean.keep(ctx, mean);
        saved_rstd.keep(ctx, rstd);
        return y;
    }

    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
        const Tensor<B> x = saved_input.take(*this, dy.shape()), mean = saved_mean.take(*this),
                        rstd = saved_rstd.take(*this);
        Tensor<B> dx = ctx.empty(x.shape());
        ops::layer_norm_backward(ctx, dy.data(), x.data(), x.shape().rows(), options.normalized_shape,
                                 weight.value.data(), mean.data(), rstd.data(), dx.data(),
                                 weight.trainable ? weight.grad.data() : nullptr,
                                 bias.trainable ? bias.grad.data() : nullptr);
        return dx;
    }

private:
    Saved<B> saved_input, saved_mean, saved_rstd;
};

}  // namespace fgclep
