#pragma once
// Classification and retrieval metrics, as the benchmark computes them: pure functions on host matrices.
//
//   double a = roc_auc(scores, labels);                    // == sklearn.metrics.roc_auc_score, ties included
//   MacroAuc m = macro_auc(scores, labels, class_names);   // m.macro in percent, m.per_class in [0, 1]
//   RetrievalMetrics r = retrieval_at_k(scores, labels);   // text -> ECG precision@k / recall@k, k = 1, 5, 10
//
// Layout: scores and labels are (N records, C classes) row-major (HostMatrix), the layout of zero-shot scores.
// Labels are 0/1 (a value > 0.5 counts as positive).
//
// ROC AUC with ties: scikit-learn integrates the ROC curve with the trapezoid rule over its distinct thresholds,
// so a positive and a negative with the same score count one half. That equals the Mann-Whitney statistic with
// average ranks, which is what roc_auc computes: AUC = (sum of the positives' average ranks - P(P+1)/2) / (P N).
#include "fgclep/core/error.hpp"
#include "fgclep/loss/pair_batch.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace fgclep::eval {

// ROC AUC of binary labels (in [0, 1]); NaN when the labels hold one value only (sklearn raises there).
inline double roc_auc(std::span<const double> scores, std::span<const double> labels) {
    if (scores.size() != labels.size()) fail("roc_auc: {} scores but {} labels", scores.size(), labels.size());
    const std::size_t n = scores.size();
    for (std::size_t i = 0; i < n; ++i)
        if (!std::isfinite(scores[i])) fail("roc_auc: score {} is not finite ({})", i, scores[i]);
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
    double positives = 0, rank_sum = 0;
    for (std::size_t i = 0; i < n;) {
        std::size_t j = i;
        double tied_positives = 0;
        while (j < n && scores[order[j]] == scores[order[i]]) tied_positives += labels[order[j++]] > 0.5 ? 1 : 0;
        // Ranks i+1 .. j share their average.
        const double average_rank = 0.5 * (static_cast<double>(i + 1) + static_cast<double>(j));
        rank_sum += tied_positives * average_rank;
        positives += tied_positives;
        i = j;
    }
    const double negatives = static_cast<double>(n) - positives;
    if (positives == 0 || negatives == 0) return std::numeric_limits<double>::quiet_NaN();
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}

// Units: `macro` is in percent (x100, as the benchmark and the paper report it); `per_class` is in [0, 1]
// (sklearn's roc_auc_score unit), NaN for a skipped class.
struct MacroAuc {
    double macro = std::numeric_limits<double>::quiet_NaN();  // percent: mean over the evaluated classes x 100
    std::vector<double> per_class;                            // [0, 1], one per class; NaN where skipped
    std::vector<std::string> class_names;
    std::vector<std::string> skipped;  // classes whose labels hold one value only: no AUC
    std::string warning;               // non-empty when classes were skipped; says which and why
    std::int64_t evaluated() const { return static_cast<std::int64_t>(per_class.size() - skipped.size()); }
};

namespace detail {
inline void check_scores_labels(const char* what, const HostMatrix& scores, const HostMatrix& labels,
                                std::size_t class_names) {
    if (scores.rows() != labels.rows() || scores.cols() != labels.cols())
        fail("{}: scores are ({}, {}) but labels ({}, {}); both must be (records, classes)", what, scores.rows(),
             scores.cols(), labels.rows(), labels.cols());
    if (class_names != 0 && class_names != static_cast<std::size_t>(scores.cols()))
        fail("{}: {} class names for {} classes", what, class_names, scores.cols());
}
inline std::vector<double> column(const HostMatrix& m, Eigen::Index c) {
    std::vector<double> v(static_cast<std::size_t>(m.rows()));
    for (Eigen::Index i = 0; i < m.rows(); ++i) v[static_cast<std::size_t>(i)] = m(i, c);
    return v;
}
}  // namespace detail

// Macro AUC over classes: sklearn's roc_auc_score(labels, scores, average='macro') restricted to the classes whose
// labels hold both values; the others are skipped and named in `skipped` and `warning`. Class names default to
// "class <c>".
inline MacroAuc macro_auc(const HostMatrix& scores, const HostMatrix& labels,
                          const std::vector<std::string>& class_names = {}) {
    detail::check_scores_labels("macro_auc", scores, labels, class_names.size());
    MacroAuc out;
    out.class_names = class_names;
    if (out.class_names.empty())
        for (Eigen::Index c = 0; c < scores.cols(); ++c) out.class_names.push_back(fmt::format("class {}", c));
    double sum = 0;
    for (Eigen::Index c = 0; c < scores.cols(); ++c) {
        const auto s = detail::column(scores, c), y = detail::column(labels, c);
        const double auc = roc_auc(s, y);
        out.per_class.push_back(auc);
        if (std::isnan(auc))
            out.skipped.push_back(out.class_names[static_cast<std::size_t>(c)]);
        else
            sum += auc;
    }
    if (!out.skipped.empty()) {
        std::string names;
        for (const auto& s : out.skipped) names += (names.empty() ? "" : ", ") + s;
        out.warning = fmt::format(
            "macro AUC: {} of {} classes skipped, their labels hold one value only in these {} "
            "records: {}",
            out.skipped.size(), scores.cols(), scores.rows(), names);
    }
    if (out.evaluated() > 0) out.macro = 100 * sum / static_cast<double>(out.evaluated());
    return out;
}

// Text -> ECG retrieval with multi-label relevance. scores (N records, Q queries): the similarity of record i to
// query q; relevant (N, Q): record i is relevant to query q (a class prompt's relevant records are those labelled
// with the class). For each query the records are ranked by score, highest first (ties: lower record index first,
// so the result is deterministic), and the top k are compared with the relevant set:
//   precision@k = hits / min(k, N),  recall@k = hits / (relevant records).
// A query without relevant records has no recall: it is skipped (named in `skipped`) from both means.
struct RetrievalMetrics {
    std::vector<std::int64_t> ks;
    std::vector<double> precision, recall;     // [0, 1], mean over evaluated queries, one per k
    HostMatrix query_precision, query_recall;  // (Q, K) per query; NaN rows for skipped queries
    std::vector<std::string> query_names, skipped;
    std::vector<std::vector<std::int64_t>> top;  // per query: the record indices ranked, max(ks) of them
};

inline RetrievalMetrics retrieval_at_k(const HostMatrix& scores, const HostMatrix& relevant,
                                       const std::vector<std::string>& query_names = {},
                                       std::vector<std::int64_t> ks = {1, 5, 10}) {
    detail::check_scores_labels("retrieval_at_k", scores, relevant, query_names.size());
    if (ks.empty()) fail("retrieval_at_k: no k given");
    for (auto k : ks)
        if (k < 1) fail("retrieval_at_k: k must be >= 1, got {}", k);
    const Eigen::Index n = scores.rows(), q = scores.cols(), nk = static_cast<Eigen::Index>(ks.size());
    RetrievalMetrics out;
    out.ks = ks;
    out.query_names = query_names;
    if (out.query_names.empty())
        for (Eigen::Index c = 0; c < q; ++c) out.query_names.push_back(fmt::format("query {}", c));
    out.query_precision = HostMatrix::Constant(q, nk, std::numeric_limits<double>::quiet_NaN());
    out.query_recall = out.query_precision;
    out.precision.assign(ks.size(), 0);
    out.recall.assign(ks.size(), 0);
    const std::int64_t deepest = std::min<std::int64_t>(*std::max_element(ks.begin(), ks.end()), n);
    std::int64_t evaluated = 0;
    for (Eigen::Index c = 0; c < q; ++c) {
        std::vector<std::int64_t> order(static_cast<std::size_t>(n));
        std::iota(order.begin(), order.end(), std::int64_t{0});
        std::partial_sort(order.begin(), order.begin() + deepest, order.end(), [&](std::int64_t a, std::int64_t b) {
            return scores(a, c) > scores(b, c) || (scores(a, c) == scores(b, c) && a < b);
        });
        order.resize(static_cast<std::size_t>(deepest));
        out.top.push_back(order);
        double total = 0;
        for (Eigen::Index i = 0; i < n; ++i) total += relevant(i, c) > 0.5 ? 1 : 0;
        if (total == 0) {
            out.skipped.push_back(out.query_names[static_cast<std::size_t>(c)]);
            continue;
        }
        ++evaluated;
        for (Eigen::Index j = 0; j < nk; ++j) {
            const std::int64_t k = std::min<std::int64_t>(ks[static_cast<std::size_t>(j)], n);
            double hits = 0;
            for (std::int64_t r = 0; r < k; ++r) hits += relevant(order[static_cast<std::size_t>(r)], c) > 0.5 ? 1 : 0;
            out.query_precision(c, j) = hits / static_cast<double>(k);
            out.query_recall(c, j) = hits / total;
            out.precision[static_cast<std::size_t>(j)] += out.query_precision(c, j);
            out.recall[static_cast<std::size_t>(j)] += out.query_recall(c, j);
        }
    }
    for (std::size_t j = 0; j < ks.size(); ++j) {
        out.precision[j] =
            evaluated ? out.precision[j] / static_cast<double>(evaluated) : std::numeric_limits<double>::quiet_NaN();
        out.recall[j] =
            evaluated ? out.recall[j] / static_cast<double>(evaluated) : std::numeric_limits<double>::quiet_NaN();
    }
    return out;
}

}  // namespace fgclep::eval
