#pragma once
// ContrastiveObjective<Losses...>: the losses of a model taken together. It normalises the embeddings, builds the
// similarity matrices once for all losses (a PairBatch), sums the weighted losses, and carries their gradients
// back to the raw embeddings:
//
//   ContrastiveObjective<SigmoidLoss, FnmLoss>        L = L_sig + 0.5 L_fnm     (FG-CLEP, method.md section 3)
//   ContrastiveObjective<InfoNceLoss>                 CLIP's loss
//
// Each loss sits under its key in the state_dict (sigmoid_loss.logit_scale, ...). Forward keeps the PairBatch for
// backward when the context is training.
//
// In a data-parallel run (ctx.collectives set) the losses see the global batch: every rank all-gathers the
// embeddings of all ranks (and the text features when a loss uses them), in rank order, and computes the same
// N_global x N_global loss. Backward returns the gradient of the rows this rank contributed, times the number of
// ranks: the backward of an all-gather is a reduce-scatter that sums the K identical gradients every rank computed.
// The Trainer then averages the parameter gradients over ranks (as DDP does), which gives exactly the gradient of
// the global loss, for the encoders and for the losses' own parameters alike. docs/distributed.md.
#include "fgclep/loss/contrastive_loss.hpp"

#include <algorithm>
#include <array>
#include <string_view>
#include <tuple>
#include <utility>

namespace fgclep {

// One evaluation of an objective: the total and each loss's unweighted value, in the order of the template.
struct LossValue {
    double total = 0;
    std::vector<std::pair<std::string_view, double>> parts;  // (loss key, unweighted value)

    double part(std::string_view key) const {
        for (auto& [k, v] : parts)
            if (k == key) return v;
        fail("this objective has no loss '{}'", key);
    }
};

// Gradients of the objective with respect to its inputs.
template <Backend B>
struct EmbeddingGradients {
    Tensor<B> ecg, text;  // (N, P), wrt the raw (unnormalised) embeddings
    Tensor<B> features;   // (N, H), wrt the pooled text features; undefined unless a loss used them
};

namespace detail {
// Row-wise x / max(|x|, 1e-12), as torch.nn.functional.normalize; returns the norms for the backward.
inline HostMatrix normalize_rows(const HostMatrix& x, std::vector<double>& norms) {
    HostMatrix y(x.rows(), x.cols());
    norms.resize(static_cast<std::size_t>(x.rows()));
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        norms[static_cast<std::size_t>(i)] = x.row(i).norm();
        y.row(i) = x.row(i) / std::max(norms[static_cast<std::size_t>(i)], 1e-12);
    }
    return y;
}
// The gradient wrt x of y = normalize(x), given dy: (dy - y (y . dy)) / |x|.
inline HostMatrix normalize_rows_backward(const HostMatrix& y, const std::vector<double>& norms, const HostMatrix& dy) {
    HostMatrix dx(y.rows(), y.cols());
    for (Eigen::Index i = 0; i < y.rows(); ++i) {
        const double n = norms[static_cast<std::size_t>(i)];
        if (n > 1e-12)
            dx.row(i) = (dy.row(i) - y.row(i) * y.row(i).dot(dy.row(i))) / n;
        else
            dx.row(i) = dy.row(i) / 1e-12;
    }
    return dx;
}
template <Backend B>
HostMatrix download_matrix(Context<B>& ctx, const Tensor<B>& t) {
    const std::vector<typename B::value_type> host = ctx.to_host(t);
    HostMatrix m(t.size(0), t.numel() / std::max<std::int64_t>(1, t.size(0)));
    for (std::size_t i = 0; i < host.size(); ++i) m.data()[i] = static_cast<double>(host[i]);
    return m;
}
// The rows of every rank's m, in rank order. Ranks may contribute different numbers of rows (a record a rank could
// not read leaves its share one short); `first_row`, if given, receives where this rank's rows start.
inline HostMatrix gather_rows(Collectives& c, const HostMatrix& m, std::int64_t* first_row = nullptr) {
    const int K = c.size();
    const double rows = static_cast<double>(m.rows());
    std::vector<double> counts(static_cast<std::size_t>(K));
    c.all_gather(std::span<const double>(&rows, 1), counts);
    const auto longest = static_cast<Eigen::Index>(*std::max_element(counts.begin(), counts.end()));
    using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    RowMajor mine = RowMajor::Zero(longest, m.cols());  // padded to the longest share
    mine.topRows(m.rows()) = m;
    RowMajor padded(longest * K, m.cols());
    c.all_gather(std::span<const double>(mine.data(), static_cast<std::size_t>(mine.size())),
                 std::span<double>(padded.data(), static_cast<std::size_t>(padded.size())));
    Eigen::Index total = 0;
    for (double n : counts) total += static_cast<Eigen::Index>(n);
    HostMatrix all(total, m.cols());
    Eigen::Index next = 0;
    for (int r = 0; r < K; ++r) {
        const auto n = static_cast<Eigen::Index>(counts[static_cast<std::size_t>(r)]);
        if (r == c.rank() && first_row) *first_row = next;
        all.middleRows(next, n) = padded.middleRows(r * longest, n);
        next += n;
    }
    return all;
}

template <Backend B>
Tensor<B> upload_matrix(Context<B>& ctx, const HostMatrix& m) {
    std::vector<typename B::value_type> host(static_cast<std::size_t>(m.size()));
    for (std::size_t i = 0; i < host.size(); ++i) host[i] = static_cast<typename B::value_type>(m.data()[i]);
    return ctx.from_host(Shape{m.rows(), m.cols()}, host);
}
}  // namespace detail

template <class... Losses>
struct ContrastiveObjective {
    static_assert(sizeof...(Losses) > 0, "fgclep: a contrastive objective needs at least one loss");
    static_assert((require_loss_spec<Losses>::value && ...));
    struct Options {
        std::tuple<typename Losses::Options...> losses;
    };
    static constexpr std::string_view name = "ContrastiveObjective";
    template <Backend B>
    struct impl;
};

template <class... Losses>
template <Backend B>
struct ContrastiveObjective<Losses...>::impl : Module {
    static constexpr std::size_t count = sizeof...(Losses);
    std::tuple<typename Losses::template impl<B>...> losses;

    explicit impl(const Options& o)
        : Module(ContrastiveObjective::name), losses(make_losses(o, std::index_sequence_for<Losses...>{})) {
        static_assert((ContrastiveLoss<typename Losses::template impl<B>, B> && ...),
                      "fgclep: a loss's impl<> does not satisfy fgclep::ContrastiveLoss (see "
                      "loss/contrastive_loss.hpp); the compiler's notes name the requirement that failed.");
    }

    template <class V>
    void visit(V& v) {
        visit_losses(v, std::index_sequence_for<Losses...>{});
    }

    // Whether any loss needs the pooled text features (FnmLoss with source = features).
    bool uses_text_features() const {
        return std::apply([](const auto&... l) { return (uses_features(l) || ...); }, losses);
    }

    // ecg, text: (N, P) raw embeddings, row i of each a pair. features: (N, H) pooled text features, needed only
    // when uses_text_features(). Returns the weighted total and each loss's value.
    LossValue forward(Context<B>& ctx, const Tensor<B>& ecg, const Tensor<B>& text, const Tensor<B>& features = {}) {
        if (ecg.shape().rank() != 2 || !(ecg.shape() == text.shape()))
            fail("expected ECG and text embeddings of the same shape (N, P), got {} and {}", ecg.shape(), text.shape());
        if (ecg.size(0) < 1) fail("the batch is empty");
        // The global batch: this rank's rows, or every rank's in a distributed run.
        const bool global = ctx.world_size() > 1;
        std::int64_t first_row = 0;
        auto rows = [&](const Tensor<B>& x) {
            HostMatrix m = detail::download_matrix(ctx, x);
            return global ? detail::gather_rows(*ctx.collectives, m, &first_row) : m;
        };
        PairBatch batch;
        std::vector<double> ecg_norms, text_norms, feature_norms;
        batch.ecg = detail::normalize_rows(rows(ecg), ecg_norms);
        batch.text = detail::normalize_rows(rows(text), text_norms);
        batch.cos = batch.ecg * batch.text.transpose();
        batch.text_cos = batch.text * batch.text.transpose();
        if (uses_text_features()) {
            if (!features.defined() || features.shape().rank() != 2 || features.size(0) != ecg.size(0))
                fail("a loss uses the pooled text features, so they must be given as (N, H) with N = {}; got {}",
                     ecg.size(0), features.defined() ? features.shape() : Shape{});
            batch.features = detail::normalize_rows(rows(features), feature_norms);
            batch.feature_cos = batch.features * batch.features.transpose();
        }
        LossValue value;
        for_each_loss([&](std::string_view key, auto& loss) {
            const double v = loss.forward(ctx, batch);
            value.parts.emplace_back(key, v);
            value.total += loss.weight() * v;
        });
        if (ctx.training) {  // an inference forward leaves the state of the last training forward alone
            batch_ = std::move(batch);
            ecg_norms_ = std::move(ecg_norms);
            text_norms_ = std::move(text_norms);
            feature_norms_ = std::move(feature_norms);
            local_rows_ = ecg.size(0);
            first_row_ = first_row;
            ranks_ = ctx.world_size();
        }
        return value;
    }

    // Gradients of dtotal * total with respect to the inputs of the last training forward; accumulates the losses'
    // parameter gradients.
    EmbeddingGradients<B> backward(Context<B>& ctx, double dtotal = 1) {
        if (batch_.size() == 0) fail("backward needs a forward in training mode first");
        PairGradients g(batch_);
        for_each_loss([&](std::string_view, auto& loss) { loss.backward(ctx, batch_, g, dtotal * loss.weight()); });
        // C = e t^T, text_cos = t t^T, feature_cos = f f^T
        g.ecg += g.cos * batch_.text;
        g.text += g.cos.transpose() * batch_.ecg + (g.text_cos + g.text_cos.transpose()) * batch_.text;
        // This rank's rows (all of them in one process), through the normalisation.
        const double gather_scale = gradient_through_gather ? static_cast<double>(ranks_) : 1.0;
        auto local = [&](const HostMatrix& y, const std::vector<double>& norms, const HostMatrix& dy) {
            if (ranks_ == 1) return detail::normalize_rows_backward(y, norms, dy);
            const std::vector<double> mine(norms.begin() + first_row_, norms.begin() + first_row_ + local_rows_);
            return HostMatrix(gather_scale * detail::normalize_rows_backward(y.middleRows(first_row_, local_rows_),
                                                                             mine,
                                                                             dy.middleRows(first_row_, local_rows_)));
        };
        EmbeddingGradients<B> out;
        out.ecg = detail::upload_matrix(ctx, local(batch_.ecg, ecg_norms_, g.ecg));
        out.text = detail::upload_matrix(ctx, local(batch_.text, text_norms_, g.text));
        if (batch_.features.size() > 0) {
            g.features += (g.feature_cos + g.feature_cos.transpose()) * batch_.features;
            out.features = detail::upload_matrix(ctx, local(batch_.features, feature_norms_, g.features));
        }
        return out;
    }

    // In a distributed run, whether the gradient of the gathered embeddings reaches the rank that owns them (the
    // reduce-scatter). false is open_clip's gather without gradient: after the Trainer's average every encoder
    // gradient is 1/K of the global loss's. Kept for the test that shows the difference; leave it true.
    bool gradient_through_gather = true;

    // The first loss that calibrates match probabilities (SigmoidLoss); a compile error if none does.
    MatchCalibration calibration(Context<B>& ctx) {
        static_assert((CalibratedLoss<typename Losses::template impl<B>, B> || ...),
                      "fgclep: match probabilities need a loss with calibration(ctx) (SigmoidLoss has one); this "
                      "model's losses have none");
        MatchCalibration c;
        bool found = false;
        for_each_loss([&](std::string_view, auto& loss) {
            if constexpr (CalibratedLoss<std::decay_t<decltype(loss)>, B>)
                if (!found) {
                    c = loss.calibration(ctx);
                    found = true;
                }
        });
        return c;
    }

    // The loss of type L (e.g. objective.loss<SigmoidLoss>()).
    template <class L>
    auto& loss() {
        return std::get<typename L::template impl<B>>(losses);
    }

private:
    template <std::size_t... I>
    static std::tuple<typename Losses::template impl<B>...> make_losses(const Options& o, std::index_sequence<I...>) {
        return std::tuple<typename Losses::template impl<B>...>(
            typename Losses::template impl<B>(std::get<I>(o.losses))...);
    }
    template <class V, std::size_t... I>
    void visit_losses(V& v, std::index_sequence<I...>) {
        (v.module(std::tuple_element_t<I, std::tuple<Losses...>>::key, std::get<I>(losses)), ...);
    }
    template <class L>
    static bool uses_features(const L& l) {
        if constexpr (requires { l.uses_text_features(); })
            return l.uses_text_features();
        else
            return false;
    }
    // Calls f(key, loss) for each loss in template order.
    template <class F>
    void for_each_loss(F&& f) {
        for_each_loss(f, std::index_sequence_for<Losses...>{});
    }
    template <class F, std::size_t... I>
    void for_each_loss(F& f, std::index_sequence<I...>) {
        (f(std::string_view(std::tuple_element_t<I, std::tuple<Losses...>>::key), std::get<I>(losses)), ...);
    }

    PairBatch batch_;
    std::vector<double> ecg_norms_, text_norms_, feature_norms_;
    std::int64_t local_rows_ = 0, first_row_ = 0;  // this rank's rows of the global batch
    int ranks_ = 1;
};

}  // namespace fgclep
