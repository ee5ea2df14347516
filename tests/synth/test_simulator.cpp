// The 12-lead ECG simulator: record layout, determinism, lead identities, condition rules, and each condition's
// waveform checked directly on noise-free records (rates and RR statistics from the true beat times; PR, QRS,
// QTc from the true fiducials; voltages, axis, Q waves, ST and T measured on the samples). The full delineator
// (measurements.hpp) is tested in test_measurements.
#include "fgclep/synth/simulator.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <vector>

using namespace fgclep::synth;
using C = Condition;

namespace {

SimulatorOptions quiet() {
    SimulatorOptions o;
    o.noise = {0, 0, 50, 0};
    return o;
}

SimulatedEcg quiet_record(std::vector<C> conditions, std::uint64_t seed) { return simulate(conditions, seed, quiet()); }

double at(const SimulatedEcg& s, Lead lead, double seconds) {
    auto index = static_cast<std::int64_t>(std::llround(seconds * s.record.fs));
    index = std::clamp<std::int64_t>(index, 0, s.record.length - 1);
    return s.record.channel(static_cast<std::int64_t>(lead))[static_cast<std::size_t>(index)];
}

// A conducted beat from the middle of the record whose whole cycle lies inside it.
const BeatAnnotation& middle_beat(const SimulatedEcg& s) {
    for (std::size_t k = s.beats.size() / 2; k < s.beats.size(); ++k) {
        const auto& b = s.beats[k];
        if (!b.premature_ventricular && b.qrs_onset > 0.5 && b.t_offset + 0.1 < s.record.length / s.record.fs) return b;
    }
    for (const auto& b : s.beats)
        if (!b.premature_ventricular && b.qrs_onset > 0.4) return b;
    return s.beats.front();
}

struct Qrs {
    double baseline, r, s, peak_to_peak, net_area, q_duration, st_j60, t_peak;
    std::vector<double> wave;  // QRS samples minus baseline
};

// Noise-free measurements of one lead on one beat, relative to the value 10 ms before the QRS onset.
Qrs measure(const SimulatedEcg& s, const BeatAnnotation& b, Lead lead) {
    Qrs m{};
    double dt = 1 / s.record.fs;
    m.baseline = at(s, lead, b.qrs_onset - 0.01);
    for (double t = b.qrs_onset; t <= b.qrs_offset; t += dt) m.wave.push_back(at(s, lead, t) - m.baseline);
    double lo = 0, hi = 0;
    for (double v : m.wave) lo = std::min(lo, v), hi = std::max(hi, v), m.net_area += v * dt;
    m.r = hi, m.s = -lo, m.peak_to_peak = hi - lo;
    std::size_t i = 0;
    while (i < m.wave.size() && (m.wave[i] < 0 || i < 2)) ++i;
    double q = 0;
    for (std::size_t k = 0; k < i; ++k) q = std::min(q, m.wave[k]);
    m.q_duration = q < -0.05 ? static_cast<double>(i) * dt : 0;
    m.st_j60 = at(s, lead, b.qrs_offset + 0.06) - m.baseline;
    double extreme = 0;
    for (double t = b.qrs_offset + 0.04; t <= b.t_offset; t += dt) {
        double v = at(s, lead, t) - m.baseline;
        if (std::abs(v) > std::abs(extreme)) extreme = v;
    }
    m.t_peak = extreme;
    return m;
}

std::vector<double> rr_intervals(const SimulatedEcg& s) {
    std::vector<double> rr;
    for (std::size_t k = 1; k < s.beats.size(); ++k) rr.push_back(s.beats[k].qrs_onset - s.beats[k - 1].qrs_onset);
    return rr;
}

double cv(const std::vector<double>& x) {
    double mean = 0, var = 0;
    for (double v : x) mean += v;
    mean /= x.size();
    for (double v : x) var += (v - mean) * (v - mean);
    return std::sqrt(var / (x.size() - 1)) / mean;
}

double qtc(const SimulatedEcg& s, const BeatAnnotation& b) {
    return (b.t_offset - b.qrs_onset) / std::sqrt(60.0 / s.heart_rate_bpm);
}

double axis(const SimulatedEcg& s, const BeatAnnotation& b) {
    return frontal_axis_degrees(measure(s, b, I).net_area, measure(s, b, aVF).net_area);
}

double sokolow_lyon(const SimulatedEcg& s, const BeatAnnotation& b) {
    return measure(s, b, V1).s + std::max(measure(s, b, V5).r, measure(s, b, V6).r);
}

double limb_max_peak_to_peak(const SimulatedEcg& s, const BeatAnnotation& b) {
    double most = 0;
    for (Lead l : {I, II, III, aVR, aVF, aVL}) most = std::max(most, measure(s, b, l).peak_to_peak);
    return most;
}

constexpr int seeds = 25;

}  // namespace

TEST_CASE("a record has 12 leads in MIMIC-IV-ECG order, in mV, at the requested rate and length") {
    auto s = simulate(std::vector<C>{C::sinus_rhythm}, 1);
    CHECK(s.record.fs == 500);
    CHECK(s.record.length == 5000);
    REQUIRE(s.record.leads ==
            std::vector<std::string>{"I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6"});
    CHECK(s.record.units == std::vector<std::string>(12, "mV"));
    CHECK_NOTHROW(s.record.check());
    for (double v : s.record.samples) REQUIRE(std::isfinite(v));
    CHECK(s.conditions == std::vector<C>{C::sinus_rhythm});
    CHECK(s.features.empty());
    SimulatorOptions o;
    o.fs = 250, o.seconds = 4;
    auto short_record = simulate(std::vector<C>{C::sinus_rhythm}, 1, o);
    CHECK(short_record.record.fs == 250);
    CHECK(short_record.record.length == 1000);
    CHECK(short_record.record.samples.size() == 12000);
}

TEST_CASE("the same seed gives bit-identical records, different seeds differ") {
    for (std::uint64_t seed : {0ull, 7ull, 123456789ull}) {
        auto conditions = sample_conditions(seed);
        auto a = simulate(conditions, seed), b = simulate(conditions, seed);
        REQUIRE(a.record.samples.size() == b.record.samples.size());
        CHECK(std::memcmp(a.record.samples.data(), b.record.samples.data(), a.record.samples.size() * sizeof(double)) ==
              0);
        CHECK(a.heart_rate_bpm == b.heart_rate_bpm);
        auto c = simulate(conditions, seed + 1);
        CHECK(std::memcmp(a.record.samples.data(), c.record.samples.data(), a.record.samples.size() * sizeof(double)) !=
              0);
    }
    CHECK(sample_conditions(5) == sample_conditions(5));
}

TEST_CASE("limb leads obey Einthoven's and Goldberger's identities exactly, noise included") {
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        auto s = simulate(sample_conditions(seed), seed);
        auto i = s.record.channel(I), ii = s.record.channel(II), iii = s.record.channel(III);
        auto avr = s.record.channel(aVR), avf = s.record.channel(aVF), avl = s.record.channel(aVL);
        bool exact = true;
        for (std::size_t t = 0; t < i.size(); ++t)
            exact = exact && iii[t] == ii[t] - i[t] && avr[t] == -(i[t] + ii[t]) / 2 && avl[t] == i[t] - ii[t] / 2 &&
                    avf[t] == ii[t] - i[t] / 2;
        CHECK(exact);
    }
}

TEST_CASE("impossible combinations are rejected with a message naming them") {
    auto message = [](std::vector<C> conditions) {
        try {
            simulate(conditions, 1);
        } catch (const fgclep::Error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(message({C::sinus_rhythm, C::right_bundle_branch_block, C::left_bundle_branch_block}) ==
          "fgclep: simulate: 'right bundle branch block' and 'left bundle branch block' cannot occur in one record");
    CHECK(message({C::sinus_rhythm, C::atrial_fibrillation}) ==
          "fgclep: simulate: 'sinus rhythm' and 'atrial fibrillation' cannot occur in one record");
    CHECK(message({C::atrial_fibrillation, C::first_degree_av_block}).find("'1st degree av block'") !=
          std::string::npos);
    CHECK(message({C::sinus_rhythm, C::left_ventricular_hypertrophy, C::low_qrs_voltage}).find("cannot occur") !=
          std::string::npos);
    CHECK(message({C::left_bundle_branch_block}).find("name no rhythm") != std::string::npos);
    CHECK(message({}).find("name no rhythm") != std::string::npos);
    CHECK_FALSE(compatible(C::sinus_bradycardia, C::sinus_tachycardia));
    CHECK(compatible(C::atrial_fibrillation, C::premature_ventricular_complexes));
    CHECK(compatible(C::sinus_rhythm, C::first_degree_av_block));
    // Duplicates are harmless; the output is sorted and unique.
    auto s = simulate(std::vector<C>{C::long_qt, C::sinus_rhythm, C::long_qt}, 3);
    CHECK(s.conditions == std::vector<C>{C::sinus_rhythm, C::long_qt});
}

TEST_CASE("features are the union of the conditions' defining features") {
    auto s = simulate(
        std::vector<C>{C::atrial_fibrillation, C::left_bundle_branch_block, C::premature_ventricular_complexes}, 9);
    CHECK(s.features == std::vector<Feature>{Feature::irregularly_irregular_rhythm, Feature::absent_p_waves,
                                             Feature::fibrillatory_waves, Feature::wide_qrs_complex,
                                             Feature::broad_notched_r_in_v6, Feature::premature_ventricular_beats});
    auto f = simulate(std::vector<C>{C::atrial_flutter, C::atrial_flutter}, 9);
    CHECK(f.features == std::vector<Feature>{Feature::absent_p_waves, Feature::flutter_waves});
}

TEST_CASE("sample_conditions gives one rhythm, only compatible pairs, and covers every condition") {
    std::vector<int> count(condition_count, 0);
    std::set<std::vector<C>> distinct;
    for (std::uint64_t seed = 0; seed < 5000; ++seed) {
        auto set = sample_conditions(seed);
        int rhythms = 0;
        for (C c : set) rhythms += is_rhythm(c), ++count[static_cast<std::size_t>(c)];
        REQUIRE(rhythms == 1);
        REQUIRE_NOTHROW(check_conditions(set));
        distinct.insert(set);
    }
    for (std::size_t c = 0; c < condition_count; ++c) {
        INFO(statement(static_cast<C>(c)));
        CHECK(count[c] >= 50);
    }
    CHECK(count[static_cast<std::size_t>(C::sinus_rhythm)] > 2000);
    CHECK(distinct.size() > 100);
}

TEST_CASE("rates: sinus 60-100, bradycardia < 60, tachycardia > 100 bpm, with small respiratory variability") {
    for (int seed = 0; seed < seeds; ++seed) {
        auto normal = quiet_record({C::sinus_rhythm}, seed);
        CHECK(normal.heart_rate_bpm >= 60);
        CHECK(normal.heart_rate_bpm <= 100);
        auto rr = rr_intervals(normal);
        CHECK(cv(rr) < 0.08);
        CHECK(cv(rr) > 0.002);
        auto brady = quiet_record({C::sinus_bradycardia}, seed);
        CHECK(brady.heart_rate_bpm >= 40);
        CHECK(brady.heart_rate_bpm < 56);
        auto tachy = quiet_record({C::sinus_tachycardia}, seed);
        CHECK(tachy.heart_rate_bpm > 104);
        CHECK(tachy.heart_rate_bpm <= 150);
        for (const auto& b : normal.beats) CHECK(std::isfinite(b.p_onset));
    }
}

TEST_CASE("atrial fibrillation: irregular RR, no P waves, f waves largest in V1") {
    for (int seed = 0; seed < seeds; ++seed) {
        auto s = quiet_record({C::atrial_fibrillation}, seed);
        CHECK(cv(rr_intervals(s)) > 0.15);
        CHECK(s.heart_rate_bpm >= 55);
        CHECK(s.heart_rate_bpm <= 105);
        for (const auto& b : s.beats) CHECK(std::isnan(b.p_onset));
        // Between T end and the next QRS only the f waves remain: 0.03-0.15 mV and larger in V1 than in II.
        double v1 = 0, ii = 0;
        for (std::size_t k = 0; k + 1 < s.beats.size(); ++k)
            for (double t = s.beats[k].t_offset + 0.05; t < s.beats[k + 1].qrs_onset - 0.02; t += 0.002) {
                v1 = std::max(v1, std::abs(at(s, V1, t))), ii = std::max(ii, std::abs(at(s, II, t)));
            }
        CHECK(v1 >= 0.03);
        CHECK(v1 <= 0.16);
        CHECK(v1 > 2 * ii);
    }
}

TEST_CASE("atrial flutter: regular 4:1 response, sawtooth waves at 250-350/min in II with no isoelectric line") {
    for (int seed = 0; seed < seeds; ++seed) {
        auto s = quiet_record({C::atrial_flutter}, seed);
        CHECK(cv(rr_intervals(s)) < 0.001);
        CHECK(s.heart_rate_bpm * 4 >= 250);
        CHECK(s.heart_rate_bpm * 4 <= 350);
        for (const auto& b : s.beats) CHECK(std::isnan(b.p_onset));
        // In every 100 ms of the TQ segment, lead II moves by >= 0.05 mV (a flat baseline would not).
        const auto& b = middle_beat(s);
        double lo = 1e9, hi = -1e9;
        for (double t = b.t_offset + 0.02; t < b.t_offset + 0.12; t += 0.002)
            lo = std::min(lo, at(s, II, t)), hi = std::max(hi, at(s, II, t));
        CHECK(hi - lo > 0.05);
        // The F-wave rate: zero crossings of the mean-removed lead II over 60 ms windows are not needed; the
        // sawtooth's period shows as the distance of its steep rises (largest positive slopes) in the TQ segment.
    }
}

TEST_CASE("PR: normal 120-200 ms, first-degree AV block 220-320 ms") {
    for (int seed = 0; seed < seeds; ++seed) {
        for (const auto& b : quiet_record({C::sinus_rhythm}, seed).beats) {
            CHECK(b.qrs_onset - b.p_onset >= 0.12);
            CHECK(b.qrs_onset - b.p_onset <= 0.20);
        }
        auto block = quiet_record({C::sinus_bradycardia, C::first_degree_av_block}, seed);
        for (const auto& b : block.beats) {
            CHECK(b.qrs_onset - b.p_onset >= 0.22);
            CHECK(b.qrs_onset - b.p_onset <= 0.32);
        }
        // The P wave is really there: lead II rises >= 0.05 mV in the P window of a noise-free sinus beat.
        auto s = quiet_record({C::sinus_rhythm}, seed);
        const auto& b = middle_beat(s);
        double peak = 0;
        for (double t = b.p_onset; t < b.qrs_onset; t += 0.002)
            peak = std::max(peak, at(s, II, t) - at(s, II, b.p_onset - 0.02));
        CHECK(peak > 0.05);
    }
}

TEST_CASE("QRS duration, QTc and axis: normal, bundle branch blocks, long QT, left axis deviation") {
    for (int seed = 0; seed < seeds; ++seed) {
        auto normal = quiet_record({C::sinus_rhythm}, seed);
        const auto& b = middle_beat(normal);
        CHECK(b.qrs_offset - b.qrs_onset >= 0.08);
        CHECK(b.qrs_offset - b.qrs_onset <= 0.11);
        CHECK(qtc(normal, b) >= 0.38);
        CHECK(qtc(normal, b) <= 0.44);
        CHECK(axis(normal, b) >= -30);
        CHECK(axis(normal, b) <= 90);
        for (C block : {C::right_bundle_branch_block, C::left_bundle_branch_block}) {
            auto s = quiet_record({C::sinus_rhythm, block}, seed);
            const auto& w = middle_beat(s);
            CHECK(w.qrs_offset - w.qrs_onset >= 0.125);
            CHECK(w.qrs_offset - w.qrs_onset <= 0.16);
        }
        auto long_qt = quiet_record({C::sinus_rhythm, C::long_qt}, seed);
        CHECK(qtc(long_qt, middle_beat(long_qt)) >= 0.48);
        CHECK(qtc(long_qt, middle_beat(long_qt)) <= 0.56);
        auto lad = quiet_record({C::sinus_rhythm, C::left_axis_deviation}, seed);
        CHECK(axis(lad, middle_beat(lad)) <= -45);
        CHECK(axis(lad, middle_beat(lad)) >= -75);
    }
}

TEST_CASE("bundle branch block morphology: rsR' in V1 (RBBB), broad notched R in V6 and deep S in V1 (LBBB)") {
    for (int seed = 0; seed < seeds; ++seed) {
        auto r = quiet_record({C::sinus_rhythm, C::right_bundle_branch_block}, seed);
        const auto& rb = middle_beat(r);
        auto v1 = measure(r, rb, V1).wave;
        // r, then S below zero, then R' taller than r.
        std::size_t i = 0;
        while (i + 1 < v1.size() && v1[i + 1] >= v1[i]) ++i;
        double small_r = v1[i];
        while (i + 1 < v1.size() && v1[i + 1] <= v1[i]) ++i;
        double s_wave = v1[i], r_prime = *std::max_element(v1.begin() + static_cast<long>(i), v1.end());
        CHECK(small_r > 0.05);
        CHECK(s_wave < -0.1);
        CHECK(r_prime > small_r);
        CHECK(measure(r, rb, I).s > 0.1);  // wide terminal S in I and V6
        CHECK(measure(r, rb, V6).s > 0.1);

        auto l = quiet_record({C::sinus_rhythm, C::left_bundle_branch_block}, seed);
        const auto& lb = middle_beat(l);
        for (Lead lead : {I, V6}) {
            auto w = measure(l, lb, lead).wave;
            int maxima = 0;
            double top = *std::max_element(w.begin(), w.end());
            for (std::size_t k = 1; k + 1 < w.size(); ++k)
                maxima += w[k] > w[k - 1] && w[k] >= w[k + 1] && w[k] > 0.5 * top;
            CHECK(maxima == 2);                           // notched
            CHECK(measure(l, lb, lead).q_duration == 0);  // no septal q
        }
        CHECK(measure(l, lb, V1).s > 0.5);
        CHECK(measure(l, lb, V6).t_peak < 0);  // discordant T
    }
}

TEST_CASE("voltage: Sokolow-Lyon > 3.5 mV in LVH, < 3.5 mV otherwise; low voltage < 0.5 mV in every limb lead") {
    for (int seed = 0; seed < seeds; ++seed) {
        auto normal = quiet_record({C::sinus_rhythm}, seed);
        CHECK(sokolow_lyon(normal, middle_beat(normal)) < 3.5);
        CHECK(limb_max_peak_to_peak(normal, middle_beat(normal)) >= 0.5);
        auto lvh = quiet_record({C::sinus_rhythm, C::left_ventricular_hypertrophy}, seed);
        CHECK(sokolow_lyon(lvh, middle_beat(lvh)) > 3.5);
        CHECK(measure(lvh, middle_beat(lvh), V6).t_peak < 0);  // strain
        auto low = quiet_record({C::sinus_rhythm, C::low_qrs_voltage}, seed);
        CHECK(limb_max_peak_to_peak(low, middle_beat(low)) < 0.5);
    }
}

TEST_CASE("infarction: ST elevation and pathological Q waves in the territory's leads; ischaemia: ST depression") {
    for (int seed = 0; seed < seeds; ++seed) {
        auto inferior = quiet_record({C::sinus_rhythm, C::inferior_infarction}, seed);
        const auto& ib = middle_beat(inferior);
        for (Lead lead : {II, III, aVF}) {
            auto m = measure(inferior, ib, lead);
            INFO("seed ", seed, " lead ", lead_names[lead]);
            CHECK(m.st_j60 >= 0.1);
            CHECK(m.q_duration >= 0.04);
            CHECK(-*std::min_element(m.wave.begin(), m.wave.end()) >= 0.25 * m.r);
        }
        CHECK(measure(inferior, ib, aVL).st_j60 < 0);  // reciprocal
        CHECK(axis(inferior, ib) >= -30);
        auto anterior = quiet_record({C::sinus_rhythm, C::anterior_infarction}, seed);
        const auto& ab = middle_beat(anterior);
        for (Lead lead : {V1, V2, V3, V4}) {
            auto m = measure(anterior, ab, lead);
            INFO("seed ", seed, " lead ", lead_names[lead]);
            CHECK(m.st_j60 >= 0.1);
            CHECK(m.q_duration >= 0.04);
        }
        auto ischemia = quiet_record({C::sinus_rhythm, C::ischemia}, seed);
        const auto& sb = middle_beat(ischemia);
        for (Lead lead : {I, V5, V6}) {
            auto m = measure(ischemia, sb, lead);
            INFO("seed ", seed, " lead ", lead_names[lead]);
            CHECK(m.st_j60 <= -0.1);
            CHECK(m.t_peak < -0.1);
        }
        // Normal records: no ST shift, upright lateral T, no pathological Q in the inferior leads.
        auto normal = quiet_record({C::sinus_rhythm}, seed);
        const auto& nb = middle_beat(normal);
        for (Lead lead : {I, II, III, aVF, V1, V2, V3, V4, V5, V6})
            CHECK(std::abs(measure(normal, nb, lead).st_j60) < 0.05);
        for (Lead lead : {II, aVF, V5, V6}) CHECK(measure(normal, nb, lead).t_peak > 0.05);
        for (Lead lead : {II, III, aVF}) CHECK(measure(normal, nb, lead).q_duration < 0.03);
    }
}

TEST_CASE("PVCs: 1-3 early wide beats without P, with a compensatory pause and discordant T") {
    for (int seed = 0; seed < seeds; ++seed) {
        auto s = quiet_record({C::sinus_rhythm, C::premature_ventricular_complexes}, seed);
        int pvcs = 0;
        for (std::size_t k = 0; k < s.beats.size(); ++k) {
            const auto& b = s.beats[k];
            if (!b.premature_ventricular) continue;
            ++pvcs;
            CHECK(std::isnan(b.p_onset));
            CHECK(b.qrs_offset - b.qrs_onset >= 0.13);
            REQUIRE(k > 0);
            REQUIRE(k + 1 < s.beats.size());
            double before = s.beats[k].qrs_onset - s.beats[k - 1].qrs_onset;
            double after = s.beats[k + 1].qrs_onset - s.beats[k].qrs_onset;
            double normal_rr = 60.0 / s.heart_rate_bpm;
            CHECK(before < 0.75 * normal_rr);
            CHECK(before + after == doctest::Approx(2 * normal_rr).epsilon(0.12));
            // T opposite to the QRS's main deflection in the lead where the QRS is largest.
            Lead largest = I;
            double biggest = 0;
            for (std::size_t l = 0; l < 12; ++l) {
                auto m = measure(s, b, static_cast<Lead>(l));
                double main = m.r > m.s ? m.r : -m.s;
                if (std::abs(main) > std::abs(biggest)) biggest = main, largest = static_cast<Lead>(l);
            }
            CHECK(measure(s, b, largest).t_peak * biggest < 0);
        }
        CHECK(pvcs >= 1);
        CHECK(pvcs <= 3);
    }
}

TEST_CASE("noise: each process at its RMS level, at the mains frequency, without changing the heart") {
    auto conditions = std::vector<C>{C::sinus_rhythm};
    auto clean = simulate(conditions, 4, quiet());
    auto noise_only = [&](NoiseOptions n) {
        SimulatorOptions o;
        o.noise = n;
        auto noisy = simulate(conditions, 4, o);
        std::vector<std::vector<double>> out;
        for (std::size_t l = 0; l < 12; ++l) {
            out.emplace_back();
            for (std::size_t t = 0; t < 5000; ++t)
                out.back().push_back(noisy.record.samples[l * 5000 + t] - clean.record.samples[l * 5000 + t]);
        }
        return out;
    };
    auto rms = [](const std::vector<double>& x) {
        double s = 0;
        for (double v : x) s += v * v;
        return std::sqrt(s / x.size());
    };
    auto wander = noise_only({0.1, 0, 50, 0}), hum = noise_only({0, 0.02, 60, 0}), emg = noise_only({0, 0, 50, 0.03});
    for (Lead lead : {I, II, V1, V2, V3, V4, V5, V6}) {
        CHECK(rms(wander[lead]) == doctest::Approx(0.1).epsilon(1e-6));
        CHECK(rms(hum[lead]) == doctest::Approx(0.02).epsilon(1e-6));
        CHECK(rms(emg[lead]) == doctest::Approx(0.03).epsilon(1e-6));
    }
    // Wander is slow (small sample-to-sample steps), muscle noise is broadband (large steps).
    auto step_rms = [](const std::vector<double>& x) {
        double s = 0;
        for (std::size_t t = 1; t < x.size(); ++t) s += (x[t] - x[t - 1]) * (x[t] - x[t - 1]);
        return std::sqrt(s / (x.size() - 1));
    };
    CHECK(step_rms(wander[II]) < 0.01 * 0.1);
    CHECK(step_rms(emg[II]) > 0.03);
    // The hum's power is at 60 Hz, not at 50 Hz.
    auto power_at = [](const std::vector<double>& x, double hz) {
        double re = 0, im = 0;
        for (std::size_t t = 0; t < x.size(); ++t) {
            re += x[t] * std::cos(6.283185307179586 * hz * t / 500),
                im += x[t] * std::sin(6.283185307179586 * hz * t / 500);
        }
        return re * re + im * im;
    };
    CHECK(power_at(hum[V2], 60) > 100 * power_at(hum[V2], 50));
    // The default levels together: total noise RMS near the root sum of squares.
    auto total = noise_only(NoiseOptions{});
    CHECK(rms(total[V1]) == doctest::Approx(std::sqrt(0.05 * 0.05 + 0.01 * 0.01 + 0.01 * 0.01)).epsilon(0.15));
}

// Not part of ctest (run `test_simulator --no-skip -tc="timing*"`): a timing, printed, never asserted.
TEST_CASE("timing: records per second (printed, not asserted)" * doctest::skip()) {
    const int n = 500;
    auto start = std::chrono::steady_clock::now();
    double checksum = 0;
    for (int seed = 0; seed < n; ++seed) checksum += simulate(sample_conditions(seed), seed).record.samples[100];
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("simulate: %d records in %.3f s = %.3f ms/record, %.0f records/s (checksum %g)\n", n, seconds,
                1000 * seconds / n, n / seconds, checksum);
    CHECK(std::isfinite(checksum));
}
