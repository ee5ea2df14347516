#pragma once
// FnmLoss: FG-CLEP's false-negative mitigation. Reports of different patients are often alike (most ECGs are
// normal), so instead of pushing every non-matching pair apart, the ECG-report similarity is pulled towards the
// semantic similarity S of the reports (method.md section 3):
//
//   L_fnm = (1/N) sum_ij | cos(e_i, t_j) - S_ij |,    S_ij = cos(t_i, t_j),    weight lambda = 0.5
//
// Open choices of the paper, as options: S from the projected text embeddings (source = projected, the default) or
// from the pooled text features before the projection (source = features), and S detached from the graph
// (detach = true) or not (the default, as in the one public re-implementation). The gradient of |x| at 0 is 0,
// as in PyTorch.
#include "fgclep/loss/contrastive_loss.hpp"

namespace fgclep {

enum class FnmSource { projected, features };

struct FnmLoss {
    struct Options {
        double weight = 0.5;  // lambda
        FnmSource source = FnmSource::projected;
        bool detach = false;
    };
    static constexpr std::string_view name = "FnmLoss";
    static constexpr std::string_view key = "fnm_loss";
    template <Backend B>
    struct impl;
};

template <Backend B>
struct FnmLoss::impl : Module {
    Options options;

    explicit impl(const Options& o) : Module(FnmLoss::name), options(o) {
        if (!(o.weight >= 0)) fgclep::fail("FnmLoss needs a weight >= 0, got {}", o.weight);
    }

    template <class V>
    void visit(V&) {}
    double weight() const { return options.weight; }
    bool uses_text_features() const { return options.source == FnmSource::features; }

    double forward(Context<B>&, const PairBatch& batch) const {
        return (batch.cos - semantic(batch)).cwiseAbs().sum() / static_cast<double>(batch.size());
    }

    void backward(Context<B>&, const PairBatch& batch, PairGradients& grads, double dloss) const {
        const HostMatrix d = (batch.cos - semantic(batch)).array().sign() * (dloss / static_cast<double>(batch.size()));
        grads.cos += d;
        if (options.detach) return;
        (options.source == FnmSource::projected ? grads.text_cos : grads.feature_cos) -= d;
    }

private:
    const HostMatrix& semantic(const PairBatch& batch) const {
        const HostMatrix& s = options.source == FnmSource::projected ? batch.text_cos : batch.feature_cos;
        if (s.rows() != batch.size())
            fail("the semantic similarity from the text features is missing: the objective did not compute them");
        return s;
    }
};

}  // namespace fgclep
