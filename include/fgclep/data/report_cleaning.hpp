#pragma once
// MIMIC-IV-ECG report cleaning as the benchmark's pre-training data was made (method.md §5; MERL's
// `process_report`): the statements report_0..report_17 joined, "EKG" -> "ECG", ends stripped, lower-cased, words
// counted, "." appended. The steps run in the reference's order, quirks included, because the order changes the
// result; a report is kept when it has at least min_words words (4 in the reference).
//
//   std::array<std::string_view, 3> fields{"Sinus rhythm", "Possible right atrial abnormality", "Borderline ECG"};
//   CleanedReport r = clean_mimic_report(fields); // "sinus rhythm. possible right atrial abnormality. borderline ecg."
//
// Each step exactly: docs/datasets.md.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

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

}  // namespace fgclep::data
