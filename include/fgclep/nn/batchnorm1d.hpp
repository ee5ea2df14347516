#pragma once
// BatchNorm1d over (N, C, L) or (N, C) (as L = 1), as torch.nn.BatchNorm1d: statistics per channel.
// Parameters weight (ones) and bias (zeros); buffers running_mean (zeros) and running_var (ones); the counter
// num_batches_tracked - in PyTorch's state_dict order.
//
// ctx.training: normalise with the batch statistics and update the running ones (momentum), as module.train().
// Otherwise: normalise with the running statistics, as module.eval(). `use_running_stats = true` gives the eval
// behaviour inside a pass that trains (PyTorch's bn.eval() in a model being fine-tuned): running statistics,
// nothing updated, and backward still available.
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/concepts.hpp"
#include "fgclep/core/param.hpp"
#include "fgclep/core/saved.hpp"

namespace fgclep {

struct BatchNorm1d {
    struct Options {
        std::int64_t num_features = 0;
        double eps = 1e-5;
        double momentum = 0.1;
    };
    static constexpr std::string_view name = "BatchNorm1d";
    template <Backend B>
    struct impl;
};

template <Backend B>
struct BatchNorm1d::impl : Module {
    using T = typename B::value_type;
    Options options;
    Param<B> weight, bias;
    Buffer<B> running_mean, running_var;
    Counter num_batches_tracked{"num_batches_tracked", 0};
    // Normalise with the running statistics even when ctx.training (frozen statistics); see the header comment.
    bool use_running_stats = false;

    explicit impl(const Options& o)
        : Module(BatchNorm1d::name),
          options(o),
          weight("weight", {o.num_features}, Decay::no, Init::ones()),
          bias("bias", {o.num_features}, Decay::no, Init::zeros()),
          running_mean("running_mean", {o.num_features}, Init::zeros()),
          running_var("running_var", {o.num_features}, Init::ones()) {
        if (o.num_features <= 0) fgclep::fail("BatchNorm1d needs a positive num_features, got {}", o.num_features);
        if (!(o.eps > 0) || !(o.momentum >= 0 && o.momentum <= 1))
            fgclep::fail("BatchNorm1d needs eps > 0 and momentum in [0, 1], got {} and {}", o.eps, o.momentum);
    }

    template <class V>
    void visit(V& v) {
        v.param(weight);
        v.param(bias);
        v.buffer(running_mean);
        v.buffer(running_var);
        v.counter(num_batches_tracked);
    }

    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
        const std::int64_t C = options.num_features;
        if (!((x.rank() == 2 || x.rank() == 3) && x.size(1) == C))
            fail("expected input of shape (*, {}) or (*, {}, *), got {}", C, C, x.shape());
        const std::int64_t N = x.size(0), L = x.rank() == 3 ? x.size(2) : 1;
        const bool batch_statistics = ctx.training && !use_running_stats;
        if (batch_statistics && N * L <= 1)
            fail("expected more than 1 value per channel when training, got input {}", x.shape());

        Tensor<B> y = ctx.empty(x.shape());
        Tensor<B> mean = ctx.empty(Shape{C}), invstd = ctx.empty(Shape{C});
        if (batch_statistics) {
            ops::batch_norm_forward_train(ctx, x.data(), N, C, L, weight.value.data(), bias.value.data(),
                                          static_cast<T>(options.eps), static_cast<T>(options.momentum), y.data(),
                                          mean.data(), invstd.data(), running_mean.value.data(),
                                          running_var.value.data());
            ++num_batches_tracked.value;
        } else {
            ops::batch_norm_forward_eval(ctx, x.data(), N, C, L, weight.value.data(), bias.value.data(),
                                         running_mean.value.data(), running_var.value.data(),
                                         static_cast<T>(options.eps), y.data(), mean.data(), invstd.data());
        }
        saved_input.keep(ctx, x);
        saved_mean.keep(ctx, mean);
        saved_invstd.keep(ctx, invstd);
        saved_batch_statistics = batch_statistics;
        return y;
    }

    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
        const Tensor<B> x = saved_input.take(*this, dy.shape()), mean = saved_mean.take(*this),
                        invstd = saved_invstd.take(*this);
        const std::int64_t N = x.size(0), C = options.num_features, L = x.rank() == 3 ? x.size(2) : 1;
        Tensor<B> dx = ctx.empty(x.shape());
        ops::batch_norm_backward(ctx, dy.data(), x.data(), N, C, L, weight.value.data(), mean.data(), invstd.data(),
                                 saved_batch_statistics, dx.data(), weight.trainable ? weight.grad.data() : nullptr,
                                 bias.trainable ? bias.grad.data() : nullptr);
        return dx;
    }

private:
    Saved<B> saved_input, saved_mean, saved_invstd;  // mean and 1/sqrt(var + eps) that normalised the input
    bool saved_batch_statistics = false;
};

}  // namespace fgclep
