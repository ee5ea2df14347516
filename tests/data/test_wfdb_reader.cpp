// WFDB reading against the outputs of the WFDB Software Package's rdsamp (tests/fixtures/wfdb/target-output).
#include "fixture.hpp"

#include "fgclep/data/wfdb_reader.hpp"
#include "fgclep/data/wfdb_writer.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

using namespace fgclep;
using namespace fgclep::data;

namespace {

const std::string wfdb_dir = std::string(FGCLEP_FIXTURES) + "/wfdb/";

std::vector<std::vector<std::string>> read_target(const std::string& name) {
    std::ifstream in(wfdb_dir + "target-output/" + name);
    REQUIRE(in);
    std::vector<std::vector<std::string>> rows;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::vector<std::string> row;
        std::string tok;
        while (ls >> tok) row.push_back(tok);
        if (!row.empty()) rows.push_back(std::move(row));
    }
    return rows;
}

// Digital samples equal, row by row (rows = samples, columns = channels).
void check_digital(const WfdbSignals& got, const std::string& target, std::int64_t rows_expected) {
    const auto rows = read_target(target);
    REQUIRE(static_cast<std::int64_t>(rows.size()) == rows_expected);
    REQUIRE(got.length >= rows_expected);
    std::int64_t mismatches = 0;
    for (std::int64_t t = 0; t < rows_expected; ++t) {
        REQUIRE(static_cast<std::int64_t>(rows[t].size()) == got.n_channels());
        for (std::int64_t c = 0; c < got.n_channels(); ++c)
            if (std::to_string(got.at(c, t)) != rows[t][c] && ++mismatches <= 5)
                FAIL_CHECK(target << " row " << t << " col " << c << ": got " << got.at(c, t) << ", rdsamp "
                                  << rows[t][c]);
    }
    CHECK(mismatches == 0);
}

doctest::Contains contains(const std::string& s) { return doctest::Contains(s.c_str()); }

// A scratch directory, removed at the end of the test.
struct ScratchDir {
    std::filesystem::path path;
    explicit ScratchDir(const std::string& tag) {
        std::random_device rd;
        path = std::filesystem::temp_directory_path() / fmt::format("fgclep_test_wfdb_{}_{:x}", tag, rd());
        std::filesystem::create_directories(path);
    }
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void spit(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
std::string replace_once(std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

std::string physical_text(double v) {
    if (std::isnan(v)) return "-";
    std::string s = fmt::format("{:.8f}", v);
    return s == "-0.00000000" ? "0.00000000" : s;
}

// Physical samples equal after rounding to 8 decimals, as rdsamp -P prints them; '-' is NaN.
void check_physical(const EcgRecord& got, const std::string& target, std::int64_t rows_expected) {
    const auto rows = read_target(target);
    REQUIRE(static_cast<std::int64_t>(rows.size()) == rows_expected);
    REQUIRE(got.length >= rows_expected);
    std::int64_t mismatches = 0;
    for (std::int64_t t = 0; t < rows_expected; ++t) {
        REQUIRE(static_cast<std::int64_t>(rows[t].size()) == got.channels());
        for (std::int64_t c = 0; c < got.channels(); ++c) {
            std::string want = rows[t][c] == "-0.00000000" ? "0.00000000" : rows[t][c];
            const double v = got.samples[static_cast<std::size_t>(c * got.length + t)];
            if (physical_text(v) != want && ++mismatches <= 5)
                FAIL_CHECK(target << " row " << t << " col " << c << ": got " << physical_text(v) << ", rdsamp "
                                  << want);
        }
    }
    CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("record-1a: format 16, all signals, digital") {
    auto r = read_wfdb(wfdb_dir + "test01_00s");
    CHECK(r.fs == 500);
    CHECK(r.length == 4000);
    check_digital(r, "record-1a", 4000);
}

TEST_CASE("record-1d: format 80, seconds 1 to 8 of signal 1, physical") {
    auto r = read_ecg(wfdb_dir + "3000003_0003", {.from = 125, .to = 1000, .channels = {1}});
    CHECK(r.leads == std::vector<std::string>{"V"});
    CHECK(r.units == std::vector<std::string>{"mV"});
    check_physical(r, "record-1d", 875);
}

TEST_CASE("record-1f: formats 8, 16, 61, 80, 160, 212, 310, 311, 24 and 32, one file each, digital") {
    auto r = read_wfdb(wfdb_dir + "binformats");
    CHECK(r.n_channels() == 10);
    check_digital(r, "record-1f", 499);
    // Any sub-range and channel order gives the same values as the whole read (format 8 integrates from 0;
    // 212/310/311 start mid-group).
    const auto rows = read_target("record-1f");
    for (auto [from, to] : {std::pair<int, int>{0, 1}, {1, 2}, {37, 211}, {100, 499}, {497, 499}, {5, 5}}) {
        auto part = read_wfdb(wfdb_dir + "binformats", {.from = from, .to = to, .channels = {9, 5, 6, 7, 0, 3, 2}});
        REQUIRE(part.length == to - from);
        const std::vector<int> cols{9, 5, 6, 7, 0, 3, 2};
        bool same = true;
        for (std::int64_t t = 0; t < part.length; ++t)
            for (std::size_t c = 0; c < cols.size(); ++c)
                same &= std::to_string(part.at(static_cast<std::int64_t>(c), t)) == rows[from + t][cols[c]];
        CHECK_MESSAGE(same, "range [" << from << ", " << to << ")");
    }
}

TEST_CASE("record-2b: MIT-BIH 100, format 212, samples [1, 10800) of signal 1, digital") {
    auto r = read_wfdb(wfdb_dir + "100", {.from = 1, .to = 10800, .channels = {1}});
    check_digital(r, "record-2b", 10799);
    // The whole record (650000 frames) passes its checksums.
    auto whole = read_wfdb(wfdb_dir + "100");
    CHECK(whole.length == 650000);
    CHECK(whole.header.comments.front() == "unnecessary comment");
    CHECK(whole.at(1, 1) == r.at(0, 0));
}

TEST_CASE("record-2c: format 212 with an odd number of samples, physical") {
    auto r = read_ecg(wfdb_dir + "100_3chan");
    CHECK(r.length == 999);
    CHECK(r.leads == std::vector<std::string>{"I", "II", "III"});
    check_physical(r, "record-2c", 999);
}

TEST_CASE("record-2d: format 310 from sample 2, digital") {
    auto r = read_wfdb(wfdb_dir + "310derive", {.from = 2, .to = -1, .channels = {}});
    check_digital(r, "record-2d", 1024);
}

TEST_CASE("record-2e: format 311, samples [1, 978), physical") {
    auto r = read_ecg(wfdb_dir + "311derive", {.from = 1, .to = 978, .channels = {}});
    check_physical(r, "record-2e", 977);
}

TEST_CASE("record-4a: skew and 2 samples per frame, one value per frame (getvec's truncated mean)") {
    // This hand-made header (see the comment in it) copied ECG_3's initial value from test01_00s (-57), but its
    // third signal is test01_00s's fourth (first sample -66; the checksum was updated). rdsamp reads it, and so do
    // we by default (checksums verified); the opt-in initial-value check finds the stale field.
    WfdbReadOptions strict;
    strict.verify_initial_values = true;
    CHECK_THROWS_WITH_AS(read_wfdb(wfdb_dir + "test01_00s_skewframe", strict),
                         contains("test01_00s.dat': signal 2 ('ECG_3') starts with -66, but header"), Error);
    auto r = read_wfdb(wfdb_dir + "test01_00s_skewframe");
    CHECK(r.length == 4000);
    CHECK(r.complete_length == 3997);  // the signal skewed by 3 frames runs out 3 frames early
    CHECK(r.is_invalid(0, 3997));
    CHECK_FALSE(r.is_invalid(0, 3996));
    check_digital(r, "record-4a", 3997);
}

TEST_CASE("record-4d: skew and 2 samples per frame, expanded frames (rdsamp -H), physical") {
    auto r = read_ecg(wfdb_dir + "test01_00s_skewframe", {.from = 0, .to = -1, .channels = {}, .expand_frames = true});
    CHECK(r.fs == 1000);
    CHECK(r.length == 8000);
    CHECK(std::isnan(r.samples[7994]));
    check_physical(r, "record-4d", 7994);
}

TEST_CASE("record-multi-fixed-c: fixed-layout multi-segment, across a segment boundary, channels 1 0 3") {
    auto r = read_ecg(wfdb_dir + "multi-segment/fixed1/v102s", {.from = 70000, .to = 80000, .channels = {1, 0, 3}});
    CHECK(r.leads == std::vector<std::string>{"V", "II", "RESP"});
    CHECK(r.units == std::vector<std::string>{"mV", "mV", "NU"});
    check_physical(r, "record-multi-fixed-c", 10000);
}

TEST_CASE("record-multi-fixed-d: fixed layout with 212x4 signals, channels 3 2 1, expanded, digital") {
    auto r = read_wfdb(wfdb_dir + "multi-segment/041s/041s", {.channels = {3, 2, 1}, .expand_frames = true});
    CHECK(r.samples_per_frame == 4);
    CHECK(r.fs == 500);
    check_digital(r, "record-multi-fixed-d", 8000);
}

TEST_CASE("record-multi-variable-a: variable layout, a signal absent from the segment is NaN") {
    const auto rec = wfdb_dir + "multi-segment/s00001/s00001-2896-10-10-00-31";
    auto r = read_ecg(rec, {.from = 14428365, .to = 14428375, .channels = {}});
    CHECK(r.leads == std::vector<std::string>{"II", "V", "MCL1", "ABP"});
    check_physical(r, "record-multi-variable-a", 10);
    auto d = read_wfdb(rec, {.from = 14428365, .to = 14428375, .channels = {2, 3}});
    CHECK(d.is_invalid(0, 0));
    CHECK(d.at(1, 0) == -72);
}

TEST_CASE("Chapman-Shaoxing JS00001: a .mat container (16+24), lead names, units, fs, checksums") {
    auto h = read_wfdb_header(wfdb_dir + "JS00001");
    CHECK(h.signals[0].byte_offset == 24);
    CHECK(h.comments[0] == "Age: 85");
    CHECK(h.comments[2] == "Dx: 164889003,59118001,164934002");
    auto r = read_ecg(wfdb_dir + "JS00001");  // verifies all 12 checksums
    CHECK(r.fs == 500);
    CHECK(r.length == 5000);
    CHECK(r.leads ==
          std::vector<std::string>{"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"});
    CHECK(r.units == std::vector<std::string>(12, "mV"));
    CHECK(r.samples[0] == doctest::Approx(-0.254));  // initial value -254 at 1000/mV
    CHECK(r.samples[5000 * 11] == doctest::Approx(0.527));
    // The values are the MATLAB variable's: the same numbers through the .mat reader.
    auto val = read_mat_v4_variable(wfdb_dir + "JS00001.mat", "val");
    REQUIRE(val.rows == 12);
    REQUIRE(val.cols == 5000);
    auto d = read_wfdb(wfdb_dir + "JS00001");
    bool same = true;
    for (int c = 0; c < 12; ++c)
        for (int t = 0; t < 5000; t += 7) same &= d.at(c, t) == val.at(c, t);
    CHECK(same);
}

TEST_CASE("PTB-XL 00001_lr: 100 Hz, 12 leads, unsigned checksums verify") {
    auto h = read_wfdb_header(wfdb_dir + "00001_lr.hea");
    CHECK(h.signals[2].checksum == static_cast<std::int16_t>(64758 - 65536));
    CHECK(h.signals[0].baseline_given);
    auto r = read_ecg(wfdb_dir + "00001_lr");
    CHECK(r.fs == 100);
    CHECK(r.length == 1000);
    CHECK(r.leads ==
          std::vector<std::string>{"I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"});
    CHECK(r.units[0] == "mV");
    CHECK(r.samples[0] == doctest::Approx(-0.119));
}

TEST_CASE("a flipped checksum in a copied header is an error naming the file and the signal") {
    ScratchDir dir("checksum");
    for (auto ext : {".hea", ".dat"}) spit(dir / ("00001_lr" + std::string(ext)), slurp(wfdb_dir + "00001_lr" + ext));
    spit(dir / "00001_lr.hea", replace_once(slurp(dir / "00001_lr.hea"), "64758 0 III", "64759 0 III"));
    CHECK_THROWS_WITH_AS(read_ecg(dir / "00001_lr"),
                         contains("00001_lr.dat': signal 2 ('III') fails its checksum: header '" +
                                  (dir / "00001_lr.hea") + "' line 4 says -777, the samples sum to -778"),
                         Error);
    // Reading part of the signal does not check it; turning checks off reads it all.
    CHECK(read_ecg(dir / "00001_lr", {.from = 0, .to = 999, .channels = {}}).length == 999);
    CHECK(read_ecg(dir / "00001_lr", {.from = 0, .to = -1, .channels = {}, .verify_checksums = false}).length == 1000);
    // Other signals still verify when read alone.
    CHECK(read_ecg(dir / "00001_lr", {.from = 0, .to = -1, .channels = {0, 1, 3}}).channels() == 3);

    // The same for the .mat container.
    spit(dir / "JS00001.mat", slurp(wfdb_dir + "JS00001.mat"));
    spit(dir / "JS00001.hea", replace_once(slurp(wfdb_dir + "JS00001.hea"), "-312 -32761 0 V2", "-312 -32760 0 V2"));
    CHECK_THROWS_WITH_AS(read_ecg(dir / "JS00001"), contains("JS00001.mat': signal 7 ('V2') fails its checksum"),
                         Error);
    // A byte offset that does not point at the MATLAB variable's values.
    std::string moved = slurp(wfdb_dir + "JS00001.hea");
    for (auto at = moved.find("16+24"); at != std::string::npos; at = moved.find("16+24"))
        moved.replace(at, 5, "16+26");
    spit(dir / "JS00001.hea", moved);
    CHECK_THROWS_WITH_AS(
        read_ecg(dir / "JS00001"),
        contains("JS00001.mat': header '" + (dir / "JS00001.hea") +
                 "' says the samples start at byte 26, its MATLAB v4 variable's values start at byte 24"),
        Error);
    // Signals of one file must agree on the offset.
    spit(dir / "JS00001.hea", replace_once(slurp(wfdb_dir + "JS00001.hea"), "JS00001.mat 16+24 1000/mV 16 0 264",
                                           "JS00001.mat 16+26 1000/mV 16 0 264"));
    CHECK_THROWS_WITH_AS(
        read_ecg(dir / "JS00001"),
        contains("JS00001.hea:3: signal 1 gives 'JS00001.mat' a byte offset of 26, an earlier signal gave 24"), Error);
}

TEST_CASE("bad input: missing or truncated data, unknown format, bad numbers, too few signal lines") {
    ScratchDir dir("bad");
    const std::string hea = slurp(wfdb_dir + "100_3chan.hea"), dat = slurp(wfdb_dir + "100_3chan.dat");
    spit(dir / "r.hea", replace_once(hea, "100_3chan 3", "r 3"));
    // Missing .dat.
    CHECK_THROWS_WITH_AS(read_ecg(dir / "r"),
                         contains("cannot open WFDB data file '" + (dir / "100_3chan.dat") +
                                  "' (signal 0 'I' of header '" + (dir / "r.hea") + "')"),
                         Error);
    // Truncated .dat: 999 frames need 4496 bytes.
    spit(dir / "100_3chan.dat", dat.substr(0, dat.size() - 5));
    CHECK_THROWS_WITH_AS(
        read_ecg(dir / "r"),
        contains(
            "WFDB data file '" + (dir / "100_3chan.dat") +
            "' is truncated: it holds 998 whole frames of its 3 signal(s) (4491 bytes after a 0-byte offset, format 212), header '" +
            (dir / "r.hea") + "' says 999"),
        Error);
    spit(dir / "100_3chan.dat", dat);
    CHECK(read_ecg(dir / "r").length == 999);
    // A header without a record file.
    CHECK_THROWS_WITH_AS(read_ecg(dir / "nothing"), contains("cannot open WFDB header '" + (dir / "nothing.hea") + "'"),
                         Error);
    // Unknown format, bad numbers, too few signal lines: the header file and line.
    spit(dir / "r.hea", replace_once(hea, "100_3chan.dat 212 200(1024)/mV 11 1024 1011",
                                     "100_3chan.dat 213 200(1024)/mV 11 1024 1011"));
    CHECK_THROWS_WITH_AS(read_ecg(dir / "r"), contains(dir / "r.hea" + ":3: unknown signal format 213"), Error);
    spit(dir / "r.hea", replace_once(hea, "1011 63954", "10x1 63954"));
    CHECK_THROWS_WITH_AS(read_ecg(dir / "r"), contains(dir / "r.hea" + ":3: initial value '10x1' is not an integer"),
                         Error);
    spit(dir / "r.hea", replace_once(hea, "360.0 999", "-360 999"));
    CHECK_THROWS_WITH_AS(read_ecg(dir / "r"), contains(dir / "r.hea" + ":1: sampling frequency -360 is not positive"),
                         Error);
    spit(dir / "r.hea", replace_once(hea, "100_3chan 3", "r 4"));
    CHECK_THROWS_WITH_AS(
        read_ecg(dir / "r"),
        contains(dir / "r.hea" + ": the record line declares 4 signals but the header has 3 signal lines"), Error);
    // Wrong initial value: read by default (the checksum covers the data), refused when asked to check it.
    spit(dir / "r.hea", replace_once(hea, "1011 63954", "1012 63954"));
    CHECK(read_ecg(dir / "r").length == 999);
    WfdbReadOptions strict;
    strict.verify_initial_values = true;
    CHECK_THROWS_WITH_AS(read_ecg(dir / "r", strict),
                         contains("100_3chan.dat': signal 1 ('II') starts with 1011, but header '" + (dir / "r.hea") +
                                  "' line 3 gives the initial value 1012"),
                         Error);
    // Ranges and channels outside the record.
    spit(dir / "r.hea", hea);
    CHECK_THROWS_WITH_AS(read_ecg(dir / "r", {.from = 10, .to = 1000, .channels = {}}),
                         contains("cannot read frames [10, 1000): the record has 999"), Error);
    CHECK_THROWS_WITH_AS(read_ecg(dir / "r", {.from = 0, .to = -1, .channels = {3}}),
                         contains("channel 3 is outside [0, 3)"), Error);
    // A header that claims more samples than anything could hold: refused before allocating.
    spit(dir / "big.hea", "big 1 250 281474976710656\n~ 0 200 12 0 0 0 0 x\n");
    CHECK_THROWS_WITH_AS(read_ecg(dir / "big"), contains("more than max_values"), Error);
}

TEST_CASE("write_wfdb round trip: format 16 and 212, physical and digital, checksums valid") {
    ScratchDir dir("write");
    EcgRecord ecg;
    ecg.name = "synthetic";
    ecg.fs = 500;
    ecg.length = 1001;  // odd: format 212's last pair is half full
    ecg.leads = {"I", "II", "aVR", "V1 lead"};
    ecg.units = {"mV", "mV", "mV", "uV"};
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> ints(-2047, 2047);
    for (std::int64_t i = 0; i < 4 * ecg.length; ++i) ecg.samples.push_back(ints(rng) / 1000.0);
    ecg.samples[5] = std::numeric_limits<double>::quiet_NaN();
    for (int format : {16, 212}) {
        CAPTURE(format);
        const auto rec = dir / fmt::format("rec{}", format);
        write_wfdb(rec, ecg,
                   {.format = format,
                    .gains = {},
                    .baselines = {},
                    .comments = {"Dx: 426783006", "Age: 61"},
                    .base_time = "",
                    .base_date = ""});
        CHECK_FALSE(std::filesystem::exists(rec + ".dat.tmp"));
        WfdbReadOptions strict;
        strict.verify_initial_values = true;
        auto back = read_ecg(rec, strict);  // checksums and initial values
        CHECK(back.fs == 500);
        CHECK(back.leads == ecg.leads);
        CHECK(back.units == ecg.units);
        REQUIRE(back.samples.size() == ecg.samples.size());
        bool same = true;
        for (std::size_t i = 0; i < ecg.samples.size(); ++i)
            same &= std::isnan(ecg.samples[i]) ? std::isnan(back.samples[i]) : back.samples[i] == ecg.samples[i];
        CHECK(same);
        auto h = read_wfdb_header(rec);
        CHECK(h.comments == std::vector<std::string>{"Dx: 426783006", "Age: 61"});
        CHECK(h.signals[0].checksum_given);
    }
    // Digital: a real record written again reads back equal, and its checksums agree with the original header.
    auto d = read_wfdb(wfdb_dir + "00001_lr");
    write_wfdb(dir / "copy", d);
    auto back = read_wfdb(dir / "copy");
    CHECK(back.samples == d.samples);
    for (int c = 0; c < 12; ++c) {
        CHECK(back.header.signals[c].checksum == d.header.signals[c].checksum);
        CHECK(back.header.signals[c].adc_gain == 1000);
        CHECK(back.header.signals[c].description == d.header.signals[c].description);
    }
    // Values a format cannot hold are refused, naming the channel and sample.
    ecg.samples[1001 + 3] = 40.0;
    CHECK_THROWS_WITH_AS(write_wfdb(dir / "bad", ecg),
                         contains("channel 1 ('II') sample 3 = 40 mV is outside what format 16 stores"), Error);
    CHECK_FALSE(std::filesystem::exists(dir / "bad.hea"));
}

TEST_CASE("a header without a length reads as many frames as the data file holds; null signals are NaN") {
    ScratchDir dir("nolength");
    spit(dir / "100_3chan.dat", slurp(wfdb_dir + "100_3chan.dat"));
    std::string hea = replace_once(slurp(wfdb_dir + "100_3chan.hea"), "100_3chan 3 360.0 999", "r 4 360");
    hea = replace_once(hea, "# Made", "~ 0 200/mV 12 0 0 0 0 absent\n# Made");
    spit(dir / "r.hea", hea);
    auto whole = read_ecg(wfdb_dir + "100_3chan");
    auto r = read_ecg(dir / "r");
    CHECK(r.length == 999);
    CHECK(r.leads.back() == "absent");
    bool same = true, nan = true;
    for (std::int64_t i = 0; i < 3 * 999; ++i)
        same &= r.samples[static_cast<std::size_t>(i)] == whole.samples[static_cast<std::size_t>(i)];
    for (std::int64_t t = 0; t < 999; ++t) nan &= std::isnan(r.samples[static_cast<std::size_t>(3 * 999 + t)]);
    CHECK(same);
    CHECK(nan);
}

TEST_CASE("variable layout: signals matched by name, other gains rescaled, null segments and absent signals") {
    ScratchDir dir("layout");
    // Two segments written by write_wfdb with different gains and signal sets, a null gap between them.
    EcgRecord a;
    a.fs = 100;
    a.length = 4;
    a.leads = {"II", "V"};
    a.units = {"mV", "mV"};
    a.samples = {0.1, 0.2, 0.3, 0.4, -1, -2, -3, -4};
    WfdbWriteOptions wa;
    wa.gains = {100, 10};
    wa.baselines = {10, 0};
    write_wfdb(dir / "seg_a", a, wa);
    EcgRecord b;
    b.fs = 100;
    b.length = 3;
    b.leads = {"V"};
    b.units = {"mV"};
    b.samples = {5, 6, 7};
    WfdbWriteOptions wb;
    wb.format = 212;
    wb.gains = {20};
    write_wfdb(dir / "seg_b", b, wb);
    spit(dir / "lay.hea", "lay 2 100 0\n~ 0 200/mV 16 0 0 0 0 V\n~ 0 1000(5)/mV 16 0 0 0 0 II\n");
    spit(dir / "rec.hea", "rec/4 2 100 9\nlay 0\nseg_a 4\n~ 2\nseg_b 3\n");
    auto r = read_ecg(dir / "rec");
    CHECK(r.leads == std::vector<std::string>{"V", "II"});
    REQUIRE(r.length == 9);
    const std::vector<double> v{-1, -2, -3, -4, NAN, NAN, 5, 6, 7}, ii{0.1, 0.2, 0.3, 0.4, NAN, NAN, NAN, NAN, NAN};
    for (int t = 0; t < 9; ++t) {
        CAPTURE(t);
        CHECK(physical_text(r.samples[static_cast<std::size_t>(t)]) == physical_text(v[t]));
        CHECK(physical_text(r.samples[static_cast<std::size_t>(9 + t)]) == physical_text(ii[t]));
    }
    // Digital values in the layout's scale: V at 200/mV, II at 1000(5)/mV; invalid = -32768 (format 0's marker).
    auto d = read_wfdb(dir / "rec", {.from = 2, .to = 8, .channels = {1, 0}});
    CHECK(d.length == 6);
    CHECK(d.at(0, 0) == 305);   // II 0.3 mV
    CHECK(d.at(1, 0) == -600);  // V -3 mV
    CHECK(d.is_invalid(0, 2));
    CHECK(d.is_invalid(1, 3));
    CHECK(d.at(0, 2) == -32768);
    CHECK(d.at(1, 4) == 1000);  // V 5 mV from the 212 segment
    CHECK(d.is_invalid(0, 5));
    // The segments' own checksums were verified on the way (whole segments read); a range inside one is fine too.
    CHECK(read_ecg(dir / "rec", {.from = 7, .to = 8, .channels = {0}}).samples[0] == 6);
}
