#pragma once
// InfoNceLoss: CLIP's symmetric softmax contrastive loss, the baseline FG-CLEP compares with (method.md section 3).
//
//   l_ij = s * cos(e_i, t_j),  s = exp(logit_scale)
//   L = (1/2) [ (1/N) sum_i CE(l_i., i) + (1/N) sum_j CE(l_.j, j) ]      (ECG->text and text->ECG)
//
// The temperature is learnable (CLIP's init logit_scale = log(1/0.07)) or fixed (learnable = false). As CLIP
// clamps logit_scale at log 100 after each step, s is capped at exp(max_logit_scale) here, with no gradient to
// logit_scale while it is capped.
#include "fgclep/loss/contrastive_loss.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace fgclep {

struct InfoNceLoss {
    struct Options {
        double logit_scale = 2.659260036932778;      // log(1 / 0.07)
        bool learnable = true;                       // false: a fixed temperature
        double max_logit_scale = 4.605170185988092;  // log 100; infinity: no cap
        double weight = 1;
    };
    static constexpr std::string_view name = "InfoNceLoss";
    static constexpr std::string_view key = "infonce_loss";
    template <Backend B>
    struct impl;
};

template <Backend B>
struct InfoNceLoss::impl : Module {
    Options options;
    Param<B> logit_scale;

    explicit impl(const Options& o)
        : Module(InfoNceLoss::name),
          options(o),
          logit_scale("logit_scale", Shape{}, Decay::no, Init::constant(o.logit_scale)) {
        if (!std::isfinite(o.logit_scale))
            fgclep::fail("InfoNceLoss needs a finite logit_scale, got {}", o.logit_scale);
        if (!(o.weight >= 0)) fgclep::fail("InfoNceLoss needs a weight >= 0, got {}", o.weight);
        logit_scale.trainable = o.learnable;
    }

    template <class V>
    void visit(V& v) {
        v.param(logit_scale);
    }
    double weight() const { return options.weight; }

    double forward(Context<B>& ctx, const PairBatch& batch) {
        const HostMatrix l = scale(ctx) * batch.cos;
        const std::int64_t N = batch.size();
        double sum = 0;
        for (std::int64_t i = 0; i < N; ++i) {
            sum += log_sum_exp(l.row(i)) - l(i, i);
            sum += log_sum_exp(l.col(i)) - l(i, i);
        }
        return sum / (2.0 * static_cast<double>(N));
    }

    void backward(Context<B>& ctx, const PairBatch& batch, PairGradients& grads, double dloss) {
        const double s = scale(ctx);
        const HostMatrix l = s * batch.cos;
        const std::int64_t N = batch.size();
        // dL/dl_ij = (softmax over row i at j - [i==j] + softmax over column j at i - [i==j]) / 2N
        HostMatrix dl = HostMatrix::Zero(N, N);
        for (std::int64_t i = 0; i < N; ++i) {
            const double row = log_sum_exp(l.row(i)), col = log_sum_exp(l.col(i));
            for (std::int64_t j = 0; j < N; ++j) {
                dl(i, j) += std::exp(l(i, j) - row);
                dl(j, i) += std::exp(l(j, i) - col);
            }
            dl(i, i) -= 2;
        }
        dl *= dloss / (2.0 * static_cast<double>(N));
        grads.cos += s * dl;
        if (!capped(ctx)) detail::accumulate_scalar_grad(ctx, logit_scale, (dl.array() * l.array()).sum());
    }

private:
    double raw(Context<B>& ctx) const { return detail::read_scalar(ctx, logit_scale); }
    bool capped(Context<B>& ctx) const { return raw(ctx) > options.max_logit_scale; }
    double scale(Context<B>& ctx) const { return std::exp(std::min(raw(ctx), options.max_logit_scale)); }
    template <class V>
    static double log_sum_exp(const V& v) {
        const double m = v.maxCoeff();
        return m + std::log((v.array() - m).exp().sum());
    }
};

}  // namespace fgclep
