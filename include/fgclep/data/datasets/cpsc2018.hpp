#pragma once
// CPSC2018 (the China Physiological Signal Challenge 2018, "ICBEB") in the WFDB form PhysioNet ships it in the
// CinC Challenge 2020/2021 training data: a header per record whose `#Dx:` comment lists SNOMED-CT codes, and a
// MATLAB v4 .mat with the samples.
//
//   EcgDataset d = load_cpsc2018("/data/challenge-2021/training/cpsc_2018");
//
// Labels are the benchmark's 9 classes, mapped from the SNOMED-CT codes (the Challenge's equivalent codes map to the
// same class). The code table, the folder walk and the counted kinds: docs/datasets.md.
#include "fgclep/data/dataset.hpp"
#include "fgclep/data/datasets/common.hpp"
#include "fgclep/data/wfdb_header.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace fgclep::data {

// The benchmark's CPSC2018 classes in dataset_class_names.json order ("icbeb"), and their SNOMED-CT codes.
inline std::vector<std::string> cpsc2018_class_names() {
    return {"AFIB", "VPC", "NORM", "1AVB", "CRBBB", "STE", "PAC", "CLBBB", "STD"};
}
inline std::map<std::string, std::string> cpsc2018_snomed_classes() {
    return {{"426783006", "NORM"},  {"164889003", "AFIB"}, {"270492004", "1AVB"},  {"164909002", "CLBBB"},
            {"733534002", "CLBBB"}, {"59118001", "CRBBB"}, {"713427006", "CRBBB"}, {"284470004", "PAC"},
            {"63593006", "PAC"},    {"164884008", "VPC"},  {"427172004", "VPC"},   {"17338001", "VPC"},
            {"429622005", "STD"},   {"164931005", "STE"}};
}

struct Cpsc2018Options {
    std::vector<std::string> class_names{};  // empty: cpsc2018_class_names()
    bool keep_unlabelled = false;
    bool check_files = false;  // stat the signal files each header names
    std::int64_t limit = -1;
};

namespace dataset_detail {

// Shared by the CinC-style loaders: reads the headers under root, maps `# Dx:` codes through code_to_class, and
// fills out.entries (id = file stem). `what` names the dataset in messages.
inline void load_dx_records(EcgDataset& out, const std::vector<std::filesystem::path>& records,
                            const std::map<std::string, std::string>& code_to_class, bool keep_unlabelled,
                            bool check_files, std::int64_t limit) {
    namespace fs = std::filesystem;
    const auto index = class_index(out.class_names);
    for (const fs::path& rel : records) {
        if (limit >= 0 && out.size() >= limit) break;
        const fs::path hea = out.root / fs::path(rel.string() + ".hea");
        WfdbHeader header;
        try {
            header = read_wfdb_header(hea);
        } catch (const Error& error) {
            out.issues.add("unreadable header", error.what());
            continue;
        }
        DatasetEntry e;
        e.id = rel.filename().string();
        e.record = rel;
        e.labels.assign(out.class_names.size(), 0.0f);
        const auto codes = dx_codes(header.comments);
        if (!codes) {
            out.issues.add("no Dx comment", hea.string());
            if (!keep_unlabelled) continue;
        }
        bool any = false;
        for (const std::string& code : codes.value_or(std::vector<std::string>{})) {
            const auto c = code_to_class.find(code);
            if (c == code_to_class.end()) {
                out.issues.add("unknown Dx code", fmt::format("{}: {}", hea.string(), code));
                continue;
            }
            const auto k = index.find(c->second);
            if (k == index.end()) continue;  // a known diagnosis that is not one of the chosen classes
            e.labels[k->second] = 1.0f;
            any = true;
        }
        if (codes && !any) {
            out.issues.add("no class label", fmt::format("{}: Dx {}", hea.string(), fmt::join(*codes, ",")));
            if (!keep_unlabelled) continue;
        }
        if (check_files) {
            std::set<std::string> files;
            for (const auto& s : header.signals) files.insert(s.file_name);
            bool ok = true;
            for (const std::string& f : files) {
                std::error_code ec;
                if (f == "~" || fs::is_regular_file(hea.parent_path() / f, ec)) continue;
                out.issues.add("missing signal file", (hea.parent_path() / f).string());
                ok = false;
            }
            if (!ok) continue;
        }
        out.entries.push_back(std::move(e));
    }
}

}  // namespace dataset_detail

inline EcgDataset load_cpsc2018(const std::filesystem::path& root, const Cpsc2018Options& options = {}) {
    EcgDataset out;
    out.name = "cpsc2018";
    out.root = root;
    out.class_names = options.class_names.empty() ? cpsc2018_class_names() : options.class_names;
    const auto known = cpsc2018_class_names();
    for (const auto& c : out.class_names)
        if (std::find(known.begin(), known.end(), c) == known.end())
            fail("load_cpsc2018: '{}' is not a CPSC2018 class (classes: {})", c, fmt::join(known, ", "));
    dataset_detail::load_dx_records(out, dataset_detail::find_records(root, ".hea"), cpsc2018_snomed_classes(),
                                    options.keep_unlabelled, options.check_files, options.limit);
    return out;
}

}  // namespace fgclep::data
