#pragma once
// Linear: y = x W^T + b over the last dimension, as torch.nn.Linear (weight (out, in), bias (out)).
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/concepts.hpp"
#include "fgclep/core/param.hpp"

#include <cmath>

namespace fgclep {

struct Linear {
    struct Options {
        std::int64_t in_features = 0;
        std::int64_t out_features = 0;
        bool bias = true;
    };
    static constexpr std::string_view name = "Linear";
    template <Backend B>
    struct impl;
};

template <Backend B>
struct Linear::impl : Module {
    using T = typename B::value_type;
    Options options;
    Param<B> weight, bias;

    explicit impl(const Options& o)
        : Module(Linear::name),
          options(o),
          // PyTorch's reset_parameters: kaiming_uniform(a=sqrt(5)) is U(-1/sqrt(in), 1/sqrt(in)), as is the bias.
          weight("weight", {o.out_features, o.in_features}, Decay::yes, Init::uniform(bound(o))),
          bias("bias", {o.out_features}, Decay::no, Init::uniform(bound(o))) {
        if (o.in_features <= 0 || o.out_features <= 0)
            fgclep::fail("Linear needs positive in_features and out_features, got {} and {}", o.in_features,
                         o.out_features);
    }

    template <class V>
    void visit(V& v) {
        v.param(weight);
        if (options.bias) v.param(bias);
    }

    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
        if (x.rank() < 1 || x.shape().back() != options.in_features)
            fail("expected input (*, {}), got {}", options.in_features, x.shape());
        const std::int64_t rows = x.shape().rows(), in = options.in_features, out = options.out_features;
        Tensor<B> y = ctx.empty(x.shape().with_last(out));
        ops::gemm(ctx, false, true, rows, out, in, T(1), x.data(), in, weight.value.data(), in, T(0), y.data(), out);
        if (options.bias) ops::add_bias_rows(ctx, rows, out, bias.value.data(), y.data());
        saved_input = ctx.training ? x : Tensor<B>();
        return y;
    }

    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
        if (!saved_input.defined()) fail("backward needs a forward pass in training mode first");
        if (!(dy.shape() == saved_input.shape().with_last(options.out_features)))
            fail("expected an output gradient of shape {}, got {}", saved_input.shape().with_last(options.out_features),
                 dy.shape());
        const Tensor<B> x = std::move(saved_input);  // released: backward runs once per forward
        const std::int64_t rows = x.shape().rows(), in = options.in_features, out = options.out_features;
        Tensor<B> dx = ctx.empty(x.shape());
        ops::gemm(ctx, false, false, rows, in, out, T(1), dy.data(), out, weight.value.data(), in, T(0), dx.data(), in);
        if (weight.trainable)
            ops::gemm(ctx, true, false, out, in, rows, T(1), dy.data(), out, x.data(), in, T(1), weight.grad.data(), in);
        if (options.bias && bias.trainable) ops::sum_rows(ctx, rows, out, dy.data(), T(1), bias.grad.data());
        return dx;
    }

private:
    static double bound(const Options& o) { return o.in_features > 0 ? 1.0 / std::sqrt(double(o.in_features)) : 0.0; }
    Tensor<B> saved_input;
};

}  // namespace fgclep
