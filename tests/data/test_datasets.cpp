// Dataset loaders on small directory trees laid out like the real datasets (made here in a temp dir from the real
// metadata files in tests/fixtures/datasets), PTB-XL labels against the benchmark's split files, and bad input:
// every problem is an error naming the file or a counted skip.
#include "error_text.hpp"
#include "fgclep/data/csv.hpp"
#include "fgclep/data/datasets/benchmark_split.hpp"
#include "fgclep/data/datasets/chapman.hpp"
#include "fgclep/data/datasets/cpsc2018.hpp"
#include "fgclep/data/datasets/mimic_iv_ecg.hpp"
#include "fgclep/data/datasets/ptbxl.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using fgclep::test::error_text;

namespace fs = std::filesystem;
using namespace fgclep::data;

namespace {

const fs::path fixtures = fs::path(FGCLEP_FIXTURES) / "datasets";
const fs::path wfdb_fixtures = fs::path(FGCLEP_FIXTURES) / "wfdb";  // the real JS00001 record (see its ATTRIBUTION.md)

struct TempTree {
    fs::path root;
    TempTree() {
        root =
            fs::temp_directory_path() / ("fgclep_test_datasets_" + std::to_string(std::random_device{}()) + "_" +
                                         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
        fs::create_directories(root);
    }
    ~TempTree() {
        std::error_code ec;
        fs::remove_all(root, ec);
    }
    void write(const fs::path& rel, const std::string& text) const {
        fs::create_directories((root / rel).parent_path());
        std::ofstream(root / rel, std::ios::binary) << text;
    }
    void copy(const fs::path& from, const fs::path& rel) const {
        fs::create_directories((root / rel).parent_path());
        fs::copy_file(from, root / rel, fs::copy_options::overwrite_existing);
    }
};

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A 12-lead CinC-style header (signals in <name>.mat) with the given comment lines.
std::string cinc_header(const std::string& name, const std::string& comments) {
    std::string h = name + " 12 500 7500 05-Feb-2020 11:39:16\n";
    for (const char* lead : {"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"})
        h += name + ".mat 16+24 1000/mV 16 0 28 -1716 0 " + lead + "\n";
    return h + comments;
}

// machine_measurements.csv row: 33 columns, reports at 4..21.
std::string mm_row(const std::string& subject, const std::string& study, std::vector<std::string> reports) {
    std::string row = subject + "," + study + ",6848296,2180-07-23 08:44:00";
    reports.resize(18);
    for (const auto& r : reports) row += ",\"" + r + "\"";
    return row + ",0.005-150 Hz,60 Hz notch  Baseline filter,659,40,128,170,258,518,81,77,79\n";
}

std::vector<std::string> names_with(const EcgDataset& d, std::int64_t i) {
    std::vector<std::string> out;
    for (std::size_t k = 0; k < d.class_names.size(); ++k)
        if (d.labels(i)[k] == 1.0f) out.push_back(d.class_names[k]);
    return out;
}

}  // namespace

// ------------------------------------------------------------------------------------------------ MIMIC-IV-ECG

TEST_CASE("mimic-iv-ecg: pairs by subject and study, cleans reports, counts every skip") {
    TempTree t;
    const std::string records = slurp(fixtures / "mimic-iv-ecg/record_list.csv");  // header + the real row
    const std::string mm = slurp(fixtures / "mimic-iv-ecg/machine_measurements.csv");
    t.write("record_list.csv",
            records +
                "10000033,40000002,40000002,2180-07-24 08:44:00,files/p1000/p10000033/s40000002/40000002\n"
                "10000034,40000003,40000003,2180-07-24 08:44:00,files/p1000/p10000034/s40000003/40000003\n"
                "10000035,40000004,40000004,2180-07-24 08:44:00,files/p1000/p10000035/s40000004/40000004\n"
                "10000036,40000005,40000005,2180-07-24 08:44:00,files/p1000/p10000036/s40000005/40000005\n"
                "10000033,40000002,40000002,2180-07-24 08:44:00,files/p1000/p10000033/s40000002/40000002\n"
                "10000037,40000006,40000006,2180-07-24 08:44:00,files/p1000/p10000037/s40000006/40000006\n");
    t.write("machine_measurements.csv",
            mm + mm_row("10000033", "40000002", {"*** Abnormal EKG ***", "Sinus rhythm"}) +
                mm_row("10000034", "40000003", {"Normal ECG"}) +                  // too short
                mm_row("10000036", "40000005", {"Sinus rhythm", "Normal ECG"}) +  // .hea missing
                mm_row("10000099", "40000099", {"Sinus rhythm", "Normal ECG"}) +  // no waveform
                mm_row("abc", "40000098", {"Sinus rhythm", "Normal ECG"}) +       // malformed
                mm_row("10000033", "-1", {"Sinus rhythm", "Normal ECG"}) +        // malformed: not an id
                mm_row("10000037", "40000007", {"Sinus rhythm", "Normal ECG"}));  // other study: no pair
    for (const char* p : {"p10000032/s40689238/40689238", "p10000033/s40000002/40000002",
                          "p10000034/s40000003/40000003", "p10000035/s40000004/40000004"})
        t.write(fs::path("files/p1000") / (std::string(p) + ".hea"), "x 12 500 5000\n");

    const EcgDataset d = load_mimic_iv_ecg(t.root, {.check_files = true});
    REQUIRE(d.size() == 2);
    CHECK(d.name == "mimic-iv-ecg");
    CHECK(d.entry(0).id == "40689238");
    CHECK(d.entry(0).subject == 10000032);
    CHECK(d.report(0) == "sinus rhythm. possible right atrial abnormality. borderline ecg.");
    CHECK(d.record_path(0) == t.root / "files/p1000/p10000032/s40689238/40689238");
    CHECK(d.report(1) == "abnormal ecg ***. sinus rhythm.");
    CHECK(d.class_names.empty());
    CHECK(d.labels(0).empty());
    CHECK(d.issues.count("short report") == 1);
    CHECK(d.issues.count("waveform without report") == 2);  // 40000004 and 40000006 (its report is for 40000007)
    CHECK(d.issues.count("report without waveform") == 2);  // 40000099 and 40000007
    CHECK(d.issues.count("duplicate study") == 1);
    CHECK(d.issues.count("missing header file") == 1);
    CHECK(d.issues.count("malformed row") == 2);
    CHECK(contains(d.issues.examples("missing header file")[0], "40000005.hea"));
    CHECK(contains(d.issues.examples("malformed row")[0], "machine_measurements.csv' line 7"));
    CHECK(contains(d.issues.examples("short report")[0], "'normal ecg.' has 2 words"));
    CHECK(contains(d.issues.summary(), "waveform without report: 2"));

    // Without check_files the missing .hea is not looked at; limit keeps the first pairs in record_list order.
    CHECK(load_mimic_iv_ecg(t.root).size() == 3);
    const EcgDataset one = load_mimic_iv_ecg(t.root, {.limit = 1});
    REQUIRE(one.size() == 1);
    CHECK(one.entry(0).id == "40689238");
    // min_words moves the threshold.
    CHECK(load_mimic_iv_ecg(t.root, {.min_words = 2}).size() == 4);

    // A file without a report column is an error naming the file and the column.
    t.write("mm_bad.csv", "subject_id,study_id,report_0\n1,2,x\n");
    const std::string e = error_text([&] { load_mimic_iv_ecg(t.root, {.machine_measurements = "mm_bad.csv"}); });
    CHECK(contains(e, "mm_bad.csv"));
    CHECK(contains(e, "'report_1'"));
    CHECK(contains(error_text([&] { load_mimic_iv_ecg(t.root / "nowhere"); }), "record_list.csv"));
}

TEST_CASE("mimic-iv-ecg: the report filters, merl and paper, each dropped report counted by its rule") {
    // The real row plus rows of MIMIC-IV-ECG machine statements as public code quotes them (docs/datasets.md).
    TempTree t;
    std::string records = slurp(fixtures / "mimic-iv-ecg/record_list.csv");  // header + the real row
    std::string mm = slurp(fixtures / "mimic-iv-ecg/machine_measurements.csv");
    const std::string warning = "--- Warning: Data quality may affect interpretation ---";
    const std::vector<std::pair<std::string, std::vector<std::string>>> rows = {
        {"40000011", {warning}},                                             // only a warning, 7 words
        {"40000012", {warning, "", "Lead(s) unsuitable for analysis: V1"}},  // only warnings
        {"40000013", {"Otherwise normal ECG"}},                              // 3 words
        {"40000014", {"", "", ""}},                                          // empty
        {"40000015", {"Normal ECG"}},                                        // 2 words
        {"40000016", {"*** report made without knowing patient's sex ***", "Sinus rhythm", "Normal ECG"}},
        {"40000017",
         {"Age not entered, assumed to be 50 years old for purposes of ECG interpretation",
          "--- Pediatric criteria used ---"}},  // only notes, 15 words
        {"40000018", {"Analysis error"}},       // 2 words, and uninformative
    };
    for (const auto& [study, reports] : rows) {
        records += "10000040," + study + "," + study + ",2180-07-24 08:44:00,files/p1000/p10000040/s" + study + "/" +
                   study + "\n";
        mm += mm_row("10000040", study, reports);
    }
    t.write("record_list.csv", records);
    t.write("machine_measurements.csv", mm);
    const auto ids = [](const EcgDataset& d) {
        std::vector<std::string> out;
        for (const auto& e : d.entries) out.push_back(e.id);
        return out;
    };

    // MERL's rule (the default): >= 4 words; uninformative reports stay.
    const EcgDataset merl = load_mimic_iv_ecg(t.root);
    CHECK(ids(merl) == std::vector<std::string>{"40689238", "40000011", "40000012", "40000016", "40000017"});
    CHECK(merl.issues.count("empty report") == 1);
    CHECK(merl.issues.count("short report") == 3);
    CHECK(merl.issues.count("uninformative report") == 0);
    CHECK(merl.issues.count("waveform without report") == 0);  // a dropped report is counted once, by its rule
    CHECK(merl.report(1) == " warning: data quality may affect interpretation .");
    CHECK(contains(merl.issues.examples("short report")[0], "'otherwise normal ecg.' has 3 words, fewer than 4"));
    CHECK(contains(merl.issues.examples("short report")[0], "(report filter merl)"));
    CHECK(contains(merl.issues.examples("empty report")[0], "study 40000014"));

    // The paper's rule: no empty report, >= 3 words, no report of uninformative statements only.
    const EcgDataset paper = load_mimic_iv_ecg(t.root, {.report_filter = ReportFilter::paper});
    CHECK(ids(paper) == std::vector<std::string>{"40689238", "40000013", "40000016"});
    CHECK(paper.report(0) == "sinus rhythm. possible right atrial abnormality. borderline ecg.");
    CHECK(paper.report(1) == "otherwise normal ecg.");
    CHECK(paper.issues.count("empty report") == 1);
    CHECK(paper.issues.count("short report") == 2);  // 40000015, 40000018 (short comes before uninformative)
    CHECK(paper.issues.count("uninformative report") == 3);
    CHECK(paper.issues.count("waveform without report") == 0);
    const auto why = paper.issues.examples("uninformative report");
    REQUIRE(why.size() == 3);
    CHECK(contains(why[0], "study 40000011"));
    CHECK(contains(why[0], "has only uninformative statements (report filter paper)"));
    CHECK(contains(why[2], "study 40000017"));
    CHECK(contains(paper.issues.summary(), "uninformative report: 3"));

    // The parts of a rule can be set one by one.
    CHECK(ids(load_mimic_iv_ecg(t.root, {.report_filter = ReportFilter::paper, .min_words = 4})) ==
          std::vector<std::string>{"40689238", "40000016"});
    CHECK(load_mimic_iv_ecg(t.root, {.report_filter = ReportFilter::paper, .drop_uninformative = false}).size() == 6);
    const EcgDataset merl_plus = load_mimic_iv_ecg(t.root, {.drop_uninformative = true});
    CHECK(ids(merl_plus) == std::vector<std::string>{"40689238", "40000016"});
    CHECK(merl_plus.issues.count("uninformative report") == 3);
    // A list of one's own: only the data-quality warning, so 40000012 (a lead note too) and 40000017 stay.
    const EcgDataset own =
        load_mimic_iv_ecg(t.root, {.report_filter = ReportFilter::paper, .uninformative_statements = {warning}});
    CHECK(ids(own) == std::vector<std::string>{"40689238", "40000012", "40000013", "40000016", "40000017"});
    CHECK(own.issues.count("uninformative report") == 1);
    // An empty list drops nothing as uninformative.
    CHECK(load_mimic_iv_ecg(t.root, {.report_filter = ReportFilter::paper, .uninformative_statements = {}}).size() ==
          6);

    // What a run prints about the filter.
    CHECK(describe_report_filter({}) == "report filter merl: kept reports have >= 4 words");
    CHECK(describe_report_filter({.report_filter = ReportFilter::paper}) ==
          fmt::format("report filter paper: kept reports have >= 3 words and a statement not among {} uninformative "
                      "ones",
                      default_uninformative_statements().size()));
}

// ------------------------------------------------------------------------------------------------------ PTB-XL

TEST_CASE("ptbxl: scp_codes dicts") {
    auto codes = parse_scp_codes("{'NORM': 100.0, 'LVOLT': 0.0, 'SR': 0.0}", "f.csv line 2");
    REQUIRE(codes.size() == 3);
    CHECK(codes[0].code == "NORM");
    CHECK(codes[0].likelihood == 100.0);
    CHECK(codes[2].code == "SR");
    CHECK(parse_scp_codes("{}", "x").empty());
    CHECK(parse_scp_codes(" {\"A\":1, 'B' : 2.5e1,} ", "x")[1].likelihood == 25.0);
    for (const char* bad : {"", "NORM", "{'NORM' 100.0}", "{'NORM': }", "{'NORM': 1", "{'NORM: 1}", "{'A': x}",
                            "{'A': 1} x", "{'A': 1 'B': 2}"}) {
        const std::string e = error_text([&] { parse_scp_codes(bad, "db.csv line 7 column 'scp_codes'"); });
        CHECK_MESSAGE(contains(e, "db.csv line 7 column 'scp_codes'"), bad);
        CHECK_MESSAGE(contains(e, "at character"), bad);
    }
}

TEST_CASE("ptbxl: the real database subset and scp_statements") {
    const fs::path root = fixtures / "ptbxl";
    const EcgDataset super = load_ptbxl(root, {.database = "ptbxl_database_subset.csv"});
    CHECK(super.name == "ptbxl-super_class");
    CHECK(super.class_names == std::vector<std::string>{"CD", "HYP", "MI", "NORM", "STTC"});
    CHECK(super.size() == 519);  // 521 rows, 2 without a diagnostic statement
    CHECK(super.issues.count("no super_class label") == 2);
    CHECK(super.issues.count("unknown scp code") == 0);
    CHECK(super.entry(0).id == "1");
    CHECK(super.entry(0).subject == 15709);
    CHECK(super.entry(0).record == "records500/00000/00001_hr");
    CHECK(super.report(0) == "sinusrhythmus periphere niederspannung");
    CHECK(names_with(super, 0) == std::vector<std::string>{"NORM"});

    const auto sub = load_ptbxl(root, {.task = PtbxlTask::sub_class, .database = "ptbxl_database_subset.csv"});
    CHECK(sub.class_names.size() == 23);
    CHECK(std::find(sub.class_names.begin(), sub.class_names.end(), "NST") != sub.class_names.end());  // not NST_
    const auto raw = load_ptbxl(
        root, {.task = PtbxlTask::sub_class, .benchmark_names = false, .database = "ptbxl_database_subset.csv"});
    CHECK(std::find(raw.class_names.begin(), raw.class_names.end(), "NST_") != raw.class_names.end());
    CHECK(load_ptbxl(root, {.task = PtbxlTask::form, .database = "ptbxl_database_subset.csv"}).class_names.size() ==
          19);
    const auto rhythm = load_ptbxl(root, {.task = PtbxlTask::rhythm, .database = "ptbxl_database_subset.csv"});
    CHECK(rhythm.class_names.size() == 12);
    CHECK(names_with(rhythm, 0) == std::vector<std::string>{"SR"});  // 'SR': 0.0 still counts

    // Folds, the 100 Hz files, no labels, a chosen class order.
    const auto test = load_ptbxl(root, {.folds = ptbxl_test_folds(), .database = "ptbxl_database_subset.csv"});
    CHECK(test.size() == 70);  // strat_fold 10 rows with a diagnostic statement
    const auto lr =
        load_ptbxl(root, {.task = PtbxlTask::none, .sampling_rate = 100, .database = "ptbxl_database_subset.csv"});
    CHECK(lr.size() == 521);
    CHECK(lr.entry(0).record == "records100/00000/00001_lr");
    CHECK(lr.labels(0).empty());
    const auto two = load_ptbxl(root, {.class_names = {"NORM", "MI"}, .database = "ptbxl_database_subset.csv"});
    CHECK(two.class_names == std::vector<std::string>{"NORM", "MI"});
    CHECK(two.labels(0)[0] == 1.0f);
    CHECK(contains(
        error_text([&] { load_ptbxl(root, {.class_names = {"XYZ"}, .database = "ptbxl_database_subset.csv"}); }),
        "'XYZ' is not a super_class class"));
    CHECK(contains(error_text([&] { load_ptbxl(root); }), "ptbxl_database.csv"));  // the full file is not here
}

TEST_CASE("ptbxl: labels agree with the benchmark split files, all four tasks, matched by column name") {
    const fs::path root = fixtures / "ptbxl";
    const std::map<std::string, PtbxlTask> tasks = {{"super_class", PtbxlTask::super_class},
                                                    {"sub_class", PtbxlTask::sub_class},
                                                    {"form", PtbxlTask::form},
                                                    {"rhythm", PtbxlTask::rhythm}};
    // Records of ptbxl_database_subset.csv that the split files hold, per task (tests/fixtures/make_datasets.py
    // extracted exactly those rows); and the labelled ones they leave out (ids 17, 20, 137-145, 456-462 are in no
    // MERL split file at all).
    const std::map<std::string, std::pair<int, int>> expected = {
        {"super_class", {508, 11}}, {"sub_class", {508, 11}}, {"form", {131, 2}}, {"rhythm", {489, 11}}};
    int total = 0;
    for (const auto& [task_name, task] : tasks) {
        const EcgDataset mine = load_ptbxl(root, {.task = task, .database = "ptbxl_database_subset.csv"});
        std::map<std::string, std::int64_t> index;
        for (std::int64_t i = 0; i < mine.size(); ++i) index[mine.entry(i).id] = i;
        int compared = 0;
        std::map<std::string, int> seen;
        for (const char* part : {"train", "val", "test"}) {
            const fs::path file =
                fixtures / "benchmark/ptbxl" / task_name / ("ptbxl_" + task_name + "_" + part + ".csv");
            CHECK(detect_split_layout(file) == SplitLayout::ptbxl);
            // The file's own label columns are the same set of classes as ours.
            const EcgDataset own = load_benchmark_split(file, root);
            auto a = own.class_names, b = mine.class_names;
            std::sort(a.begin(), a.end());
            std::sort(b.begin(), b.end());
            CHECK_MESSAGE(a == b, file.string());
            const EcgDataset split = load_benchmark_split(file, root, {.class_names = mine.class_names});
            CHECK(split.issues.empty());
            const std::vector<int> folds = std::string(part) == "train" ? ptbxl_train_folds()
                                           : std::string(part) == "val" ? ptbxl_val_folds()
                                                                        : ptbxl_test_folds();
            const EcgDataset in_folds =
                load_ptbxl(root, {.task = task, .folds = folds, .database = "ptbxl_database_subset.csv"});
            std::map<std::string, int> fold_ids;
            for (const auto& e : in_folds.entries) fold_ids[e.id] = 1;
            for (std::int64_t i = 0; i < split.size(); ++i) {
                const auto& e = split.entry(i);
                const auto it = index.find(e.id);
                REQUIRE_MESSAGE(it != index.end(), file.string() << " ecg_id " << e.id);
                CHECK_MESSAGE(mine.entry(it->second).labels == e.labels, task_name << " ecg_id " << e.id);
                CHECK_MESSAGE(fold_ids.count(e.id) == 1, part << " ecg_id " << e.id << " is not in its folds");
                CHECK(mine.entry(it->second).record == e.record);
                ++compared;
                seen[e.id] = 1;
            }
        }
        int left_out = 0;
        for (const auto& e : mine.entries) left_out += seen.count(e.id) == 0;
        MESSAGE(task_name << ": " << compared << " records compared with the split files; " << left_out
                          << " labelled records are in no split file");
        CHECK(compared == expected.at(task_name).first);
        CHECK(left_out == expected.at(task_name).second);
        total += compared;
    }
    CHECK(total == 1636);
}

TEST_CASE("ptbxl: malformed scp_codes, unknown codes and bad rows are counted with file and line") {
    TempTree t;
    t.copy(fixtures / "ptbxl/scp_statements.csv", "scp_statements.csv");
    t.write("ptbxl_database.csv",
            "ecg_id,patient_id,report,scp_codes,strat_fold,filename_lr,filename_hr\n"
            "1,15709.0,ok,\"{'NORM': 100.0, 'SR': 0.0}\",3,records100/00000/00001_lr,records500/00000/00001_hr\n"
            "2,1.0,bad,\"{'NORM' 100.0}\",3,records100/00000/00002_lr,records500/00000/00002_hr\n"
            "3,1.0,unknown,\"{'XYZ': 100.0, 'IMI': 50.0}\",3,records100/00000/00003_lr,records500/00000/00003_hr\n"
            "x,1.0,bad id,\"{'NORM': 100.0}\",3,records100/00000/00004_lr,records500/00000/00004_hr\n");
    t.write("records500/00000/00001_hr.hea", "00001_hr 12 500 5000\n");
    const EcgDataset d = load_ptbxl(t.root, {.check_files = true});
    REQUIRE(d.size() == 1);
    CHECK(d.entry(0).id == "1");
    CHECK(d.issues.count("malformed scp_codes") == 1);
    CHECK(contains(d.issues.examples("malformed scp_codes")[0], "ptbxl_database.csv' line 3 column 'scp_codes'"));
    CHECK(d.issues.count("unknown scp code") == 1);
    CHECK(contains(d.issues.examples("unknown scp code")[0], "'XYZ'"));
    CHECK(d.issues.count("missing header file") == 1);  // record 3 (MI) has no .hea
    CHECK(d.issues.count("malformed row") == 1);
    CHECK(contains(error_text([&] { load_ptbxl(t.root, {.sampling_rate = 250}); }), "500 or 100"));
    t.write("scp_statements.csv", ",description,diagnostic,form\nNORM,normal,1.0,\n");
    CHECK(contains(error_text([&] { load_ptbxl(t.root); }), "scp_statements.csv' has no column 'rhythm'"));
}

// ---------------------------------------------------------------------------------------------------- CPSC2018

TEST_CASE("cpsc2018: the 9 classes' SNOMED codes are the ones the Challenge's maps give CPSC") {
    const std::map<std::string, std::string> abbreviation_to_class = {
        {"AF", "AFIB"},    {"IAVB", "1AVB"}, {"LBBB", "CLBBB"}, {"NSR", "NORM"}, {"PAC", "PAC"},
        {"RBBB", "CRBBB"}, {"STD", "STD"},   {"STE", "STE"},    {"VEB", "VPC"}};
    const auto mine = cpsc2018_snomed_classes();
    int cpsc_codes = 0;
    for (const char* f : {"dx_mapping_scored.csv", "dx_mapping_unscored.csv"}) {
        CsvReader csv(fixtures / "cinc2021" / f);
        const auto code = csv.column("SNOMEDCTCode"), abbr = csv.column("Abbreviation"), n = csv.column("CPSC");
        while (csv.next()) {
            if (csv.field(n) == "0") continue;
            ++cpsc_codes;
            const std::string c(csv.field(code));
            REQUIRE_MESSAGE(mine.count(c) == 1, c);
            CHECK(abbreviation_to_class.at(std::string(csv.field(abbr))) == mine.at(c));
        }
    }
    CHECK(cpsc_codes == 9);
}

TEST_CASE("cpsc2018: a challenge-style tree") {
    TempTree t;
    t.write("g1/A0001.hea", cinc_header("A0001", "#Age: 74\n#Sex: Male\n#Dx: 59118001\n#Rx: Unknown\n"));
    t.write("g1/A0001.mat", "");
    t.write("g1/A0002.hea", cinc_header("A0002", "#Dx: 426783006, 164889003\n"));
    t.write("g1/A0003.hea", cinc_header("A0003", "#Dx: 999999,164931005\n"));
    t.write("g1/A0004.hea", cinc_header("A0004", "#Dx: 999999\n"));
    t.write("g1/A0005.hea", cinc_header("A0005", "#Age: 50\n"));
    t.write("g1/A0006.hea", "A0006 twelve 500\n");
    t.write("g2/A0007.hea", cinc_header("A0007", "# Dx : 733534002\n"));
    t.write("g2/RECORDS", "A0007\n");

    const EcgDataset d = load_cpsc2018(t.root);
    CHECK(d.class_names == cpsc2018_class_names());
    REQUIRE(d.size() == 4);
    CHECK(d.entry(0).id == "A0001");
    CHECK(d.entry(0).record == fs::path("g1/A0001"));
    CHECK(names_with(d, 0) == std::vector<std::string>{"CRBBB"});
    CHECK(names_with(d, 1) == std::vector<std::string>{"AFIB", "NORM"});
    CHECK(names_with(d, 2) == std::vector<std::string>{"STE"});
    CHECK(names_with(d, 3) == std::vector<std::string>{"CLBBB"});  // 733534002, scored as 164909002
    CHECK(d.issues.count("unknown Dx code") == 2);
    CHECK(d.issues.count("no class label") == 1);
    CHECK(d.issues.count("no Dx comment") == 1);
    CHECK(d.issues.count("unreadable header") == 1);
    CHECK(contains(d.issues.examples("unreadable header")[0], "A0006.hea"));
    CHECK(contains(d.issues.examples("unknown Dx code")[0], "A0003.hea: 999999"));

    const EcgDataset all = load_cpsc2018(t.root, {.keep_unlabelled = true});
    CHECK(all.size() == 6);
    const EcgDataset checked = load_cpsc2018(t.root, {.check_files = true});
    CHECK(checked.size() == 1);  // only A0001.mat exists
    CHECK(checked.issues.count("missing signal file") == 3);
    CHECK(load_cpsc2018(t.root, {.class_names = {"STE"}}).size() == 1);
    CHECK(contains(error_text([&] { load_cpsc2018(t.root, {.class_names = {"LVH"}}); }), "'LVH' is not a CPSC2018"));
    CHECK(contains(error_text([&] { load_cpsc2018(t.root / "missing"); }), "is not a directory"));
}

// ----------------------------------------------------------------------------------------------------- Chapman

TEST_CASE("chapman: the ecg-arrhythmia layout, with the real JS00001 record") {
    TempTree t;
    // ConditionNames_SNOMED-CT.csv: the real file's header and rows of its form (BOM included).
    t.write("ConditionNames_SNOMED-CT.csv",
            "\xEF\xBB\xBF"
            "Acronym Name,Full Name,Snomed_CT\n1AVB,1 degree atrioventricular block,270492004\n"
            "AFIB,Atrial Fibrillation,164889003\nRBBB,right bundle branch block,59118001\n"
            "SB,Sinus Bradycardia,426177001\nTWC,T wave Change,164934002\n");
    t.copy(wfdb_fixtures / "JS00001.hea", "WFDBRecords/01/010/JS00001.hea");
    t.copy(wfdb_fixtures / "JS00001.mat", "WFDBRecords/01/010/JS00001.mat");
    t.write("WFDBRecords/01/010/JS00002.hea", cinc_header("JS00002", "#Dx: 426177001,251146004\n"));
    t.write("WFDBRecords/46/460/JS45551.hea", cinc_header("JS45551", "#Dx: 270492004\n"));

    const EcgDataset d = load_chapman(t.root);
    CHECK(d.class_names == std::vector<std::string>{"1AVB", "AFIB", "RBBB", "SB", "TWC"});
    REQUIRE(d.size() == 3);
    CHECK(d.entry(0).id == "JS00001");
    CHECK(d.entry(0).record == fs::path("WFDBRecords/01/010/JS00001"));
    CHECK(names_with(d, 0) == std::vector<std::string>{"AFIB", "RBBB", "TWC"});
    CHECK(names_with(d, 1) == std::vector<std::string>{"SB"});
    CHECK(d.entry(2).id == "JS45551");
    CHECK(d.issues.count("unknown Dx code") == 1);
    CHECK(contains(d.issues.examples("unknown Dx code")[0], "251146004"));
    CHECK(load_chapman(t.root, {.check_files = true}).size() == 1);

    // The signal, read through the dataset: the record under the dataset root, in mV, leads named by the header.
    const EcgRecord r = d.read(0);
    CHECK(r.fs == 500);
    CHECK(r.length == 5000);
    REQUIRE(r.channels() == 12);
    CHECK(r.leads ==
          std::vector<std::string>{"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"});
    CHECK(r.units == std::vector<std::string>(12, "mV"));
    REQUIRE(r.samples.size() == 12u * 5000u);
    // The first sample of each lead is the header's initial value (adu) over the gain of 1000 adu/mV.
    const int initial[12] = {-254, 264, 517, -5, -386, 390, -98, -312, -98, 810, 810, 527};
    for (std::int64_t c = 0; c < 12; ++c) {
        CAPTURE(c);
        CHECK(r.channel(c)[0] == doctest::Approx(initial[c] / 1000.0).epsilon(1e-12));
    }
    // Every sample is the fixture's own, read directly (the dataset resolved the right file, in full).
    const EcgRecord direct = read_ecg(wfdb_fixtures / "JS00001");
    CHECK(r.samples == direct.samples);
    // A record whose signal file is missing is an error naming that file, not a silent empty record.
    CHECK(contains(error_text([&] { d.read(1); }), "JS00002.mat"));

    t.write("ConditionNames_SNOMED-CT.csv", "Acronym,Snomed_CT\nAFIB,164889003\n");
    CHECK(contains(error_text([&] { load_chapman(t.root); }),
                   "ConditionNames_SNOMED-CT.csv' has no column 'Acronym Name'"));
    fs::remove(t.root / "ConditionNames_SNOMED-CT.csv");
    CHECK(contains(error_text([&] { load_chapman(t.root); }), "ConditionNames_SNOMED-CT.csv"));
}

// ----------------------------------------------------------------------------------------------- split files

TEST_CASE("benchmark split: chapman and icbeb rows resolve to records under the dataset roots") {
    TempTree chapman;
    chapman.copy(wfdb_fixtures / "JS00001.hea", "WFDBRecords/01/010/JS00001.hea");
    const fs::path chapman_train = fixtures / "benchmark/chapman/chapman_train.csv";
    CHECK(detect_split_layout(chapman_train) == SplitLayout::chapman);
    const EcgDataset c = load_benchmark_split(chapman_train, chapman.root);
    CHECK(c.class_names.size() == 38);
    CHECK(c.class_names.front() == "AQW");
    std::int64_t js1 = -1;
    for (std::int64_t i = 0; i < c.size(); ++i)
        if (c.entry(i).id == "JS00001") js1 = i;
    REQUIRE(js1 >= 0);
    CHECK(c.entry(js1).record == fs::path("WFDBRecords/01/010/JS00001"));
    // "AFIB,RBBB,TWC": the substring-built columns set AF too (the benchmark's own labels, kept as they are).
    CHECK(names_with(c, js1) == std::vector<std::string>{"AF", "RBBB", "AFIB", "TWC"});
    const EcgDataset checked = load_benchmark_split(chapman_train, chapman.root, {.check_files = true});
    CHECK(checked.size() == 1);
    CHECK(checked.issues.count("record not found") == c.size() - 1);

    const EcgDataset chapman_test = load_benchmark_split(fixtures / "benchmark/chapman/chapman_test.csv", "/x");
    bool found = false;
    for (const auto& e : chapman_test.entries)
        if (e.id == "JS18048") found = e.record == fs::path("WFDBRecords/18/186/JS18048");
    CHECK(found);

    TempTree cpsc;
    cpsc.write("g1/A0001.hea", cinc_header("A0001", "#Dx: 59118001\n"));
    cpsc.write("g1/A0002.hea", cinc_header("A0002", "#Dx: 426783006\n"));
    const fs::path icbeb_train = fixtures / "benchmark/icbeb/icbeb_train.csv";
    CHECK(detect_split_layout(icbeb_train) == SplitLayout::icbeb);
    const EcgDataset i = load_benchmark_split(icbeb_train, cpsc.root, {.class_names = cpsc2018_class_names()});
    CHECK(i.class_names == cpsc2018_class_names());
    REQUIRE(i.size() >= 1);
    CHECK(i.size() + i.issues.count("record not found") == 18);
    bool a1 = false;
    for (std::int64_t k = 0; k < i.size(); ++k)
        if (i.entry(k).id == "A0001") {
            a1 = true;
            CHECK(i.entry(k).record == fs::path("g1/A0001"));
            CHECK(names_with(i, k) == std::vector<std::string>{"CRBBB"});
        }
    CHECK(a1);
}

TEST_CASE("benchmark split: labels by name across files with different column orders") {
    const fs::path dir = fixtures / "benchmark/ptbxl/sub_class";
    const EcgDataset val = load_benchmark_split(dir / "ptbxl_sub_class_val.csv", "/ptbxl");
    const EcgDataset train = load_benchmark_split(dir / "ptbxl_sub_class_train.csv", "/ptbxl");
    CHECK(train.class_names != val.class_names);  // AVB,RAO/RAE,ISC vs ISC,AVB,RAO/RAE
    const EcgDataset train_in_val_order =
        load_benchmark_split(dir / "ptbxl_sub_class_train.csv", "/ptbxl", {.class_names = val.class_names});
    // Same positive classes per row whichever order the columns are read in; rows with AVB/ISC/RAO/RAE labels
    // (whose columns moved) would differ if labels were taken by position.
    int moved = 0;
    for (std::int64_t i = 0; i < train.size(); ++i) {
        auto a = names_with(train, i), b = names_with(train_in_val_order, i);
        for (const auto& n : a) moved += n == "AVB" || n == "ISC" || n == "RAO/RAE";
        std::sort(a.begin(), a.end());
        std::sort(b.begin(), b.end());
        CHECK(a == b);
    }
    CHECK(moved > 0);
    CHECK(train.entry(0).record == fs::path("records500/00000/00001_hr"));
    CHECK(load_benchmark_split(dir / "ptbxl_sub_class_train.csv", "/p", {.ptbxl_sampling_rate = 100}).entry(0).record ==
          fs::path("records100/00000/00001_lr"));
}

TEST_CASE("benchmark split: bad files are errors naming the file, line and column") {
    TempTree t;
    t.write("odd.csv", "a,b,c\n1,2,3\n");
    const std::string layout = error_text([&] { load_benchmark_split(t.root / "odd.csv", t.root); });
    CHECK(contains(layout, "odd.csv' is not a benchmark split file"));
    CHECK(contains(layout, "a, b, c"));
    const fs::path super = fixtures / "benchmark/ptbxl/super_class/ptbxl_super_class_test.csv";
    const std::string column = error_text([&] {
        load_benchmark_split(super, t.root, {.class_names = {"NORM", "AFIB"}});
    });
    CHECK(contains(column, "ptbxl_super_class_test.csv' has no column 'AFIB'"));
    CHECK(contains(error_text([&] { load_benchmark_split(super, t.root, {.class_names = {"strat_fold"}}); }),
                   "'strat_fold' is a ptbxl column"));
    t.write("bad_label.csv", "ecg_path,age,diagnose,AF,SR\n/chapman/WFDBRecords/01/010/JS00001.mat,12,AF,1,2\n");
    CHECK(contains(error_text([&] { load_benchmark_split(t.root / "bad_label.csv", t.root); }),
                   "bad_label.csv' line 2 column 'SR': label '2' is not 0 or 1"));
    t.write("bad_path.csv", "ecg_path,age,diagnose,AF\n/chapman/JS00001.mat,12,AF,1\n");
    const EcgDataset d = load_benchmark_split(t.root / "bad_path.csv", t.root);
    CHECK(d.size() == 0);
    CHECK(d.issues.count("malformed row") == 1);
    CHECK(contains(error_text([&] { load_benchmark_split(t.root / "none.csv", t.root); }), "none.csv"));
}
