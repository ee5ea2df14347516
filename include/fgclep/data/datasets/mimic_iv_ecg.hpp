#pragma once
// MIMIC-IV-ECG (PhysioNet mimic-iv-ecg 1.0) as it ships: ECG–report pairs for pre-training.
//
//   EcgDataset d = load_mimic_iv_ecg("/data/mimic-iv-ecg", {.check_files = true});
//   d.report(0);   // "sinus rhythm. possible right atrial abnormality. borderline ecg."
//
// An ECG and its report are paired by subject_id + study_id, in record_list.csv order; reports are cleaned by
// clean_mimic_report (report_cleaning.hpp) and kept by a named rule: report_filter merl (the default: >= 4 words,
// MERL's 771,693 pairs) or paper (the FG-CLEP paper's: no empty report, >= 3 words, no uninformative report):
//
//   EcgDataset p = load_mimic_iv_ecg(root, {.report_filter = ReportFilter::paper});
//   p.issues.count("uninformative report");   // every dropped report is counted by the rule that dropped it
//
// Files read, the counted kinds of skipped rows, the rules and the default: docs/datasets.md.
#include "fgclep/data/csv.hpp"
#include "fgclep/data/dataset.hpp"
#include "fgclep/data/datasets/common.hpp"
#include "fgclep/data/report_cleaning.hpp"

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace fgclep::data {

struct MimicIvEcgOptions {
    // Which reports are kept: merl (>= 4 words) or paper (>= 3 words, not uninformative). The next two refine it.
    ReportFilter report_filter = ReportFilter::merl;
    std::optional<std::int64_t> min_words = std::nullopt;   // unset: the filter's (merl 4, paper 3)
    std::optional<bool> drop_uninformative = std::nullopt;  // unset: the filter's (merl no, paper yes)
    // The statements that make a report uninformative when it has no other (report_cleaning.hpp).
    std::vector<std::string> uninformative_statements = default_uninformative_statements();
    std::int64_t limit = -1;   // keep at most this many pairs (the first in record_list order); -1: all
    bool check_files = false;  // stat each record's .hea (800,000 stats: seconds on a local disk)
    std::string record_list = "record_list.csv";  // relative to the root, or absolute
    std::string machine_measurements = "machine_measurements.csv";
};

// The rule the options resolve to.
inline ReportRule report_rule(const MimicIvEcgOptions& options) {
    ReportRule rule = report_rule(options.report_filter);
    if (options.min_words) rule.min_words = *options.min_words;
    if (options.drop_uninformative) rule.drop_uninformative = *options.drop_uninformative;
    return rule;
}

// One line saying what the report filter keeps, for a run's log:
// "report filter paper: kept reports have >= 3 words and a statement not among 14 uninformative ones".
inline std::string describe_report_filter(const MimicIvEcgOptions& options) {
    const ReportRule rule = report_rule(options);
    return fmt::format(
        "report filter {}: kept reports have >= {} words{}", to_string(options.report_filter), rule.min_words,
        rule.drop_uninformative
            ? fmt::format(" and a statement not among {} uninformative ones", options.uninformative_statements.size())
            : std::string());
}

inline EcgDataset load_mimic_iv_ecg(const std::filesystem::path& root, const MimicIvEcgOptions& options = {}) {
    namespace fs = std::filesystem;
    const ReportRule rule = report_rule(options);
    const UninformativeStatements uninformative =
        rule.drop_uninformative ? UninformativeStatements(options.uninformative_statements) : UninformativeStatements();
    EcgDataset out;
    out.name = "mimic-iv-ecg";
    out.root = root;
    // MIMIC ids are 8-digit numbers: both fit in 32 bits, so the pair packs into one key without collisions.
    const auto valid_id = [](const std::optional<std::int64_t>& id) { return id && *id >= 0 && *id <= 0xFFFFFFFFll; };
    const auto key_of = [](std::int64_t subject, std::int64_t study) {
        return (static_cast<std::uint64_t>(subject) << 32) | static_cast<std::uint64_t>(study);
    };

    // record_list.csv first: its index (800,000 short paths) is what the reports are then streamed into, so a
    // report string is stored once, in its entry.
    std::unordered_map<std::uint64_t, std::size_t> entry_of;
    {
        CsvReader csv(root / options.record_list);
        const std::size_t subject_col = csv.column("subject_id"), study_col = csv.column("study_id"),
                          path_col = csv.column("path");
        while (csv.next()) {
            const auto subject = dataset_detail::parse_integer(csv.field(subject_col));
            const auto study = dataset_detail::parse_integer(csv.field(study_col));
            const std::string_view path = dataset_detail::trim(csv.field(path_col));
            if (!valid_id(subject) || !valid_id(study) || path.empty()) {
                out.issues.add("malformed row", csv.where() + ": subject_id, study_id or path is not valid");
                continue;
            }
            if (!entry_of.emplace(key_of(*subject, *study), out.entries.size()).second) {
                out.issues.add("duplicate study",
                               fmt::format("{}: subject {} study {} listed again", csv.where(), *subject, *study));
                continue;
            }
            DatasetEntry e;
            e.id = std::to_string(*study);
            e.record = fs::path(std::string(path));
            e.subject = *subject;
            out.entries.push_back(std::move(e));
        }
    }

    std::vector<char> has_report(out.entries.size(), 0), dropped_report(out.entries.size(), 0);
    {
        CsvReader csv(root / options.machine_measurements);
        const std::size_t subject_col = csv.column("subject_id"), study_col = csv.column("study_id");
        std::array<std::size_t, 18> report_cols;
        for (std::size_t i = 0; i < report_cols.size(); ++i) report_cols[i] = csv.column(fmt::format("report_{}", i));
        std::array<std::string_view, 18> fields;
        while (csv.next()) {
            const auto subject = dataset_detail::parse_integer(csv.field(subject_col));
            const auto study = dataset_detail::parse_integer(csv.field(study_col));
            if (!valid_id(subject) || !valid_id(study)) {
                out.issues.add("malformed row",
                               csv.where() + ": subject_id or study_id is not an id (an integer in [0, 2^32))");
                continue;
            }
            const auto it = entry_of.find(key_of(*subject, *study));
            for (std::size_t i = 0; i < fields.size(); ++i) fields[i] = csv.field(report_cols[i]);
            CleanedReport report = clean_mimic_report(fields);
            const ReportVerdict verdict = judge_report(fields, report, rule, uninformative);
            if (verdict != ReportVerdict::kept) {
                std::string why = verdict == ReportVerdict::uninformative
                                      ? "has only uninformative statements"
                                      : fmt::format("has {} words, fewer than {}", report.words, rule.min_words);
                out.issues.add(std::string(to_string(verdict)),
                               fmt::format("{}: subject {} study {}: '{}' {} (report filter {})", csv.where(), *subject,
                                           *study, report.text, why, to_string(options.report_filter)));
                if (it != entry_of.end()) dropped_report[it->second] = 1;
                continue;
            }
            if (it == entry_of.end()) {
                out.issues.add("report without waveform",
                               fmt::format("{}: subject {} study {} is not in {}", csv.where(), *subject, *study,
                                           options.record_list));
                continue;
            }
            if (has_report[it->second]) {
                out.issues.add("duplicate study", fmt::format("{}: a second report for subject {} study {}",
                                                              csv.where(), *subject, *study));
                continue;
            }
            has_report[it->second] = 1;
            out.entries[it->second].report = std::move(report.text);
        }
    }

    std::vector<DatasetEntry> kept;
    for (std::size_t i = 0; i < out.entries.size(); ++i) {
        DatasetEntry& e = out.entries[i];
        if (!has_report[i]) {
            if (!dropped_report[i])
                out.issues.add("waveform without report",
                               fmt::format("{} (subject {} study {}) has no row in {}", e.record.string(), e.subject,
                                           e.id, options.machine_measurements));
            continue;
        }
        // Past the limit: not kept, not a problem either (the other files are still checked for pairing).
        if (options.limit >= 0 && static_cast<std::int64_t>(kept.size()) >= options.limit) continue;
        if (options.check_files) {
            std::error_code ec;
            const fs::path hea = root / fs::path(e.record.string() + ".hea");
            if (!fs::is_regular_file(hea, ec)) {
                out.issues.add("missing header file",
                               fmt::format("{} (subject {} study {})", hea.string(), e.subject, e.id));
                continue;
            }
        }
        kept.push_back(std::move(e));
    }
    out.entries = std::move(kept);
    return out;
}

}  // namespace fgclep::data
