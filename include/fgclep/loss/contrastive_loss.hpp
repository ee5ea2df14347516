#pragma once
// The contract of a contrastive loss, as a C++20 concept. A loss is a spec type, like a layer (core/concepts.hpp):
// `Options`, `static constexpr std::string_view name` (errors, summaries) and `key` (its state_dict prefix,
// <key>.<param>), and `template <Backend B> struct impl : Module` with
//   explicit impl(const Options&);  template <class V> void visit(V& v);  double weight() const;
//   double forward(Context<B>&, const PairBatch&);                                // the unweighted loss
//   void backward(Context<B>&, const PairBatch&, PairGradients&, double dloss);  // ADDS dloss x its gradient
// backward follows forward on the same batch; dloss already includes weight(). The optional members
// (uses_text_features, calibration) and a worked example: docs/losses.md, examples/custom_loss.cpp.
#include "fgclep/core/concepts.hpp"
#include "fgclep/loss/pair_batch.hpp"

#include <concepts>
#include <string_view>

namespace fgclep {

// The calibrated match probability p = sigmoid(scale * cos + bias) of an ECG and a text.
struct MatchCalibration {
    double scale = 1, bias = 0;
    double logit(double cos) const { return scale * cos + bias; }
    double probability(double cos) const { return detail::sigmoid(logit(cos)); }
};

template <class L>
concept ContrastiveLossSpec = LayerSpec<L> && requires {
    { L::key } -> std::convertible_to<std::string_view>;
};

template <class M, class B>
concept ContrastiveLoss = Backend<B> && std::derived_from<M, Module> &&
    requires(M& m, const M& cm, Context<B>& ctx, const PairBatch& batch, PairGradients& grads,
             detail::ProbeVisitor& v) {
    { m.forward(ctx, batch) } -> std::convertible_to<double>;
    m.backward(ctx, batch, grads, 1.0);
    { cm.weight() } -> std::convertible_to<double>;
    m.visit(v);
};

template <class M, class B>
concept CalibratedLoss = ContrastiveLoss<M, B> && requires(M& m, Context<B>& ctx) {
    { m.calibration(ctx) } -> std::same_as<MatchCalibration>;
};

// Instantiated once per loss of an objective, so the compiler's note names the offending type.
template <class L>
struct require_loss_spec {
    static_assert(ContrastiveLossSpec<L>,
                  "fgclep: this type is not a contrastive loss spec. A loss has `Options`, a `name`, a `key` (its "
                  "state_dict prefix) and a nested `template <fgclep::Backend B> struct impl` with weight(), "
                  "forward(ctx, batch) and backward(ctx, batch, grads, dloss) (see loss/contrastive_loss.hpp and "
                  "docs/losses.md); the offending type is the template argument named in this note.");
    static constexpr bool value = true;
};

}  // namespace fgclep
