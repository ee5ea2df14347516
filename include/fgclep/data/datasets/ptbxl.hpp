#pragma once
// PTB-XL (PhysioNet ptb-xl 1.0.3) as it ships, with the label tasks of the PTB-XL benchmark (Strodthoff et al.)
// that the MERL/FG-CLEP benchmark's split files were made from.
//
//   EcgDataset train = load_ptbxl("/data/ptb-xl", {.task = PtbxlTask::super_class, .folds = ptbxl_train_folds()});
//
// Labels come from every statement in scp_codes whatever its likelihood, as the benchmark aggregates them, and class
// names are spelled as its split files spell them ("NST_" -> "NST"), so labels match the split files. File layout,
// tasks, class order and the counted kinds of skipped rows: docs/datasets.md.
#include "fgclep/data/csv.hpp"
#include "fgclep/data/dataset.hpp"
#include "fgclep/data/datasets/common.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace fgclep::data {

enum class PtbxlTask { super_class, sub_class, form, rhythm, none };

inline std::string_view to_string(PtbxlTask task) {
    switch (task) {
        case PtbxlTask::super_class:
            return "super_class";
        case PtbxlTask::sub_class:
            return "sub_class";
        case PtbxlTask::form:
            return "form";
        case PtbxlTask::rhythm:
            return "rhythm";
        case PtbxlTask::none:
            return "none";
    }
    return "?";
}

// The official folds (strat_fold): train 1-8, validation 9, test 10.
inline std::vector<int> ptbxl_train_folds() { return {1, 2, 3, 4, 5, 6, 7, 8}; }
inline std::vector<int> ptbxl_val_folds() { return {9}; }
inline std::vector<int> ptbxl_test_folds() { return {10}; }

struct PtbxlOptions {
    PtbxlTask task = PtbxlTask::super_class;
    int sampling_rate = 500;                      // 500: filename_hr, 100: filename_lr
    std::vector<int> folds{};                     // empty: all ten
    std::vector<std::string> class_names{};       // empty: every class of the task, sorted
    bool benchmark_names = true;                  // "NST_" -> "NST" (see above)
    bool keep_unlabelled = false;                 // true: keep records without a label of the task (all-zero labels)
    bool check_files = false;                     // stat each record's .hea
    std::string database = "ptbxl_database.csv";  // relative to the root, or absolute
    std::string scp_statements = "scp_statements.csv";
};

// One statement of a scp_codes dict: code and likelihood.
struct ScpCode {
    std::string code;
    double likelihood = 0;
};

// Parses a Python dict literal of string keys and numeric values: "{'NORM': 100.0, 'SR': 0.0}". Throws
// fgclep::Error naming `where` and the character position on anything else.
inline std::vector<ScpCode> parse_scp_codes(std::string_view text, std::string_view where) {
    std::size_t i = 0;
    const auto bad = [&](std::string_view what) {
        fail("{}: scp_codes '{}' is not a dict of 'CODE': number: {} at character {}", where, text, what, i + 1);
    };
    const auto skip_space = [&] {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
    };
    std::vector<ScpCode> out;
    skip_space();
    if (i >= text.size() || text[i] != '{') bad("expected '{'");
    ++i;
    for (;;) {
        skip_space();
        if (i < text.size() && text[i] == '}') break;
        if (i >= text.size() || (text[i] != '\'' && text[i] != '"')) bad("expected a quoted key or '}'");
        const char quote = text[i++];
        ScpCode item;
        while (i < text.size() && text[i] != quote) {
            if (text[i] == '\\' && i + 1 < text.size()) ++i;
            item.code.push_back(text[i++]);
        }
        if (i >= text.size()) bad("key is not closed");
        ++i;
        skip_space();
        if (i >= text.size() || text[i] != ':') bad("expected ':'");
        ++i;
        skip_space();
        std::size_t end = i;
        while (end < text.size() && text[end] != ',' && text[end] != '}' && text[end] != ' ') ++end;
        const std::string_view number = text.substr(i, end - i);
        const auto [stop, ec] = std::from_chars(number.data(), number.data() + number.size(), item.likelihood);
        if (number.empty() || ec != std::errc() || stop != number.data() + number.size()) bad("expected a number");
        i = end;
        out.push_back(std::move(item));
        skip_space();
        if (i < text.size() && text[i] == ',') {
            ++i;
            continue;
        }
        skip_space();
        if (i >= text.size() || text[i] != '}') bad("expected ',' or '}'");
        break;
    }
    ++i;
    skip_space();
    if (i != text.size()) bad("text after '}'");
    return out;
}

// scp_statements.csv: for each statement code, the class names it contributes to each task.
struct ScpStatements {
    std::map<std::string, std::array<std::string, 4>> label_of;  // code -> per task (super, sub, form, rhythm); "" none

    static ScpStatements read(const std::filesystem::path& path, bool benchmark_names) {
        CsvReader csv(path);
        // The code column has no name in the PhysioNet file (pandas' index column).
        const std::size_t code_col = csv.has_column("") ? csv.column("") : 0;
        const std::size_t diag = csv.column("diagnostic"), form = csv.column("form"), rhythm = csv.column("rhythm"),
                          cls = csv.column("diagnostic_class"), sub = csv.column("diagnostic_subclass");
        const auto flag = [&](std::size_t col) {
            const std::string_view v = dataset_detail::trim(csv.field(col));
            if (v.empty()) return false;  // pandas NaN: not set
            const auto f = dataset_detail::parse_label(v);
            if (!f) fail("{}: '{}' is not 0/1/empty", csv.where(col), v);
            return *f == 1.0f;
        };
        const auto name = [&](std::string_view n) {
            std::string s(dataset_detail::trim(n));
            if (benchmark_names) {
                while (!s.empty() && s.front() == '_') s.erase(s.begin());
                while (!s.empty() && s.back() == '_') s.pop_back();
            }
            return s;
        };
        ScpStatements out;
        while (csv.next()) {
            const std::string code(dataset_detail::trim(csv.field(code_col)));
            if (code.empty()) fail("{}: empty statement code", csv.where(code_col));
            std::array<std::string, 4> labels;
            if (flag(diag)) {
                labels[0] = name(csv.field(cls));
                labels[1] = name(csv.field(sub));
            }
            if (flag(form)) labels[2] = name(code);
            if (flag(rhythm)) labels[3] = name(code);
            out.label_of[code] = std::move(labels);
        }
        return out;
    }

    // Every class of a task, sorted.
    std::vector<std::string> classes(PtbxlTask task) const {
        std::set<std::string> names;
        for (const auto& [code, labels] : label_of)
            if (task != PtbxlTask::none && !labels[static_cast<int>(task)].empty())
                names.insert(labels[static_cast<int>(task)]);
        return {names.begin(), names.end()};
    }
};

inline EcgDataset load_ptbxl(const std::filesystem::path& root, const PtbxlOptions& options = {}) {
    namespace fs = std::filesystem;
    if (options.sampling_rate != 500 && options.sampling_rate != 100)
        fail("load_ptbxl: sampling_rate must be 500 or 100, got {}", options.sampling_rate);
    const ScpStatements statements = ScpStatements::read(root / options.scp_statements, options.benchmark_names);
    const int task = static_cast<int>(options.task);

    EcgDataset out;
    out.name = fmt::format("ptbxl-{}", to_string(options.task));
    out.root = root;
    if (options.task != PtbxlTask::none)
        out.class_names = options.class_names.empty() ? statements.classes(options.task) : options.class_names;
    const auto index = dataset_detail::class_index(out.class_names);
    if (!options.class_names.empty()) {
        const auto all = statements.classes(options.task);
        for (const auto& c : out.class_names)
            if (std::find(all.begin(), all.end(), c) == all.end())
                fail("load_ptbxl: class '{}' is not a {} class of {} (classes: {})", c, to_string(options.task),
                     (root / options.scp_statements).string(), fmt::join(all, ", "));
    }

    CsvReader csv(root / options.database);
    const std::size_t id_col = csv.column("ecg_id"), patient_col = csv.column("patient_id"),
                      report_col = csv.column("report"), codes_col = csv.column("scp_codes"),
                      fold_col = csv.column("strat_fold"),
                      file_col = csv.column(options.sampling_rate == 500 ? "filename_hr" : "filename_lr");
    while (csv.next()) {
        const auto id = dataset_detail::parse_integer(csv.field(id_col));
        const auto fold = dataset_detail::parse_integer(csv.field(fold_col));
        const std::string_view file = dataset_detail::trim(csv.field(file_col));
        if (!id || !fold || file.empty()) {
            out.issues.add("malformed row",
                           csv.where() + ": ecg_id, strat_fold or " + csv.header()[file_col] + " is not valid");
            continue;
        }
        if (!options.folds.empty() &&
            std::find(options.folds.begin(), options.folds.end(), static_cast<int>(*fold)) == options.folds.end())
            continue;
        DatasetEntry e;
        e.id = std::to_string(*id);
        e.record = fs::path(std::string(file));
        e.report = std::string(dataset_detail::trim(csv.field(report_col)));
        e.subject = dataset_detail::parse_integer(csv.field(patient_col)).value_or(-1);
        if (options.task != PtbxlTask::none) {
            std::vector<ScpCode> codes;
            try {
                codes = parse_scp_codes(csv.field(codes_col), csv.where(codes_col));
            } catch (const Error& error) {
                out.issues.add("malformed scp_codes", error.what());
                continue;
            }
            e.labels.assign(out.class_names.size(), 0.0f);
            bool any = false;
            for (const ScpCode& c : codes) {
                const auto it = statements.label_of.find(c.code);
                if (it == statements.label_of.end()) {
                    out.issues.add("unknown scp code",
                                   fmt::format("{}: '{}' (ecg_id {}) is not in {}", csv.where(codes_col), c.code, e.id,
                                               options.scp_statements));
                    continue;
                }
                const std::string& label = it->second[task];
                if (label.empty()) continue;
                const auto k = index.find(label);
                if (k == index.end()) continue;  // a class the caller left out
                e.labels[k->second] = 1.0f;
                any = true;
            }
            if (!any && !options.keep_unlabelled) {
                out.issues.add(fmt::format("no {} label", to_string(options.task)),
                               fmt::format("ecg_id {} ({})", e.id, csv.field(codes_col)));
                continue;
            }
        }
        if (options.check_files) {
            std::error_code ec;
            const fs::path hea = root / fs::path(e.record.string() + ".hea");
            if (!fs::is_regular_file(hea, ec)) {
                out.issues.add("missing header file", fmt::format("{} (ecg_id {})", hea.string(), e.id));
                continue;
            }
        }
        out.entries.push_back(std::move(e));
    }
    return out;
}

}  // namespace fgclep::data
