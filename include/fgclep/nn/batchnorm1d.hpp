#pragma once
// BatchNorm1d over (N, C, L) or (N, C) (as L = 1), as torch.nn.BatchNorm1d: statistics per channel.
// Parameters weight (ones) and bias (zeros); buffers running_mean (zeros) and running_var (ones); the counter
// num_batches_tracked - in PyTorch's state_dict order.
//
// ctx.training: normalise with the batch statistics and update the running ones (momentum), as module.train().
// Otherwise: normalise with the running statistics, as module.eval(). `use_running_stats = true` gives the eval
// behaviour inside a pass that trains (PyTorch's bn.eval() in a model being fine-tuned): running statistics,
// nothing updated, and backward still available.
//
// `synchronize = true` gives torch.nn.SyncBatchNorm's semantics in a data-parallel run (ctx.collectives with more
// than one rank): the batch statistics are those of the global batch (each rank's mean and variance all-gathered and
// combined, as PyTorch does), and backward reduces sum(dy) and sum(dy * xhat) over ranks. The parameter gradients
// stay per-rank sums, which the Trainer averages like every other gradient. It costs two small host collectives per
// layer and step and one extra pass over the input. In one process it changes nothing.
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
    // Global-batch statistics in a distributed run (SyncBatchNorm); see the header comment.
    bool synchronize = false;

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
        const bool global = batch_statistics && synchronize && ctx.world_size() > 1;
        if (batch_statistics && !global && N * L <= 1)
            fail("expected more than 1 value per channel when training, got input {}", x.shape());

        Tensor<B> y = ctx.empty(x.shape());
        Tensor<B> mean = ctx.empty(Shape{C}), invstd = ctx.empty(Shape{C});
        saved_synchronized = global;
        if (saved_synchronized) {
            forward_synchronized(ctx, x, N, L, y, mean, invstd);
            ++num_batches_tracked.value;
        } else if (batch_statistics) {
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
        if (saved_synchronized) {
            backward_synchronized(ctx, dy, x, mean, invstd, dx);
            return dx;
        }
        ops::batch_norm_backward(ctx, dy.data(), x.data(), N, C, L, weight.value.data(), mean.data(), invstd.data(),
                                 saved_batch_statistics, dx.data(), weight.trainable ? weight.grad.data() : nullptr,
                                 bias.trainable ? bias.grad.data() : nullptr);
        return dx;
    }

private:
    // SyncBatchNorm forward: this rank's statistics, all-gathered with the element counts and combined (Chan's
    // parallel variance), then y normalised with the global ones, which are also what backward uses.
    void forward_synchronized(Context<B>& ctx, const Tensor<B>& x, std::int64_t N, std::int64_t L, Tensor<B>& y,
                              Tensor<B>& mean, Tensor<B>& invstd) {
        const std::int64_t C = options.num_features;
        const auto c = static_cast<std::size_t>(C);
        Tensor<B> scratch_mean = ctx.zeros(Shape{C}), scratch_var = ctx.full(Shape{C}, T(1));
        ops::batch_norm_forward_train(ctx, x.data(), N, C, L, weight.value.data(), bias.value.data(),
                                      static_cast<T>(options.eps), T(0), y.data(), mean.data(), invstd.data(),
                                      scratch_mean.data(), scratch_var.data());
        const std::vector<T> local_mean = ctx.to_host(mean), local_invstd = ctx.to_host(invstd);
        std::vector<double> mine(2 * c + 1);
        for (std::size_t i = 0; i < c; ++i) {
            const double is = static_cast<double>(local_invstd[i]);
            mine[i] = static_cast<double>(local_mean[i]);
            mine[c + i] = std::max(0.0, 1.0 / (is * is) - options.eps);  // as SyncBatchNorm recovers it
        }
        mine[2 * c] = static_cast<double>(N * L);
        const int K = ctx.world_size();
        std::vector<double> all(mine.size() * static_cast<std::size_t>(K));
        ctx.collectives->all_gather(mine, all);
        double count = 0;
        std::vector<double> global_mean(c, 0.0), m2(c, 0.0);
        for (int r = 0; r < K; ++r) count += all[static_cast<std::size_t>(r) * mine.size() + 2 * c];
        for (int r = 0; r < K; ++r) {
            const double* part = all.data() + static_cast<std::size_t>(r) * mine.size();
            for (std::size_t i = 0; i < c; ++i) global_mean[i] += part[2 * c] * part[i] / count;
        }
        for (int r = 0; r < K; ++r) {
            const double* part = all.data() + static_cast<std::size_t>(r) * mine.size();
            for (std::size_t i = 0; i < c; ++i) {
                const double d = part[i] - global_mean[i];
                m2[i] += part[2 * c] * (part[c + i] + d * d);
            }
        }
        std::vector<T> mean_t(c), var_t(c);
        std::vector<T> running_m = ctx.to_host(running_mean.value), running_v = ctx.to_host(running_var.value);
        const double momentum = options.momentum;
        for (std::size_t i = 0; i < c; ++i) {
            const double var = m2[i] / count;
            mean_t[i] = static_cast<T>(global_mean[i]);
            var_t[i] = static_cast<T>(var);
            const double unbiased = count > 1 ? m2[i] / (count - 1) : var;
            running_m[i] =
                static_cast<T>((1 - momentum) * static_cast<double>(running_m[i]) + momentum * global_mean[i]);
            running_v[i] = static_cast<T>((1 - momentum) * static_cast<double>(running_v[i]) + momentum * unbiased);
        }
        saved_global_mean = ctx.from_host(Shape{C}, mean_t);
        saved_global_var = ctx.from_host(Shape{C}, var_t);
        saved_count = count;
        ops::batch_norm_forward_eval(ctx, x.data(), N, C, L, weight.value.data(), bias.value.data(),
                                     saved_global_mean.data(), saved_global_var.data(), static_cast<T>(options.eps),
                                     y.data(), mean.data(), invstd.data());
        ctx.copy(running_mean.value, ctx.from_host(Shape{C}, running_m));
        ctx.copy(running_var.value, ctx.from_host(Shape{C}, running_v));
    }

    // SyncBatchNorm backward: dx = g (dy - mean(dy) - xhat mean(dy xhat)), g = gamma * invstd, with the means over
    // the global batch. This rank's sums come from the fixed-statistics backward (which also gives g dy); the
    // correction -g (mean(dy) + xhat mean(dy xhat)) is an affine map of x per channel, applied by the evaluation
    // forward with the global statistics and a crafted weight and bias.
    void backward_synchronized(Context<B>& ctx, const Tensor<B>& dy, const Tensor<B>& x, const Tensor<B>& mean,
                               const Tensor<B>& invstd, Tensor<B>& dx) {
        const std::int64_t C = options.num_features, N = x.size(0), L = x.rank() == 3 ? x.size(2) : 1;
        const auto c = static_cast<std::size_t>(C);
        Tensor<B> local_dgamma = ctx.zeros(Shape{C}), local_dbeta = ctx.zeros(Shape{C});
        ops::batch_norm_backward(ctx, dy.data(), x.data(), N, C, L, weight.value.data(), mean.data(), invstd.data(),
                                 false, dx.data(), local_dgamma.data(), local_dbeta.data());
        if (weight.trainable) ops::axpy(ctx, C, T(1), local_dgamma.data(), weight.grad.data());
        if (bias.trainable) ops::axpy(ctx, C, T(1), local_dbeta.data(), bias.grad.data());
        const std::vector<T> sum_dy_xhat = ctx.to_host(local_dgamma), sum_dy = ctx.to_host(local_dbeta);
        std::vector<double> sums(2 * c);
        for (std::size_t i = 0; i < c; ++i) {
            sums[i] = static_cast<double>(sum_dy[i]);
            sums[c + i] = static_cast<double>(sum_dy_xhat[i]);
        }
        ctx.collectives->all_reduce_sum(sums);
        const std::vector<T> gamma = ctx.to_host(weight.value), is = ctx.to_host(invstd);
        std::vector<T> scale(c), shift(c);
        for (std::size_t i = 0; i < c; ++i) {
            const double g = static_cast<double>(gamma[i]) * static_cast<double>(is[i]);
            shift[i] = static_cast<T>(-g * sums[i] / saved_count);
            scale[i] = static_cast<T>(-g * sums[c + i] / saved_count);  // times xhat = (x - mean) * invstd
        }
        Tensor<B> correction = ctx.empty(x.shape()), unused_mean = ctx.empty(Shape{C}),
                  unused_invstd = ctx.empty(Shape{C});
        const Tensor<B> scale_t = ctx.from_host(Shape{C}, scale), shift_t = ctx.from_host(Shape{C}, shift);
        ops::batch_norm_forward_eval(ctx, x.data(), N, C, L, scale_t.data(), shift_t.data(), saved_global_mean.data(),
                                     saved_global_var.data(), static_cast<T>(options.eps), correction.data(),
                                     unused_mean.data(), unused_invstd.data());
        ops::axpy(ctx, dx.numel(), T(1), correction.data(), dx.data());
    }

    Saved<B> saved_input, saved_mean, saved_invstd;  // mean and 1/sqrt(var + eps) that normalised the input
    bool saved_batch_statistics = false;
    bool saved_synchronized = false;
    Tensor<B> saved_global_mean, saved_global_var;  // the synchronised forward's global statistics
    double saved_count = 0;                         // elements per channel in the global batch
};

}  // namespace fgclep
