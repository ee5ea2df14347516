// Preprocessing: lead order by name, resampling (against scipy.signal.resample_poly and on sines), crop/pad, the
// normalisations, the NaN/Inf policy with its counts, and the Preprocessor's order of steps.
#include "error_text.hpp"
#include "fgclep/data/batch_stream.hpp"
#include "fgclep/data/datasets/mimic_iv_ecg.hpp"
#include "fgclep/data/preprocess.hpp"
#include "fgclep/data/wfdb_writer.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

using fgclep::test::error_text;

using namespace fgclep;
using namespace fgclep::data;

namespace {

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_v = std::numeric_limits<double>::infinity();
constexpr double pi = 3.14159265358979323846;

// A record whose sample (c, t) is 1000 * (c + 1) + t: every value says where it came from.
EcgRecord tagged_record(std::vector<std::string> leads, std::int64_t length, double fs = 500,
                        std::string name = "rec/1") {
    EcgRecord r;
    r.name = std::move(name);
    r.fs = fs;
    r.length = length;
    r.leads = std::move(leads);
    r.units.assign(r.leads.size(), "mV");
    for (std::size_t c = 0; c < r.leads.size(); ++c)
        for (std::int64_t t = 0; t < length; ++t)
            r.samples.push_back(1000.0 * static_cast<double>(c + 1) + static_cast<double>(t));
    return r;
}

}  // namespace

TEST_CASE("lead order: PTB-XL order to MIMIC order swaps aVL and aVF, by name, on values") {
    const EcgRecord ptbxl = tagged_record(standard_lead_order(), 4);
    const EcgRecord m = reorder_leads(ptbxl, mimic_lead_order());
    CHECK(m.leads == mimic_lead_order());
    REQUIRE(m.length == 4);
    for (std::int64_t c = 0; c < 12; ++c) {
        // where MIMIC's lead c sits in the PTB-XL order
        const std::int64_t src = c == 4 ? 5 : c == 5 ? 4 : c;
        for (std::int64_t t = 0; t < 4; ++t)
            CHECK(m.channel(c)[static_cast<std::size_t>(t)] == ptbxl.channel(src)[static_cast<std::size_t>(t)]);
    }
    CHECK(m.channel(4)[0] == 6000.0);  // aVF: the 6th channel of the PTB-XL file
    CHECK(m.channel(5)[0] == 5000.0);  // aVL: the 5th
    // and back again
    const EcgRecord back = reorder_leads(m, standard_lead_order());
    CHECK(back.samples == ptbxl.samples);
    CHECK(m.units == std::vector<std::string>(12, "mV"));
}

TEST_CASE("lead order: names match case-insensitively and without surrounding spaces; extra channels are left out") {
    const EcgRecord r =
        tagged_record({"v6", "AVF", "i", " II ", "iii", "AVR", "AVL", "V1", "v2", "V3", "V4", "V5", "Pleth"}, 2);
    const EcgRecord m = reorder_leads(r, mimic_lead_order());
    CHECK(m.channels() == 12);
    CHECK(m.leads == mimic_lead_order());
    CHECK(m.channel(0)[0] == 3000.0);   // I was channel 2
    CHECK(m.channel(3)[0] == 6000.0);   // aVR <- "AVR"
    CHECK(m.channel(4)[0] == 2000.0);   // aVF <- "AVF"
    CHECK(m.channel(5)[0] == 7000.0);   // aVL <- "AVL"
    CHECK(m.channel(11)[1] == 1001.0);  // V6 <- "v6"
    CHECK(lead_key(" aVR\t") == "avr");
}

TEST_CASE("lead order: a missing lead is an error naming record and lead, or zero-filled and counted") {
    const EcgRecord r =
        tagged_record({"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5"}, 3, 500, "ptbxl/00001_hr");
    const std::string msg = error_text([&] { reorder_leads(r, mimic_lead_order()); });
    CHECK(msg.find("ptbxl/00001_hr") != std::string::npos);
    CHECK(msg.find("'V6'") != std::string::npos);

    LoadIssues issues;
    const EcgRecord m = reorder_leads(r, {mimic_lead_order(), MissingLead::zero_fill}, &issues);
    REQUIRE(m.channels() == 12);
    for (double v : m.channel(11)) CHECK(v == 0.0);
    CHECK(m.channel(10)[2] == 11002.0);
    CHECK(issues.count("lead missing, zero-filled") == 1);
    CHECK(issues.examples("lead missing, zero-filled")[0].find("ptbxl/00001_hr") != std::string::npos);

    const EcgRecord dup = tagged_record({"I", "i"}, 2);
    CHECK(error_text([&] { reorder_leads(dup, {"I"}); }).find("appears twice") != std::string::npos);
    // An empty target keeps the record's channels.
    CHECK(reorder_leads(dup, LeadOrderOptions{{}, MissingLead::error}).samples == dup.samples);
}

TEST_CASE("resample: the same as scipy.signal.resample_poly (padtype constant and mean)") {
    const int n = 40;
    std::vector<double> x(n);
    for (int k = 0; k < n; ++k) x[static_cast<std::size_t>(k)] = std::sin(0.37 * k) + 0.25 * k / n + 0.1;
    struct Case {
        double fs_in, fs_out;
        ResampleEdge edge;
        std::size_t length;
        std::vector<std::pair<int, double>> values;
        double sum;
    };
    // Printed by scipy 1.10.1: resample_poly(x, up, down, padtype=...) at these indices, and the sum of y.
    const std::vector<Case> cases{
        {100,
         500,
         ResampleEdge::zero,
         200,
         {{0, 0.10006505165814365},
          {1, 0.1583953768519279},
          {66, -0.8039583968141105},
          {100, 1.1244390865606464},
          {198, 0.4939885389631376},
          {199, 0.2161383791782093}},
         64.26977513483503},
        {100,
         500,
         ResampleEdge::mean,
         200,
         {{0, 0.09985693886873859},
          {1, 0.12526787008647777},
          {66, -0.8039627929458222},
          {100, 1.1242309737712415},
          {198, 0.691193490545382},
          {199, 0.4822191574487177}},
         64.71638477509524},
        {257,
         500,
         ResampleEdge::zero,
         78,
         {{0, 0.10006751364459292},
          {1, 0.27238773472373745},
          {26, -0.7910596971044072},
          {39, 1.1321712429970967},
          {76, 1.238538889608917},
          {77, 0.5268061513865054}},
         25.033542707135332},
        {257,
         500,
         ResampleEdge::mean,
         78,
         {{0, 0.09985152448612894},
          {1, 0.23027015733488412},
          {26, -0.7909714180084475},
          {39, 1.1320080400548915},
          {76, 1.2535390104954698},
          {77, 0.7158999482792756}},
         25.17318960555866},
        {1000,
         500,
         ResampleEdge::zero,
         20,
         {{0, 0.13639177253620266},
          {1, 0.784087146880219},
          {6, -0.7884835845552259},
          {10, 1.124086489699868},
          {18, 0.9713616667785117},
          {19, 1.4077352551503304}},
         6.14745988396313},
        {1000,
         500,
         ResampleEdge::mean,
         20,
         {{0, 0.2163302026591527},
          {1, 0.7627070338239226},
          {6, -0.7868458433695775},
          {10, 1.1240864896998677},
          {18, 0.9822710687246876},
          {19, 1.386355142094034}},
         6.19697563344411},
    };
    for (const Case& c : cases) {
        CAPTURE(c.fs_in);
        CAPTURE(static_cast<int>(c.edge));
        const std::vector<double> y = PolyphaseResampler(c.fs_in, c.fs_out, c.edge).apply(x);
        REQUIRE(y.size() == c.length);
        for (auto [i, v] : c.values) CHECK(y[static_cast<std::size_t>(i)] == doctest::Approx(v).epsilon(1e-12));
        double sum = 0;
        for (double v : y) sum += v;
        CHECK(sum == doctest::Approx(c.sum).epsilon(1e-12));
    }
}

TEST_CASE("resample: a sine below Nyquist survives with small error; lengths are ceil(n * up / down)") {
    struct Case {
        double fs_in, fs_out, freq;
    };
    for (const Case c :
         {Case{100, 500, 20}, Case{257, 500, 40}, Case{1000, 500, 100}, Case{250, 500, 37}, Case{500, 360, 60}}) {
        CAPTURE(c.fs_in);
        CAPTURE(c.fs_out);
        const std::int64_t n = static_cast<std::int64_t>(c.fs_in * 4);  // 4 s
        std::vector<double> x(static_cast<std::size_t>(n));
        for (std::int64_t k = 0; k < n; ++k)
            x[static_cast<std::size_t>(k)] = std::sin(2 * pi * c.freq * static_cast<double>(k) / c.fs_in + 0.3);
        PolyphaseResampler r(c.fs_in, c.fs_out);
        const std::vector<double> y = r.apply(x);
        const auto expected_length =
            static_cast<std::int64_t>(std::ceil(static_cast<double>(n) * c.fs_out / c.fs_in - 1e-9));
        CHECK(static_cast<std::int64_t>(y.size()) == expected_length);
        double worst = 0;
        // away from the edges (0.2 s), where zero padding makes a transient
        const auto margin = static_cast<std::int64_t>(0.2 * c.fs_out);
        for (std::int64_t m = margin; m < static_cast<std::int64_t>(y.size()) - margin; ++m) {
            const double want = std::sin(2 * pi * c.freq * static_cast<double>(m) / c.fs_out + 0.3);
            worst = std::max(worst, std::abs(y[static_cast<std::size_t>(m)] - want));
        }
        CHECK(worst < 2e-3);
    }
    // lengths for awkward n
    PolyphaseResampler r257(257, 500), r1000(1000, 500), r100(100, 500);
    CHECK(r257.up() == 500);
    CHECK(r257.down() == 257);
    for (std::int64_t n : {1, 2, 7, 256, 257, 258, 1001}) {
        const std::vector<double> x(static_cast<std::size_t>(n), 1.0);
        CHECK(static_cast<std::int64_t>(r257.apply(x).size()) == (n * 500 + 256) / 257);
        CHECK(static_cast<std::int64_t>(r1000.apply(x).size()) == (n + 1) / 2);
        CHECK(static_cast<std::int64_t>(r100.apply(x).size()) == n * 5);
    }
    CHECK(r100.apply(std::vector<double>{}).empty());
}

TEST_CASE("resample: identity at equal rates, rational rates, errors") {
    const std::vector<double> x{1.5, -2, 3.25, nan_v};
    PolyphaseResampler same(500, 500);
    CHECK(same.identity());
    const auto y = same.apply(x);
    REQUIRE(y.size() == 4);
    CHECK(y[2] == 3.25);
    CHECK(resample_ratio(128.5, 500) == std::pair<std::int64_t, std::int64_t>{1000, 257});
    CHECK(resample_ratio(360, 500) == std::pair<std::int64_t, std::int64_t>{25, 18});
    CHECK(error_text([] { resample_ratio(0, 500); }).find("positive") != std::string::npos);
    CHECK(error_text([] { resample_ratio(pi, 500); }).find("not a fraction") != std::string::npos);
}

TEST_CASE("crop/pad: keep at most K from the start, then zeros to L (the CPSC 2500 -> 5000 case)") {
    const EcgRecord cpsc = tagged_record({"I", "II"}, 3000);
    const EcgRecord r = crop_pad(cpsc, {.keep = 2500, .length = 5000});
    REQUIRE(r.length == 5000);
    REQUIRE(r.samples.size() == 10000);
    for (std::int64_t c = 0; c < 2; ++c)
        for (std::int64_t t = 0; t < 5000; ++t)
            CHECK(r.channel(c)[static_cast<std::size_t>(t)] ==
                  (t < 2500 ? cpsc.channel(c)[static_cast<std::size_t>(t)] : 0.0));

    const EcgRecord longer = crop_pad(tagged_record({"I"}, 6000), {});
    CHECK(longer.length == 5000);
    CHECK(longer.samples.back() == 1000.0 + 4999);
    const EcgRecord shorter = crop_pad(tagged_record({"I"}, 10), {.keep = -1, .length = 12});
    CHECK(shorter.samples == std::vector<double>{1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 0, 0});
    CHECK(error_text([&] { crop_pad(cpsc, {.keep = 0, .length = 5}); }).find("keep") != std::string::npos);
    // in place when the length is already right: the same result
    const EcgRecord five = tagged_record({"I", "II"}, 5000);
    EcgRecord moved = five;
    const EcgRecord in_place = crop_pad(std::move(moved), {.keep = 2500, .length = 5000});
    CHECK(in_place.samples == crop_pad(five, {.keep = 2500, .length = 5000}).samples);
    CHECK(in_place.channel(1)[2499] == 4499.0);
    CHECK(in_place.channel(1)[2500] == 0.0);
}

TEST_CASE("normalise: min-max per record is exactly (x - min) / (max - min + 1e-8) over all leads") {
    EcgRecord r = tagged_record({"I", "II", "III"}, 50);
    for (std::size_t k = 0; k < r.samples.size(); ++k)
        r.samples[k] = std::sin(0.1 * static_cast<double>(k * k)) * 1.7 + 0.01 * static_cast<double>(k % 7);
    r.samples[17] = -3.5;   // the record's min, in lead I
    r.samples[120] = 2.75;  // its max, in lead III
    std::vector<double> want(r.samples.size());
    for (std::size_t k = 0; k < want.size(); ++k) want[k] = (r.samples[k] - (-3.5)) / (2.75 - (-3.5) + 1e-8);
    normalize(r, {.method = Normalization::min_max_record});
    CHECK(r.samples == want);  // bit for bit
    CHECK(r.samples[17] == 0.0);
    CHECK(r.samples[120] < 1.0);

    EcgRecord flat = tagged_record({"I"}, 5);
    for (double& v : flat.samples) v = 0.4;
    normalize(flat);
    for (double v : flat.samples) CHECK(v == 0.0);
}

TEST_CASE("normalise: z-score per lead and per record") {
    EcgRecord r = tagged_record({"I", "II"}, 1000);
    for (std::int64_t t = 0; t < 1000; ++t) {
        r.channel(0)[static_cast<std::size_t>(t)] = 3 + 2 * std::sin(0.01 * static_cast<double>(t));
        r.channel(1)[static_cast<std::size_t>(t)] = -1 + 0.1 * std::cos(0.03 * static_cast<double>(t));
    }
    const EcgRecord original = r;
    auto stats = [](std::span<const double> x) {
        double m = 0, v = 0;
        for (double a : x) m += a;
        m /= static_cast<double>(x.size());
        for (double a : x) v += (a - m) * (a - m);
        return std::pair{m, std::sqrt(v / static_cast<double>(x.size()))};
    };
    normalize(r, {.method = Normalization::zscore_lead});
    for (std::int64_t c = 0; c < 2; ++c) {
        auto [m, s] = stats(r.channel(c));
        CHECK(std::abs(m) < 1e-12);
        CHECK(s == doctest::Approx(1.0).epsilon(1e-7));
        auto [m0, s0] = stats(original.channel(c));
        CHECK(r.channel(c)[9] == doctest::Approx((original.channel(c)[9] - m0) / (s0 + 1e-8)).epsilon(1e-14));
    }
    EcgRecord w = original;
    normalize(w, {.method = Normalization::zscore_record});
    auto [m, s] = stats(w.samples);
    CHECK(std::abs(m) < 1e-12);
    CHECK(s == doctest::Approx(1.0).epsilon(1e-7));
    EcgRecord none = original;
    normalize(none, {.method = Normalization::none});
    CHECK(none.samples == original.samples);
}

TEST_CASE("NaN policy: interpolate linearly per lead, nearest at the edges, with counts") {
    EcgRecord r = tagged_record({"I", "II", "III"}, 8, 500, "mimic/s1");
    auto I = r.channel(0), II = r.channel(1);
    I[0] = nan_v;  // leading: nearest (1001)
    I[3] = nan_v;
    I[4] = inf_v;   // between 1002 and 1005: 1003, 1004
    I[7] = -inf_v;  // trailing: nearest (1006)
    II[2] = nan_v;
    for (double& v : r.channel(2)) v = nan_v;  // a lead with nothing finite: zeros by default
    LoadIssues issues;
    NanReport report;
    REQUIRE(apply_nan_policy(r, {}, &issues, &report));
    CHECK(report.nonfinite_samples == 4 + 1 + 8);
    CHECK(report.invalid_leads == 1);
    CHECK(std::vector<double>(I.begin(), I.end()) ==
          std::vector<double>{1001, 1001, 1002, 1003, 1004, 1005, 1006, 1006});
    CHECK(II[2] == 2002.0);
    for (double v : r.channel(2)) CHECK(v == 0.0);
    CHECK(issues.count("non-finite samples interpolated") == 1);
    CHECK(issues.count("lead without finite samples, zero-filled") == 1);
    const auto example = issues.examples("non-finite samples interpolated")[0];
    CHECK(example.find("mimic/s1") != std::string::npos);
    CHECK(example.find("13 NaN/Inf") != std::string::npos);

    // A gap with uneven weights, exactly.
    std::vector<double> g{0, nan_v, nan_v, 3, nan_v, 1};
    CHECK(interpolate_nonfinite(g));
    CHECK(g == std::vector<double>{0, 1, 2, 3, 2, 1});
    std::vector<double> all{nan_v, nan_v};
    CHECK_FALSE(interpolate_nonfinite(all));
}

TEST_CASE("NaN policy: error, drop, zero, and an all-NaN lead that drops the record") {
    auto with_nan = [] {
        EcgRecord r = tagged_record({"I", "II"}, 6, 500, "mimic/s2");
        r.channel(1)[4] = nan_v;
        r.channel(0)[1] = inf_v;
        return r;
    };
    {
        EcgRecord r = with_nan();
        const std::string msg = error_text([&] { apply_nan_policy(r, {.policy = NanPolicy::error}); });
        CHECK(msg.find("mimic/s2") != std::string::npos);
        CHECK(msg.find("lead 'I'") != std::string::npos);
        CHECK(msg.find("sample 1") != std::string::npos);
    }
    {
        EcgRecord r = with_nan();
        LoadIssues issues;
        NanReport report;
        CHECK_FALSE(apply_nan_policy(r, {.policy = NanPolicy::drop}, &issues, &report));
        CHECK(report.dropped);
        CHECK(report.nonfinite_samples == 2);
        CHECK(issues.count("record dropped: non-finite samples") == 1);
    }
    {
        EcgRecord r = with_nan();
        LoadIssues issues;
        CHECK(apply_nan_policy(r, {.policy = NanPolicy::zero}, &issues));
        CHECK(r.channel(1)[4] == 0.0);
        CHECK(r.channel(0)[1] == 0.0);
        CHECK(r.channel(0)[2] == 1002.0);
        CHECK(issues.count("non-finite samples set to zero") == 1);
    }
    {
        EcgRecord r = with_nan();
        for (double& v : r.channel(1)) v = nan_v;
        LoadIssues issues;
        NanReport report;
        CHECK_FALSE(apply_nan_policy(
            r, {.policy = NanPolicy::interpolate, .all_invalid_lead = AllInvalidLead::drop_record}, &issues, &report));
        CHECK(report.invalid_leads == 1);
        CHECK(issues.examples("record dropped: non-finite samples")[0].find("with no finite sample") !=
              std::string::npos);
    }
    {
        EcgRecord clean = tagged_record({"I"}, 4);
        LoadIssues issues;
        CHECK(apply_nan_policy(clean, {.policy = NanPolicy::error}, &issues));
        CHECK(issues.empty());
    }
}

TEST_CASE("Preprocessor: the benchmark's defaults, steps in order, counts") {
    Preprocessor pre;
    CHECK(pre.leads() == 12);
    CHECK(pre.length() == 5000);
    CHECK(pre.options().target_fs == 500);
    CHECK(pre.options().normalize.method == Normalization::min_max_record);
    CHECK(pre.options().nan.policy == NanPolicy::interpolate);

    // A PTB-XL-ordered 250 Hz record of 12 s with a NaN: reorder, interpolate, resample to 500 Hz, crop to 5000,
    // min-max.
    EcgRecord r = tagged_record(standard_lead_order(), 3000, 250, "ptbxl/records100/00001_lr");
    for (std::int64_t c = 0; c < 12; ++c)
        for (std::int64_t t = 0; t < 3000; ++t)
            r.channel(c)[static_cast<std::size_t>(t)] = (c + 1) * std::sin(2 * pi * 3 * static_cast<double>(t) / 250);
    r.channel(5)[100] = nan_v;  // aVF in PTB-XL order
    const auto out = pre.apply(r);
    REQUIRE(out.has_value());
    CHECK(out->fs == 500);
    CHECK(out->length == 5000);
    CHECK(out->leads == mimic_lead_order());
    const auto [lo, hi] = std::minmax_element(out->samples.begin(), out->samples.end());
    CHECK(*lo == 0.0);
    CHECK(*hi == doctest::Approx(1.0).epsilon(1e-7));
    // aVF (amplitude 6 before) now sits in row 4; V6 (amplitude 12) has the record's extremes
    double avf_peak = 0;
    for (double v : out->channel(4)) avf_peak = std::max(avf_peak, v);
    CHECK(avf_peak == doctest::Approx((6.0 + 12.0) / 24.0).epsilon(2e-3));
    const PreprocessCounts counts = pre.counts();
    CHECK(counts.records == 1);
    CHECK(counts.resampled == 1);
    CHECK(counts.nonfinite_records == 1);
    CHECK(counts.nonfinite_samples == 1);
    CHECK(counts.dropped == 0);
    CHECK(counts.short_records == 0);
    CHECK(pre.issues().count("non-finite samples interpolated") == 1);
}

TEST_CASE("Preprocessor: CPSC (keep 2500, pad to 5000, then min-max), drop, and the option fingerprint") {
    PreprocessOptions cpsc_options;
    cpsc_options.crop.keep = 2500;
    Preprocessor cpsc(cpsc_options);
    EcgRecord r = tagged_record(standard_lead_order(), 3500, 500, "cpsc/A0001");
    for (double& v : r.samples) v = v / 1000.0 + 2;  // all positive: the padding zeros become the minimum
    const auto out = cpsc.apply(r);
    REQUIRE(out);
    // min is a padding zero, max the last kept sample of V6: only the first 2500 samples count
    const double mx = r.channel(11)[2499];
    CHECK(out->channel(0)[4999] == 0.0);
    CHECK(out->channel(0)[0] == (r.channel(0)[0] - 0.0) / (mx - 0.0 + 1e-8));
    CHECK(out->channel(11)[2499] == (mx - 0.0) / (mx - 0.0 + 1e-8));
    CHECK(cpsc.counts().short_records == 0);

    EcgRecord short_one = tagged_record(mimic_lead_order(), 100, 500, "cpsc/A0002");
    CHECK(cpsc.apply(short_one));
    CHECK(cpsc.counts().short_records == 1);
    CHECK(cpsc.issues().examples("record shorter than kept length, zero-padded")[0].find("cpsc/A0002") !=
          std::string::npos);

    PreprocessOptions drop_options;
    drop_options.nan.policy = NanPolicy::drop;
    Preprocessor drop(drop_options);
    EcgRecord bad = tagged_record(mimic_lead_order(), 10);
    bad.samples[3] = nan_v;
    CHECK_FALSE(drop.apply(bad).has_value());
    CHECK(drop.counts().dropped == 1);

    CHECK(Preprocessor().options().fingerprint() != cpsc.options().fingerprint());
    CHECK(Preprocessor().options().fingerprint() == PreprocessOptions{}.fingerprint());
    CHECK(error_text([] { Preprocessor p(PreprocessOptions{.target_fs = -1}); }).find("target_fs") !=
          std::string::npos);
}

// ------------------------------------------------------------------------------- the NaN/Inf policy on real data
// The real records here have no NaN sample, except the MIMIC-II segment's absent signal: the tests write copies of
// the real PTB-XL record 00001_lr and Chapman-Shaoxing record JS00001 (tests/fixtures/wfdb, see its ATTRIBUTION.md)
// with NaN samples written into them (write_wfdb stores NaN as format 16's invalid marker; read_ecg gives NaN).

namespace {

const std::filesystem::path wfdb_fixtures = std::filesystem::path(FGCLEP_FIXTURES) / "wfdb";

struct ScratchDir {
    std::filesystem::path root;
    explicit ScratchDir(const std::string& name) {
        root = std::filesystem::temp_directory_path() /
               fmt::format("fgclep-test-nan-{}-{}-{}", name, ::getpid(), std::random_device{}());
        std::filesystem::create_directories(root);
    }
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::remove_all(root, ec);
    }
};

// Where the copies get NaN: 5 samples of V3 and 1 of aVF (lead names as both records write them).
struct NanPlace {
    std::string lead;
    std::int64_t from, to;  // [from, to)
};
const std::vector<NanPlace> nan_places = {{"V3", 10, 15}, {"aVF", 200, 201}};
constexpr std::int64_t nan_count = 6;

std::int64_t lead_index(const EcgRecord& r, const std::string& lead) {
    for (std::size_t c = 0; c < r.leads.size(); ++c)
        if (lead_key(r.leads[c]) == lead_key(lead)) return static_cast<std::int64_t>(c);
    FAIL("no lead " << lead << " in " << r.name);
    return -1;
}

EcgRecord with_nan(EcgRecord r) {
    for (const auto& p : nan_places)
        for (std::int64_t t = p.from; t < p.to; ++t)
            r.channel(lead_index(r, p.lead))[static_cast<std::size_t>(t)] = nan_v;
    return r;
}

// The real record as interpolate_nonfinite would repair the copy: linear between the neighbours of each run.
EcgRecord interpolated(EcgRecord r) {
    for (const auto& p : nan_places) {
        auto x = r.channel(lead_index(r, p.lead));
        const std::int64_t prev = p.from - 1, next = p.to;
        for (std::int64_t k = p.from; k < p.to; ++k) {
            const double w = static_cast<double>(k - prev) / static_cast<double>(next - prev);
            x[static_cast<std::size_t>(k)] =
                x[static_cast<std::size_t>(prev)] +
                w * (x[static_cast<std::size_t>(next)] - x[static_cast<std::size_t>(prev)]);
        }
    }
    return r;
}

// A dataset of 4 records in `dir`: each real record copied as it is and with NaN samples written in.
EcgDataset real_records_with_nan(const std::filesystem::path& dir) {
    EcgDataset d;
    d.name = "real-with-nan";
    d.root = dir;
    for (const char* name : {"00001_lr", "JS00001"}) {
        const EcgRecord real = read_ecg(wfdb_fixtures / name);
        write_wfdb(dir / name, real);  // both are 1000 ADC units per mV: the copy is exact
        write_wfdb(dir / (std::string(name) + "_nan"), with_nan(real));
        for (const std::string& id : {std::string(name), std::string(name) + "_nan"}) {
            DatasetEntry e;
            e.id = id;
            e.record = id;
            d.entries.push_back(std::move(e));
        }
    }
    return d;
}

std::vector<float> as_float(const std::vector<double>& x) { return {x.begin(), x.end()}; }

}  // namespace

TEST_CASE("NaN policy: names for command lines") {
    for (NanPolicy p : {NanPolicy::error, NanPolicy::drop, NanPolicy::interpolate, NanPolicy::zero})
        CHECK(nan_policy_from_string(to_string(p)) == p);
    CHECK(to_string(NanPolicy::drop) == "drop");
    CHECK(nan_policy_from_string("interpolate") == NanPolicy::interpolate);
    const std::string e = error_text([] { nan_policy_from_string("discard"); });
    CHECK(e.find("'discard'") != std::string::npos);
    CHECK(e.find("'drop'") != std::string::npos);
    for (AllInvalidLead a : {AllInvalidLead::zero_fill, AllInvalidLead::drop_record})
        CHECK(all_invalid_lead_from_string(to_string(a)) == a);
    CHECK(to_string(AllInvalidLead::drop_record) == "drop_record");
    CHECK(error_text([] { all_invalid_lead_from_string("zero"); }).find("'zero_fill'") != std::string::npos);
    // The default stays the benchmark's; the paper's choice is one option away.
    CHECK(PreprocessOptions{}.nan.policy == NanPolicy::interpolate);
}

TEST_CASE("NaN policy on real records with NaN written in: the copies read back with NaN where it was written") {
    ScratchDir dir("read");
    const EcgDataset d = real_records_with_nan(dir.root);
    for (std::int64_t i = 0; i < d.size(); i += 2) {
        const EcgRecord clean = d.read(i), nan = d.read(i + 1);
        const EcgRecord real = read_ecg(wfdb_fixtures / d.entry(i).id);
        CHECK(clean.samples == real.samples);  // the copy is the real record
        REQUIRE(nan.samples.size() == real.samples.size());
        std::int64_t n = 0, differ = 0;
        for (std::size_t k = 0; k < nan.samples.size(); ++k) {
            if (std::isnan(nan.samples[k]))
                ++n;
            else if (nan.samples[k] != real.samples[k])
                ++differ;
        }
        CHECK(n == nan_count);
        CHECK(differ == 0);
        CHECK(std::isnan(nan.channel(lead_index(nan, "V3"))[12]));
    }
}

TEST_CASE("NaN policy drop (the paper's) on real records: skipped and counted by the stream and the cache") {
    ScratchDir dir("drop");
    const EcgDataset d = real_records_with_nan(dir.root);  // 0 00001_lr, 1 its NaN copy, 2 JS00001, 3 its NaN copy
    PreprocessOptions o;                                   // the benchmark's: MIMIC order, 500 Hz, 5000, min-max
    o.nan.policy = NanPolicy::drop;

    // Directly: nullopt, counted.
    const Preprocessor direct(o);
    CHECK_FALSE(direct.apply(d.read(1)).has_value());
    CHECK(direct.counts().dropped == 1);
    CHECK(direct.counts().nonfinite_samples == nan_count);
    const auto msg = direct.issues().examples("record dropped: non-finite samples");
    REQUIRE(msg.size() == 1);
    CHECK(msg[0].find("00001_lr_nan") != std::string::npos);
    CHECK(msg[0].find("6 NaN/Inf samples in lead(s) aVF, V3") != std::string::npos);  // in MIMIC order

    // Through the stream: the NaN records are skipped, the others are the real records preprocessed.
    BatchStream stream(d, Preprocessor(o), {.batch_size = 4, .workers = 2, .shuffle = false});
    std::vector<Batch> batches;
    for (const Batch& b : stream.epoch(0)) batches.push_back(b);
    REQUIRE(batches.size() == 1);
    CHECK(batches[0].indices == std::vector<std::int64_t>{0, 2});
    CHECK(batches[0].skipped == std::vector<std::int64_t>{1, 3});
    CHECK(stream.skipped() == 2);
    CHECK(stream.preprocessor().counts().dropped == 2);
    CHECK(stream.preprocessor().counts().nonfinite_samples == 2 * nan_count);
    const LoadIssues issues = stream.issues();
    CHECK(issues.count("record dropped: non-finite samples") == 2);
    CHECK(issues.count("record skipped: failed to read") == 0);
    const std::size_t per = 12 * 5000;
    for (std::size_t k = 0; k < 2; ++k) {
        const auto want = Preprocessor(o).apply(read_ecg(wfdb_fixtures / d.entry(batches[0].indices[k]).id));
        REQUIRE(want);
        CHECK(std::equal(want->samples.begin(), want->samples.end(), batches[0].ecg.begin() + k * per,
                         [](double a, float b) { return static_cast<float>(a) == b; }));
    }
    // The PairSource view (what the trainer calls): a smaller batch, no crash.
    CHECK(stream.load(std::vector<std::int64_t>{0, 1, 2, 3}).size() == 2);
    CHECK(error_text([&] {
              stream.load(std::vector<std::int64_t>{1, 3});
          }).find("none of the 2 records") != std::string::npos);

    // Through the record cache: dropped at build time, kept as such, skipped and counted at every epoch.
    BatchStream cached(d, Preprocessor(o),
                       {.batch_size = 4, .workers = 2, .shuffle = false, .cache = dir.root / "drop.fgrc"});
    REQUIRE(cached.cache());
    CHECK(cached.cache()->status(1) == RecordCache::Status::dropped);
    CHECK(cached.cache()->status(3) == RecordCache::Status::dropped);
    CHECK(cached.cache()->count(RecordCache::Status::ok) == 2);
    std::vector<Batch> from_cache;
    for (const Batch& b : cached.epoch(0)) from_cache.push_back(b);
    REQUIRE(from_cache.size() == 1);
    CHECK(from_cache[0].indices == batches[0].indices);
    CHECK(from_cache[0].ecg == batches[0].ecg);
    CHECK(cached.skipped() == 2);
    CHECK(cached.issues().count("record skipped: dropped by the NaN policy (cached)") == 2);
    CHECK(cached.issues().examples("record skipped: dropped by the NaN policy (cached)")[0].find("00001_lr_nan") !=
          std::string::npos);
}

TEST_CASE("NaN policy interpolate (the default) and error on real records with NaN written in") {
    ScratchDir dir("interp");
    const EcgDataset d = real_records_with_nan(dir.root);
    // Interpolated copies equal the real records repaired by hand, through the whole preprocessing, bit for bit.
    BatchStream stream(d, Preprocessor(), {.batch_size = 4, .workers = 2, .shuffle = false});
    std::vector<Batch> batches;
    for (const Batch& b : stream.epoch(0)) batches.push_back(b);
    REQUIRE(batches.size() == 1);
    CHECK(batches[0].indices == std::vector<std::int64_t>{0, 1, 2, 3});
    CHECK(stream.skipped() == 0);
    CHECK(stream.issues().count("non-finite samples interpolated") == 2);
    const std::size_t per = 12 * 5000;
    for (std::size_t k : {1u, 3u}) {
        const EcgRecord real = read_ecg(wfdb_fixtures / d.entry(static_cast<std::int64_t>(k - 1)).id);
        const auto want = Preprocessor().apply(interpolated(real));
        REQUIRE(want);
        const std::vector<float> got(batches[0].ecg.begin() + static_cast<std::ptrdiff_t>(k * per),
                                     batches[0].ecg.begin() + static_cast<std::ptrdiff_t>((k + 1) * per));
        CHECK(got == as_float(want->samples));
        for (float v : got) REQUIRE(std::isfinite(v));
    }
    // error: the record, the lead and the first bad sample are named; in a stream it is a counted skip.
    PreprocessOptions strict;
    strict.nan.policy = NanPolicy::error;
    const std::string e = error_text([&] { Preprocessor(strict).apply(d.read(3)); });
    CHECK(e.find("JS00001_nan") != std::string::npos);
    CHECK(e.find("lead 'aVF'") != std::string::npos);  // aVF comes before V3 in the MIMIC order
    CHECK(e.find("sample 200") != std::string::npos);
    BatchStream failing(d, Preprocessor(strict), {.batch_size = 4, .workers = 1, .shuffle = false});
    for (const Batch& b : failing.epoch(0)) CHECK(b.indices == std::vector<std::int64_t>{0, 2});
    CHECK(failing.issues().count("record skipped: failed to read") == 2);
}

TEST_CASE("NaN policy on a real NaN: the MIMIC-II segment whose MCL1 signal is absent") {
    // s00001's variable layout has no MCL1 in segment 3975656_0012: the reader gives NaN for all of it.
    const EcgRecord r = read_ecg(wfdb_fixtures / "multi-segment/s00001/s00001-2896-10-10-00-31",
                                 {.from = 14428365, .to = 14428375, .channels = {}});
    REQUIRE(r.leads == std::vector<std::string>{"II", "V", "MCL1", "ABP"});
    for (double v : r.channel(2)) REQUIRE(std::isnan(v));
    PreprocessOptions o;
    o.leads.target = {"II", "V", "MCL1"};
    o.target_fs = 0;
    o.crop = {.keep = 10, .length = 10};
    o.normalize.method = Normalization::none;

    o.nan.policy = NanPolicy::drop;
    const Preprocessor drop(o);
    CHECK_FALSE(drop.apply(r).has_value());
    CHECK(drop.counts().dropped == 1);
    CHECK(drop.counts().nonfinite_samples == 10);
    CHECK(drop.counts().invalid_leads == 1);
    CHECK(drop.issues().examples("record dropped: non-finite samples")[0].find("(MCL1 with no finite sample)") !=
          std::string::npos);

    o.nan.policy = NanPolicy::interpolate;  // with the default zero_fill: the lead becomes zeros, counted
    const Preprocessor fill(o);
    const auto out = fill.apply(r);
    REQUIRE(out);
    for (double v : out->channel(2)) CHECK(v == 0.0);
    CHECK(std::vector<double>(out->channel(0).begin(), out->channel(0).end()) ==
          std::vector<double>(r.channel(0).begin(), r.channel(0).end()));
    CHECK(fill.issues().count("lead without finite samples, zero-filled") == 1);

    o.nan.all_invalid_lead = AllInvalidLead::drop_record;
    const Preprocessor strict(o);
    CHECK_FALSE(strict.apply(r).has_value());
    CHECK(strict.counts().dropped == 1);
}

TEST_CASE("the paper's data rules end to end: report filter paper and NaN drop on a MIMIC-IV-ECG tree") {
    // The real metadata row (tests/fixtures/datasets/mimic-iv-ecg) with the real JS00001 waveform as its record,
    // and two more studies: one informative report over a NaN copy, one uninformative report over a clean copy.
    ScratchDir dir("paper");
    const std::filesystem::path fixtures = std::filesystem::path(FGCLEP_FIXTURES) / "datasets/mimic-iv-ecg";
    const auto slurp = [](const std::filesystem::path& p) {
        std::ifstream in(p, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    const auto row = [](const std::string& study, const std::string& r0, const std::string& r1) {
        std::string s = "10000050," + study + ",6848296,2180-07-24 08:44:00," + r0 + "," + r1;
        for (int i = 2; i < 18; ++i) s += ",";
        return s + ",0.005-150 Hz,60 Hz notch  Baseline filter,659,40,128,170,258,518,81,77,79\n";
    };
    std::ofstream(dir.root / "record_list.csv", std::ios::binary)
        << slurp(fixtures / "record_list.csv")
        << "10000050,40000021,40000021,2180-07-24 08:44:00,files/p1000/p10000050/s40000021/40000021\n"
        << "10000050,40000022,40000022,2180-07-24 08:44:00,files/p1000/p10000050/s40000022/40000022\n";
    std::ofstream(dir.root / "machine_measurements.csv", std::ios::binary)
        << slurp(fixtures / "machine_measurements.csv") << row("40000021", "Atrial fibrillation", "Abnormal ECG")
        << row("40000022", "--- Warning: Data quality may affect interpretation ---", "");
    const EcgRecord js = read_ecg(wfdb_fixtures / "JS00001");
    write_wfdb(dir.root / "files/p1000/p10000032/s40689238/40689238", js);
    write_wfdb(dir.root / "files/p1000/p10000050/s40000021/40000021", with_nan(js));
    write_wfdb(dir.root / "files/p1000/p10000050/s40000022/40000022", js);

    // The paper's run: one option for the reports, one for the records.
    const EcgDataset paper = load_mimic_iv_ecg(dir.root, {.report_filter = ReportFilter::paper, .check_files = true});
    REQUIRE(paper.size() == 2);
    CHECK(paper.issues.count("uninformative report") == 1);
    PreprocessOptions drop;
    drop.nan.policy = NanPolicy::drop;
    BatchStream stream(paper, Preprocessor(drop), {.batch_size = 8, .workers = 2, .shuffle = false});
    const HostPairs pairs = stream.load(std::vector<std::int64_t>{0, 1});
    REQUIRE(pairs.size() == 1);
    CHECK(pairs.reports[0] == "sinus rhythm. possible right atrial abnormality. borderline ecg.");
    CHECK(stream.skipped() == 1);
    CHECK(stream.issues().examples("record dropped: non-finite samples")[0].find("40000021") != std::string::npos);

    // The defaults (MERL's reports, NaN interpolated) keep all three.
    const EcgDataset merl = load_mimic_iv_ecg(dir.root, {.check_files = true});
    REQUIRE(merl.size() == 3);
    BatchStream all(merl, Preprocessor(), {.batch_size = 8, .workers = 2, .shuffle = false});
    CHECK(all.load(std::vector<std::int64_t>{0, 1, 2}).size() == 3);
    CHECK(all.skipped() == 0);
    CHECK(all.issues().count("non-finite samples interpolated") == 1);
}
