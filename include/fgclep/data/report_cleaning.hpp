#pragma once
// MIMIC-IV-ECG report cleaning as the benchmark's pre-training data was made (method.md §5; MERL's
// `process_report`): the statements report_0..report_17 joined, "EKG" -> "ECG", ends stripped, lower-cased, words
// counted, "." appended. The steps run in the reference's order, quirks included, because the order changes the
// result; a report is kept when it has at least min_words words (4 in the reference).
//
//   std::array<std::string_view, 3> fields{"Sinus rhythm", "Possible right atrial abnormality", "Borderline ECG"};
//   CleanedReport r = clean_mimic_report(fields); // "sinus rhythm. possible right atrial abnormality. borderline ecg."
//
// Which reports are kept is a named rule (ReportFilter): `merl`, the reference's >= 4 words (771,693 pairs), or
// `paper`, the FG-CLEP paper's "excluded samples with an empty report or reports containing fewer than three words,
// removed reports without useful information": >= 3 words and not uninformative, where a report is uninformative
// when every statement of it is on a list of statements that say nothing about the waveform or a diagnosis
// (default_uninformative_statements(), replaceable).
//
//   ReportRule rule = report_rule(ReportFilter::paper);                 // {min_words 3, drop_uninformative}
//   UninformativeStatements list(default_uninformative_statements());
//   judge_report(fields, r, rule, list);                                // ReportVerdict::kept
//
// Each step exactly, and why the list is what it is: docs/datasets.md.
#include "fgclep/core/error.hpp"

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fgclep::data {

struct CleanedReport {
    std::string text;        // empty when the report has no words
    std::int64_t words = 0;  // counted before step 6
};

// pandas.read_csv's default NA strings (pandas 1.x/2.x `STR_NA_VALUES`) plus the empty field.
inline bool is_missing_report_field(std::string_view field) {
    static constexpr std::array<std::string_view, 18> na = {
        "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
        "<NA>", "N/A",      "NA",  "NULL",    "NaN",      "None", "n/a",  "nan",    "null"};
    if (field.empty()) return true;
    for (std::string_view s : na)
        if (field == s) return true;
    return false;
}

namespace report_detail {

// Length in bytes of the whitespace character starting at text[i] as Python's str.split() sees it, or 0.
inline std::size_t python_space_at(std::string_view text, std::size_t i) {
    const auto b = [&](std::size_t k) { return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0u; };
    const unsigned c = b(0);
    if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
    if (c == 0xc2 && (b(1) == 0x85 || b(1) == 0xa0)) return 2;  // U+0085, U+00A0
    if (c == 0xe1 && b(1) == 0x9a && b(2) == 0x80) return 3;    // U+1680
    if (c == 0xe2 && b(1) == 0x80 && ((b(2) >= 0x80 && b(2) <= 0x8a) || b(2) == 0xa8 || b(2) == 0xa9 || b(2) == 0xaf))
        return 3;                                             // U+2000-200A, 2028, 2029, 202F
    if (c == 0xe2 && b(1) == 0x81 && b(2) == 0x9f) return 3;  // U+205F
    if (c == 0xe3 && b(1) == 0x80 && b(2) == 0x80) return 3;  // U+3000
    return 0;
}

inline void replace_all(std::string& text, std::string_view from, std::string_view to) {
    for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
}

inline void strip_chars(std::string& text, std::string_view chars) {
    const std::size_t first = text.find_first_not_of(chars);
    if (first == std::string::npos) {
        text.clear();
        return;
    }
    const std::size_t last = text.find_last_not_of(chars);
    text = text.substr(first, last - first + 1);
}

}  // namespace report_detail

// Words as Python's str.split() counts them.
inline std::int64_t count_words(std::string_view text) {
    std::int64_t words = 0;
    bool in_word = false;
    for (std::size_t i = 0; i < text.size();) {
        const std::size_t space = report_detail::python_space_at(text, i);
        if (space > 0) {
            in_word = false;
            i += space;
        } else {
            if (!in_word) ++words;
            in_word = true;
            ++i;
        }
    }
    return words;
}

// Steps 1-6 above over the report_0..report_17 fields of one row, in column order.
inline CleanedReport clean_mimic_report(std::span<const std::string_view> fields) {
    std::string report;  // 1
    for (std::string_view f : fields) {
        if (is_missing_report_field(f)) continue;
        if (!report.empty()) report += ". ";  // kept fields are never empty, so this means "not the first"
        report += f;
    }
    report_detail::replace_all(report, "EKG", "ECG");  // 2
    report_detail::replace_all(report, "ekg", "ecg");
    report_detail::strip_chars(report, " *");  // 3
    report_detail::strip_chars(report, "=-");
    for (char& c : report)  // 4
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    CleanedReport out;
    out.words = count_words(report);  // 5
    if (out.words == 0) return out;
    for (char& c : report)  // 6
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    report += '.';
    out.text = std::move(report);
    return out;
}

inline CleanedReport clean_mimic_report(std::initializer_list<std::string_view> fields) {
    return clean_mimic_report(std::span<const std::string_view>(fields.begin(), fields.size()));
}

// ---------------------------------------------------------------------------------------------- which reports

// The named rules. merl: MERL's process_report, >= 4 words (method.md section 5; 771,693 of 800,035 kept). paper:
// FG-CLEP section 3.1, no empty report, >= 3 words, no uninformative report (Table 4: 773,268 pairs).
enum class ReportFilter { merl, paper };

inline std::string_view to_string(ReportFilter f) {
    switch (f) {
        case ReportFilter::merl:
            return "merl";
        case ReportFilter::paper:
            return "paper";
    }
    return "?";
}

// "merl" or "paper" (as to_string writes them); anything else is an error naming the accepted values.
inline ReportFilter report_filter_from_string(std::string_view name) {
    for (ReportFilter f : {ReportFilter::merl, ReportFilter::paper})
        if (name == to_string(f)) return f;
    fail(
        "unknown report filter '{}': expected 'merl' (at least 4 words, MERL's) or 'paper' (at least 3 words and "
        "not uninformative, the FG-CLEP paper's)",
        name);
}

// What a rule checks, resolved.
struct ReportRule {
    std::int64_t min_words = 4;       // fewer words: "short report" (0 words: "empty report", when >= 1)
    bool drop_uninformative = false;  // every statement uninformative: "uninformative report"
};

inline ReportRule report_rule(ReportFilter f) {
    return f == ReportFilter::paper ? ReportRule{3, true} : ReportRule{4, false};
}

// Statements of MIMIC-IV-ECG machine reports (one report_i field each) that carry no information about the
// waveform or a diagnosis: warnings that the recording or its analysis failed, and notes about what was not
// entered at the cart. As the reports write them; the comparison ignores case, "EKG"/"ECG", runs of spaces and
// the `-`, `*`, `=`, `.`, `:` and spaces around a statement. An entry ending in "..." matches every statement that
// starts with the rest at a word boundary ("Lead(s) unsuitable for analysis: V1").
// Deliberately NOT here (they describe the tracing or the heart): "Normal ECG", "Abnormal ECG", "Borderline ECG",
// "Otherwise normal ECG" (the diagnostic summary: NORM is a benchmark class), lead reversal ("--- Suspect arm lead
// reversal"), "Rhythm undetermined" / "Uncertain rhythm: review", "Pacemaker rhythm - no further analysis".
// Why each is here, and where the wordings come from: docs/datasets.md.
inline std::vector<std::string> default_uninformative_statements() {
    return {
        // the recording or its analysis failed
        "--- Warning: Data quality may affect interpretation ---",
        "Poor quality data, interpretation may be affected",
        "--- Recording unsuitable for analysis - please repeat ---",
        "Technically unsatisfactory...",
        "Lead(s) unsuitable for analysis...",
        "All 12 leads are missing",
        "Analysis error",
        "--- Possible measurement error ---",
        "--- No further analysis made ---",
        "Pacer detection suspended due to external noise-REVIEW ADVISED",
        // what was (not) entered at the cart, and which criteria were used
        "*** Report made without knowing patient's...",
        "Age not entered...",
        "--- Pediatric criteria used ---",
        "-------------------- Pediatric ECG interpretation --------------------",
    };
}

// One statement per line (blank lines and lines starting with '#' are skipped; a trailing CR is dropped): a list
// for UninformativeStatements kept in a file. An error names the file.
inline std::vector<std::string> read_statement_list(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot open the statement list '{}'", path.string());
    std::vector<std::string> out;
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const std::size_t first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#') continue;
        out.push_back(line);
    }
    if (in.bad()) fail("cannot read the statement list '{}'", path.string());
    return out;
}

// The form a statement is compared in: "EKG" -> "ECG", ASCII lower case, every run of whitespace one space, and
// the characters ` *-=.:` stripped from both ends ("--- Warning: Data quality ... ---" -> "warning: data ...").
inline std::string statement_key(std::string_view statement) {
    std::string s(statement);
    report_detail::replace_all(s, "EKG", "ECG");
    std::string out;
    out.reserve(s.size());
    bool space = false;
    for (char c : s) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
            space = true;
            continue;
        }
        if (space && !out.empty()) out += ' ';
        space = false;
        out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    report_detail::strip_chars(out, " *-=.:");
    return out;
}

// A list of uninformative statements, compiled for matching (see default_uninformative_statements for the form).
class UninformativeStatements {
public:
    UninformativeStatements() = default;
    explicit UninformativeStatements(std::span<const std::string> statements) {
        for (const std::string& raw : statements) {
            std::string_view s = raw;
            const bool prefix = s.ends_with("...");
            if (prefix) s.remove_suffix(3);
            std::string key = statement_key(s);
            if (key.empty())
                fail(
                    "uninformative statement '{}' is empty once case and surrounding '-*=.: ' are ignored: it would "
                    "match {}",
                    raw, prefix ? "every statement" : "nothing");
            entries_.push_back({std::move(key), prefix});
        }
    }
    UninformativeStatements(std::initializer_list<std::string> statements)
        : UninformativeStatements(std::span<const std::string>(statements.begin(), statements.size())) {}

    std::size_t size() const { return entries_.size(); }

    // Whether one statement (a report_i field) is on the list.
    bool matches(std::string_view statement) const {
        if (entries_.empty()) return false;
        const std::string key = statement_key(statement);
        for (const Entry& e : entries_) {
            if (key == e.key) return true;
            if (e.prefix && key.size() > e.key.size() && key.starts_with(e.key)) {
                const unsigned char next = static_cast<unsigned char>(key[e.key.size()]);
                const bool word_char = (next >= 'a' && next <= 'z') || (next >= '0' && next <= '9') || next >= 0x80;
                if (!word_char) return true;
            }
        }
        return false;
    }

    // Whether a report is uninformative: it has a statement and every statement (non-missing field) is on the list.
    bool uninformative(std::span<const std::string_view> fields) const {
        bool any = false;
        for (std::string_view f : fields) {
            if (is_missing_report_field(f)) continue;
            if (!matches(f)) return false;
            any = true;
        }
        return any;
    }

private:
    struct Entry {
        std::string key;
        bool prefix = false;
    };
    std::vector<Entry> entries_;
};

enum class ReportVerdict { kept, empty, short_report, uninformative };

// The issue kind a loader counts a dropped report under ("kept" for a kept one).
inline std::string_view to_string(ReportVerdict v) {
    switch (v) {
        case ReportVerdict::kept:
            return "kept";
        case ReportVerdict::empty:
            return "empty report";
        case ReportVerdict::short_report:
            return "short report";
        case ReportVerdict::uninformative:
            return "uninformative report";
    }
    return "?";
}

// The rule over one report: its fields (report_0..report_17) and clean_mimic_report of them. The first rule that
// drops it names the verdict: empty (0 words, with min_words >= 1), short (fewer than min_words), uninformative.
inline ReportVerdict judge_report(std::span<const std::string_view> fields, const CleanedReport& cleaned,
                                  const ReportRule& rule, const UninformativeStatements& uninformative) {
    if (cleaned.words < rule.min_words) return cleaned.words == 0 ? ReportVerdict::empty : ReportVerdict::short_report;
    if (rule.drop_uninformative && uninformative.uninformative(fields)) return ReportVerdict::uninformative;
    return ReportVerdict::kept;
}

}  // namespace fgclep::data
