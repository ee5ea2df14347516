#pragma once
// One heartbeat as a sum of waves of a cardiac dipole (the "sum of Gaussians" ECG model of McSharry et al. 2003,
// ECGSYN, made three-dimensional): each wave is a fixed direction in the body times a Gaussian in time, with
// separate widths before and after its peak. ST-segment shifts are flat-topped plateaus from the J point into the
// T wave. Projecting the dipole onto lead vectors (lead_projection.hpp) gives 12 mutually consistent leads.
//
// Times in a BeatShape are seconds relative to the QRS onset. Fiducials: a wave starts 2.5 sigma_left before its
// peak (4.4% of its height); the QRS ends 2.5 sigma_right after its last wave; the T wave ends where the tangent
// at its steepest descent meets the baseline (2 sigma_right after its peak), as machine readers measure it.
//
// design_beat() turns the record's condition parameters into a beat and checks the design on a noise-free 1 ms
// template: the frontal QRS axis is rotated to the target (with an inferior infarct, the QRS without its Q wave),
// Q waves of infarction are grown until they last >= 46 ms and reach 30% of R, and the QRS is scaled to
// the target Sokolow-Lyon or limb-lead voltage.
#include "fgclep/core/rng.hpp"
#include "fgclep/synth/lead_projection.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace fgclep::synth {

struct Wave {
    Vec3 direction;                                            // mV at the peak, along the body axes
    double center = 0, sigma_left = 0.01, sigma_right = 0.01;  // seconds
    double start() const { return center - 2.5 * sigma_left; }
    double end() const { return center + 2.5 * sigma_right; }
    double value(double t) const {
        double u = (t - center) / (t < center ? sigma_left : sigma_right);
        return std::exp(-0.5 * u * u);
    }
};

// A smooth flat-topped shift: rises over [start, start + ramp_in], holds, falls over [end - ramp_out, end].
struct Plateau {
    Vec3 direction;
    double start = 0, end = 0, ramp_in = 0.02, ramp_out = 0.05;
    double value(double t) const {
        auto smoothstep = [](double u) {
            u = std::clamp(u, 0.0, 1.0);
            return u * u * (3 - 2 * u);
        };
        return smoothstep((t - start) / ramp_in) * (1 - smoothstep((t - (end - ramp_out)) / ramp_out));
    }
};

struct BeatShape {
    std::vector<Wave> p, qrs, t;
    std::vector<Plateau> st;
    double pr = 0;            // P onset to QRS onset; 0 without P wave
    double qrs_duration = 0;  // QRS onset to J point
    double qt = 0;            // QRS onset to T end
};

// What the record's conditions ask of its dominant beat (drawn by the simulator).
struct BeatPlan {
    double pr = 0.16, qrs_duration = 0.09, qt = 0.4, axis_degrees = 60;
    bool p_wave = true;
    bool rbbb = false, lbbb = false, inferior_infarction = false, anterior_infarction = false, ischemia = false;
    bool lvh = false, low_voltage = false, left_axis_deviation = false;
    double sokolow_lyon_mv = 2.2;        // target S(V1) + max R(V5, V6) (normal records and LVH)
    double limb_peak_to_peak_mv = 0.35;  // target largest limb-lead QRS peak-to-peak (low voltage)
    double st_elevation_mv = 0.2, st_depression_mv = 0.15;
};

namespace detail {
constexpr double sqrt_two_pi = 2.5066282746310002;

// The 12 leads of a set of waves and plateaus on a 1 ms grid over [t0, t1].
inline std::array<std::vector<double>, 12> lead_template(const std::vector<Wave>& waves,
                                                         const std::vector<Plateau>& plateaus, double t0, double t1) {
    std::array<std::vector<double>, 12> out;
    std::size_t n = static_cast<std::size_t>((t1 - t0) * 1000) + 1;
    for (auto& lead : out) lead.assign(n, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        double t = t0 + static_cast<double>(i) * 0.001;
        Vec3 d{};
        for (const auto& w : waves) d = d + w.value(t) * w.direction;
        for (const auto& p : plateaus) d = d + p.value(t) * p.direction;
        auto leads = project(d);
        for (std::size_t k = 0; k < 12; ++k) out[k][i] = leads[k];
    }
    return out;
}

inline Vec3 net_area(const std::vector<Wave>& waves) {
    Vec3 sum{};
    for (const auto& w : waves) sum = sum + (0.5 * (w.sigma_left + w.sigma_right) * sqrt_two_pi) * w.direction;
    return sum;
}
inline double axis_of(Vec3 v) { return std::atan2(v.y, v.x) * 180.0 / 3.14159265358979323846; }

// Rotates the waves flagged `rotatable` in the frontal plane so that the net QRS area (theirs plus the fixed
// waves') points at `target` degrees: solves |R| sin(phi_R + theta - target) = -cross(u, F) for theta.
inline void set_axis(std::vector<Wave>& qrs, const std::vector<bool>& rotatable, double target) {
    constexpr double pi = 3.14159265358979323846;
    std::vector<Wave> fixed, moving;
    for (std::size_t i = 0; i < qrs.size(); ++i) (rotatable[i] ? moving : fixed).push_back(qrs[i]);
    Vec3 f = net_area(fixed), r = net_area(moving);
    double target_rad = target * pi / 180, ux = std::cos(target_rad), uy = std::sin(target_rad);
    double r_len = std::hypot(r.x, r.y);
    if (r_len == 0) return;
    double cross_uf = ux * f.y - uy * f.x;
    double theta = target_rad - std::atan2(r.y, r.x) + std::asin(std::clamp(-cross_uf / r_len, -1.0, 1.0));
    for (std::size_t i = 0; i < qrs.size(); ++i)
        if (rotatable[i]) qrs[i].direction = rotate_frontal(qrs[i].direction, theta * 180 / pi);
}

// Q-wave test on a QRS template: the initial negative deflection lasts >= min_duration and is >= ratio x R.
inline bool q_wave_ok(const std::vector<double>& lead, double min_duration, double ratio) {
    std::size_t cross = 0;
    while (cross < lead.size() && (lead[cross] < 0 || cross < 5)) ++cross;
    double q = 0, r = 0;
    for (std::size_t i = 0; i < cross; ++i) q = std::min(q, lead[i]);
    for (std::size_t i = cross; i < lead.size(); ++i) r = std::max(r, lead[i]);
    return static_cast<double>(cross) * 0.001 >= min_duration && -q >= 0.05 && -q >= ratio * r;
}

inline double peak_to_peak(const std::vector<double>& x) {
    auto [lo, hi] = std::minmax_element(x.begin(), x.end());
    return *hi - *lo;
}

// Scales a plateau direction so the smallest shift over `leads` (signed by `sign`) equals `mv`.
inline Vec3 calibrate(Vec3 direction, std::initializer_list<Lead> leads, double sign, double mv) {
    auto projected = project(direction);
    double smallest = 1e9;
    for (Lead l : leads) smallest = std::min(smallest, sign * projected[l]);
    return (mv / smallest) * direction;
}
}  // namespace detail

inline BeatShape design_beat(BeatPlan plan, HostRng& rng) {
    BeatShape beat;
    const double d = plan.qrs_duration;
    std::vector<Wave>& qrs = beat.qrs;
    std::vector<bool> rotatable;
    auto add = [&](Vec3 dir, double c, double sl, double sr, bool rot) {
        qrs.push_back({dir, c, sl, sr});
        rotatable.push_back(rot);
    };
    const bool infarction = plan.inferior_infarction || plan.anterior_infarction;
    const double lv_amp = rng.uniform(1.2, 1.8);
    Vec3 lv = lv_amp * unit(frontal(plan.axis_degrees, -0.5));  // leftward, inferior and posterior
    // A dead inferior wall pulls less downwards: the late R in II, III, aVF stays moderate (QR, Qr patterns).
    if (plan.inferior_infarction) lv.y *= 0.75;

    if (plan.lbbb) {
        // Right-to-left septal activation (no septal q), slow LV activation: two broad leftward-posterior waves
        // 3 sigma apart give the broad notched R in I, aVL, V5-V6 and the deep QS in V1.
        double a = rng.uniform(0.9, 1.2);
        add(a * unit(frontal(plan.axis_degrees - 10, -0.8)), 0.30 * d, 0.12 * d, 0.12 * d, true);
        add(1.1 * a * unit(frontal(plan.axis_degrees + 5, -0.95)), 0.66 * d, 0.13 * d, 0.13 * d, true);
    } else {
        // Septal wave (left-to-right, anterior): q in I, aVL, V5-V6, r in V1. Removed by a septal/anterior infarct;
        // turned superior by an inferior one.
        double normal_d = plan.rbbb ? rng.uniform(0.08, 0.09) : d;
        double septal_amp = rng.uniform(0.25, 0.4);
        // Left anterior fascicular block (left axis deviation): initial forces inferior and rightward, so small r
        // waves precede the deep S in II, III and aVF (rS) and a q precedes R in I and aVL (qR).
        Vec3 septal = plan.left_axis_deviation ? unit(Vec3{-0.3, 0.8, 0.5})
                                               : unit(Vec3{-0.45, plan.inferior_infarction ? -0.3 : 0.1, 0.75});
        if (!plan.anterior_infarction)
            add(septal_amp * septal, 0.14 * normal_d, 0.055 * normal_d, 0.055 * normal_d, true);
        // With an infarct the early forces point away from the dead wall for >= 40 ms; the LV wave comes later.
        if (infarction)
            add(lv, 0.74 * normal_d, 0.09 * normal_d, 0.09 * normal_d, true);
        else {
            // The horizontal QRS loop turns counterclockwise: the left-ventricular forces sweep from left-anterior
            // to left-posterior. Two overlapping waves give R then S in V2-V3 (the transition) and one tall R in
            // V4-V6; a single wave would sit at right angles to V3 and leave it small.
            const double sigma = 0.09 * normal_d;
            add(0.6 * lv_amp * unit(frontal(plan.axis_degrees, 0.1)), 0.39 * normal_d, sigma, sigma, true);
            add(0.6 * lv_amp * unit(frontal(plan.axis_degrees, -1.0)), 0.51 * normal_d, sigma, 0.1 * normal_d, true);
        }
        if (plan.rbbb) {
            // Late, slow right-ventricular activation towards the right and front: R' in V1, wide S in I and V6.
            double start = 0.06, rv_sigma = (d - start) / 5;
            add(rng.uniform(0.8, 1.2) * unit(Vec3{-0.55, 0.05, 0.85}), start + 2.5 * rv_sigma, rv_sigma, rv_sigma,
                false);
        } else {
            // Terminal basal forces (superior, posterior): small s in II, aVF.
            double c = infarction ? 0.86 * d : 0.72 * d, sigma = infarction ? 0.055 * d : 0.11 * d;
            add(rng.uniform(0.25, 0.45) * unit(Vec3{-0.3, -0.6, -0.4}), c, sigma, sigma, true);
        }
    }
    // Infarction: the dead wall no longer pulls the early forces towards it, so they point away (Q waves).
    std::size_t q_index = qrs.size();
    if (infarction) {
        // The inferior one keeps a leftward part: the spared lateral wall still pulls the early forces left, so
        // I and V5-V6 keep their small septal q instead of Q waves of their own.
        Vec3 away = plan.inferior_infarction ? unit(Vec3{0.3, -1, 0}) : unit(Vec3{0.1, 0, -1});
        add(rng.uniform(0.35, 0.5) * lv_amp * away, 0.25 * d, 0.1 * d, 0.14 * d, false);
        // An anterior infarct spares the inferior wall, whose early forces keep small r waves in II, III, aVF.
        if (plan.anterior_infarction) add(0.3 * lv_amp * unit(Vec3{0.4, 0.9, -0.1}), 0.3 * d, 0.1 * d, 0.1 * d, true);
    }
    // QRS onset at 0.
    double onset = 1e9;
    for (const auto& w : qrs) onset = std::min(onset, w.start());
    for (auto& w : qrs) w.center -= onset;
    // The net QRS is turned to the drawn axis; with an inferior infarct, the QRS without its Q wave, so that the Q
    // waves pull the net axis up as the lost inferior forces do.
    auto aim = [&] {
        if (!plan.inferior_infarction) return detail::set_axis(qrs, rotatable, plan.axis_degrees);
        std::vector<Wave> rest;
        std::vector<bool> rest_rotatable;
        for (std::size_t i = 0; i < qrs.size(); ++i)
            if (i != q_index) rest.push_back(qrs[i]), rest_rotatable.push_back(rotatable[i]);
        detail::set_axis(rest, rest_rotatable, plan.axis_degrees);
        for (std::size_t i = 0, k = 0; i < qrs.size(); ++i)
            if (i != q_index) qrs[i] = rest[k++];
    };
    aim();

    double end = 0;
    for (const auto& w : qrs) end = std::max(end, w.end());
    if (infarction) {
        for (int iteration = 0; iteration < 15; ++iteration) {
            auto leads = detail::lead_template(qrs, {}, 0, end);
            bool ok = true;
            if (plan.inferior_infarction)
                for (Lead l : {II, III, aVF}) ok = ok && detail::q_wave_ok(leads[l], 0.046, 0.3);
            if (plan.anterior_infarction)
                for (Lead l : {V1, V2, V3, V4}) ok = ok && detail::q_wave_ok(leads[l], 0.046, 0.3);
            if (ok) break;
            qrs[q_index].direction = 1.12 * qrs[q_index].direction;
            aim();
        }
    }
    beat.qrs_duration = end;

    // Voltage: scale the whole QRS to the target Sokolow-Lyon index, or (low voltage) the largest limb-lead
    // peak-to-peak; normal records keep some limb lead at >= 0.7 mV peak-to-peak.
    {
        auto leads = detail::lead_template(qrs, {}, 0, end);
        double v1_s = -*std::min_element(leads[V1].begin(), leads[V1].end());
        double v56_r = std::max(*std::max_element(leads[V5].begin(), leads[V5].end()),
                                *std::max_element(leads[V6].begin(), leads[V6].end()));
        double sokolow = std::max(v1_s, 0.0) + std::max(v56_r, 0.0);
        double limb = 0;
        for (Lead l : {I, II, III, aVR, aVF, aVL}) limb = std::max(limb, detail::peak_to_peak(leads[l]));
        double k = plan.sokolow_lyon_mv / sokolow;
        if (plan.low_voltage)
            k = plan.limb_peak_to_peak_mv / limb;
        else if (!plan.lvh && limb * k < 0.7)
            k = std::min(0.7 / limb, 3.2 / sokolow);
        // Low voltage is defined on the limb leads: the frontal components shrink by k, the anterior one less
        // (sqrt k), so that precordial r waves stay measurable.
        double k_anterior = plan.low_voltage ? std::sqrt(k) : k;
        for (auto& w : qrs) w.direction = {k * w.direction.x, k * w.direction.y, k_anterior * w.direction.z};
    }

    // Repolarisation. T from QRS onset + QT back: the tangent at its steepest descent meets the baseline at QT.
    const double qt = plan.qt;
    double t_amp = rng.uniform(0.25, 0.45) * (plan.low_voltage ? 0.5 : 1.0);
    Wave t_wave{t_amp * unit(frontal(rng.uniform(20, 60), 0.5)), 0, 0.13 * qt, 0.09 * qt};
    Vec3 lateral_down = unit(Vec3{-1, 0, -0.4});  // ST vector away from I, aVL, V5, V6
    if (plan.lbbb) {
        // Secondary (discordant) ST-T: opposite to the mean QRS vector.
        Vec3 mean_qrs = unit(detail::net_area(qrs));
        t_wave.direction = -rng.uniform(0.3, 0.45) * mean_qrs;
        beat.st.push_back({-rng.uniform(0.1, 0.15) * (plan.low_voltage ? 0.5 : 1.0) * mean_qrs, 0, 0, 0.02, 0.05});
    } else if (plan.ischemia) {
        // Symmetric inverted T in the lateral leads.
        t_wave.direction = rng.uniform(0.2, 0.4) * unit(Vec3{-0.9, 0.3, -0.35});
        t_wave.sigma_left = t_wave.sigma_right = 0.1 * qt;
    } else if (plan.lvh) {
        // Strain: asymmetric inverted lateral T after a downsloping ST.
        t_wave.direction = rng.uniform(0.15, 0.3) * unit(Vec3{-0.9, 0.3, -0.35});
        t_wave.sigma_left = 0.14 * qt, t_wave.sigma_right = 0.07 * qt;
    } else if (plan.rbbb) {
        // Secondary T inversion in V1-V3.
        t_wave.direction = t_amp * unit(frontal(rng.uniform(20, 60), -0.3));
    } else if (plan.inferior_infarction) {
        // T turned towards the injured inferior wall: upright in II, III, aVF, flat or inverted in aVL.
        t_wave.direction = t_amp * unit(frontal(rng.uniform(65, 80), 0.5));
    }
    // Low voltage: abnormal T waves shrink too (the normal one already did), or they would outgrow the QRS.
    if (plan.low_voltage && (plan.lbbb || plan.ischemia || plan.lvh || plan.rbbb))
        t_wave.direction = 0.7 * t_wave.direction;
    t_wave.center = qt - 2 * t_wave.sigma_right;
    beat.t.push_back(t_wave);
    beat.qt = qt;
    const double j = beat.qrs_duration, t_end = t_wave.center + 2.5 * t_wave.sigma_right;
    auto st_plateau = [&](Vec3 direction, double ramp_in) {
        return Plateau{direction, j - 0.01, t_end, ramp_in, t_end - t_wave.center};
    };
    for (auto& p : beat.st) p = st_plateau(p.direction, 0.03);
    if (plan.ischemia)  // horizontal ST depression in I, aVL, V5, V6
        beat.st.push_back(st_plateau(detail::calibrate(lateral_down, {I, V5, V6}, -1, plan.st_depression_mv), 0.03));
    else if (plan.lvh)  // strain: ST sloping down into the inverted T, below ischaemic depth
        beat.st.push_back(
            st_plateau(detail::calibrate(lateral_down, {I, V5, V6}, -1, rng.uniform(0.04, 0.07)), t_wave.center - j));
    if (plan.inferior_infarction)  // elevation in II, III, aVF (III > II); reciprocal depression in aVL (about II)
        beat.st.push_back(
            st_plateau(detail::calibrate(Vec3{-0.25, 1, -0.2}, {II, III, aVF}, 1, plan.st_elevation_mv), 0.03));
    if (plan.anterior_infarction)
        beat.st.push_back(
            st_plateau(detail::calibrate(Vec3{0.2, -0.1, 1}, {V1, V2, V3, V4}, 1, plan.st_elevation_mv), 0.03));

    if (plan.p_wave) {
        double sigma = rng.uniform(0.018, 0.022);
        double p_amp = rng.uniform(0.1, 0.2) * (plan.low_voltage ? 0.6 : 1.0);
        beat.p.push_back({p_amp * unit(frontal(rng.uniform(45, 65), 0.1)), -plan.pr + 2.5 * sigma, sigma, sigma});
        beat.pr = plan.pr;
    }
    return beat;
}

// A premature ventricular complex: wide (140-170 ms), monophasic from its focus, no P wave, ST-T opposite to
// the QRS. `focus` picks right-ventricular-outflow (LBBB-like, inferior axis) or left-ventricular (RBBB-like).
inline BeatShape design_pvc(double qt, bool left_ventricular_focus, HostRng& rng) {
    BeatShape beat;
    double d = rng.uniform(0.14, 0.17), amp = rng.uniform(1.3, 2.0);
    Vec3 dir = left_ventricular_focus ? unit(Vec3{-0.45, 0.5, 0.75}) : unit(Vec3{0.25, 0.9, -0.55});
    beat.qrs.push_back({amp * dir, 0.35 * d, 0.14 * d, 0.14 * d});
    beat.qrs.push_back({0.8 * amp * unit(dir + Vec3{0.2, -0.1, 0}), 0.62 * d, 0.15 * d, 0.15 * d});
    beat.qrs_duration = 0.62 * d + 2.5 * 0.15 * d;
    double pvc_qt = qt + 0.03;
    Wave t{-rng.uniform(0.3, 0.5) * dir, 0, 0.13 * pvc_qt, 0.1 * pvc_qt};
    t.center = pvc_qt - 2 * t.sigma_right;
    beat.t.push_back(t);
    double t_end = t.center + 2.5 * t.sigma_right;
    beat.st.push_back({-0.1 * dir, beat.qrs_duration - 0.01, t_end, 0.03, t_end - t.center});
    beat.qt = pvc_qt;
    return beat;
}

// Adds a beat whose QRS starts at `qrs_onset` (seconds) to the dipole signals, evaluating each wave only within
// +-4 sigma of its peak.
inline void render_beat(const BeatShape& beat, double qrs_onset, double fs, std::size_t length, double* x, double* y,
                        double* z) {
    auto span_of = [&](double t0, double t1, auto&& f) {
        long first = std::max(0L, static_cast<long>(std::ceil(t0 * fs)));
        long last = std::min(static_cast<long>(length) - 1, static_cast<long>(std::floor(t1 * fs)));
        for (long i = first; i <= last; ++i) f(static_cast<std::size_t>(i), static_cast<double>(i) / fs);
    };
    auto add_wave = [&](const Wave& w) {
        double c = qrs_onset + w.center;
        span_of(c - 4 * w.sigma_left, c + 4 * w.sigma_right, [&](std::size_t i, double t) {
            double v = w.value(t - qrs_onset);
            x[i] += v * w.direction.x, y[i] += v * w.direction.y, z[i] += v * w.direction.z;
        });
    };
    for (const auto& w : beat.p) add_wave(w);
    for (const auto& w : beat.qrs) add_wave(w);
    for (const auto& w : beat.t) add_wave(w);
    for (const auto& p : beat.st)
        span_of(qrs_onset + p.start, qrs_onset + p.end, [&](std::size_t i, double t) {
            double v = p.value(t - qrs_onset);
            x[i] += v * p.direction.x, y[i] += v * p.direction.y, z[i] += v * p.direction.z;
        });
}

}  // namespace fgclep::synth
