#pragma once
// The contract of a contrastive loss, as a C++20 concept. A loss is a spec, like a layer (see core/concepts.hpp):
//
//   struct MyLoss {
//       struct Options { double weight = 1; ... };
//       static constexpr std::string_view name = "MyLoss";        // the type, in errors and summaries
//       static constexpr std::string_view key = "my_loss";        // its place in the state_dict: my_loss.<param>
//       template <fgclep::Backend B> struct impl : fgclep::Module {
//           explicit impl(const Options&);
//           template <class V> void visit(V& v);                  // its parameters, if any (v.param(p))
//           double weight() const;                                // its factor in the total loss
//           double forward(fgclep::Context<B>&, const fgclep::PairBatch&);   // the unweighted value
//           void backward(fgclep::Context<B>&, const fgclep::PairBatch&, fgclep::PairGradients&, double dloss);
//       };
//   };
//
// forward returns the loss of the batch. backward comes after forward on the same batch and adds dloss times the
// loss's gradient into PairGradients, and into its own parameters' gradients (skipping frozen ones); dloss
// already includes weight(). Optional members: `bool uses_text_features() const` (true asks the objective to fill
// PairBatch::features and feature_cos) and `MatchCalibration calibration(Context<B>&)` (the loss's logit
// scale and bias; FgClep::probability uses the first loss that has one).
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
