#pragma once
// The provenance file of stage 2: one JSON object per line and per record, saying what was proposed, what was
// kept with which probability, and the report stage 3 trains on.
//
//   {"index":0,"id":"40689238","record":"files/p1000/p10000032/s40689238/40689238",
//    "report":"sinus rhythm. 1st degree av block. borderline ecg.",
//    "proposed":["normal p waves","prolonged pr interval",...],"probabilities":[0.41,0.987,...],
//    "kept":[{"feature":"prolonged pr interval","probability":0.987}],
//    "augmented_report":"sinus rhythm. 1st degree av block. borderline ecg. prolonged pr interval.",
//    "threshold":0.95}
//   (a record whose ECG could not be read also has "skipped":true; its report is not augmented)
//
//   write_provenance("features.jsonl", result);        // atomic: a temporary file renamed into place
//   auto records = read_provenance("features.jsonl");  // back to RecordValidation (errors name file and line)
//   EcgDataset stage3 = with_augmented_reports(data::load_mimic_iv_ecg(root), "features.jsonl");
//
// with_augmented_reports pairs file lines with dataset entries by id (MIMIC-IV-ECG's study_id), or by record path
// where the line has no id; a record with no line (or a skipped one) keeps its original report.
#include "fgclep/core/error.hpp"
#include "fgclep/data/dataset.hpp"
#include "fgclep/features/validation.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <unistd.h>

namespace fgclep::features {

inline nlohmann::ordered_json provenance_line(const RecordValidation& r, double threshold) {
    nlohmann::ordered_json j;
    j["index"] = r.index;
    j["id"] = r.id;
    j["record"] = r.record;
    j["report"] = r.report;
    j["proposed"] = r.proposed;
    nlohmann::ordered_json probabilities = nlohmann::ordered_json::array();
    for (double p : r.probabilities) probabilities.push_back(std::isfinite(p) ? nlohmann::ordered_json(p) : nullptr);
    j["probabilities"] = std::move(probabilities);
    nlohmann::ordered_json kept = nlohmann::ordered_json::array();
    for (const auto& k : r.kept) kept.push_back({{"feature", k.feature}, {"probability", k.probability}});
    j["kept"] = std::move(kept);
    j["augmented_report"] = r.augmented_report;
    j["threshold"] = threshold;
    if (r.skipped) j["skipped"] = true;
    return j;
}

// Writes every record, in order, to `path` through "<path>.tmp.<pid>" renamed into place: a reader never sees a
// half-written file, and an interrupted run leaves the previous file (if any) as it was.
inline void write_provenance(const std::filesystem::path& path, const ValidationResult& result) {
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    const std::filesystem::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) fail("write_provenance: cannot create '{}'", tmp.string());
        for (const auto& r : result.records) out << provenance_line(r, result.statistics.threshold).dump() << '\n';
        out.flush();
        if (!out) {
            out.close();
            std::filesystem::remove(tmp);
            fail("write_provenance: cannot write '{}' (disk full?)", tmp.string());
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::filesystem::remove(tmp);
        fail("write_provenance: cannot rename '{}' to '{}': {}", tmp.string(), path.string(), ec.message());
    }
}

// The records of a provenance file, in file order. `threshold` receives the file's threshold (of its first line).
inline std::vector<RecordValidation> read_provenance(const std::filesystem::path& path, double* threshold = nullptr) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("read_provenance: cannot open '{}'", path.string());
    std::vector<RecordValidation> out;
    std::string line;
    std::int64_t number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        const auto where = [&] { return fmt::format("'{}' line {}", path.string(), number); };
        try {
            const nlohmann::json j = nlohmann::json::parse(line);
            RecordValidation r;
            r.index = j.value("index", std::int64_t{-1});
            r.id = j.value("id", std::string());
            r.record = j.value("record", std::string());
            r.report = j.at("report").get<std::string>();
            r.proposed = j.at("proposed").get<std::vector<std::string>>();
            for (const auto& p : j.at("probabilities"))
                r.probabilities.push_back(p.is_null() ? std::nan("") : p.get<double>());
            if (r.probabilities.size() != r.proposed.size())
                fail("read_provenance: {}: {} probabilities for {} proposed features", where(), r.probabilities.size(),
                     r.proposed.size());
            for (const auto& k : j.at("kept"))
                r.kept.push_back({k.at("feature").get<std::string>(), k.at("probability").get<double>()});
            r.augmented_report = j.at("augmented_report").get<std::string>();
            r.skipped = j.value("skipped", false);
            if (threshold && out.empty()) *threshold = j.value("threshold", 0.95);
            out.push_back(std::move(r));
        } catch (const nlohmann::json::exception& e) {
            fail("read_provenance: {}: {}", where(), e.what());
        }
    }
    return out;
}

// Stage 3's reports: the dataset with each record's report replaced by its augmented report. `replaced`, when
// given, receives how many reports changed source (records with a usable line).
inline data::EcgDataset with_augmented_reports(const data::EcgDataset& original,
                                               const std::vector<RecordValidation>& records,
                                               std::int64_t* replaced = nullptr) {
    std::unordered_map<std::string, const RecordValidation*> by_id, by_record;
    for (const auto& r : records) {
        if (r.skipped) continue;
        if (!r.id.empty())
            by_id[r.id] = &r;
        else if (!r.record.empty())
            by_record[r.record] = &r;
    }
    data::EcgDataset out = original;
    std::int64_t count = 0;
    for (auto& e : out.entries) {
        const RecordValidation* r = nullptr;
        if (auto it = by_id.find(e.id); !e.id.empty() && it != by_id.end())
            r = it->second;
        else if (auto jt = by_record.find(e.record.string()); jt != by_record.end())
            r = jt->second;
        if (!r) continue;
        e.report = r->augmented_report;
        ++count;
    }
    if (replaced) *replaced = count;
    return out;
}

inline data::EcgDataset with_augmented_reports(const data::EcgDataset& original, const std::filesystem::path& file,
                                               std::int64_t* replaced = nullptr) {
    return with_augmented_reports(original, read_provenance(file), replaced);
}

// id (or record path where a line has no id) -> augmented report, for sources other than an EcgDataset.
inline std::unordered_map<std::string, std::string> augmented_reports(const std::vector<RecordValidation>& records) {
    std::unordered_map<std::string, std::string> out;
    for (const auto& r : records)
        if (!r.skipped) out[r.id.empty() ? r.record : r.id] = r.augmented_report;
    return out;
}

}  // namespace fgclep::features
