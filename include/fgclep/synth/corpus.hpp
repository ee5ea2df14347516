#pragma once
// A synthetic ECG-report corpus laid out exactly like MIMIC-IV-ECG, so fgclep::data::load_mimic_iv_ecg reads it
// unchanged, plus the ground truth the real corpus lacks and labelled evaluation sets in the benchmark's PTB-XL
// split-file layout (fgclep::data::load_benchmark_split reads them). docs/synthetic-corpus.md describes every file.
//
//   CorpusSummary s = write_corpus("corpus", {.records = 10000, .eval_records = 2000, .seed = 7});
//   EcgDataset pretrain = data::load_mimic_iv_ecg("corpus");
//   EcgDataset test = data::load_benchmark_split("corpus/eval/diagnosis/synthetic_diagnosis_test.csv", "corpus");
//
//   <dir>/files/pNNNN/pNNNNNNNN/sNNNNNNNN/NNNNNNNN.{hea,dat}   pre-training records (WFDB format 16, 200 adu/mV,
//                                                               500 Hz, 5000 samples, I II III aVR aVF aVL V1-V6)
//   <dir>/record_list.csv, <dir>/machine_measurements.csv      MIMIC-IV-ECG's columns
//   <dir>/ground_truth.csv                                      conditions and features of every record
//   <dir>/eval/files/...                                        evaluation records (not in record_list.csv)
//   <dir>/eval/{diagnosis,feature}/synthetic_<task>_{train,val,test}.csv
//
// Deterministic: record i's content depends only on (seed, i) and the CSV files are written in record order, so a
// seed gives byte-identical files whatever the thread count. Records are made by options.threads threads in
// chunks; each chunk's CSV rows are appended to `<name>.partial` files, which are renamed into place at the end,
// record_list.csv last: a corpus without record_list.csv is incomplete.
#include "fgclep/core/error.hpp"
#include "fgclep/core/rng.hpp"
#include "fgclep/core/workers.hpp"
#include "fgclep/data/wfdb_writer.hpp"
#include "fgclep/synth/conditions.hpp"
#include "fgclep/synth/report.hpp"
#include "fgclep/synth/simulator.hpp"
#include "fgclep/train/progress.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace fgclep::synth {

// Stable identifiers of the enums (their C++ names): column names of the evaluation sets, ground-truth values.
inline constexpr std::array<std::string_view, condition_count> condition_identifiers = {
    "sinus_rhythm",
    "sinus_bradycardia",
    "sinus_tachycardia",
    "atrial_fibrillation",
    "atrial_flutter",
    "first_degree_av_block",
    "right_bundle_branch_block",
    "left_bundle_branch_block",
    "left_ventricular_hypertrophy",
    "low_qrs_voltage",
    "inferior_infarction",
    "anterior_infarction",
    "ischemia",
    "long_qt",
    "premature_ventricular_complexes",
    "left_axis_deviation"};

inline constexpr std::array<std::string_view, feature_count> feature_identifiers = {"heart_rate_below_60",
                                                                                    "heart_rate_above_100",
                                                                                    "irregularly_irregular_rhythm",
                                                                                    "absent_p_waves",
                                                                                    "fibrillatory_waves",
                                                                                    "flutter_waves",
                                                                                    "prolonged_pr_interval",
                                                                                    "wide_qrs_complex",
                                                                                    "rsr_prime_in_v1",
                                                                                    "broad_notched_r_in_v6",
                                                                                    "high_qrs_voltage",
                                                                                    "low_qrs_voltage",
                                                                                    "st_elevation_inferior",
                                                                                    "q_waves_inferior",
                                                                                    "st_elevation_anterior",
                                                                                    "q_waves_anterior",
                                                                                    "st_depression",
                                                                                    "t_wave_inversion",
                                                                                    "prolonged_qt_interval",
                                                                                    "premature_ventricular_beats",
                                                                                    "left_axis_deviation"};

inline std::string_view identifier(Condition c) { return condition_identifiers[static_cast<std::size_t>(c)]; }
inline std::string_view identifier(Feature f) { return feature_identifiers[static_cast<std::size_t>(f)]; }

inline std::optional<Condition> condition_from_identifier(std::string_view id) {
    for (std::size_t i = 0; i < condition_count; ++i)
        if (condition_identifiers[i] == id) return static_cast<Condition>(i);
    return std::nullopt;
}
inline std::optional<Feature> feature_from_identifier(std::string_view id) {
    for (std::size_t i = 0; i < feature_count; ++i)
        if (feature_identifiers[i] == id) return static_cast<Feature>(i);
    return std::nullopt;
}

struct CorpusOptions {
    std::int64_t records = 1000;    // pre-training records (record_list.csv, machine_measurements.csv)
    std::int64_t eval_records = 0;  // labelled evaluation records, by subject: folds 1-8 train, 9 val, 10 test
    std::uint64_t seed = 0;
    int threads = 0;         // 0: std::thread::hardware_concurrency(); at most 256 are used
    ReportOptions report{};  // report.omit_features: share of reports without feature statements
    SimulatorOptions simulator{};
    bool overwrite = false;  // replace the corpus files of a non-empty directory (others are left alone)
    bool progress = true;    // a progress line on stderr, when stderr is a terminal
};

struct CorpusSummary {
    std::filesystem::path root;
    std::int64_t records = 0, eval_records = 0;
    std::int64_t subjects = 0, eval_subjects = 0;
    std::int64_t eval_train = 0, eval_val = 0, eval_test = 0;
    std::int64_t reports_with_features = 0;                        // pre-training reports that state the features
    std::array<std::int64_t, condition_count> condition_counts{};  // over the pre-training records
    std::array<std::int64_t, feature_count> feature_counts{};
    double seconds = 0;
    double records_per_second() const {
        return seconds > 0 ? static_cast<double>(records + eval_records) / seconds : 0;
    }
};

// The file names written (relative to the corpus root).
inline constexpr std::string_view corpus_csv_files[] = {"record_list.csv", "machine_measurements.csv",
                                                        "ground_truth.csv"};
inline constexpr std::string_view eval_tasks[] = {"diagnosis", "feature"};
inline constexpr std::string_view eval_splits[] = {"train", "val", "test"};
inline std::string eval_split_file(std::string_view task, std::string_view split) {
    return fmt::format("eval/{}/synthetic_{}_{}.csv", task, task, split);
}

namespace corpus_detail {

inline std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
    return HostRng(a ^ (b * 0x9E3779B97F4A7C15ull) ^ 0xC0FFEE123456789ull).next();
}

// A permutation of [0, 10^7) keyed by the seed: distinct ids for distinct x that look unordered (consecutive
// records do not get consecutive or evenly spaced ids). A bijective 24-bit mix, cycle-walked into range.
struct IdMap {
    std::uint32_t key = 0, mul1 = 1, mul2 = 1;
    IdMap(std::uint64_t seed, std::uint64_t salt) {
        HostRng r(mix(seed, salt));
        key = static_cast<std::uint32_t>(r.next() & 0xFFFFFFu);
        mul1 = static_cast<std::uint32_t>(r.next() & 0xFFFFFFu) | 1u;
        mul2 = static_cast<std::uint32_t>(r.next() & 0xFFFFFFu) | 1u;
    }
    std::uint32_t permute24(std::uint32_t x) const {
        constexpr std::uint32_t mask = 0xFFFFFFu;
        for (int round = 0; round < 2; ++round) {
            x = (x ^ key) & mask;
            x ^= x >> 12;
            x = (x * mul1) & mask;
            x ^= x >> 11;
            x = (x * mul2) & mask;
            x ^= x >> 12;
        }
        return x;
    }
    std::int64_t operator()(std::int64_t x, std::int64_t base) const {
        auto y = static_cast<std::uint32_t>(x);
        do y = permute24(y);
        while (y >= 10'000'000u);
        return base + static_cast<std::int64_t>(y);
    }
};

// Days since 1970-01-01 -> year, month, day (proleptic Gregorian; H. Hinnant's civil_from_days).
inline void civil_from_days(std::int64_t z, int& y, int& m, int& d) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
    m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
    y = static_cast<int>(era * 400 + yoe + (m <= 2 ? 1 : 0));
}

struct Timestamp {
    std::string csv;        // "2180-07-23 08:44:00" (record_list.csv, machine_measurements.csv)
    std::string wfdb_time;  // "08:44:00"
    std::string wfdb_date;  // "23/07/2180"
};

inline Timestamp timestamp(std::int64_t minutes_since_epoch) {
    const std::int64_t days = minutes_since_epoch / 1440, minute_of_day = minutes_since_epoch % 1440;
    int y = 0, m = 0, d = 0;
    civil_from_days(days, y, m, d);
    const auto hh = minute_of_day / 60, mm = minute_of_day % 60;
    return {fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:00", y, m, d, hh, mm), fmt::format("{:02}:{:02}:00", hh, mm),
            fmt::format("{:02}/{:02}/{:04}", d, m, y)};
}

// Who each record belongs to: subjects own consecutive records (several studies each, like MIMIC-IV-ECG's median
// of 2); evaluation records get subjects of their own. Computed serially up front: cheap, and still a function of
// (seed, index) only.
struct Plan {
    std::vector<std::int64_t> subject_of;   // record -> subject ordinal
    std::vector<std::int32_t> study_index;  // record -> its ordinal among its subject's studies
    std::int64_t subjects = 0, eval_first_subject = 0;
};

inline Plan make_plan(std::int64_t records, std::int64_t eval_records, std::uint64_t seed) {
    Plan p;
    const auto n = static_cast<std::size_t>(records + eval_records);
    p.subject_of.resize(n);
    p.study_index.resize(n);
    HostRng r(mix(seed, 0x5375626A65637473ull));
    std::int64_t subject = -1, left = 0, ordinal = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (static_cast<std::int64_t>(i) == records) {  // evaluation subjects start fresh
            left = 0;
            p.eval_first_subject = subject + 1;
        }
        if (left == 0) {
            ++subject;
            ordinal = 0;
            // 1 study with probability 0.45, otherwise 2..8 (a long tail, as real patients have).
            left = r.uniform() < 0.45 ? 1 : 2 + static_cast<std::int64_t>(r.uniform() * r.uniform() * 7);
        }
        p.subject_of[i] = subject;
        p.study_index[i] = static_cast<std::int32_t>(ordinal++);
        --left;
    }
    p.subjects = subject + 1;
    if (records + eval_records == 0 || eval_records == 0) p.eval_first_subject = p.subjects;
    return p;
}

// A CSV field: quoted when it holds a separator, a quote or a line break (RFC 4180).
inline void append_field(std::string& row, std::string_view field) {
    if (field.find_first_of(",\"\n\r") == std::string_view::npos) {
        row += field;
        return;
    }
    row += '"';
    for (char c : field) {
        if (c == '"') row += '"';
        row += c;
    }
    row += '"';
}

inline std::string join_names(const auto& items, std::string_view separator) {
    std::string out;
    for (const auto& x : items) {
        if (!out.empty()) out += separator;
        out += identifier(x);
    }
    return out;
}

// "['sinus_rhythm', 'left_axis_deviation']": the task column, written like PTB-XL's label lists.
inline std::string label_list(const auto& items) {
    std::string out = "[";
    for (const auto& x : items) out += fmt::format("{}'{}'", out.size() > 1 ? ", " : "", identifier(x));
    return out + "]";
}

// One record's rows, made by a worker and appended to the files in record order.
struct RecordRows {
    std::string record_list, machine_measurements, ground_truth, diagnosis, feature;
    int eval_split = -1;  // 0 train, 1 val, 2 test; -1 pre-training
    std::vector<Condition> conditions;
    std::vector<Feature> features;
    bool states_features = false;
};

inline const std::array<std::string_view, 12> mimic_leads = {"I",  "II", "III", "aVR", "aVF", "aVL",
                                                             "V1", "V2", "V3",  "V4",  "V5",  "V6"};

// Interval and axis measurements like a cart's (milliseconds, degrees): intervals from the simulator's fiducials
// of one conducted beat where it gives them, otherwise drawn in the ranges the record's features define; axes
// drawn (left axis deviation: below -30 degrees). Not measured on the signal. P columns are empty without P waves.
inline void append_measurements(std::string& row, const SimulatedEcg& sim, HostRng& r, double mains_hz) {
    const auto has = [&](Feature f) {
        return std::find(sim.features.begin(), sim.features.end(), f) != sim.features.end();
    };
    const auto has_c = [&](Condition c) {
        return std::find(sim.conditions.begin(), sim.conditions.end(), c) != sim.conditions.end();
    };
    const double hr = sim.heart_rate_bpm > 0 ? sim.heart_rate_bpm : 75;
    const double rr = 60000.0 / hr;
    const bool no_p =
        has(Feature::absent_p_waves) || has_c(Condition::atrial_fibrillation) || has_c(Condition::atrial_flutter);
    const double p_onset = std::round(r.uniform(30, 60));
    double pr = has(Feature::prolonged_pr_interval) ? r.uniform(215, 300) : r.uniform(125, 190);
    double qrs = has(Feature::wide_qrs_complex) ? r.uniform(122, 165) : r.uniform(78, 108);
    const double qtc = has(Feature::prolonged_qt_interval) ? r.uniform(475, 540) : r.uniform(380, 440);
    double qt = qtc * std::sqrt(rr / 1000.0);  // Bazett
    // The simulator's own fiducials where it gives them: a conducted beat from the middle of the record.
    for (std::size_t k = sim.beats.size() / 2; k < sim.beats.size(); ++k) {
        const BeatAnnotation& b = sim.beats[k];
        if (b.premature_ventricular || !(b.qrs_offset > b.qrs_onset) || !(b.t_offset > b.qrs_offset)) continue;
        if (b.p_onset >= 0 && b.p_onset < b.qrs_onset) pr = (b.qrs_onset - b.p_onset) * 1000;
        qrs = (b.qrs_offset - b.qrs_onset) * 1000;
        qt = (b.t_offset - b.qrs_onset) * 1000;
        break;
    }
    const double qrs_onset = std::round(p_onset + pr);
    const double qrs_axis = has(Feature::left_axis_deviation) ? r.uniform(-80, -35) : r.uniform(-15, 85);
    row += fmt::format(",0.005-150 Hz,{:g} Hz notch Baseline filter,{:.0f},", mains_hz, rr);
    if (no_p)
        row += ",";
    else
        row += fmt::format("{:.0f},{:.0f}", p_onset, p_onset + std::round(r.uniform(85, 115)));
    row += fmt::format(",{:.0f},{:.0f},{:.0f},", qrs_onset, qrs_onset + std::round(qrs), qrs_onset + std::round(qt));
    if (!no_p) row += fmt::format("{:.0f}", std::round(r.uniform(20, 75)));
    row += fmt::format(",{:.0f},{:.0f}\n", qrs_axis, std::round(r.uniform(0, 75)));
}

inline RecordRows make_record(const std::filesystem::path& root, std::int64_t i, const Plan& plan,
                              const CorpusOptions& o, const IdMap& subject_ids, const IdMap& study_ids) {
    namespace fs = std::filesystem;
    const bool eval = i >= o.records;
    const std::int64_t k = plan.subject_of[static_cast<std::size_t>(i)];
    const std::int64_t subject_id = subject_ids(k, 10'000'000);
    const std::int64_t study_id = study_ids(i, 40'000'000);
    const std::string sid = std::to_string(subject_id), stid = std::to_string(study_id);
    const std::string path =
        fmt::format("{}files/p{}/p{}/s{}/{}", eval ? "eval/" : "", sid.substr(0, 4), sid, stid, stid);

    // Per-subject clock (first study in 2110-2199, as MIMIC's shifted dates), advancing with each study.
    HostRng subject_rng(mix(o.seed, 0x54696D65ull + static_cast<std::uint64_t>(k) * 0x100000001B3ull));
    std::int64_t minutes = (static_cast<std::int64_t>(subject_rng.uniform(51500, 84000)) * 1440) +
                           static_cast<std::int64_t>(subject_rng.uniform(0, 1440));
    HostRng record_rng(mix(o.seed, static_cast<std::uint64_t>(i)));
    const std::int32_t study_index = plan.study_index[static_cast<std::size_t>(i)];
    for (std::int32_t j = 0; j < study_index; ++j)
        minutes += subject_rng.uniform() < 0.5 ? static_cast<std::int64_t>(subject_rng.uniform(5, 600))
                                               : static_cast<std::int64_t>(subject_rng.uniform(1, 700) * 1440);
    const Timestamp when = timestamp(minutes);

    const std::uint64_t condition_seed = record_rng.next(), simulation_seed = record_rng.next(),
                        report_seed = record_rng.next();
    const std::vector<Condition> sampled = sample_conditions(condition_seed);
    SimulatedEcg sim = simulate(std::span<const Condition>(sampled), simulation_seed, o.simulator);
    if (sim.record.channels() != 12 || !std::equal(mimic_leads.begin(), mimic_leads.end(), sim.record.leads.begin()))
        fail("write_corpus: the simulator's record {} does not have MIMIC-IV-ECG's 12 leads in order", i);
    sim.record.name = path;
    data::write_wfdb(root / path, sim.record,
                     {.format = 16,
                      .gains = std::vector<double>(12, 200.0),
                      .baselines = {},
                      .comments = {},
                      .base_time = when.wfdb_time,
                      .base_date = when.wfdb_date});

    std::vector<Condition> conditions = sim.conditions;
    std::sort(conditions.begin(), conditions.end());
    std::vector<Feature> features = sim.features;
    std::sort(features.begin(), features.end());
    features.erase(std::unique(features.begin(), features.end()), features.end());
    const MachineReport report = make_report(conditions, features, sim.heart_rate_bpm, report_seed, o.report);

    RecordRows rows;
    rows.conditions = conditions;
    rows.features = features;
    rows.states_features = report.states_features;
    const char* set = "pretrain";
    if (eval) {
        // Folds cycle over subjects 9, 10, 1..8 (val, test, then train), so even 3 subjects fill every split.
        const std::int64_t fold = 1 + (k - plan.eval_first_subject + 8) % 10;
        rows.eval_split = fold <= 8 ? 0 : fold == 9 ? 1 : 2;
        set = rows.eval_split == 0 ? "eval_train" : rows.eval_split == 1 ? "eval_val" : "eval_test";
        for (int t = 0; t < 2; ++t) {
            std::string& row = t == 0 ? rows.diagnosis : rows.feature;
            row = fmt::format("{},{},{},{},{},", study_id, subject_id, fold, path, path);
            append_field(row, t == 0 ? label_list(conditions) : label_list(features));
            if (t == 0)
                for (std::size_t c = 0; c < condition_count; ++c)
                    row +=
                        std::find(conditions.begin(), conditions.end(), static_cast<Condition>(c)) != conditions.end()
                            ? ",1"
                            : ",0";
            else
                for (std::size_t f = 0; f < feature_count; ++f)
                    row += std::find(features.begin(), features.end(), static_cast<Feature>(f)) != features.end()
                               ? ",1"
                               : ",0";
            row += '\n';
        }
    } else {
        rows.record_list = fmt::format("{},{},{},{},{}\n", subject_id, study_id, study_id, when.csv, path);
        // One of 40 carts, as a hospital has a few dozen.
        HostRng cart_rng(report_seed ^ 0x43617274ull);
        const std::int64_t cart_id =
            6'000'000 + static_cast<std::int64_t>(mix(o.seed, 0x43617274ull + cart_rng.next() % 40) % 4'000'000u);
        std::string& mm = rows.machine_measurements;
        mm = fmt::format("{},{},{},{}", subject_id, study_id, cart_id, when.csv);
        for (std::size_t f = 0; f < max_report_fields; ++f) {
            mm += ',';
            if (f < report.fields.size()) append_field(mm, report.fields[f]);
        }
        append_measurements(mm, sim, cart_rng, o.simulator.noise.mains_hz);
    }
    rows.ground_truth = fmt::format("{},{},{},{},", subject_id, study_id, path, set);
    append_field(rows.ground_truth, join_names(conditions, ";"));
    rows.ground_truth += ',';
    append_field(rows.ground_truth, join_names(features, ";"));
    rows.ground_truth += fmt::format(",{},{:.1f}\n", eval ? 0 : (report.states_features ? 1 : 0), sim.heart_rate_bpm);
    return rows;
}

// An output CSV written under "<name>.partial" and renamed into place by commit().
class PartialCsv {
public:
    PartialCsv(std::filesystem::path path, const std::string& header) : path_(std::move(path)) {
        std::filesystem::create_directories(path_.parent_path());
        out_.open(partial(), std::ios::binary | std::ios::trunc);
        if (!out_) fail("write_corpus: cannot create '{}'", partial().string());
        out_ << header << '\n';
    }
    void append(const std::string& rows) {
        out_ << rows;
        if (!out_) fail("write_corpus: cannot write '{}' (disk full?)", partial().string());
    }
    void commit() {
        out_.close();
        if (!out_) fail("write_corpus: cannot write '{}' (disk full?)", partial().string());
        std::error_code ec;
        std::filesystem::rename(partial(), path_, ec);
        if (ec) fail("write_corpus: cannot rename '{}' into place: {}", partial().string(), ec.message());
    }

private:
    std::filesystem::path partial() const { return path_.string() + ".partial"; }
    std::filesystem::path path_;
    std::ofstream out_;
};

}  // namespace corpus_detail

// Generates the corpus in `dir` (created if needed). A non-empty `dir` is refused unless options.overwrite, which
// removes what a corpus consists of (files/, eval/, the CSV files and leftover .partial files) first.
inline CorpusSummary write_corpus(const std::filesystem::path& dir, const CorpusOptions& options = {}) {
    namespace fs = std::filesystem;
    using namespace corpus_detail;
    const auto start = std::chrono::steady_clock::now();
    if (options.records < 0 || options.eval_records < 0)
        fail("write_corpus: records ({}) and eval_records ({}) must not be negative", options.records,
             options.eval_records);
    if (options.records + options.eval_records > 10'000'000)
        fail("write_corpus: at most 10,000,000 records (8-digit study ids), asked for {}",
             options.records + options.eval_records);
    // Options the workers would reject, checked before the directory is touched (a failed run must not leave
    // files that make the next one refuse a non-empty directory).
    if (!(options.simulator.fs > 0) || !std::isfinite(options.simulator.fs) || !(options.simulator.seconds > 0) ||
        !std::isfinite(options.simulator.seconds))
        fail("write_corpus: simulator fs ({}) and seconds ({}) must be positive and finite", options.simulator.fs,
             options.simulator.seconds);
    if (!(options.report.omit_features >= 0 && options.report.omit_features <= 1))
        fail("write_corpus: report.omit_features must be in [0, 1], got {}", options.report.omit_features);
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) fail("write_corpus: '{}' is not a directory", dir.string());
    if (fs::is_directory(dir, ec) && !fs::is_empty(dir, ec)) {
        if (!options.overwrite)
            fail("write_corpus: directory '{}' is not empty (set overwrite to replace a corpus there)", dir.string());
        for (const char* sub : {"files", "eval"}) fs::remove_all(dir / sub, ec);
        for (std::string_view f : corpus_csv_files) {
            fs::remove(dir / f, ec);
            fs::remove(dir / (std::string(f) + ".partial"), ec);
        }
    }
    fs::create_directories(dir);

    const Plan plan = make_plan(options.records, options.eval_records, options.seed);
    const IdMap subject_ids(options.seed, 0x5375626Aull), study_ids(options.seed, 0x53747564ull);

    std::string measurements_header = "subject_id,study_id,cart_id,ecg_time";
    for (std::size_t f = 0; f < max_report_fields; ++f) measurements_header += fmt::format(",report_{}", f);
    measurements_header +=
        ",bandwidth,filtering,rr_interval,p_onset,p_end,qrs_onset,qrs_end,t_end,p_axis,qrs_axis,t_axis";
    PartialCsv record_list(dir / "record_list.csv", "subject_id,study_id,file_name,ecg_time,path");
    PartialCsv measurements(dir / "machine_measurements.csv", measurements_header);
    PartialCsv ground_truth(dir / "ground_truth.csv",
                            "subject_id,study_id,path,set,conditions,features,report_states_features,heart_rate_bpm");
    std::vector<std::unique_ptr<PartialCsv>> eval_files;  // [task * 3 + split]
    if (options.eval_records > 0) {
        std::string diagnosis = "ecg_id,patient_id,strat_fold,filename_lr,filename_hr,diagnosis";
        for (auto id : condition_identifiers) diagnosis += fmt::format(",{}", id);
        std::string feature = "ecg_id,patient_id,strat_fold,filename_lr,filename_hr,feature";
        for (auto id : feature_identifiers) feature += fmt::format(",{}", id);
        for (int t = 0; t < 2; ++t)
            for (std::string_view split : eval_splits)
                eval_files.push_back(std::make_unique<PartialCsv>(dir / eval_split_file(eval_tasks[t], split),
                                                                  t == 0 ? diagnosis : feature));
    }

    CorpusSummary summary;
    summary.root = dir;
    summary.records = options.records;
    summary.eval_records = options.eval_records;
    summary.eval_subjects = plan.subjects - plan.eval_first_subject;
    summary.subjects = plan.eval_first_subject;

    const std::int64_t total = options.records + options.eval_records;
    // At most 256 threads: more cannot help, and tens of thousands exhaust the process's thread resources.
    const int threads = std::clamp(
        options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency()), 1, 256);
    const std::int64_t chunk = std::max<std::int64_t>(256, 64 * threads);
    // A bar on a terminal only: logs of scripted runs stay free of it.
    ProgressReporter progress(options.progress && total >= 1000 ? ProgressMode::terminal : ProgressMode::off);
    std::vector<RecordRows> rows;
    for (std::int64_t begin = 0; begin < total; begin += chunk) {
        const std::int64_t end = std::min(total, begin + chunk);
        rows.assign(static_cast<std::size_t>(end - begin), RecordRows{});
        std::atomic<std::int64_t> next{begin};
        run_workers(
            "write_corpus", static_cast<int>(std::min<std::int64_t>(threads, end - begin)),
            [&](int) {
                for (std::int64_t i = next++; i < end; i = next++)
                    rows[static_cast<std::size_t>(i - begin)] =
                        make_record(dir, i, plan, options, subject_ids, study_ids);
            },
            [&] { next = end; });

        for (const RecordRows& r : rows) {
            ground_truth.append(r.ground_truth);
            if (r.eval_split < 0) {
                record_list.append(r.record_list);
                measurements.append(r.machine_measurements);
                for (Condition c : r.conditions) ++summary.condition_counts[static_cast<std::size_t>(c)];
                for (Feature f : r.features) ++summary.feature_counts[static_cast<std::size_t>(f)];
                summary.reports_with_features += r.states_features ? 1 : 0;
            } else {
                eval_files[static_cast<std::size_t>(r.eval_split)]->append(r.diagnosis);
                eval_files[static_cast<std::size_t>(3 + r.eval_split)]->append(r.feature);
                (r.eval_split == 0   ? summary.eval_train
                 : r.eval_split == 1 ? summary.eval_val
                                     : summary.eval_test) += 1;
            }
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const double rate = s > 0 ? static_cast<double>(end) / s : 0.0;
        progress.update(
            "write_corpus: records", end, total,
            fmt::format("{:.0f} records/s ETA {}", rate,
                        ProgressReporter::duration(rate > 0 ? static_cast<double>(total - end) / rate : -1)),
            end == total);
    }
    progress.finish();
    // The pre-training entry point last: without record_list.csv the corpus is visibly incomplete.
    ground_truth.commit();
    for (auto& f : eval_files) f->commit();
    measurements.commit();
    record_list.commit();
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return summary;
}

}  // namespace fgclep::synth
