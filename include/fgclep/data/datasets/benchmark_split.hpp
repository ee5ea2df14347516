#pragma once
// The MERL benchmark's split files: one CSV per dataset (ptbxl, icbeb, chapman), task and split, with the labels as
// 0/1 columns named by class; the layout is recognised from the column names.
//
//   EcgDataset test = load_benchmark_split("data_split/ptbxl/sub_class/ptbxl_sub_class_test.csv", "/data/ptb-xl",
//                                          {.class_names = train.class_names});
//
// Labels are matched by column NAME, never by position: ptbxl_sub_class_train.csv orders its columns differently
// from its val/test files. The layouts, how each finds its record, errors and counted kinds: docs/datasets.md.
#include "fgclep/data/csv.hpp"
#include "fgclep/data/dataset.hpp"
#include "fgclep/data/datasets/common.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

namespace fgclep::data {

enum class SplitLayout { ptbxl, icbeb, chapman };

inline std::string_view to_string(SplitLayout layout) {
    switch (layout) {
        case SplitLayout::ptbxl:
            return "ptbxl";
        case SplitLayout::icbeb:
            return "icbeb";
        case SplitLayout::chapman:
            return "chapman";
    }
    return "?";
}

struct BenchmarkSplitOptions {
    std::vector<std::string> class_names{};  // empty: the file's label columns in file order
    int ptbxl_sampling_rate = 500;           // 500: filename_hr, 100: filename_lr
    bool check_files = false;                // ptbxl/chapman: stat each record's .hea (icbeb always looks)
};

namespace dataset_detail {

struct SplitColumns {
    SplitLayout layout;
    std::vector<std::string> meta;  // the non-label columns of the layout
};

inline SplitColumns split_layout(const CsvReader& csv) {
    const auto has_all = [&](std::initializer_list<const char*> names) {
        return std::all_of(names.begin(), names.end(), [&](const char* n) { return csv.has_column(n); });
    };
    if (has_all({"ecg_id", "patient_id", "strat_fold", "filename_lr", "filename_hr"})) {
        SplitColumns s{SplitLayout::ptbxl, {"ecg_id", "patient_id", "strat_fold", "filename_lr", "filename_hr"}};
        // The task column holds the label list; it sits right after filename_hr.
        // (diagnosis, feature: the synthetic corpus's evaluation sets, fgclep/synth/corpus.hpp)
        for (const char* task : {"super_class", "sub_class", "form", "rhythm", "diagnosis", "feature"})
            if (csv.has_column(task)) s.meta.emplace_back(task);
        return s;
    }
    if (has_all({"patient_id", "ecg_id", "filename", "validation", "scp_codes"}))
        return {SplitLayout::icbeb, {"patient_id", "ecg_id", "filename", "validation", "age", "sex", "scp_codes"}};
    if (has_all({"ecg_path", "diagnose"})) return {SplitLayout::chapman, {"ecg_path", "age", "diagnose"}};
    fail(
        "CSV file '{}' is not a benchmark split file: its columns ({}) match none of the layouts ptbxl (ecg_id, "
        "patient_id, strat_fold, filename_lr, filename_hr, ...), icbeb (patient_id, ecg_id, filename, validation, "
        "..., scp_codes, ...) or chapman (ecg_path, age, diagnose, ...)",
        csv.source(), fmt::join(csv.header(), ", "));
}

}  // namespace dataset_detail

// Which layout a split file has (reads only its header).
inline SplitLayout detect_split_layout(const std::filesystem::path& split_csv) {
    CsvReader csv(split_csv);
    return dataset_detail::split_layout(csv).layout;
}

inline EcgDataset load_benchmark_split(const std::filesystem::path& split_csv,
                                       const std::filesystem::path& dataset_root,
                                       const BenchmarkSplitOptions& options = {}) {
    namespace fs = std::filesystem;
    if (options.ptbxl_sampling_rate != 500 && options.ptbxl_sampling_rate != 100)
        fail("load_benchmark_split: ptbxl_sampling_rate must be 500 or 100, got {}", options.ptbxl_sampling_rate);
    CsvReader csv(split_csv);
    const dataset_detail::SplitColumns layout = dataset_detail::split_layout(csv);

    EcgDataset out;
    out.name = fmt::format("{} ({})", split_csv.stem().string(), to_string(layout.layout));
    out.root = dataset_root;
    if (options.class_names.empty()) {
        for (const std::string& h : csv.header())
            if (std::find(layout.meta.begin(), layout.meta.end(), h) == layout.meta.end()) out.class_names.push_back(h);
    } else {
        out.class_names = options.class_names;
    }
    dataset_detail::class_index(out.class_names);  // rejects a class listed twice
    std::vector<std::size_t> label_cols;
    for (const std::string& c : out.class_names) {
        if (std::find(layout.meta.begin(), layout.meta.end(), c) != layout.meta.end())
            fail("CSV file '{}': '{}' is a {} column, not a label", csv.source(), c, to_string(layout.layout));
        label_cols.push_back(csv.column(c));
    }

    // icbeb: where each A####.hea lies under the root, from one walk.
    std::unordered_map<std::string, fs::path> icbeb_records;
    if (layout.layout == SplitLayout::icbeb)
        for (fs::path& r : dataset_detail::find_records(dataset_root, ".hea"))
            icbeb_records.emplace(r.filename().string(), std::move(r));

    std::size_t id_col = 0, path_col = 0, subject_col = 0;
    switch (layout.layout) {
        case SplitLayout::ptbxl:
            id_col = csv.column("ecg_id");
            path_col = csv.column(options.ptbxl_sampling_rate == 500 ? "filename_hr" : "filename_lr");
            subject_col = csv.column("patient_id");
            break;
        case SplitLayout::icbeb:
            id_col = path_col = csv.column("filename");
            subject_col = csv.column("patient_id");
            break;
        case SplitLayout::chapman:
            id_col = path_col = csv.column("ecg_path");
            break;
    }

    while (csv.next()) {
        DatasetEntry e;
        const std::string_view path = dataset_detail::trim(csv.field(path_col));
        if (path.empty()) {
            out.issues.add("malformed row", csv.where(path_col) + ": empty");
            continue;
        }
        bool check = options.check_files;
        switch (layout.layout) {
            case SplitLayout::ptbxl: {
                const auto id = dataset_detail::parse_integer(csv.field(id_col));
                if (!id) {
                    out.issues.add("malformed row", csv.where(id_col) + ": not an integer");
                    continue;
                }
                e.id = std::to_string(*id);
                e.record = fs::path(std::string(path));
                e.subject = dataset_detail::parse_integer(csv.field(subject_col)).value_or(-1);
                break;
            }
            case SplitLayout::icbeb: {
                e.id = std::string(path);
                const auto it = icbeb_records.find(e.id);
                if (it == icbeb_records.end()) {
                    out.issues.add("record not found", fmt::format("{}: no {}.hea under {}", csv.where(path_col), e.id,
                                                                   dataset_root.string()));
                    continue;
                }
                e.record = it->second;
                e.subject = dataset_detail::parse_integer(csv.field(subject_col)).value_or(-1);
                check = false;  // found by the walk
                break;
            }
            case SplitLayout::chapman: {
                // "/chapman/WFDBRecords/18/186/JS18048.mat": keep the part from WFDBRecords/ on, drop ".mat".
                std::string p(path);
                const std::size_t at = p.find("WFDBRecords/");
                if (at == std::string::npos) {
                    out.issues.add("malformed row", csv.where(path_col) + ": '" + p + "' has no WFDBRecords/ part");
                    continue;
                }
                fs::path rel(p.substr(at));
                if (rel.extension() == ".mat" || rel.extension() == ".hea") rel.replace_extension();
                e.id = rel.filename().string();
                e.record = rel;
                break;
            }
        }
        e.labels.resize(label_cols.size());
        for (std::size_t k = 0; k < label_cols.size(); ++k) {
            const auto v = dataset_detail::parse_label(csv.field(label_cols[k]));
            if (!v) fail("{}: label '{}' is not 0 or 1", csv.where(label_cols[k]), csv.field(label_cols[k]));
            e.labels[k] = *v;
        }
        if (check) {
            std::error_code ec;
            const fs::path hea = dataset_root / fs::path(e.record.string() + ".hea");
            if (!fs::is_regular_file(hea, ec)) {
                out.issues.add("record not found", fmt::format("{}: {} does not exist", csv.where(), hea.string()));
                continue;
            }
        }
        out.entries.push_back(std::move(e));
    }
    return out;
}

}  // namespace fgclep::data
