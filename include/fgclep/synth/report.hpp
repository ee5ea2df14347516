#pragma once
// Machine ECG reports in the style of MIMIC-IV-ECG's machine_measurements.csv: up to 18 statements
// (report_0..report_17), capitalised as the cart writes them, BEFORE the cleaning that the loader applies
// (fgclep::data::clean_mimic_report lower-cases them and joins them with ". ").
//
//   MachineReport r = make_report(conditions, features, heart_rate_bpm, seed);
//   r.fields;          // {"Sinus rhythm", "Prolonged PR interval", "", "Borderline ECG"}  (a gap, as MIMIC has)
//   r.states_features; // whether the waveform-feature statements ("Prolonged PR interval") were written
//   cleaned_report(r).text;  // "sinus rhythm. 1st degree av block. prolonged pr interval. borderline ecg."
//
// What a report holds, in this order: the rhythm, then the other diagnoses (one statement per condition, a
// phrasing drawn from condition_phrasings), then, for a share 1 - omit_features of the records, one statement per
// waveform feature (feature_statement: the phrase(Feature) wording, capitalised), then the summary ("Normal ECG",
// "Borderline ECG" or "Abnormal ECG"). MIMIC-IV-ECG's machine reports state diagnoses and mostly leave out what
// was measured; about 55% of its reports carry no measurement statement, which is the default here.
//
// Every cleaned report has at least 4 words (a rhythm statement of >= 2 words and a 2-word summary), so the
// loader (min_words 4) keeps every record. Deterministic: the same inputs and seed give the same fields.
#include "fgclep/core/error.hpp"
#include "fgclep/core/rng.hpp"
#include "fgclep/data/report_cleaning.hpp"
#include "fgclep/synth/conditions.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fgclep::synth {

struct ReportOptions {
    double omit_features = 0.55;   // share of reports without waveform-feature statements, in [0, 1]
    double gap_probability = 0.3;  // chance of an empty field before the summary (MIMIC rows have such gaps)
};

struct MachineReport {
    std::vector<std::string> fields;  // report_0.. in order; at most 18; "" is an empty field
    bool states_features = false;     // the feature statements were written (the record may still have none)
};

inline constexpr std::size_t max_report_fields = 18;

// The ways a machine states each condition, capitalised as in MIMIC-IV-ECG. The first one lower-cased is
// statement(c); the others are variants a cart also writes.
inline std::vector<std::string_view> condition_phrasings(Condition c) {
    switch (c) {
        case Condition::sinus_rhythm:
            return {"Sinus rhythm", "Normal sinus rhythm"};
        case Condition::sinus_bradycardia:
            return {"Sinus bradycardia", "Marked sinus bradycardia"};
        case Condition::sinus_tachycardia:
            return {"Sinus tachycardia"};
        case Condition::atrial_fibrillation:
            return {"Atrial fibrillation", "Atrial fibrillation with rapid ventricular response",
                    "Atrial fibrillation with slow ventricular response"};
        case Condition::atrial_flutter:
            return {"Atrial flutter", "Probable atrial flutter", "Atrial flutter with variable block"};
        case Condition::first_degree_av_block:
            return {"1st degree AV block", "1st degree A-V block", "Prolonged PR interval"};
        case Condition::right_bundle_branch_block:
            return {"Right bundle branch block", "RBBB"};
        case Condition::left_bundle_branch_block:
            return {"Left bundle branch block", "LBBB"};
        case Condition::left_ventricular_hypertrophy:
            return {"Left ventricular hypertrophy", "Left ventricular hypertrophy with repolarization abnormality",
                    "Voltage criteria for left ventricular hypertrophy",
                    "LVH with secondary repolarization abnormality"};
        case Condition::low_qrs_voltage:
            return {"Low QRS voltages", "Low QRS voltages in limb leads", "Low voltage QRS"};
        case Condition::inferior_infarction:
            return {"Inferior infarct", "Inferior infarct - age undetermined", "Inferior infarct, possibly acute",
                    "Acute inferior myocardial infarction"};
        case Condition::anterior_infarction:
            return {"Anterior infarct", "Anterior infarct - age undetermined", "Anteroseptal infarct, possibly acute",
                    "Acute anterior myocardial infarction"};
        case Condition::ischemia:
            return {"ST-T changes suggestive of ischemia", "Lateral ST-T changes are probably due to ischemia",
                    "Diffuse ST depression - consider ischemia",
                    "Inferolateral ST-T changes may be due to myocardial ischemia"};
        case Condition::long_qt:
            return {"Prolonged QT interval", "Long QT interval", "Prolonged QT"};
        case Condition::premature_ventricular_complexes:
            return {"Ventricular premature complexes", "Occasional ventricular premature complexes",
                    "Multiple ventricular premature complexes", "Premature ventricular contractions"};
        case Condition::left_axis_deviation:
            return {"Left axis deviation", "Leftward axis"};
    }
    return {};
}

// phrase(f) as a machine writes it: lead names and abbreviations in capitals. Lower-cased it is phrase(f)
// exactly, so a cleaned report contains the feature phrase as one whole sentence.
inline constexpr std::array<std::string_view, feature_count> feature_statements = {
    "Heart rate below 60 bpm",
    "Heart rate above 100 bpm",
    "Irregularly irregular RR intervals",
    "Absent P waves",
    "Fibrillatory waves",
    "Sawtooth flutter waves",
    "Prolonged PR interval",
    "Wide QRS complex",
    "RSR' pattern in V1",
    "Broad notched R wave in V6",
    "High QRS voltage",
    "Low QRS voltage",
    "ST elevation in II, III and aVF",
    "Pathological Q waves in II, III and aVF",
    "ST elevation in V1-V4",
    "Pathological Q waves in V1-V4",
    "ST depression",
    "T wave inversion",
    "Prolonged QT interval",
    "Premature wide QRS complexes",
    "QRS axis below -30 degrees"};

inline std::string_view feature_statement(Feature f) { return feature_statements[static_cast<std::size_t>(f)]; }

enum class Summary { normal, borderline, abnormal };

inline std::string_view summary_statement(Summary s) {
    switch (s) {
        case Summary::normal:
            return "Normal ECG";
        case Summary::borderline:
            return "Borderline ECG";
        case Summary::abnormal:
            return "Abnormal ECG";
    }
    return "Abnormal ECG";
}

// Normal: sinus rhythm alone. Borderline: only minor findings (rate, 1st degree block, axis, low voltage, PVCs).
// Abnormal: anything structural or arrhythmic (AF, flutter, bundle branch block, LVH, infarct, ischemia, long QT).
inline Summary summarize(std::span<const Condition> conditions) {
    bool minor = false, major = false;
    for (Condition c : conditions) {
        switch (c) {
            case Condition::sinus_rhythm:
                break;
            case Condition::sinus_bradycardia:
            case Condition::sinus_tachycardia:
            case Condition::first_degree_av_block:
            case Condition::low_qrs_voltage:
            case Condition::premature_ventricular_complexes:
            case Condition::left_axis_deviation:
                minor = true;
                break;
            default:
                major = true;
                break;
        }
    }
    if (conditions.empty() || major) return Summary::abnormal;
    return minor ? Summary::borderline : Summary::normal;
}

namespace report_detail {

inline bool is_rhythm(Condition c) {
    return c == Condition::sinus_rhythm || c == Condition::sinus_bradycardia || c == Condition::sinus_tachycardia ||
           c == Condition::atrial_fibrillation || c == Condition::atrial_flutter;
}

// The phrasing for one condition: heart rate decides the AF qualifiers, the rest is drawn.
inline std::string_view pick_phrasing(Condition c, double heart_rate_bpm, HostRng& rng) {
    const auto options = condition_phrasings(c);
    if (c == Condition::atrial_fibrillation) {
        if (heart_rate_bpm > 100) return options[1];
        if (heart_rate_bpm > 0 && heart_rate_bpm < 60) return options[2];
        return options[0];
    }
    if (c == Condition::sinus_bradycardia) return heart_rate_bpm > 0 && heart_rate_bpm < 45 ? options[1] : options[0];
    if (c == Condition::sinus_rhythm) return options[rng.uniform() < 0.15 ? 1 : 0];
    // The plain statement half of the time, otherwise one of the variants.
    if (options.size() == 1 || rng.uniform() < 0.5) return options[0];
    const auto k = 1 + static_cast<std::size_t>(rng.uniform() * static_cast<double>(options.size() - 1));
    return options[std::min(k, options.size() - 1)];
}

}  // namespace report_detail

// The report of one record from its conditions (any order; written rhythm first, then in enum order), its
// waveform features and heart rate. `seed` decides phrasings, the feature omission and the gap.
inline MachineReport make_report(std::span<const Condition> conditions, std::span<const Feature> features,
                                 double heart_rate_bpm, std::uint64_t seed, const ReportOptions& options = {}) {
    if (!(options.omit_features >= 0 && options.omit_features <= 1))
        fail("make_report: omit_features must be in [0, 1], got {}", options.omit_features);
    HostRng rng(seed ^ 0x5265706F72745F31ull);  // "Report_1": independent of other users of the same seed
    MachineReport out;
    // Drawn first, so the omission does not depend on how many phrasings were drawn before it.
    out.states_features = !(rng.uniform() < options.omit_features);
    const bool gap = rng.uniform() < options.gap_probability;

    std::vector<Condition> ordered(conditions.begin(), conditions.end());
    std::sort(ordered.begin(), ordered.end());
    ordered.erase(std::unique(ordered.begin(), ordered.end()), ordered.end());
    std::stable_partition(ordered.begin(), ordered.end(), report_detail::is_rhythm);

    std::vector<std::string> statements;
    if (ordered.empty() || !report_detail::is_rhythm(ordered.front())) statements.emplace_back("Rhythm undetermined");
    for (Condition c : ordered) statements.emplace_back(report_detail::pick_phrasing(c, heart_rate_bpm, rng));
    if (out.states_features) {
        std::vector<Feature> fs(features.begin(), features.end());
        std::sort(fs.begin(), fs.end());
        fs.erase(std::unique(fs.begin(), fs.end()), fs.end());
        for (Feature f : fs) {
            // "Prolonged PR interval" may already be the diagnosis statement: a machine does not repeat it.
            const std::string_view text = feature_statement(f);
            if (std::find(statements.begin(), statements.end(), text) == statements.end())
                statements.emplace_back(text);
        }
    }
    // 18 fields at most: overflowing statements share the second-to-last field (". " joins them, as cleaning does).
    if (statements.size() > max_report_fields - 1) {
        std::string merged;
        for (std::size_t i = max_report_fields - 2; i < statements.size(); ++i)
            merged += (merged.empty() ? "" : ". ") + statements[i];
        statements.resize(max_report_fields - 2);
        statements.push_back(std::move(merged));
    }
    out.fields = std::move(statements);
    if (gap && out.fields.size() + 2 <= max_report_fields) out.fields.emplace_back();
    out.fields.emplace_back(summary_statement(summarize(conditions)));
    return out;
}

// The report as the MIMIC-IV-ECG loader reads it.
inline data::CleanedReport cleaned_report(const MachineReport& report) {
    std::vector<std::string_view> views(report.fields.begin(), report.fields.end());
    return data::clean_mimic_report(std::span<const std::string_view>(views));
}

}  // namespace fgclep::synth
