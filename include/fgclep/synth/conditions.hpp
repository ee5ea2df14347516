#pragma once
// The conditions the ECG simulator can produce and the waveform features that define them.
//
// A condition is a diagnosis a machine ECG statement names ("atrial fibrillation"); a waveform feature is what a
// reader measures on the tracing ("absent p waves", "prolonged pr interval"). FG-CLEP's stage 2 recovers the
// features that reports leave out, so the simulator records both for every record: the ground truth that lets
// the tests and the main job measure whether fine-grained alignment works.
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace fgclep::synth {

enum class Condition : std::uint8_t {
    sinus_rhythm,                     // normal sinus rhythm, 60-100 bpm
    sinus_bradycardia,                // < 60 bpm
    sinus_tachycardia,                // > 100 bpm
    atrial_fibrillation,              // irregular RR, no P waves, fibrillatory baseline
    atrial_flutter,                   // sawtooth flutter waves ~300/min, regular ventricular response
    first_degree_av_block,            // PR > 200 ms
    right_bundle_branch_block,        // QRS >= 120 ms, rsR' in V1, wide S in I/V6
    left_bundle_branch_block,         // QRS >= 120 ms, broad notched R in I/aVL/V5-V6, no septal q
    left_ventricular_hypertrophy,     // voltage criteria (Sokolow-Lyon S(V1) + R(V5/V6) > 3.5 mV), strain
    low_qrs_voltage,                  // QRS amplitude < 0.5 mV in all limb leads
    inferior_infarction,              // ST elevation and pathological Q waves in II, III, aVF
    anterior_infarction,              // ST elevation and pathological Q waves in V1-V4
    ischemia,                         // ST depression and T-wave inversion
    long_qt,                          // QTc > 460 ms
    premature_ventricular_complexes,  // wide early beats without P waves
    left_axis_deviation,              // QRS axis < -30 degrees
};
inline constexpr std::size_t condition_count = 16;

enum class Feature : std::uint8_t {
    heart_rate_below_60,
    heart_rate_above_100,
    irregularly_irregular_rhythm,
    absent_p_waves,
    fibrillatory_waves,
    flutter_waves,
    prolonged_pr_interval,
    wide_qrs_complex,
    rsr_prime_in_v1,
    broad_notched_r_in_v6,
    high_qrs_voltage,
    low_qrs_voltage,
    st_elevation_inferior,
    q_waves_inferior,
    st_elevation_anterior,
    q_waves_anterior,
    st_depression,
    t_wave_inversion,
    prolonged_qt_interval,
    premature_ventricular_beats,
    left_axis_deviation,
};
inline constexpr std::size_t feature_count = 21;

// Report wording: the diagnosis statement a machine report uses, and the feature phrase a cardiologist would
// write (lower case, as the cleaned MIMIC-IV-ECG reports are).
inline constexpr std::array<std::string_view, condition_count> condition_statements = {
    "sinus rhythm",
    "sinus bradycardia",
    "sinus tachycardia",
    "atrial fibrillation",
    "atrial flutter",
    "1st degree av block",
    "right bundle branch block",
    "left bundle branch block",
    "left ventricular hypertrophy",
    "low qrs voltages",
    "inferior infarct",
    "anterior infarct",
    "st-t changes suggestive of ischemia",
    "prolonged qt interval",
    "ventricular premature complexes",
    "left axis deviation"};

inline constexpr std::array<std::string_view, feature_count> feature_phrases = {
    "heart rate below 60 bpm",
    "heart rate above 100 bpm",
    "irregularly irregular rr intervals",
    "absent p waves",
    "fibrillatory waves",
    "sawtooth flutter waves",
    "prolonged pr interval",
    "wide qrs complex",
    "rsr' pattern in v1",
    "broad notched r wave in v6",
    "high qrs voltage",
    "low qrs voltage",
    "st elevation in ii, iii and avf",
    "pathological q waves in ii, iii and avf",
    "st elevation in v1-v4",
    "pathological q waves in v1-v4",
    "st depression",
    "t wave inversion",
    "prolonged qt interval",
    "premature wide qrs complexes",
    "qrs axis below -30 degrees"};

inline std::string_view statement(Condition c) { return condition_statements[static_cast<std::size_t>(c)]; }
inline std::string_view phrase(Feature f) { return feature_phrases[static_cast<std::size_t>(f)]; }

// The features that define a condition (what the simulator puts in the waveform and a reader would measure).
inline std::vector<Feature> defining_features(Condition c) {
    using F = Feature;
    switch (c) {
        case Condition::sinus_rhythm:
            return {};
        case Condition::sinus_bradycardia:
            return {F::heart_rate_below_60};
        case Condition::sinus_tachycardia:
            return {F::heart_rate_above_100};
        case Condition::atrial_fibrillation:
            return {F::irregularly_irregular_rhythm, F::absent_p_waves, F::fibrillatory_waves};
        case Condition::atrial_flutter:
            return {F::flutter_waves, F::absent_p_waves};
        case Condition::first_degree_av_block:
            return {F::prolonged_pr_interval};
        case Condition::right_bundle_branch_block:
            return {F::wide_qrs_complex, F::rsr_prime_in_v1};
        case Condition::left_bundle_branch_block:
            return {F::wide_qrs_complex, F::broad_notched_r_in_v6};
        case Condition::left_ventricular_hypertrophy:
            return {F::high_qrs_voltage};
        case Condition::low_qrs_voltage:
            return {F::low_qrs_voltage};
        case Condition::inferior_infarction:
            return {F::st_elevation_inferior, F::q_waves_inferior};
        case Condition::anterior_infarction:
            return {F::st_elevation_anterior, F::q_waves_anterior};
        case Condition::ischemia:
            return {F::st_depression, F::t_wave_inversion};
        case Condition::long_qt:
            return {F::prolonged_qt_interval};
        case Condition::premature_ventricular_complexes:
            return {F::premature_ventricular_beats};
        case Condition::left_axis_deviation:
            return {F::left_axis_deviation};
    }
    return {};
}

}  // namespace fgclep::synth
