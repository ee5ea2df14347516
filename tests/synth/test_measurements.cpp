// measure_ecg against known answers: records built from piecewise-linear P, QRS, ST and T waves placed at known
// times (so onsets and ends are exact), clean and with the simulator's default noise levels.
#include <doctest/doctest.h>

#include "fgclep/synth/measurements.hpp"

#include <fmt/format.h>

#include <cmath>
#include <numbers>
#include <random>
#include <string>
#include <vector>

using namespace fgclep;
using namespace fgclep::synth;

namespace {

struct Knot {
    double t_ms, mv;
};
using Wave = std::vector<Knot>;  // piecewise linear, 0 outside its first and last knot

double wave_at(const Wave& w, double t_ms) {
    if (w.empty() || t_ms <= w.front().t_ms || t_ms >= w.back().t_ms) return 0;
    for (std::size_t i = 1; i < w.size(); ++i)
        if (t_ms <= w[i].t_ms) {
            const double f = (t_ms - w[i - 1].t_ms) / (w[i].t_ms - w[i - 1].t_ms);
            return w[i - 1].mv + f * (w[i].mv - w[i - 1].mv);
        }
    return 0;
}

Wave scaled(const Wave& w, double s) {
    Wave out = w;
    for (auto& k : out) k.mv *= s;
    return out;
}

// The reference beat, times relative to R: P -210..-110 (peak -160), QRS -50..+50, T 150..380 (peak 300).
// Hence PR 160 ms, QRS 100 ms, QT 430 ms; the tangent at the straight falling limb of T meets 0 at 380 ms.
struct BeatShape {
    Wave p = {{-210, 0}, {-160, 0.15}, {-110, 0}};
    Wave qrs = {{-50, 0}, {-38, -0.15}, {-5, 1.2}, {25, -0.35}, {50, 0}};
    Wave t = {{150, 0}, {300, 0.35}, {380, 0}};
    double st_mv = 0;  // added from J (50 ms) to the start of T, ramping into it
};

struct LeadSpec {
    double p = 1, qrs = 1, t = 1, st = 0;
    Wave qrs_override{};  // a lead-specific QRS (Q waves)
};

struct Synthetic {
    std::vector<double> beats_s;                 // R times
    std::vector<bool> wide;                      // per beat: an ectopic wide QRS without P
    std::array<LeadSpec, lead_count> lead_spec;  // indexed by Lead (MIMIC-IV-ECG order)
    BeatShape shape;
    bool with_p = true;
    double f_wave_mv = 0;   // 6 Hz fibrillatory baseline
    double flutter_mv = 0;  // 5 Hz sawtooth (300/min), phase-locked to regular beats 4 cycles apart
    bool noise = false;
    double seconds = 10, fs = 500;
    std::uint64_t seed = 1;
};

// Wide ectopic beat: QRS -70..+90 (160 ms), discordant T.
const Wave wide_qrs = {{-70, 0}, {-10, 1.4}, {40, -0.6}, {90, 0}};
const Wave wide_t = {{160, 0}, {280, -0.4}, {380, 0}};

data::EcgRecord make_record(const Synthetic& s) {
    const auto n = static_cast<std::int64_t>(s.seconds * s.fs);
    data::EcgRecord r;
    r.name = "synthetic";
    r.fs = s.fs;
    r.length = n;
    std::mt19937_64 rng(s.seed);
    std::normal_distribution<double> gauss(0, 1);
    std::uniform_real_distribution<double> phase(0, 2 * std::numbers::pi);
    const double wander_phase = phase(rng), mains_phase = phase(rng), f_phase = phase(rng);
    for (std::size_t l = 0; l < lead_count; ++l) {
        const LeadSpec& spec = s.lead_spec[l];
        r.leads.emplace_back(lead_names[l]);
        r.units.emplace_back("mV");
        for (std::int64_t i = 0; i < n; ++i) {
            const double t_s = static_cast<double>(i) / s.fs;
            double v = 0;
            for (std::size_t b = 0; b < s.beats_s.size(); ++b) {
                const double rel = (t_s - s.beats_s[b]) * 1000;
                if (rel < -400 || rel > 600) continue;
                if (!s.wide.empty() && s.wide[b]) {
                    v += wave_at(scaled(wide_qrs, spec.qrs), rel) + wave_at(scaled(wide_t, spec.t), rel);
                    continue;
                }
                if (s.with_p) v += spec.p * wave_at(s.shape.p, rel);
                v += wave_at(spec.qrs_override.empty() ? scaled(s.shape.qrs, spec.qrs) : spec.qrs_override, rel);
                v += spec.t * wave_at(s.shape.t, rel);
                const double st = spec.st + s.shape.st_mv;  // plateau J..T start, fading over the T wave
                if (rel >= 50 && rel < 150)
                    v += st;
                else if (rel >= 150 && rel < 300)
                    v += st * (300 - rel) / 150;
            }
            v += s.f_wave_mv * std::sin(2 * std::numbers::pi * 6 * t_s + f_phase + 0.3 * std::sin(1.1 * t_s)) *
                 (l == 6 ? 1.0 : 0.5);
            if (s.flutter_mv > 0) {  // slow descent over 160 ms, fast rise over 40 ms
                const double phase_s = std::fmod(t_s + 10, 0.2);
                v += s.flutter_mv * (phase_s < 0.16 ? 0.5 - phase_s / 0.16 : -0.5 + (phase_s - 0.16) / 0.04);
            }
            if (s.noise) {
                v += 0.05 * std::numbers::sqrt2 * std::sin(2 * std::numbers::pi * 0.3 * t_s + wander_phase + 0.7 * l);
                v += 0.01 * std::numbers::sqrt2 * std::sin(2 * std::numbers::pi * 50 * t_s + mains_phase);
                v += 0.01 * gauss(rng);
            }
            r.samples.push_back(v);
        }
    }
    return r;
}

std::vector<double> regular_beats(double rr_s, double first_s = 0.6, double seconds = 10) {
    std::vector<double> b;
    for (double t = first_s; t < seconds - 0.1; t += rr_s) b.push_back(t);
    return b;
}

// Limb leads with I = 1, aVF = -1 (axis -49 degrees), rS in V1 and chest leads with growing R.
Synthetic reference(bool noise) {
    Synthetic s;
    s.beats_s = regular_beats(1.0);
    s.noise = noise;
    const std::array<double, lead_count> qrs = {1.0, 0.3, -0.7, -0.65, -0.2, 0.85, -0.4, 0.3, 0.6, 0.9, 1.1, 0.9};
    for (std::size_t l = 0; l < lead_count; ++l) s.lead_spec[l] = {1, qrs[l], 1, 0, {}};
    s.lead_spec[static_cast<std::size_t>(Lead::aVF)].qrs = -1.0;
    s.lead_spec[static_cast<std::size_t>(Lead::V1)].qrs_override = {{-50, 0}, {-35, 0.15}, {-5, -0.9}, {40, 0}};
    return s;
}

}  // namespace

TEST_CASE("measure_ecg recovers the intervals of a known beat, clean and with default noise") {
    for (bool noise : {false, true}) {
        CAPTURE(noise);
        const auto m = measure_ecg(make_record(reference(noise)));
        MESSAGE(
            fmt::format("known beat, noise {}: PR {} (160) QRS {} (100) QT {} (430) P onset {} (-205) QRS onset {} "
                        "(-45) T end {} (385) axis {:.1f} (-49.1) SL {:.3f} (2.22) S(V1) {:.3f} (0.9) R(V5) {:.3f} "
                        "(1.32) ST(II) {:.3f} (0)",
                        noise, m.pr_ms, m.qrs_ms, m.qt_ms, m.p_onset_ms, m.qrs_onset_ms, m.t_end_ms, m.qrs_axis_deg,
                        m.sokolow_lyon_mv, m.lead(Lead::V1).s_amplitude_mv, m.lead(Lead::V5).r_amplitude_mv,
                        m.lead(Lead::II).st_deviation_mv));
        CHECK(m.r_peaks.size() == 10);
        CHECK(m.heart_rate_bpm == doctest::Approx(60).epsilon(0.01));
        CHECK(m.rr_cv < 0.01);
        CHECK(m.premature_beats == 0);
        CHECK(m.p_wave_present == doctest::Approx(1.0));
        CHECK(std::abs(m.pr_ms - 160) <= 8);
        CHECK(std::abs(m.qrs_ms - 100) <= 8);
        CHECK(std::abs(m.qt_ms - 430) <= 10);
        CHECK(std::abs(m.qtc_ms - m.qt_ms) <= 5);  // RR = 1 s
        // Fiducials are relative to the measured R, the QRS's largest spatial magnitude (the R knot at -5 ms).
        CHECK(std::abs(m.qrs_onset_ms - -45) <= 5);
        CHECK(std::abs(m.t_end_ms - 385) <= 10);
        CHECK(std::abs(m.p_onset_ms - -205) <= 8);
        // R sits at the QRS's largest spatial magnitude: its peak at -5 ms.
        for (auto r : m.r_peaks) CHECK(std::abs(static_cast<double>(r % 500) - (300 - 2.5)) <= 5);
        // aVF = (sqrt(3) / 2) E sin(axis): I = 1 and aVF = -1 is the hexaxial angle atan2(-2 / sqrt(3), 1).
        CHECK(std::abs(m.qrs_axis_deg - std::atan2(-2 / std::sqrt(3.0), 1.0) * 180 / std::numbers::pi) <= 3);
        // The apexes of these triangles are sharper than any real R: filtering takes ~5% off them.
        CHECK(std::abs(m.lead(Lead::V5).r_amplitude_mv - 1.2 * 1.1) <= 0.08);
        CHECK(std::abs(m.lead(Lead::V1).s_amplitude_mv - 0.9) <= 0.05);
        CHECK(std::abs(m.sokolow_lyon_mv - (0.9 + 1.2 * 1.1)) <= 0.12);
        CHECK(std::abs(m.limb_qrs_max_pp_mv - 1.55) <= 0.1);
        CHECK(std::abs(m.lead(Lead::II).t_amplitude_mv - 0.35) <= 0.02);
        CHECK(std::abs(m.lead(Lead::II).st_deviation_mv) < 0.03);
        CHECK(m.baseline_irregularity_mv < 0.02);
    }
}

TEST_CASE("measure_ecg finds ST elevation, pathological Q waves and inverted T in the leads that have them") {
    for (bool noise : {false, true}) {
        CAPTURE(noise);
        Synthetic s = reference(noise);
        for (Lead l : {Lead::II, Lead::III, Lead::aVF}) {
            auto& spec = s.lead_spec[static_cast<std::size_t>(l)];
            spec.st = 0.2;
            spec.qrs_override = {{-50, 0}, {-30, -0.4}, {-5, 0}, {15, 0.5}, {50, 0}};  // Q of 45 ms, 0.4 mV
        }
        for (Lead l : {Lead::V5, Lead::V6}) {
            auto& spec = s.lead_spec[static_cast<std::size_t>(l)];
            spec.st = -0.15;
            spec.t = -1;
        }
        const auto m = measure_ecg(make_record(s));
        for (Lead l : {Lead::II, Lead::III, Lead::aVF}) {
            CAPTURE(lead_names[static_cast<std::size_t>(l)]);
            CHECK(std::abs(m.lead(l).st_deviation_mv - 0.2) <= 0.02);
            CHECK(std::abs(m.lead(l).q_duration_ms - 45) <= 8);
            CHECK(std::abs(m.lead(l).q_depth_mv - 0.4) <= 0.03);
        }
        for (Lead l : {Lead::V5, Lead::V6}) {
            CHECK(std::abs(m.lead(l).st_deviation_mv - -0.15) <= 0.02);
            CHECK(m.lead(l).t_amplitude_mv < -0.2);
        }
        CHECK(m.lead(Lead::I).q_duration_ms < 25);  // the reference beat's small septal q (16 ms)
        CHECK(std::abs(m.lead(Lead::I).st_deviation_mv) < 0.03);
    }
}

TEST_CASE("measure_ecg measures wide QRS, long PR and long QT") {
    Synthetic s = reference(true);
    s.shape.p = {{-330, 0}, {-280, 0.15}, {-230, 0}};                         // PR 255 ms
    s.shape.qrs = {{-75, 0}, {-60, -0.15}, {-10, 1.2}, {30, -0.5}, {75, 0}};  // QRS 150 ms
    s.shape.t = {{250, 0}, {420, 0.3}, {510, 0}};                             // QT 585 ms
    const auto m = measure_ecg(make_record(s));
    INFO("onset ", m.qrs_onset_ms, " offset ", m.qrs_offset_ms, " t end ", m.t_end_ms, " p onset ", m.p_onset_ms);
    CHECK(std::abs(m.pr_ms - 255) <= 10);
    CHECK(std::abs(m.qrs_ms - 150) <= 10);
    CHECK(std::abs(m.qt_ms - 585) <= 12);
    CHECK(m.qtc_ms > 460);
}

TEST_CASE("measure_ecg reports the rate of slow and fast rhythms") {
    for (double rr : {1.35, 0.5}) {
        CAPTURE(rr);
        Synthetic s = reference(true);
        s.beats_s = regular_beats(rr, 0.45);
        if (rr < 0.6) s.shape.t = {{120, 0}, {200, 0.3}, {260, 0}};  // QT shortens with rate
        const auto m = measure_ecg(make_record(s));
        CHECK(m.heart_rate_bpm == doctest::Approx(60 / rr).epsilon(0.02));
        CHECK(m.r_peaks.size() == s.beats_s.size());
        CHECK(std::abs(m.qrs_ms - 100) <= 10);
        CHECK(std::abs(m.pr_ms - 160) <= 10);
        if (rr < 0.6) CHECK(std::abs(m.qt_ms - 310) <= 12);
    }
}

TEST_CASE("measure_ecg: irregular rhythm without P waves and with a fibrillatory baseline") {
    Synthetic s = reference(true);
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> rr(0.45, 1.1);
    s.beats_s.clear();
    for (double t = 0.5; t < 9.8; t += rr(rng)) s.beats_s.push_back(t);
    s.with_p = false;
    s.f_wave_mv = 0.08;
    const auto m = measure_ecg(make_record(s));
    CHECK(m.r_peaks.size() == s.beats_s.size());
    CHECK(m.rr_cv > 0.15);
    CHECK(m.p_wave_present < 0.5);
    CHECK(std::isnan(m.pr_ms));
    CHECK(std::abs(m.qrs_ms - 100) <= 10);
    CHECK(m.premature_beats == 0);  // early beats, but with the dominant QRS
    const auto sinus = measure_ecg(make_record(reference(true)));
    CHECK(m.baseline_irregularity_mv > 2 * sinus.baseline_irregularity_mv);
    CHECK(m.baseline_irregularity_mv > 0.03);
}

TEST_CASE("measure_ecg: flutter waves locked to a regular rhythm are not taken for P waves") {
    Synthetic s = reference(true);
    s.beats_s = regular_beats(0.8, 0.55);  // 4:1 conduction of a 200 ms atrial cycle
    s.with_p = false;
    s.flutter_mv = 0.2;
    const auto m = measure_ecg(make_record(s));
    CHECK(m.rr_cv < 0.01);
    CHECK(m.flattest_pre_qrs_mv > 0.025);
    CHECK(m.p_wave_present == 0);
    CHECK(std::isnan(m.pr_ms));
    CHECK(std::abs(m.qrs_ms - 100) <= 10);
    const auto sinus = measure_ecg(make_record(reference(true)));
    CHECK(sinus.flattest_pre_qrs_mv < 0.01);
}

TEST_CASE("measure_ecg counts wide premature beats and keeps them out of the median beat") {
    Synthetic s = reference(true);
    s.beats_s = {0.6, 1.6, 2.6, 3.2, 4.6, 5.6, 6.6, 7.2, 8.6, 9.6};  // 3.2 and 7.2 come 40% early
    s.wide.assign(s.beats_s.size(), false);
    s.wide[3] = s.wide[7] = true;
    const auto m = measure_ecg(make_record(s));
    CHECK(m.r_peaks.size() == 10);
    CHECK(m.premature_beats == 2);
    REQUIRE(m.premature.size() == 10);
    CHECK(m.premature[3]);
    CHECK(m.premature[7]);
    CHECK(m.beats_in_median == 8);
    CHECK(std::abs(m.qrs_ms - 100) <= 8);
    CHECK(std::abs(m.pr_ms - 160) <= 8);
    CHECK(m.p_wave_present == doctest::Approx(0.8).epsilon(0.15));
}

TEST_CASE("measure_ecg finds leads by name in any order and case, and names a missing lead") {
    const auto record = make_record(reference(false));
    data::EcgRecord shuffled = record;
    shuffled.leads.clear();
    shuffled.samples.clear();
    const std::vector<std::size_t> order = {11, 0, 5, 3, 1, 2, 4, 6, 8, 7, 10, 9};
    for (auto c : order) {
        std::string name(lead_names[c]);
        for (char& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        shuffled.leads.push_back(name);
        auto ch = record.channel(static_cast<std::int64_t>(c));
        shuffled.samples.insert(shuffled.samples.end(), ch.begin(), ch.end());
    }
    const auto a = measure_ecg(record), b = measure_ecg(shuffled);
    CHECK(a.qrs_ms == b.qrs_ms);
    CHECK(a.qt_ms == b.qt_ms);
    CHECK(a.qrs_axis_deg == doctest::Approx(b.qrs_axis_deg));
    CHECK(a.lead(Lead::aVF).r_amplitude_mv == doctest::Approx(b.lead(Lead::aVF).r_amplitude_mv));

    data::EcgRecord flat = record;  // no beats: nothing measured, nothing made up
    std::fill(flat.samples.begin(), flat.samples.end(), 0.0);
    const auto none = measure_ecg(flat);
    CHECK(none.r_peaks.empty());
    CHECK(std::isnan(none.heart_rate_bpm));
    CHECK(std::isnan(none.qrs_ms));

    data::EcgRecord missing = record;
    missing.leads[static_cast<std::size_t>(Lead::V4)] = "X";
    CHECK_THROWS_WITH(measure_ecg(missing), "fgclep: measure_ecg: record 'synthetic' has no lead V4");
    data::EcgRecord short_record = record;
    short_record.length = 500;
    short_record.samples.resize(12 * 500);
    CHECK_THROWS_WITH(measure_ecg(short_record),
                      "fgclep: measure_ecg: record 'synthetic' has 500 samples, at least 2 s are needed");
}
