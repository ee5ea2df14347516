#pragma once
// What a contrastive loss sees and writes: a batch of N ECG-report pairs as L2-normalised embeddings and their
// cosine-similarity matrices, held on the host in double precision.
//
// Why the host: every loss of this library is O(N^2) work on an N x N matrix (N = 100 in the paper), while the
// encoders that produce the embeddings cost billions of operations per pair. Copying two (N, 256) matrices off
// the device and doing the loss in double costs well under a millisecond, is exact enough to gradient-check, and
// gives every backend (and every user-written loss) the same code. ContrastiveObjective (objective.hpp) builds a
// PairBatch from the backend's tensors and maps PairGradients back onto them.
//
// A loss that wants something else (say a loss on the raw embeddings) can still read and write `ecg`, `text` and
// their gradients directly.
#include "fgclep/core/backend.hpp"
#include "fgclep/core/context.hpp"
#include "fgclep/core/param.hpp"

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <vector>

namespace fgclep {

using HostMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct PairBatch {
    HostMatrix ecg;          // e (N, P): ECG embeddings, rows L2-normalised
    HostMatrix text;         // t (N, P): report embeddings, rows L2-normalised; row i belongs with ecg row i
    HostMatrix cos;          // C (N, N): C(i, j) = cos(e_i, t_j)
    HostMatrix text_cos;     // (N, N): cos(t_i, t_j), the semantic similarity of the reports
    HostMatrix features;     // f (N, H): pooled text features before the projection, normalised (only when a loss
    HostMatrix feature_cos;  //   asks for them, see uses_text_features); feature_cos = cos(f_i, f_j)

    std::int64_t size() const { return ecg.rows(); }
};

// The gradient of the total loss with respect to each member of a PairBatch. Losses *accumulate* (+=) into it;
// ContrastiveObjective then carries it back through the similarities and the normalisation.
struct PairGradients {
    HostMatrix ecg, text, cos, text_cos, features, feature_cos;

    explicit PairGradients(const PairBatch& b)
        : ecg(HostMatrix::Zero(b.ecg.rows(), b.ecg.cols())),
          text(HostMatrix::Zero(b.text.rows(), b.text.cols())),
          cos(HostMatrix::Zero(b.cos.rows(), b.cos.cols())),
          text_cos(HostMatrix::Zero(b.text_cos.rows(), b.text_cos.cols())),
          features(HostMatrix::Zero(b.features.rows(), b.features.cols())),
          feature_cos(HostMatrix::Zero(b.feature_cos.rows(), b.feature_cos.cols())) {}
};

namespace detail {
// A loss's scalar parameters live in the model's arena, on the backend's device; these move one value.
template <Backend B>
double read_scalar(Context<B>& ctx, const Param<B>& p) {
    typename B::value_type v{};
    B::download(ctx.state, &v, p.value.data(), 1);
    return static_cast<double>(v);
}
template <Backend B>
void accumulate_scalar_grad(Context<B>& ctx, Param<B>& p, double g) {
    if (!p.trainable) return;
    typename B::value_type v{};
    B::download(ctx.state, &v, p.grad.data(), 1);
    v += static_cast<typename B::value_type>(g);
    B::upload(ctx.state, p.grad.data(), &v, 1);
}
// log(sigmoid(x)) without overflow for large |x|.
inline double log_sigmoid(double x) { return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x)); }
inline double sigmoid(double x) {
    if (x >= 0) return 1 / (1 + std::exp(-x));
    const double e = std::exp(x);
    return e / (1 + e);
}
}  // namespace detail

}  // namespace fgclep
