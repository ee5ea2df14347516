// MIMIC-IV-ECG report cleaning: the reference rules (method.md §5, MERL's process_report) on the real
// machine_measurements.csv row and on crafted cases that pin the order of the steps.
#include "fgclep/data/csv.hpp"
#include "fgclep/data/report_cleaning.hpp"

#include <doctest/doctest.h>

#include <array>
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
