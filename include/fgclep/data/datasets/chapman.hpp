#pragma once
// Chapman-Shaoxing-Ningbo: PhysioNet "A large scale 12-lead electrocardiogram database for arrhythmia study"
// (ecg-arrhythmia 1.0.0), as it ships:
//
//   <root>/ConditionNames_SNOMED-CT.csv    Acronym Name,Full Name,Snomed_CT   (one row per diagnosis)
//   <root>/WFDBRecords/01/010/JS00001.hea  12 leads, 500 Hz, 5000 samples, `#Dx: 164889003,59118001,164934002`
//   <root>/WFDBRecords/01/010/JS00001.mat  MATLAB v4, key `val`
//
//   EcgDataset d = load_chapman("/data/ecg-arrhythmia/1.0.0");
//
// <root>/WFDBRecords (or the root itself when it has no WFDBRecords folder) is walked once for *.hea; records are
// sorted by path. Class names are the acronyms of ConditionNames_SNOMED-CT.csv in its row order (a code listed
// twice keeps its first acronym; an acronym listed for two codes is one class); `class_names` picks a subset or
// another order. These are the dataset's own diagnoses, not the MERL benchmark's 38 substring-built columns: for
// those, load the split files with load_benchmark_split.
// Counted kinds as in cpsc2018.hpp: "unknown Dx code" (not in the CSV — the 1.0.0 headers hold a few),
// "no Dx comment", "no class label", "unreadable header", "missing signal file".
#include "fgclep/data/csv.hpp"
#include "fgclep/data/dataset.hpp"
#include "fgclep/data/datasets/common.hpp"
#include "fgclep/data/datasets/cpsc2018.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace fgclep::data {

struct ChapmanOptions {
    std::vector<std::string> class_names{};  // empty: every acronym of the conditions file, in its order
    bool keep_unlabelled = false;
    bool check_files = false;
    std::int64_t limit = -1;
    std::string conditions = "ConditionNames_SNOMED-CT.csv";  // relative to the root, or absolute
};

// SNOMED-CT code -> acronym from ConditionNames_SNOMED-CT.csv, and the acronyms in row order.
struct ChapmanConditions {
    std::map<std::string, std::string> acronym_of;
    std::vector<std::string> acronyms;

    static ChapmanConditions read(const std::filesystem::path& path) {
        CsvReader csv(path);
        const std::size_t acronym_col = csv.column("Acronym Name"), code_col = csv.column("Snomed_CT");
        ChapmanConditions out;
        while (csv.next()) {
            const std::string acronym(dataset_detail::trim(csv.field(acronym_col)));
            const std::string code(dataset_detail::trim(csv.field(code_col)));
            if (acronym.empty() || code.empty()) fail("{}: empty acronym or code", csv.where());
            out.acronym_of.emplace(code, acronym);
            if (std::find(out.acronyms.begin(), out.acronyms.end(), acronym) == out.acronyms.end())
                out.acronyms.push_back(acronym);
        }
        return out;
    }
};

inline EcgDataset load_chapman(const std::filesystem::path& root, const ChapmanOptions& options = {}) {
    namespace fs = std::filesystem;
    const ChapmanConditions conditions = ChapmanConditions::read(root / options.conditions);
    EcgDataset out;
    out.name = "chapman";
    out.root = root;
    out.class_names = options.class_names.empty() ? conditions.acronyms : options.class_names;
    for (const auto& c : out.class_names)
        if (std::find(conditions.acronyms.begin(), conditions.acronyms.end(), c) == conditions.acronyms.end())
            fail("load_chapman: class '{}' is not an acronym of {}", c, (root / options.conditions).string());
    std::error_code ec;
    const bool nested = fs::is_directory(root / "WFDBRecords", ec);
    std::vector<fs::path> records = dataset_detail::find_records(nested ? root / "WFDBRecords" : root, ".hea");
    if (nested)
        for (fs::path& r : records) r = fs::path("WFDBRecords") / r;
    dataset_detail::load_dx_records(out, records, conditions.acronym_of, options.keep_unlabelled, options.check_files,
                                    options.limit);
    return out;
}

}  // namespace fgclep::data
