#pragma once
// EcgDataset: what every dataset loader returns. A list of entries (an id, the WFDB record to read, the report
// text, the labels) over a root directory, with the dataset's class names and the problems met while loading.
// Loading reads only the metadata (CSV files, headers); signals are read one record at a time by read(i), so a
// dataset of 800,000 records costs its index, not its waveforms.
//
//   fgclep::data::EcgDataset ptbxl = fgclep::data::load_ptbxl("/data/ptb-xl", {.task = PtbxlTask::super_class});
//   fgclep::data::EcgRecord ecg = ptbxl.read(0);           // physical units, lead names from the header
//   std::span<const float> y = ptbxl.labels(0);             // multi-hot over ptbxl.class_names
#include "fgclep/data/ecg_record.hpp"
#include "fgclep/data/load_issues.hpp"
#include "fgclep/data/wfdb_reader.hpp"

#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fgclep::data {

struct DatasetEntry {
    std::string id;                // the dataset's own id: ecg_id, study_id, A0001, JS00001
    std::filesystem::path record;  // WFDB record path without extension (absolute, or relative to the root)
    std::string report;            // cleaned report text; empty where the dataset has none
    std::vector<float> labels;     // multi-hot over EcgDataset::class_names; empty where unlabelled
    std::int64_t subject = -1;     // patient/subject id where the dataset gives one
};

struct EcgDataset {
    std::string name;  // "mimic-iv-ecg", "ptbxl-super_class", ...
    std::filesystem::path root;
    std::vector<std::string> class_names;  // label order of DatasetEntry::labels
    std::vector<DatasetEntry> entries;
    LoadIssues issues;  // rows skipped or repaired while loading, counted by kind

    std::int64_t size() const { return static_cast<std::int64_t>(entries.size()); }

    const DatasetEntry& entry(std::int64_t i) const {
        if (i < 0 || i >= size()) fail("dataset '{}': entry {} is outside [0, {})", name, i, size());
        return entries[static_cast<std::size_t>(i)];
    }
    std::string_view report(std::int64_t i) const { return entry(i).report; }
    std::span<const float> labels(std::int64_t i) const { return entry(i).labels; }
    std::filesystem::path record_path(std::int64_t i) const {
        const auto& r = entry(i).record;
        return r.is_absolute() ? r : root / r;
    }

    // Reads entry i's signals (physical units). Errors name the record's files.
    EcgRecord read(std::int64_t i, const WfdbReadOptions& options = {}) const {
        return read_ecg(record_path(i), options);
    }
};

}  // namespace fgclep::data
