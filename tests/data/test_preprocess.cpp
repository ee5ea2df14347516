// Preprocessing: lead order by name, resampling (against scipy.signal.resample_poly and on sines), crop/pad, the
// normalisations, the NaN/Inf policy with its counts, and the Preprocessor's order of steps.
#include "error_text.hpp"
#include "fgclep/data/preprocess.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

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
