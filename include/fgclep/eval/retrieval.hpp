#pragma once
// Text -> ECG retrieval: rank the ECGs of a split by the cosine of their embeddings to a query text.
//
//   RetrievalMetrics r = text_to_ecg_retrieval(model, ctx, tokenizer, test, prompts);   // class prompts as queries
//   r.precision[0], r.recall[0]    // @1, mean over the classes with at least one labelled record, in [0, 1]
//   auto hits = retrieve(model, ctx, tokenizer, test, {"rsr' pattern in v1"}, 3);        // free-text queries
//
// Relevance is multi-label: an ECG is relevant to a class prompt when it is labelled with the class (whatever
// else it is labelled with). Metrics: see retrieval_at_k in metrics.hpp.
#include "fgclep/eval/metrics.hpp"
#include "fgclep/eval/prompts.hpp"
#include "fgclep/eval/zero_shot.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace fgclep::eval {

template <class Model, Backend B>
RetrievalMetrics text_to_ecg_retrieval(Model& model, Context<B>& ctx, const ReportTokenizer& tokenizer,
                                       const EncodedSplit& split, const ClassPrompts& prompts,
                                       std::vector<std::int64_t> ks = {1, 5, 10}) {
    if (static_cast<Eigen::Index>(prompts.texts.size()) != split.labels.cols())
        fail("text_to_ecg_retrieval: {} class prompts but the split has {} label columns", prompts.texts.size(),
             split.labels.cols());
    const HostMatrix text = encode_texts(model, ctx, tokenizer, prompts.texts);
    const HostMatrix scores = split.embeddings * text.transpose();  // (N, Q): cosines
    return retrieval_at_k(scores, split.labels, prompts.class_names, std::move(ks));
}

// One retrieved ECG: its row in the split, its source index and its cosine to the query.
struct RetrievedEcg {
    std::int64_t row = 0, index = 0;
    double cosine = 0;
};

// The top k ECGs of the split for each query text (highest cosine first; ties: lower row first).
template <class Model, Backend B>
std::vector<std::vector<RetrievedEcg>> retrieve(Model& model, Context<B>& ctx, const ReportTokenizer& tokenizer,
                                                const EncodedSplit& split, const std::vector<std::string>& queries,
                                                std::int64_t k) {
    const HostMatrix text = encode_texts(model, ctx, tokenizer, queries);
    const HostMatrix scores = split.embeddings * text.transpose();
    const RetrievalMetrics ranked =
        retrieval_at_k(scores, HostMatrix::Zero(scores.rows(), scores.cols()), queries, {std::max<std::int64_t>(1, k)});
    std::vector<std::vector<RetrievedEcg>> out;
    for (std::size_t q = 0; q < queries.size(); ++q) {
        std::vector<RetrievedEcg> hits;
        for (auto row : ranked.top[q])
            hits.push_back({row, split.indices.empty() ? row : split.indices[static_cast<std::size_t>(row)],
                            scores(row, static_cast<Eigen::Index>(q))});
        out.push_back(std::move(hits));
    }
    return out;
}

}  // namespace fgclep::eval
