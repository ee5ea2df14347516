#pragma once
// The 12 standard leads as projections of one cardiac dipole (Einthoven, Goldberger, Wilson).
//
// Body frame: x points to the patient's left, y downwards (inferior), z forwards (anterior). Leads I and II and
// the precordial leads V1..V6 are dot products of the dipole with a lead vector; III, aVR, aVL and aVF are
// computed from I and II with Einthoven's and Goldberger's identities, so they hold exactly (bit for bit) in
// every record, noise included.
#include <array>
#include <cmath>
#include <cstddef>
#include <string_view>

namespace fgclep::synth {

struct Vec3 {
    double x = 0, y = 0, z = 0;
};
inline Vec3 operator+(Vec3 a, Vec3 b) { return {a.x + b.x, a.y + b.y, a.z + b.z}; }
inline Vec3 operator-(Vec3 a, Vec3 b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
inline Vec3 operator*(double s, Vec3 a) { return {s * a.x, s * a.y, s * a.z}; }
inline double dot(Vec3 a, Vec3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
inline double norm(Vec3 a) { return std::sqrt(dot(a, a)); }
inline Vec3 unit(Vec3 a) { return (1.0 / norm(a)) * a; }
// Rotation in the frontal plane (about z) by `degrees`; positive turns leftward-pointing vectors inferior.
inline Vec3 rotate_frontal(Vec3 a, double degrees) {
    double r = degrees * 3.14159265358979323846 / 180.0, c = std::cos(r), s = std::sin(r);
    return {c * a.x - s * a.y, s * a.x + c * a.y, a.z};
}
// A frontal-plane direction at the hexaxial angle (0 = lead I, +90 = aVF, -30 = aVL).
inline Vec3 frontal(double degrees, double z = 0) {
    double r = degrees * 3.14159265358979323846 / 180.0;
    return {std::cos(r), std::sin(r), z};
}

// MIMIC-IV-ECG lead order.
inline constexpr std::array<std::string_view, 12> lead_names = {"I",  "II", "III", "aVR", "aVF", "aVL",
                                                                "V1", "V2", "V3",  "V4",  "V5",  "V6"};
enum Lead : std::size_t { I, II, III, aVR, aVF, aVL, V1, V2, V3, V4, V5, V6 };

// The independent leads, in the order the simulator computes them: I, II, V1..V6.
inline constexpr std::size_t independent_lead_count = 8;
inline constexpr std::array<std::size_t, independent_lead_count> independent_leads = {I, II, V1, V2, V3, V4, V5, V6};

// Lead vectors. I and II are the frontal-plane unit vectors at 0 and 60 degrees. The precordial leads are the rows
// of Dower's inverse transform (Frank X, Y, Z to V1..V6; Dower et al. 1988) with Frank's posterior Z turned to our
// anterior z: V1 and V2 look mainly from the front, V3 and V4 from the front-left with the largest gains, V5 and V6
// from the left, so a leftward-posterior QRS gives rS in V1-V2, the transition near V3-V4 and the tallest R in V4-V5.
inline const std::array<Vec3, independent_lead_count>& lead_vectors() {
    static const std::array<Vec3, independent_lead_count> vectors = {
        Vec3{1.0, 0.0, 0.0},         // I
        Vec3{0.5, 0.8660254, 0.0},   // II
        Vec3{-0.515, 0.157, 0.917},  // V1
        Vec3{0.044, 0.164, 1.387},   // V2
        Vec3{0.882, 0.098, 1.277},   // V3
        Vec3{1.213, 0.127, 0.601},   // V4
        Vec3{1.125, 0.127, 0.086},   // V5
        Vec3{0.831, 0.076, -0.230},  // V6
    };
    return vectors;
}

// The voltage a dipole produces in each of the 12 leads (used to design and check beats on a template).
inline std::array<double, 12> project(Vec3 d) {
    const auto& v = lead_vectors();
    std::array<double, 12> out{};
    double lead_i = dot(v[0], d), lead_ii = dot(v[1], d);
    out[I] = lead_i;
    out[II] = lead_ii;
    out[III] = lead_ii - lead_i;
    out[aVR] = -(lead_i + lead_ii) / 2;
    out[aVF] = lead_ii - lead_i / 2;
    out[aVL] = lead_i - lead_ii / 2;
    for (std::size_t k = 2; k < independent_lead_count; ++k) out[independent_leads[k]] = dot(v[k], d);
    return out;
}

// Fills III, aVR, aVF, aVL of a channel-major 12-lead buffer from its I and II.
inline void derive_limb_leads(double* samples, std::size_t length) {
    const double* lead_i = samples + I * length;
    const double* lead_ii = samples + II * length;
    double* lead_iii = samples + III * length;
    double* lead_avr = samples + aVR * length;
    double* lead_avf = samples + aVF * length;
    double* lead_avl = samples + aVL * length;
    for (std::size_t t = 0; t < length; ++t) {
        lead_iii[t] = lead_ii[t] - lead_i[t];
        lead_avr[t] = -(lead_i[t] + lead_ii[t]) / 2;
        lead_avf[t] = lead_ii[t] - lead_i[t] / 2;
        lead_avl[t] = lead_i[t] - lead_ii[t] / 2;
    }
}

// Frontal QRS axis in degrees from net deflections of I and aVF (the factor undoes Goldberger's sqrt(3)/2).
inline double frontal_axis_degrees(double net_i, double net_avf) {
    return std::atan2(net_avf / 0.8660254037844386, net_i) * 180.0 / 3.14159265358979323846;
}

}  // namespace fgclep::synth
