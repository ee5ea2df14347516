// Summarises an ECG dataset as it lies on disk: which kind it is, how many records, reports and words, how often
// each class occurs, what the loader skipped and why; optionally reads the first N signals.
//
//   dataset_summary /data/mimic-iv-ecg --check-files
//   dataset_summary /data/ptb-xl --task rhythm --read 5
//   dataset_summary /data/ecg-arrhythmia/1.0.0                      (Chapman-Shaoxing-Ningbo)
//   dataset_summary /data/challenge-2021/training/cpsc_2018
//   dataset_summary data_split/icbeb/icbeb_test.csv --root /data/challenge-2021/training/cpsc_2018
//
// The kind is found from the files: record_list.csv + machine_measurements.csv (MIMIC-IV-ECG), scp_statements.csv
// + ptbxl_database*.csv (PTB-XL), ConditionNames_SNOMED-CT.csv (Chapman), a .csv file (a benchmark split file),
// otherwise a folder of CinC-style headers (CPSC2018); --kind overrides it.
#include "cli.hpp"
#include "fgclep/data/datasets/benchmark_split.hpp"
#include "fgclep/data/datasets/chapman.hpp"
#include "fgclep/data/datasets/cpsc2018.hpp"
#include "fgclep/data/datasets/mimic_iv_ecg.hpp"
#include "fgclep/data/datasets/ptbxl.hpp"
#include "fgclep/data/report_cleaning.hpp"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace fgclep::data;

namespace {

struct Args {
    fs::path path;
    std::string kind = "auto";
    fs::path root;  // split files: the dataset root
    std::string task = "super_class";
    std::string database;  // PTB-XL: another database file name (e.g. ptbxl_database_subset.csv)
    std::int64_t read = 0;
    std::int64_t limit = -1;
    bool check_files = false;
};

Args parse(int argc, char** argv) {
    CLI::App app{
        "Summarises an ECG dataset as it lies on disk (MIMIC-IV-ECG, PTB-XL, Chapman-Shaoxing-Ningbo, CPSC2018 or a "
        "benchmark split file): its kind, the number of records, reports and words, how often each class occurs, "
        "what the loader skipped and why; with --read N it also reads the first N signals. Prints to stdout; writes "
        "no files.",
        "dataset_summary"};
    Args a;
    app.add_option("PATH", a.path, "the dataset's directory, or a benchmark split file (.csv)")
        ->required()
        ->check(CLI::Validator(
            [](std::string& p) -> std::string {
                if (fs::is_directory(p) || (fs::is_regular_file(p) && fs::path(p).extension() == ".csv")) return {};
                return "'" + p + "' is neither a directory nor a .csv file";
            },
            "DIR|FILE.csv"));
    app.add_option("--kind", a.kind,
                   "the dataset's kind; auto: found from the files (record_list.csv + machine_measurements.csv: "
                   "mimic, scp_statements.csv: ptbxl, ConditionNames_SNOMED-CT.csv: chapman, a .csv file: split, "
                   "otherwise cpsc2018)")
        ->check(CLI::IsMember({"auto", "mimic", "ptbxl", "cpsc2018", "chapman", "split"}))
        ->capture_default_str();
    app.add_option("--root", a.root,
                   "split files: the dataset root the records are under (default: the file's folder)");
    app.add_option("--task", a.task, "PTB-XL: the label set")
        ->check(CLI::IsMember({"super_class", "sub_class", "form", "rhythm", "none"}))
        ->capture_default_str();
    app.add_option("--database", a.database,
                   "PTB-XL: the database file name (default: ptbxl_database.csv, else ptbxl_database_subset.csv)");
    app.add_option("--read", a.read, "read and describe the first N signals")
        ->check(cli::non_negative)
        ->capture_default_str();
    app.add_option("--limit", a.limit, "load at most N records (MIMIC-IV-ECG, Chapman, CPSC2018; default: all)")
        ->check(cli::non_negative);
    app.add_flag("--check-files", a.check_files, "check that every record's signal files exist");
    cli::parse(app, argc, argv);
    return a;
}

// The kind from the files; PATH is a directory or a .csv file (checked by the command line).
std::string detect_kind(const fs::path& p) {
    if (fs::is_regular_file(p) && p.extension() == ".csv") return "split";
    if (fs::exists(p / "record_list.csv") && fs::exists(p / "machine_measurements.csv")) return "mimic";
    if (fs::exists(p / "scp_statements.csv")) return "ptbxl";
    if (fs::exists(p / "ConditionNames_SNOMED-CT.csv")) return "chapman";
    return "cpsc2018";
}

PtbxlTask to_task(const std::string& t) {
    for (PtbxlTask task :
         {PtbxlTask::super_class, PtbxlTask::sub_class, PtbxlTask::form, PtbxlTask::rhythm, PtbxlTask::none})
        if (to_string(task) == t) return task;
    fgclep::fail("unknown task '{}'", t);
}

EcgDataset load(const Args& a, const std::string& kind) {
    if (kind == "mimic") return load_mimic_iv_ecg(a.path, {.limit = a.limit, .check_files = a.check_files});
    if (kind == "ptbxl") {
        PtbxlOptions o{.task = to_task(a.task), .check_files = a.check_files};
        if (!a.database.empty())
            o.database = a.database;
        else if (!fs::exists(a.path / o.database) && fs::exists(a.path / "ptbxl_database_subset.csv"))
            o.database = "ptbxl_database_subset.csv";
        return load_ptbxl(a.path, o);
    }
    if (kind == "chapman") return load_chapman(a.path, {.check_files = a.check_files, .limit = a.limit});
    if (kind == "cpsc2018") return load_cpsc2018(a.path, {.check_files = a.check_files, .limit = a.limit});
    if (kind == "split")
        return load_benchmark_split(a.path, a.root.empty() ? a.path.parent_path() : a.root,
                                    {.check_files = a.check_files});
    fgclep::fail("unknown kind '{}'", kind);
}

}  // namespace

int main(int argc, char** argv) {
    const Args args = parse(argc, argv);
    try {
        const std::string kind = args.kind == "auto" ? detect_kind(args.path) : args.kind;
        const EcgDataset d = load(args, kind);
        fmt::print("dataset: {} (kind {})\nroot: {}\nrecords: {}\n", d.name, kind, d.root.string(), d.size());

        std::int64_t reports = 0, words = 0, min_words = -1, max_words = 0;
        for (const auto& e : d.entries) {
            if (e.report.empty()) continue;
            const std::int64_t w = count_words(e.report);
            ++reports;
            words += w;
            min_words = min_words < 0 ? w : std::min(min_words, w);
            max_words = std::max(max_words, w);
        }
        if (reports > 0)
            fmt::print("reports: {} (words per report: mean {:.1f}, min {}, max {})\n", reports,
                       static_cast<double>(words) / static_cast<double>(reports), min_words, max_words);
        else
            fmt::print("reports: 0\n");

        if (!d.class_names.empty()) {
            fmt::print("classes: {}\n", d.class_names.size());
            std::vector<std::int64_t> positive(d.class_names.size(), 0);
            std::int64_t unlabelled = 0;
            for (const auto& e : d.entries) {
                bool any = false;
                for (std::size_t k = 0; k < positive.size(); ++k)
                    if (e.labels[k] == 1.0f) ++positive[k], any = true;
                unlabelled += !any;
            }
            for (std::size_t k = 0; k < positive.size(); ++k)
                fmt::print("  {:<12} {:>8} {:6.2f}%\n", d.class_names[k], positive[k],
                           d.size() ? 100.0 * static_cast<double>(positive[k]) / static_cast<double>(d.size()) : 0.0);
            if (unlabelled) fmt::print("  (no positive label: {})\n", unlabelled);
        }
        fmt::print("problems: {} (by kind below)\n{}", d.issues.total(), d.issues.summary());

        const std::int64_t n = std::min(args.read, d.size());
        if (n > 0) fmt::print("signals (first {}):\n", n);
        std::int64_t read_errors = 0;
        for (std::int64_t i = 0; i < n; ++i) {
            try {
                const EcgRecord r = d.read(i);
                std::int64_t nan = 0;
                for (double v : r.samples) nan += std::isnan(v);
                std::string leads;
                for (const auto& l : r.leads) leads += (leads.empty() ? "" : ",") + l;
                fmt::print("  {}: fs {} Hz, {} samples ({:.2f} s), {} leads [{}], NaN {}\n", d.entry(i).id, r.fs,
                           r.length, r.fs > 0 ? static_cast<double>(r.length) / r.fs : 0.0, r.channels(), leads, nan);
            } catch (const fgclep::Error& e) {
                ++read_errors;
                fmt::print("  {}: read error: {}\n", d.entry(i).id, e.what());
            }
        }
        if (n > 0) fmt::print("read errors: {}\n", read_errors);
    } catch (const fgclep::Error& e) {
        fmt::print(stderr, "{}\n", e.what());
        return 1;
    }
    return 0;
}
