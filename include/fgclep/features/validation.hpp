#pragma once
// Stage 2 of FG-CLEP, validation: a candidate waveform feature is kept for an ECG only where the stage-1 model
// finds it there, i.e. where the calibrated match probability model.probability(ctx, e, t) =
// sigmoid(exp(t') cos(e, t) + b) exceeds the threshold (0.95 by default, the paper's; kept iff p > threshold).
// The kept features are appended to the report (augment_report) for stage 3.
//
//   auto candidates = propose_candidates(kb, dataset);                 // candidate_source.hpp
//   ValidationResult r = validate_dataset(model, ctx, tokenizer, dataset, Preprocessor{...}, candidates);
//   write_provenance("features.jsonl", r);                             // provenance.hpp
//   fmt::print("{}", r.statistics.summary());
//
// validate_features() is the general form: any range of data::Batch (BatchStream::epoch(e) or over(order)) with
// candidates indexed by the batches' record indices. Candidate texts repeat across records (a knowledge base has a
// few hundred), so each DISTINCT text is encoded once, up front, in batches of text_batch_size; each ECG batch is
// encoded once and scored against the distinct texts its records need.
//
// The model is anything with encode_ecg(ctx, Tensor) -> embeddings, encode_text(ctx, tokenizer, texts) ->
// embeddings (M, P), and probability(ctx, ecg_embeddings, text_embeddings) -> a (N, M) matrix read as p(i, j):
// FgClep (models/fgclep.hpp), or a stand-in in tests.
#include "fgclep/core/backend.hpp"
#include "fgclep/core/context.hpp"
#include "fgclep/core/error.hpp"
#include "fgclep/core/shape.hpp"
#include "fgclep/core/tensor.hpp"
#include "fgclep/data/batch_stream.hpp"
#include "fgclep/data/dataset.hpp"
#include "fgclep/data/preprocess.hpp"
#include "fgclep/text/report_tokenizer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fgclep::features {

struct ValidationOptions {
    double threshold = 0.95;             // keep a candidate iff its probability is above this
    std::int64_t text_batch_size = 256;  // candidate texts encoded at once
    // validate_dataset(): how records are read (batch_size = ECGs encoded at once). Shuffling is turned off.
    data::BatchStreamOptions stream{.batch_size = 64, .workers = 2, .prefetch_batches = 2};
    std::function<void(std::int64_t done, std::int64_t total)> progress{};  // records done of candidates.size()

    void validate() const {
        if (!(threshold >= 0 && threshold <= 1))
            fail("validate_features: threshold must be in [0, 1], got {}", threshold);
        if (text_batch_size < 1) fail("validate_features: text_batch_size must be >= 1, got {}", text_batch_size);
    }
};

// How provenance names a record: the dataset's id (MIMIC-IV-ECG's study_id) and its record path.
struct RecordIdentity {
    std::string id;
    std::string record;
};

struct KeptFeature {
    std::string feature;
    double probability = 0;
    bool operator==(const KeptFeature&) const = default;
};

// One record's validation.
struct RecordValidation {
    std::int64_t index = -1;            // in the source validated
    std::string id, record;             // RecordIdentity
    std::string report;                 // as given
    std::vector<std::string> proposed;  // candidates, in the order proposed
    std::vector<double> probabilities;  // one per proposed (NaN where the record could not be read)
    std::vector<KeptFeature> kept;      // proposed features with probability > threshold, in proposed order
    std::string augmented_report;       // augment_report(report, kept)
    bool skipped = false;               // the ECG could not be read: nothing kept, report unchanged

    std::vector<std::string> kept_features() const {
        std::vector<std::string> out;
        for (const auto& k : kept) out.push_back(k.feature);
        return out;
    }
};

struct FeatureStatistics {
    std::string feature;
    std::int64_t proposed = 0, kept = 0;
    double mean_probability = 0;  // over the records it was proposed for
    double kept_share() const { return proposed > 0 ? static_cast<double>(kept) / static_cast<double>(proposed) : 0; }
};

struct ValidationStatistics {
    double threshold = 0.95;
    std::int64_t records = 0;                    // validated (read) records
    std::int64_t skipped = 0;                    // records whose ECG could not be read
    std::int64_t records_with_candidates = 0;    // with at least one proposed feature
    std::int64_t records_with_kept = 0;          // with at least one kept feature
    std::int64_t proposed = 0, kept = 0;         // (record, feature) pairs
    std::int64_t distinct_candidates = 0;        // texts encoded
    std::vector<FeatureStatistics> per_feature;  // in order of first proposal

    double kept_share() const { return proposed > 0 ? static_cast<double>(kept) / static_cast<double>(proposed) : 0; }

    // A table for the terminal: the totals, then one line per feature.
    std::string summary() const {
        std::string s = fmt::format(
            "stage 2 validation (keep p > {}): {} records, {} with candidates, {} with a kept feature; "
            "{} of {} proposed features kept ({:.1f}%); {} distinct candidates{}\n",
            threshold, records, records_with_candidates, records_with_kept, kept, proposed, 100 * kept_share(),
            distinct_candidates, skipped > 0 ? fmt::format("; {} records skipped (unreadable)", skipped) : "");
        std::size_t width = 7;
        for (const auto& f : per_feature) width = std::max(width, f.feature.size());
        s += fmt::format("  {:<{}} {:>9} {:>7} {:>7} {:>7}\n", "feature", width, "proposed", "kept", "share", "mean p");
        for (const auto& f : per_feature)
            s += fmt::format("  {:<{}} {:>9} {:>7} {:>6.1f}% {:>7.3f}\n", f.feature, width, f.proposed, f.kept,
                             100 * f.kept_share(), f.mean_probability);
        return s;
    }
};

struct ValidationResult {
    std::vector<RecordValidation> records;  // by record index
    ValidationStatistics statistics;
};

// The report stage 3 trains on: the original report, then the kept features as sentences, the way reports state
// them ("sinus rhythm. borderline ecg." + {"prolonged pr interval"} -> "sinus rhythm. borderline ecg. prolonged pr
// interval."). Defined as report + " " + join(kept, ". ") + ".", where a report not ending in '.' first gets one
// (trailing whitespace dropped); with nothing kept the report is returned unchanged; an empty report gives the
// features alone. This is the paper's x_txt + f_j (Appendix D) in the cleaned reports' sentence form.
inline std::string augment_report(std::string_view report, std::span<const std::string> kept) {
    if (kept.empty()) return std::string(report);
    std::string out(report);
    while (!out.empty() && (out.back() == ' ' || out.back() == '\t' || out.back() == '\n' || out.back() == '\r'))
        out.pop_back();
    if (!out.empty() && out.back() != '.') out += '.';
    for (const auto& f : kept) {
        if (!out.empty()) out += out.back() == '.' ? " " : ". ";
        out += f;
    }
    out += '.';
    return out;
}

namespace validation_detail {

// Distinct candidate texts in order of first appearance, and each record's candidates as column numbers.
struct CandidateIndex {
    std::vector<std::string> texts;
    std::unordered_map<std::string, std::int64_t> column;
};

inline CandidateIndex index_candidates(std::span<const std::vector<std::string>> candidates) {
    CandidateIndex ix;
    for (const auto& list : candidates)
        for (const auto& c : list)
            if (ix.column.emplace(c, static_cast<std::int64_t>(ix.texts.size())).second) ix.texts.push_back(c);
    return ix;
}

// Proposed features without repeats (a source may repeat one; it is validated once), in order.
inline std::vector<std::string> distinct(const std::vector<std::string>& list) {
    std::vector<std::string> out;
    for (const auto& c : list)
        if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
    return out;
}

inline ValidationStatistics statistics_of(const std::vector<RecordValidation>& records, double threshold,
                                          std::int64_t distinct_candidates) {
    ValidationStatistics s;
    s.threshold = threshold;
    s.distinct_candidates = distinct_candidates;
    std::unordered_map<std::string, std::size_t> row;
    std::vector<double> probability_sums;
    for (const auto& r : records) {
        if (r.skipped) {
            ++s.skipped;
            continue;
        }
        ++s.records;
        s.records_with_candidates += !r.proposed.empty();
        s.records_with_kept += !r.kept.empty();
        s.proposed += static_cast<std::int64_t>(r.proposed.size());
        s.kept += static_cast<std::int64_t>(r.kept.size());
        for (std::size_t k = 0; k < r.proposed.size(); ++k) {
            auto [it, fresh] = row.emplace(r.proposed[k], s.per_feature.size());
            if (fresh) {
                s.per_feature.push_back({r.proposed[k], 0, 0, 0});
                probability_sums.push_back(0);
            }
            auto& f = s.per_feature[it->second];
            ++f.proposed;
            if (k < r.probabilities.size()) probability_sums[it->second] += r.probabilities[k];
        }
        for (const auto& kf : r.kept) ++s.per_feature[row.at(kf.feature)].kept;
    }
    for (std::size_t i = 0; i < s.per_feature.size(); ++i)
        s.per_feature[i].mean_probability = probability_sums[i] / static_cast<double>(s.per_feature[i].proposed);
    return s;
}

}  // namespace validation_detail

// Recomputes the statistics of records (after reading a provenance file, or merging runs).
inline ValidationStatistics validation_statistics(const std::vector<RecordValidation>& records, double threshold) {
    std::unordered_map<std::string, int> texts;
    for (const auto& r : records)
        for (const auto& p : r.proposed) texts.emplace(p, 0);
    return validation_detail::statistics_of(records, threshold, static_cast<std::int64_t>(texts.size()));
}

// Validates the candidates of every record the batches bring. candidates[i] are the features proposed for record
// index i (so candidates.size() must exceed every index); identify(i) names record i in the result (default: no
// names). Records a batch skipped (unreadable) are recorded with skipped = true and nothing kept.
template <class Model, Backend B, class Batches>
ValidationResult validate_features(Model& model, Context<B>& ctx, const ReportTokenizer& tokenizer, Batches&& batches,
                                   std::span<const std::vector<std::string>> candidates,
                                   const ValidationOptions& options = {},
                                   const std::function<RecordIdentity(std::int64_t)>& identify = {}) {
    using T = typename B::value_type;
    options.validate();
    const validation_detail::CandidateIndex ix = validation_detail::index_candidates(candidates);

    // Every distinct candidate once: embeddings (M, P) kept on the host, gathered per ECG batch.
    std::vector<T> text_embeddings;
    std::int64_t dim = 0;
    for (std::size_t begin = 0; begin < ix.texts.size(); begin += static_cast<std::size_t>(options.text_batch_size)) {
        const std::size_t end = std::min(ix.texts.size(), begin + static_cast<std::size_t>(options.text_batch_size));
        const std::vector<std::string> chunk(ix.texts.begin() + static_cast<std::ptrdiff_t>(begin),
                                             ix.texts.begin() + static_cast<std::ptrdiff_t>(end));
        const auto t = model.encode_text(ctx, tokenizer, chunk);
        if (t.shape().rank() != 2 || t.size(0) != static_cast<std::int64_t>(chunk.size()))
            fail("validate_features: the model encoded {} candidate texts as embeddings of shape {}", chunk.size(),
                 t.shape());
        if (dim == 0) dim = t.size(1);
        const std::vector<T> host = ctx.to_host(t);
        text_embeddings.insert(text_embeddings.end(), host.begin(), host.end());
    }

    ValidationResult result;
    std::vector<char> seen(candidates.size(), 0);
    std::int64_t done = 0;
    const auto record_of = [&](std::int64_t index, std::string_view report) {
        if (index < 0 || static_cast<std::size_t>(index) >= candidates.size())
            fail("validate_features: a batch holds record {} but candidates are given for {} records", index,
                 candidates.size());
        if (seen[static_cast<std::size_t>(index)])
            fail("validate_features: record {} comes twice in the batches", index);
        seen[static_cast<std::size_t>(index)] = 1;
        RecordValidation r;
        r.index = index;
        if (identify) {
            RecordIdentity who = identify(index);
            r.id = std::move(who.id);
            r.record = std::move(who.record);
        }
        r.report = std::string(report);
        r.proposed = validation_detail::distinct(candidates[static_cast<std::size_t>(index)]);
        return r;
    };

    for (const auto& batch : batches) {
        for (std::int64_t s : batch.skipped) {
            RecordValidation r = record_of(s, {});
            r.skipped = true;
            r.probabilities.assign(r.proposed.size(), std::nan(""));
            result.records.push_back(std::move(r));
        }
        const std::int64_t n = batch.size();
        if (n == 0) continue;
        if (static_cast<std::int64_t>(batch.reports.size()) != n)
            fail("validate_features: a batch has {} records but {} reports", n, batch.reports.size());
        std::vector<RecordValidation> records;
        records.reserve(static_cast<std::size_t>(n));
        // The distinct columns this batch needs, in first-use order.
        std::vector<std::int64_t> columns;
        std::unordered_map<std::int64_t, std::int64_t> local;
        for (std::int64_t k = 0; k < n; ++k) {
            records.push_back(
                record_of(batch.indices[static_cast<std::size_t>(k)], batch.reports[static_cast<std::size_t>(k)]));
            for (const auto& c : records.back().proposed) {
                const std::int64_t col = ix.column.at(c);
                if (local.emplace(col, static_cast<std::int64_t>(columns.size())).second) columns.push_back(col);
            }
        }
        if (!columns.empty()) {
            std::vector<T> ecg(batch.ecg.begin(), batch.ecg.end());
            const auto e = model.encode_ecg(ctx, ctx.from_host(batch.ecg_shape, ecg));
            std::vector<T> gathered(columns.size() * static_cast<std::size_t>(dim));
            for (std::size_t j = 0; j < columns.size(); ++j)
                std::copy_n(text_embeddings.begin() + columns[j] * dim, dim,
                            gathered.begin() + static_cast<std::ptrdiff_t>(j) * dim);
            const auto t = ctx.from_host(Shape{static_cast<std::int64_t>(columns.size()), dim}, gathered);
            const auto p = model.probability(ctx, e, t);
            if (p.rows() != n || p.cols() != static_cast<std::int64_t>(columns.size()))
                fail("validate_features: the model's probabilities have shape ({}, {}), expected ({}, {})", p.rows(),
                     p.cols(), n, columns.size());
            for (std::int64_t k = 0; k < n; ++k) {
                RecordValidation& r = records[static_cast<std::size_t>(k)];
                for (const auto& c : r.proposed) {
                    const double prob = static_cast<double>(p(k, local.at(ix.column.at(c))));
                    r.probabilities.push_back(prob);
                    if (prob > options.threshold) r.kept.push_back({c, prob});
                }
            }
        }
        for (auto& r : records) {
            const std::vector<std::string> kept = r.kept_features();
            r.augmented_report = augment_report(r.report, kept);
            result.records.push_back(std::move(r));
        }
        done += n + static_cast<std::int64_t>(batch.skipped.size());
        if (options.progress) options.progress(done, static_cast<std::int64_t>(candidates.size()));
    }
    std::sort(result.records.begin(), result.records.end(),
              [](const RecordValidation& a, const RecordValidation& b) { return a.index < b.index; });
    result.statistics =
        validation_detail::statistics_of(result.records, options.threshold, static_cast<std::int64_t>(ix.texts.size()));
    return result;
}

// Every record of a dataset, in order: read and preprocessed by a BatchStream (options.stream, not shuffled),
// named by the dataset's ids and record paths. candidates.size() must equal dataset.size().
//
// In a data-parallel run (ctx.collectives with K ranks) each rank reads and scores every K-th record with
// candidates, the probabilities are all-gathered, and every rank returns the same result as one process would.
template <class Model, Backend B>
ValidationResult validate_dataset(Model& model, Context<B>& ctx, const ReportTokenizer& tokenizer,
                                  const data::EcgDataset& dataset, const data::Preprocessor& preprocessor,
                                  std::span<const std::vector<std::string>> candidates,
                                  const ValidationOptions& options = {}) {
    if (static_cast<std::int64_t>(candidates.size()) != dataset.size())
        fail("validate_dataset: {} candidate lists for the {} records of dataset '{}'", candidates.size(),
             dataset.size(), dataset.name);
    data::BatchStreamOptions stream_options = options.stream;
    stream_options.shuffle = false;
    stream_options.drop_last = false;
    data::BatchStream<data::EcgDataset> stream(dataset, preprocessor, stream_options);
    // Records with no candidate need no ECG: leave them out of the batches and record them as they are.
    std::vector<std::int64_t> with_candidates;
    for (std::int64_t i = 0; i < dataset.size(); ++i)
        if (!candidates[static_cast<std::size_t>(i)].empty()) with_candidates.push_back(i);
    const int K = ctx.world_size(), rank = ctx.rank();
    std::vector<std::int64_t> mine;
    for (std::size_t k = static_cast<std::size_t>(rank); k < with_candidates.size(); k += static_cast<std::size_t>(K))
        mine.push_back(with_candidates[k]);
    const auto identify = [&](std::int64_t i) {
        return RecordIdentity{dataset.entry(i).id, dataset.entry(i).record.string()};
    };
    ValidationResult r = validate_features(model, ctx, tokenizer, stream.over(mine), candidates, options, identify);

    // The probabilities of every record with candidates: this rank's, or every rank's all-gathered (padded to the
    // longest share; a record that could not be read has NaN ones).
    std::vector<std::vector<double>> probabilities(candidates.size());
    for (auto& v : r.records) probabilities[static_cast<std::size_t>(v.index)] = v.probabilities;
    if (K > 1) {
        std::vector<std::size_t> share(static_cast<std::size_t>(K), 0);
        for (std::size_t k = 0; k < with_candidates.size(); ++k)
            share[k % static_cast<std::size_t>(K)] +=
                validation_detail::distinct(candidates[static_cast<std::size_t>(with_candidates[k])]).size();
        const std::size_t longest = *std::max_element(share.begin(), share.end());
        std::vector<double> flat;
        flat.reserve(longest);
        for (auto i : mine)
            for (double p : probabilities[static_cast<std::size_t>(i)]) flat.push_back(p);
        flat.resize(longest, 0.0);
        std::vector<double> all(longest * static_cast<std::size_t>(K));
        ctx.collectives->all_gather(flat, all);
        std::vector<std::size_t> next(static_cast<std::size_t>(K), 0);
        for (std::size_t k = 0; k < with_candidates.size(); ++k) {
            const auto owner = k % static_cast<std::size_t>(K);
            const auto i = static_cast<std::size_t>(with_candidates[k]);
            const std::size_t n = validation_detail::distinct(candidates[i]).size();
            const double* from = all.data() + owner * longest + next[owner];
            probabilities[i].assign(from, from + n);
            next[owner] += n;
        }
    }

    // Every record in order, built the same way from its probabilities on every rank.
    std::vector<RecordValidation> all;
    all.reserve(candidates.size());
    for (std::int64_t i = 0; i < dataset.size(); ++i) {
        const auto& entry = dataset.entry(i);
        RecordValidation v;
        v.index = i;
        v.id = entry.id;
        v.record = entry.record.string();
        v.report = entry.report;
        if (!candidates[static_cast<std::size_t>(i)].empty()) {
            v.proposed = validation_detail::distinct(candidates[static_cast<std::size_t>(i)]);
            v.probabilities = std::move(probabilities[static_cast<std::size_t>(i)]);
            v.skipped =
                std::all_of(v.probabilities.begin(), v.probabilities.end(), [](double p) { return std::isnan(p); });
            if (!v.skipped)
                for (std::size_t j = 0; j < v.proposed.size(); ++j)
                    if (v.probabilities[j] > options.threshold) v.kept.push_back({v.proposed[j], v.probabilities[j]});
        }
        v.augmented_report = augment_report(v.report, v.kept_features());
        all.push_back(std::move(v));
    }
    r.statistics = validation_detail::statistics_of(all, options.threshold, r.statistics.distinct_candidates);
    r.records = std::move(all);
    return r;
}

}  // namespace fgclep::features
