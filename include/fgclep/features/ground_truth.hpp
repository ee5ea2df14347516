#pragma once
// How well stage 2 recovers the waveform features a record really has, where they are known: the synthetic
// corpus's ground_truth.csv (docs/synthetic-corpus.md) lists every record's features as identifiers
// (prolonged_pr_interval), which map to the phrases reports and candidates use (synth::phrase: "prolonged pr
// interval").
//
//   auto truth = read_feature_ground_truth("corpus/ground_truth.csv");
//   FeatureRecovery m = evaluate_feature_recovery(truth, result);   // result: a ValidationResult
//   fmt::print("{}", m.summary());
//
// Micro precision and recall over (record, feature) pairs, of (a) the proposed candidates and (b) the kept
// features, against the true features of each record, and the same per feature. Only features the ground truth
// can judge count: a candidate outside its vocabulary (the 21 phrases; "narrow qrs complex") is neither right nor
// wrong and is counted apart (unjudged_*). Records are paired by id (study_id), else by record path; records
// without a ground-truth row are counted in unmatched_records and left out.
#include "fgclep/core/error.hpp"
#include "fgclep/data/csv.hpp"
#include "fgclep/features/validation.hpp"
#include "fgclep/synth/conditions.hpp"
#include "fgclep/synth/corpus.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace fgclep::features {

// Features (phrases) per record, keyed by study id and by record path; `vocabulary` is every feature it can judge.
struct FeatureGroundTruth {
    std::unordered_map<std::string, std::vector<std::string>> by_id, by_record;
    std::vector<std::string> vocabulary;

    const std::vector<std::string>* find(const std::string& id, const std::string& record) const {
        if (!id.empty())
            if (auto it = by_id.find(id); it != by_id.end()) return &it->second;
        if (!record.empty())
            if (auto it = by_record.find(record); it != by_record.end()) return &it->second;
        return nullptr;
    }
};

// The synthetic corpus's ground_truth.csv (study_id, path, features as ';'-joined identifiers). Errors name the
// file, line and the identifier not known.
inline FeatureGroundTruth read_feature_ground_truth(const std::filesystem::path& csv_path) {
    data::CsvReader csv(csv_path);
    const std::size_t study = csv.column("study_id"), path = csv.column("path"), features = csv.column("features");
    FeatureGroundTruth truth;
    for (std::size_t f = 0; f < synth::feature_count; ++f)
        truth.vocabulary.emplace_back(synth::phrase(static_cast<synth::Feature>(f)));
    while (csv.next()) {
        std::vector<std::string> phrases;
        std::string_view list = csv.field(features);
        while (!list.empty()) {
            const auto semicolon = list.find(';');
            const std::string_view id = list.substr(0, semicolon);
            if (!id.empty()) {
                const auto f = synth::feature_from_identifier(id);
                if (!f) fail("read_feature_ground_truth: {}: unknown feature '{}'", csv.where(features), id);
                phrases.emplace_back(synth::phrase(*f));
            }
            if (semicolon == std::string_view::npos) break;
            list.remove_prefix(semicolon + 1);
        }
        truth.by_id[std::string(csv.field(study))] = phrases;
        truth.by_record[std::string(csv.field(path))] = std::move(phrases);
    }
    return truth;
}

struct PrecisionRecall {
    std::int64_t true_positives = 0, false_positives = 0, false_negatives = 0;
    double precision() const {
        const auto d = true_positives + false_positives;
        return d > 0 ? static_cast<double>(true_positives) / static_cast<double>(d) : 0;
    }
    double recall() const {
        const auto d = true_positives + false_negatives;
        return d > 0 ? static_cast<double>(true_positives) / static_cast<double>(d) : 0;
    }
    double f1() const {
        const double p = precision(), r = recall();
        return p + r > 0 ? 2 * p * r / (p + r) : 0;
    }
};

struct FeatureRecoveryRow {
    std::string feature;
    std::int64_t present = 0;  // records that have it
    PrecisionRecall proposed, kept;
};

struct FeatureRecovery {
    std::int64_t records = 0;                               // paired with the ground truth (skipped records left out)
    std::int64_t unmatched_records = 0;                     // with no ground-truth row
    std::int64_t unjudged_proposed = 0, unjudged_kept = 0;  // outside the ground truth's vocabulary
    PrecisionRecall proposed, kept;                         // micro over (record, feature) pairs
    std::vector<FeatureRecoveryRow> per_feature;            // in the vocabulary's order

    std::string summary() const {
        std::string s = fmt::format(
            "stage 2 against the ground truth ({} records{}): proposed precision {:.3f} recall {:.3f}; "
            "kept precision {:.3f} recall {:.3f} ({} proposed and {} kept outside the ground truth's features)\n",
            records, unmatched_records > 0 ? fmt::format(", {} without a ground-truth row", unmatched_records) : "",
            proposed.precision(), proposed.recall(), kept.precision(), kept.recall(), unjudged_proposed, unjudged_kept);
        std::size_t width = 7;
        for (const auto& r : per_feature) width = std::max(width, r.feature.size());
        s += fmt::format("  {:<{}} {:>7} {:>9} {:>9} {:>9} {:>9}\n", "feature", width, "present", "prop. P", "prop. R",
                         "kept P", "kept R");
        for (const auto& r : per_feature)
            s += fmt::format("  {:<{}} {:>7} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f}\n", r.feature, width, r.present,
                             r.proposed.precision(), r.proposed.recall(), r.kept.precision(), r.kept.recall());
        return s;
    }
};

inline FeatureRecovery evaluate_feature_recovery(const FeatureGroundTruth& truth,
                                                 const std::vector<RecordValidation>& records) {
    FeatureRecovery m;
    std::unordered_map<std::string, std::size_t> row;
    for (const auto& f : truth.vocabulary) {
        row.emplace(f, m.per_feature.size());
        m.per_feature.push_back({f, 0, {}, {}});
    }
    const auto score = [&](const std::vector<std::string>& predicted, const std::unordered_set<std::string>& actual,
                           PrecisionRecall FeatureRecoveryRow::*which, PrecisionRecall& micro, std::int64_t& unjudged) {
        std::unordered_set<std::string> said;
        for (const auto& f : predicted) {
            if (!said.insert(f).second) continue;
            const auto it = row.find(f);
            if (it == row.end()) {
                ++unjudged;
                continue;
            }
            const bool hit = actual.count(f) > 0;
            auto& r = m.per_feature[it->second].*which;
            (hit ? r.true_positives : r.false_positives) += 1;
            (hit ? micro.true_positives : micro.false_positives) += 1;
        }
        for (const auto& f : actual)
            if (!said.count(f)) {
                (m.per_feature[row.at(f)].*which).false_negatives += 1;
                micro.false_negatives += 1;
            }
    };
    for (const auto& r : records) {
        if (r.skipped) continue;
        const std::vector<std::string>* true_features = truth.find(r.id, r.record);
        if (!true_features) {
            ++m.unmatched_records;
            continue;
        }
        ++m.records;
        const std::unordered_set<std::string> actual(true_features->begin(), true_features->end());
        for (const auto& f : actual)
            if (auto it = row.find(f); it != row.end()) ++m.per_feature[it->second].present;
        score(r.proposed, actual, &FeatureRecoveryRow::proposed, m.proposed, m.unjudged_proposed);
        score(r.kept_features(), actual, &FeatureRecoveryRow::kept, m.kept, m.unjudged_kept);
    }
    return m;
}

inline FeatureRecovery evaluate_feature_recovery(const FeatureGroundTruth& truth, const ValidationResult& result) {
    return evaluate_feature_recovery(truth, result.records);
}

}  // namespace fgclep::features
