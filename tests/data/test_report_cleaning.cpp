// MIMIC-IV-ECG report cleaning: the reference rules (method.md §5, MERL's process_report) on the real
// machine_measurements.csv row and on crafted cases that pin the order of the steps.
#include "error_text.hpp"
#include "fgclep/data/csv.hpp"
#include "fgclep/data/report_cleaning.hpp"

#include <doctest/doctest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

using fgclep::data::clean_mimic_report;
using fgclep::data::count_words;

TEST_CASE("report cleaning: the real machine_measurements.csv row") {
    fgclep::data::CsvReader csv(FGCLEP_FIXTURES "/datasets/mimic-iv-ecg/machine_measurements.csv");
    std::array<std::size_t, 18> cols;
    for (int i = 0; i < 18; ++i) cols[i] = csv.column("report_" + std::to_string(i));
    REQUIRE(csv.next());
    std::array<std::string_view, 18> fields;
    for (int i = 0; i < 18; ++i) fields[i] = csv.field(cols[i]);
    // report_2 is empty: it is left out, not joined as ". . ".
    const auto r = clean_mimic_report(fields);
    CHECK(r.text == "sinus rhythm. possible right atrial abnormality. borderline ecg.");
    CHECK(r.words == 8);
}

TEST_CASE("report cleaning: crafted cases") {
    // EKG -> ECG before lower-casing; "ekg" too; a mixed-case "Ekg" is only lower-cased (as the reference does).
    CHECK(clean_mimic_report({"Abnormal EKG", "ekg ok", "Ekg"}).text == "abnormal ecg. ecg ok. ekg.");
    // Leading/trailing '*' and spaces, then '=' and '-'.
    CHECK(clean_mimic_report({"*** Critical Test Result: STEMI ***"}).text == "critical test result: stemi.");
    CHECK(clean_mimic_report({"--- Acute MI ---"}).text == " acute mi .");  // no second space strip
    CHECK(clean_mimic_report({"==-Sinus rhythm-=="}).text == "sinus rhythm.");
    CHECK(clean_mimic_report({" *=x= * "}).text == "x.");
    // '*' inside '=' survives: the '*' strip runs first.
    CHECK(clean_mimic_report({"=*x*="}).text == "*x*.");
    // Newlines and tabs become spaces after stripping: a trailing newline leaves a space before the '.'.
    CHECK(clean_mimic_report({"Sinus\trhythm\nnormal ECG\n"}).text == "sinus rhythm normal ecg .");
    CHECK(clean_mimic_report({"a\r\nb"}).text == "a  b.");
    // pandas NA strings and empty fields are missing; a field of spaces is kept (and stripped at the ends only).
    CHECK(clean_mimic_report({"", "NA", "Sinus", "None", "nan", "rhythm"}).text == "sinus. rhythm.");
    CHECK(clean_mimic_report({"Sinus", " ", "rhythm"}).text == "sinus.  . rhythm.");
    // Nothing left: no words, no text.
    CHECK(clean_mimic_report({"***", "", "NaN"}).words == 0);
    CHECK(clean_mimic_report({"***", "", "NaN"}).text.empty());
    CHECK(clean_mimic_report(std::vector<std::string_view>{}).words == 0);
    // Word counts as Python's split(): any whitespace run, including the Unicode no-break space.
    CHECK(count_words("  a\tb\n\nc  ") == 3);
    CHECK(count_words("a\xC2\xA0"
                      "b") == 2);
    CHECK(count_words("") == 0);
    CHECK(clean_mimic_report({"Sinus rhythm", "Normal ECG"}).words == 4);
    CHECK(clean_mimic_report({"Sinus rhythm."}).words == 2);
    CHECK(clean_mimic_report({"Sinus rhythm."}).text == "sinus rhythm..");  // the reference appends '.' always
}

// ------------------------------------------------------------------------------------ which reports are kept
// The statements below are MIMIC-IV-ECG machine statements as public code that processes machine_measurements.csv
// quotes them (docs/datasets.md says where); the only real row we may store is the fixture's.

using fgclep::data::default_uninformative_statements;
using fgclep::data::judge_report;
using fgclep::data::read_statement_list;
using fgclep::data::report_filter_from_string;
using fgclep::data::report_rule;
using fgclep::data::ReportFilter;
using fgclep::data::ReportRule;
using fgclep::data::ReportVerdict;
using fgclep::data::statement_key;
using fgclep::data::UninformativeStatements;

namespace {

ReportVerdict judge(std::initializer_list<std::string_view> fields, ReportFilter filter) {
    const std::span<const std::string_view> f(fields.begin(), fields.size());
    return judge_report(f, clean_mimic_report(f), report_rule(filter),
                        UninformativeStatements(default_uninformative_statements()));
}

}  // namespace

TEST_CASE("report filter: names, rules, parsing") {
    CHECK(fgclep::data::to_string(ReportFilter::merl) == "merl");
    CHECK(fgclep::data::to_string(ReportFilter::paper) == "paper");
    for (ReportFilter f : {ReportFilter::merl, ReportFilter::paper})
        CHECK(report_filter_from_string(fgclep::data::to_string(f)) == f);
    const std::string e = fgclep::test::error_text([] { report_filter_from_string("Paper"); });
    CHECK(e.find("'Paper'") != std::string::npos);
    CHECK(e.find("'merl'") != std::string::npos);
    CHECK(e.find("'paper'") != std::string::npos);
    CHECK(report_rule(ReportFilter::merl).min_words == 4);
    CHECK_FALSE(report_rule(ReportFilter::merl).drop_uninformative);
    CHECK(report_rule(ReportFilter::paper).min_words == 3);
    CHECK(report_rule(ReportFilter::paper).drop_uninformative);
    CHECK(fgclep::data::to_string(ReportVerdict::uninformative) == "uninformative report");
    CHECK(fgclep::data::to_string(ReportVerdict::empty) == "empty report");
    CHECK(fgclep::data::to_string(ReportVerdict::short_report) == "short report");
}

TEST_CASE("report filter: the real machine_measurements.csv row is kept by both rules, statement by statement") {
    fgclep::data::CsvReader csv(FGCLEP_FIXTURES "/datasets/mimic-iv-ecg/machine_measurements.csv");
    std::array<std::size_t, 18> cols;
    for (int i = 0; i < 18; ++i) cols[i] = csv.column("report_" + std::to_string(i));
    REQUIRE(csv.next());
    std::array<std::string_view, 18> fields;
    for (int i = 0; i < 18; ++i) fields[i] = csv.field(cols[i]);
    const auto cleaned = clean_mimic_report(fields);
    const UninformativeStatements list(default_uninformative_statements());
    for (ReportFilter f : {ReportFilter::merl, ReportFilter::paper})
        CHECK(judge_report(fields, cleaned, report_rule(f), list) == ReportVerdict::kept);
    // Each real statement carries information (a rhythm, a finding, the diagnostic summary).
    CHECK_FALSE(list.matches(fields[0]));  // Sinus rhythm
    CHECK_FALSE(list.matches(fields[1]));  // Possible right atrial abnormality
    CHECK_FALSE(list.matches(fields[3]));  // Borderline ECG
    CHECK_FALSE(list.uninformative(fields));
    // The same row with only its summary left: 2 words, dropped by both rules as short, never as uninformative.
    const std::array<std::string_view, 18> summary_only{"", "", "", fields[3]};
    for (ReportFilter f : {ReportFilter::merl, ReportFilter::paper})
        CHECK(judge_report(summary_only, clean_mimic_report(summary_only), report_rule(f), list) ==
              ReportVerdict::short_report);
}

TEST_CASE("report filter: which statements are uninformative, and how they are compared") {
    CHECK(statement_key("--- Warning: Data quality may affect interpretation ---") ==
          "warning: data quality may affect interpretation");
    CHECK(statement_key("  *** Report   made\twithout knowing patient's SEX *** ") ==
          "report made without knowing patient's sex");
    CHECK(statement_key("Abnormal EKG.") == "abnormal ecg");
    CHECK(statement_key("-*=.: ") == "");

    const UninformativeStatements list(default_uninformative_statements());
    CHECK(list.size() == default_uninformative_statements().size());
    // Every default entry matches itself as the reports write it (a prefix entry with a continuation).
    for (const std::string& entry : default_uninformative_statements()) {
        const bool prefix = entry.ends_with("...");
        const std::string written = prefix ? entry.substr(0, entry.size() - 3) + " V1" : entry;
        CHECK_MESSAGE(list.matches(written), written);
    }
    // Wordings seen in MIMIC-IV-ECG, with case, spacing and the decoration varying.
    for (const char* s : {"--- Warning: Data quality may affect interpretation ---",
                          "--- WARNING: DATA QUALITY MAY AFFECT INTERPRETATION ---",
                          "Warning: data quality may affect interpretation", "Lead(s) unsuitable for analysis: V1",
                          "LEAD(S) UNSUITABLE FOR ANALYSIS: V2,V3", "*** report made without knowing patient's sex ***",
                          "*** report made without knowing patient's sex or age ***",
                          "Age not entered, assumed to be 50 years old for purposes of ECG interpretation",
                          "--- Technically unsatisfactory tracing ---", "Analysis error", "All 12 leads are missing",
                          "--- Recording unsuitable for analysis - please repeat ---",
                          "PACER DETECTION SUSPENDED DUE TO EXTERNAL NOISE-REVIEW ADVISED",
                          "-------------------- Pediatric ECG interpretation --------------------"})
        CHECK_MESSAGE(list.matches(s), s);
    // Statements about the tracing or the heart stay, whatever their decoration.
    for (const char* s : {"Normal ECG", "Abnormal ECG", "Borderline ECG", "Otherwise normal ECG", "Sinus rhythm",
                          "--- Suspect arm lead reversal - only aVF, V1-V6 analyzed ---", "Uncertain rhythm: review",
                          "Rhythm undetermined", "Pacemaker rhythm - no further analysis", "IV conduction defect",
                          "Analysis errors corrected",  // a whole-statement entry matches nothing longer
                          "Lead(s) unsuitable for analysisV1", "*** Consider acute ST elevation MI ***"})
        CHECK_FALSE_MESSAGE(list.matches(s), s);

    // A report is uninformative when it has a statement and all of its statements are on the list.
    const std::array<std::string_view, 4> only_warnings{"--- Warning: Data quality may affect interpretation ---", "",
                                                        "Lead(s) unsuitable for analysis: V1", "NaN"};
    CHECK(list.uninformative(only_warnings));
    const std::array<std::string_view, 3> with_rhythm{"--- Warning: Data quality may affect interpretation ---",
                                                      "Sinus rhythm", "Abnormal ECG"};
    CHECK_FALSE(list.uninformative(with_rhythm));
    CHECK_FALSE(list.uninformative(std::array<std::string_view, 2>{"", "nan"}));  // no statement: empty, not this
    CHECK_FALSE(UninformativeStatements().uninformative(only_warnings));          // an empty list drops nothing

    // A list of one's own, and entries that would match everything or nothing are refused.
    const UninformativeStatements mine{"Normal ECG", "Sinus rhythm..."};
    CHECK(mine.matches("normal ecg."));
    CHECK(mine.matches("Sinus rhythm with 1st degree A-V block"));
    CHECK_FALSE(mine.matches("Sinus rhythms"));
    CHECK_FALSE(mine.matches("Analysis error"));
    CHECK(fgclep::test::error_text([] { UninformativeStatements{"--- ..."}; }).find("every statement") !=
          std::string::npos);
    CHECK(fgclep::test::error_text([] { UninformativeStatements{"***"}; }).find("'***'") != std::string::npos);
}

TEST_CASE("report filter: the verdicts of each rule") {
    // empty: no words at all
    CHECK(judge({"", "***", "NaN"}, ReportFilter::merl) == ReportVerdict::empty);
    CHECK(judge({"", "***", "NaN"}, ReportFilter::paper) == ReportVerdict::empty);
    // 3 words: short for MERL, kept by the paper
    CHECK(judge({"Otherwise normal ECG"}, ReportFilter::merl) == ReportVerdict::short_report);
    CHECK(judge({"Otherwise normal ECG"}, ReportFilter::paper) == ReportVerdict::kept);
    CHECK(judge({"Sinus bradycardia", "Abnormal ECG"}, ReportFilter::paper) == ReportVerdict::kept);
    // 2 words: short for both, also when the words are an uninformative statement (the first rule names it)
    CHECK(judge({"Analysis error"}, ReportFilter::paper) == ReportVerdict::short_report);
    // only uninformative statements, with enough words: kept by MERL, dropped by the paper
    const auto warning = "--- Warning: Data quality may affect interpretation ---";
    CHECK(judge({warning}, ReportFilter::merl) == ReportVerdict::kept);
    CHECK(judge({warning}, ReportFilter::paper) == ReportVerdict::uninformative);
    CHECK(judge({warning, "", "Lead(s) unsuitable for analysis: V1,V2"}, ReportFilter::paper) ==
          ReportVerdict::uninformative);
    // one informative statement is enough
    CHECK(judge({warning, "Sinus rhythm"}, ReportFilter::paper) == ReportVerdict::kept);
    CHECK(judge({warning, "Abnormal ECG"}, ReportFilter::paper) == ReportVerdict::kept);
    // min_words 0 keeps even an empty report (as the reference's threshold does)
    const std::array<std::string_view, 1> none{""};
    CHECK(judge_report(none, clean_mimic_report(none), ReportRule{0, true}, UninformativeStatements()) ==
          ReportVerdict::kept);
}

TEST_CASE("report filter: a statement list from a file") {
    const auto path = std::filesystem::temp_directory_path() /
                      ("fgclep_statements_" + std::to_string(std::random_device{}()) + ".txt");
    {
        std::ofstream f(path, std::ios::binary);
        f << "# my uninformative statements\r\n\r\nAnalysis error\r\n   \n  # indented comment\nAge not entered...\n"
             "Normal ECG";
    }
    const auto list = read_statement_list(path);
    std::filesystem::remove(path);
    CHECK(list == std::vector<std::string>{"Analysis error", "Age not entered...", "Normal ECG"});
    CHECK(UninformativeStatements(list).matches("NORMAL ECG"));
    CHECK(fgclep::test::error_text([&] { read_statement_list(path); }).find(path.filename().string()) !=
          std::string::npos);
}
