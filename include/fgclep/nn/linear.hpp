#pragma once
// Linear: y = x W^T + b over the last dimension, as torch.nn.Linear (weight (out, in), bias (out)).
#include "fgclep/backend/ops.hpp"
#include "fgclep/backend/tensor_ops.hpp"
#include "fgclep/core/concepts.hpp"
#include "fgclep/core/param.hpp"
#include "fgclep/core/saved.hpp"

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
        const std::int64_t out = options.out_features;
        Tensor<B> y = ctx.empty(x.shape().with_last(out));
        ops::matmul(ctx, x, weight.value, y, {.trans_b = true});
        if (options.bias) ops::add_bias_rows(ctx, x.shape().rows(), out, bias.value.data(), y.data());
        saved_input.keep(ctx, x);
        return y;
    }

    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
        expect_output_gradient(*this, dy.shape(), saved_input.peek(*this).shape().with_last(options.out_features));
        const Tensor<B> x = saved_input.take(*this);
        Tensor<B> dx = ctx.empty(x.shape());
        ops::matmul(ctx, dy, weight.value, dx);
        if (weight.trainable) ops::matmul(ctx, dy, x, weight.grad, {.trans_a = true, .beta = 1});
        if (options.bias && bias.trainable)
            ops::sum_rows(ctx, x.shape().rows(), options.out_features, dy.data(), T(1), bias.grad.data());
        return dx;
    }

private:
    static double bound(const Options& o) { return o.in_features > 0 ? 1.0 / std::sqrt(double(o.in_features)) : 0.0; }
    Saved<B> saved_input;
};

}  // namespace fgclep
