#pragma once
// SigmoidLoss: the pairwise sigmoid contrastive loss of SigLIP, which FG-CLEP uses because ECG labels are
// multi-label (method.md section 3). Every (ECG i, report j) pair is a binary problem, positive when i == j:
//
//   l_ij = exp(t') * cos(e_i, t_j) + b,   z_ij = +1 if i == j else -1,   L = -(1/N) sum_ij log sigmoid(z_ij l_ij)
//
// t' (logit_scale, init log 10) and b (logit_bias, init -10) are learnable parameters, named as open_clip names
// them. The log-sigmoid is evaluated in its stable form. The trained (t', b) also calibrate the match probability
// sigmoid(exp(t') cos + b) that stage 2 thresholds at 0.95 (calibration()).
#include "fgclep/loss/contrastive_loss.hpp"

#include <cmath>

namespace fgclep {

struct SigmoidLoss {
    struct Options {
        double logit_scale = 2.302585092994046;  // t' = log 10; the temperature is exp(t')
        double logit_bias = -10;                 // b
        bool learnable = true;                   // false: t' and b keep their initial values
        double weight = 1;                       // factor in the total loss
    };
    static constexpr std::string_view name = "SigmoidLoss";
    static constexpr std::string_view key = "sigmoid_loss";
    template <Backend B>
    struct impl;
};

template <Backend B>
struct SigmoidLoss::impl : Module {
    Options options;
    Param<B> logit_scale, logit_bias;

    explicit impl(const Options& o)
        : Module(SigmoidLoss::name),
          options(o),
          logit_scale("logit_scale", Shape{}, Decay::no, Init::constant(o.logit_scale)),
          logit_bias("logit_bias", Shape{}, Decay::no, Init::constant(o.logit_bias)) {
        if (!std::isfinite(o.logit_scale) || !std::isfinite(o.logit_bias))
            fgclep::fail("SigmoidLoss needs finite initial values, got logit_scale = {} and logit_bias = {}",
                         o.logit_scale, o.logit_bias);
        if (!(o.weight >= 0)) fgclep::fail("SigmoidLoss needs a weight >= 0, got {}", o.weight);
        logit_scale.trainable = logit_bias.trainable = o.learnable;
    }

    template <class V>
    void visit(V& v) {
        v.param(logit_scale);
        v.param(logit_bias);
    }
    double weight() const { return options.weight; }
    MatchCalibration calibration(Context<B>& ctx) const {
        return {std::exp(detail::read_scalar(ctx, logit_scale)), detail::read_scalar(ctx, logit_bias)};
    }

    double forward(Context<B>& ctx, const PairBatch& batch) const {
        const MatchCalibration c = calibration(ctx);
        const std::int64_t N = batch.size();
        double sum = 0;
        for (std::int64_t i = 0; i < N; ++i)
            for (std::int64_t j = 0; j < N; ++j) sum += detail::log_sigmoid(sign(i, j) * c.logit(batch.cos(i, j)));
        return -sum / static_cast<double>(N);
    }

    void backward(Context<B>& ctx, const PairBatch& batch, PairGradients& grads, double dloss) {
        const MatchCalibration c = calibration(ctx);
        const std::int64_t N = batch.size();
        double dscale = 0, dbias = 0;
        // d/dl [-log sigmoid(z l)] = -z sigmoid(-z l)
        for (std::int64_t i = 0; i < N; ++i)
            for (std::int64_t j = 0; j < N; ++j) {
                const double z = sign(i, j), cos = batch.cos(i, j);
                const double dl = -z * detail::sigmoid(-z * c.logit(cos)) * dloss / static_cast<double>(N);
                grads.cos(i, j) += dl * c.scale;
                dscale += dl * c.scale * cos;  // d exp(t') / dt' = exp(t')
                dbias += dl;
            }
        detail::accumulate_scalar_grad(ctx, logit_scale, dscale);
        detail::accumulate_scalar_grad(ctx, logit_bias, dbias);
    }

private:
    static double sign(std::int64_t i, std::int64_t j) { return i == j ? 1.0 : -1.0; }
};

}  // namespace fgclep
