#pragma once
// Free-text -> ECG retrieval over a whole corpus (the paper's appendix F: "Top 3 retrieved ECGs with probabilities
// all greater than 0.99" for queries such as "RSR' pattern", "inverted T-waves", "low QRS voltages").
//
//   EcgDataset corpus = data::load_mimic_iv_ecg("/data/mimic-iv-ecg");
//   CorpusRetrieval r = retrieve_from_corpus(model, ctx, tokenizer, corpus, data::Preprocessor(pre),
//                                            {"inverted t-waves", "low qrs voltages"}, {.top_k = 3});
//   r.queries[0].hits[0].probability    // sigmoid(t cos + b): the model's calibration (MatchCalibration)
//   fmt::print("{}", r.table());  r.write_json("retrieval.json");
//
// Every ECG is encoded once, batch by batch as the stream delivers it, and only the k best of each query are kept:
// memory is O(batch + queries x k), whatever the corpus's size. Hits are ordered by cosine, highest first (ties:
// lower record index first); the probability is increasing in the cosine, so the order is the probability's too.
// k larger than the corpus gives every record. The model needs calibration(ctx) (FgClep with a SigmoidLoss).
#include "fgclep/core/context.hpp"
#include "fgclep/core/error.hpp"
#include "fgclep/data/batch_stream.hpp"
#include "fgclep/data/dataset.hpp"
#include "fgclep/data/preprocess.hpp"
#include "fgclep/eval/zero_shot.hpp"
#include "fgclep/loss/contrastive_loss.hpp"
#include "fgclep/text/report_tokenizer.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fgclep::eval {

// One retrieved ECG.
struct CorpusHit {
    std::int64_t index = 0;  // the record's index in the corpus (its source index)
    std::string id;          // the dataset's id (MIMIC-IV-ECG: study_id); empty when the batches name none
    std::string record;      // the WFDB record path, relative to the corpus root where it is
    std::string report;      // the record's report
    double cosine = 0;       // cos(ECG embedding, query embedding)
    double probability = 0;  // the model's calibrated match probability, sigmoid(scale cos + bias)
};

struct QueryHits {
    std::string query;
    std::vector<CorpusHit> hits;  // at most k, best first
};

struct CorpusRetrievalOptions {
    std::int64_t top_k = 3;
    std::int64_t batch_size = 64;  // retrieve_from_corpus's stream
    int workers = 2;
    std::size_t text_chunk = 128;
};

struct CorpusRetrieval {
    std::vector<QueryHits> queries;
    MatchCalibration calibration;  // what turned cosines into probabilities
    std::int64_t top_k = 0;
    std::int64_t encoded = 0;  // ECGs encoded and ranked
    std::int64_t skipped = 0;  // records the stream could not read or preprocess

    // query | rank | probability | cosine | id | report, one line per hit.
    std::string table() const {
        std::size_t wq = 5, wi = 2;
        for (const auto& q : queries) {
            wq = std::max(wq, q.query.size());
            for (const auto& h : q.hits) wi = std::max(wi, h.id.size());
        }
        std::string out = fmt::format("{:<{}}  {:>4}  {:>11}  {:>8}  {:<{}}  {}\n", "query", wq, "rank", "probability",
                                      "cosine", "id", wi, "report");
        out += std::string(wq + wi + 4 + 11 + 8 + 18, '-') + "\n";
        for (const auto& q : queries) {
            if (q.hits.empty()) out += fmt::format("{:<{}}  (no records)\n", q.query, wq);
            for (std::size_t r = 0; r < q.hits.size(); ++r) {
                const CorpusHit& h = q.hits[r];
                out +=
                    fmt::format("{:<{}}  {:>4}  {:>11.6f}  {:>8.4f}  {:<{}}  {}\n", r == 0 ? q.query : "", wq, r + 1,
                                h.probability, h.cosine, h.id.empty() ? std::to_string(h.index) : h.id, wi, h.report);
            }
        }
        return out;
    }

    nlohmann::json json() const {
        nlohmann::json qs = nlohmann::json::array();
        for (const auto& q : queries) {
            nlohmann::json hits = nlohmann::json::array();
            for (std::size_t r = 0; r < q.hits.size(); ++r) {
                const CorpusHit& h = q.hits[r];
                hits.push_back({{"rank", r + 1},
                                {"index", h.index},
                                {"id", h.id},
                                {"record", h.record},
                                {"report", h.report},
                                {"cosine", h.cosine},
                                {"probability", h.probability}});
            }
            qs.push_back({{"query", q.query}, {"hits", hits}});
        }
        return {{"top_k", top_k},
                {"records_encoded", encoded},
                {"records_skipped", skipped},
                {"calibration", {{"scale", calibration.scale}, {"bias", calibration.bias}}},
                {"probability_formula", "sigmoid(scale * cosine + bias)"},
                {"queries", qs}};
    }

    void write_json(const std::filesystem::path& path) const {
        if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
        std::ofstream f(path, std::ios::trunc);
        if (!f) fail("cannot write retrieval results to '{}'", path.string());
        f << json().dump(2) << "\n";
        if (!f) fail("writing retrieval results to '{}' failed", path.string());
    }
};

namespace detail {
// Whether hit a ranks before hit b: higher cosine, then lower index.
inline bool ranks_before(const CorpusHit& a, const CorpusHit& b) {
    return a.cosine != b.cosine ? a.cosine > b.cosine : a.index < b.index;
}
}  // namespace detail

// The k best records of `batches` for each query: a BatchStream (all its records, in index order) or any range of
// data::Batch (ecg_shape, ecg, indices, reports). Hits carry the batch's report and no id; retrieve_from_corpus
// adds the dataset's ids and record paths.
template <class Model, Backend B, class Batches>
CorpusRetrieval retrieve_top_k(Model& model, Context<B>& ctx, const ReportTokenizer& tokenizer, Batches&& batches,
                               const std::vector<std::string>& queries, const CorpusRetrievalOptions& options = {}) {
    using T = typename B::value_type;
    if (options.top_k < 1) fail("retrieve_top_k: top_k must be >= 1, got {}", options.top_k);
    if (queries.empty()) fail("retrieve_top_k: no query");
    CorpusRetrieval out;
    out.top_k = options.top_k;
    if constexpr (requires { model.calibration(ctx); })
        out.calibration = model.calibration(ctx);
    else
        static_assert(sizeof(Model) == 0, "retrieve_top_k: the model has no calibration(ctx) (FgClep has one)");
    const HostMatrix text = encode_texts(model, ctx, tokenizer, queries, options.text_chunk);  // (Q, P)
    const auto k = static_cast<std::size_t>(options.top_k);
    for (const auto& q : queries) out.queries.push_back({q, {}});

    auto one = [&](const auto& b) {
        if (b.size() == 0) return;
        const std::vector<T> host(b.ecg.begin(), b.ecg.end());
        const HostMatrix e = detail::host_rows(ctx, model.encode_ecg(ctx, ctx.from_host(b.ecg_shape, host)));
        if (e.cols() != text.cols())
            fail("retrieve_top_k: ECG embeddings have {} dimensions but text embeddings {}", e.cols(), text.cols());
        const HostMatrix cos = e * text.transpose();  // (batch, Q)
        for (std::size_t q = 0; q < queries.size(); ++q) {
            std::vector<CorpusHit>& best = out.queries[q].hits;
            for (std::int64_t i = 0; i < b.size(); ++i) {
                CorpusHit h;
                h.index = b.indices[static_cast<std::size_t>(i)];
                h.cosine = cos(i, static_cast<Eigen::Index>(q));
                if (best.size() == k && !detail::ranks_before(h, best.back())) continue;
                if (static_cast<std::size_t>(i) < b.reports.size()) h.report = b.reports[static_cast<std::size_t>(i)];
                best.insert(std::upper_bound(best.begin(), best.end(), h, detail::ranks_before), std::move(h));
                if (best.size() > k) best.pop_back();
            }
        }
        out.encoded += b.size();
        out.skipped += static_cast<std::int64_t>(b.skipped.size());
    };
    detail::for_each_batch(batches, one);
    for (auto& q : out.queries)
        for (auto& h : q.hits) h.probability = out.calibration.probability(h.cosine);
    return out;
}

// The k best records of a corpus (any EcgDataset, e.g. load_mimic_iv_ecg) for each query, streamed through
// `preprocessor` in batches of options.batch_size; hits carry the corpus's id, record path and report.
template <class Model, Backend B>
CorpusRetrieval retrieve_from_corpus(Model& model, Context<B>& ctx, const ReportTokenizer& tokenizer,
                                     const data::EcgDataset& corpus, const data::Preprocessor& preprocessor,
                                     const std::vector<std::string>& queries,
                                     const CorpusRetrievalOptions& options = {}) {
    data::BatchStream stream(corpus, preprocessor,
                             {.batch_size = options.batch_size, .workers = options.workers, .shuffle = false});
    CorpusRetrieval out = retrieve_top_k(model, ctx, tokenizer, stream, queries, options);
    for (auto& q : out.queries)
        for (auto& h : q.hits) {
            const data::DatasetEntry& e = corpus.entry(h.index);
            h.id = e.id;
            h.record = e.record.generic_string();
            h.report = e.report;
        }
    return out;
}

}  // namespace fgclep::eval
