// WFDB header parsing (header(5) of the WFDB Software Package): every field of record, signal and segment
// lines, WFDB's defaults, comments anywhere, and errors that name the file and line.
#include "fixture.hpp"

#include "fgclep/data/wfdb_header.hpp"

using namespace fgclep;
using namespace fgclep::data;

namespace {
const std::string wfdb_dir = std::string(FGCLEP_FIXTURES) + "/wfdb/";
doctest::Contains contains(const std::string& s) { return doctest::Contains(s.c_str()); }
}  // namespace

TEST_CASE("record line: name, signals, frequency, counter frequency and base counter, length, time, date") {
    auto h = parse_wfdb_header(
        "rec 2 360/720(12.5) 650000 12:30:05.5 21/11/2026\n"
        "rec.dat 16 200 16 0 0 0 0 a\nrec.dat 16 200 16 0 0 0 0 b\n",
        "rec.hea");
    CHECK(h.source == "rec.hea");
    CHECK(h.record_name == "rec");
    CHECK(h.n_signals == 2);
    CHECK(h.fs == 360);
    CHECK(h.counter_fs == 720);
    CHECK(h.base_counter == 12.5);
    CHECK(h.n_samples == 650000);
    CHECK(h.base_time == "12:30:05.5");
    CHECK(h.base_date == "21/11/2026");
    CHECK_FALSE(h.is_multi_segment());

    auto d = parse_wfdb_header("bare 0\n", "bare.hea");
    CHECK(d.fs == 250);  // WFDB's default
    CHECK_FALSE(d.fs_given);
    CHECK(d.counter_fs == 250);
    CHECK(d.n_samples == 0);
    CHECK_FALSE(d.n_samples_given);
    CHECK(d.signals.empty());

    auto m = read_wfdb_header(wfdb_dir + "12726.hea");  // multi-frequency `250/24000`, trailing space
    CHECK(m.fs == 250);
    CHECK(m.counter_fs == 24000);
    CHECK(m.base_time == "15:08:24");
    CHECK(m.signals[1].description == "ECG");
    CHECK(m.comments.size() == 2);
    CHECK(m.comments[1] == "Produced by xform from record 12726_orig, beginning at 0:0");
}

TEST_CASE("signal lines: format with samples per frame, skew and offset; gain, baseline, units; defaults") {
    auto h = parse_wfdb_header(
        "r 5 125\n"
        "r.dat 212x4:3+512 2963.77(-1605)/mmHg 12 7 67 -11266 128 ABP radial\n"
        "r.dat 212 12.84/mV\n"
        "r.dat 212 0(5) 0 3\n"
        "r.mat 16+24\n"
        "r.x 16 1.052e+04/NU 16 0 9127 65535 0  spaced   description  \n",
        "r.hea");
    const auto& a = h.signals[0];
    CHECK(a.file_name == "r.dat");
    CHECK(a.format == 212);
    CHECK(a.samples_per_frame == 4);
    CHECK(a.skew == 3);
    CHECK(a.byte_offset == 512);
    CHECK(a.adc_gain == 2963.77);
    CHECK_FALSE(a.uncalibrated);
    CHECK(a.baseline == -1605);
    CHECK(a.baseline_given);
    CHECK(a.units == "mmHg");
    CHECK(a.adc_resolution == 12);
    CHECK(a.adc_zero == 7);
    CHECK(a.initial_value == 67);
    CHECK(a.initial_value_given);
    CHECK(a.checksum == -11266);
    CHECK(a.block_size == 128);
    CHECK(a.description == "ABP radial");
    CHECK(a.line == 2);
    const auto& b = h.signals[1];  // gain and units only
    CHECK(b.adc_gain == 12.84);
    CHECK(b.units == "mV");
    CHECK(b.adc_resolution == 12);  // by format
    CHECK(b.baseline == 0);
    CHECK_FALSE(b.checksum_given);
    CHECK_FALSE(b.initial_value_given);
    CHECK(b.description.empty());
    const auto& c = h.signals[2];  // gain 0: uncalibrated, WFDB assumes 200; baseline given; ADC zero 3
    CHECK(c.uncalibrated);
    CHECK(c.adc_gain == 200);
    CHECK(c.baseline == 5);
    CHECK(c.adc_zero == 3);
    CHECK(c.initial_value == 3);   // defaults to ADC zero
    const auto& d = h.signals[3];  // no gain at all
    CHECK(d.uncalibrated);
    CHECK(d.adc_gain == 200);
    CHECK(d.byte_offset == 24);
    CHECK(d.adc_resolution == 16);
    CHECK(d.units.empty());
    const auto& e = h.signals[4];  // exponent gain, unsigned checksum, description with spaces
    CHECK(e.adc_gain == 10520);
    CHECK(e.checksum == -1);
    CHECK(e.description == "spaced   description");
    auto z = parse_wfdb_header("z 1\nz.dat 16 200 12 100\n", "z.hea");
    CHECK(z.signals[0].baseline == 100);  // baseline defaults to ADC zero
    CHECK(z.signals[0].initial_value == 100);
}

TEST_CASE("comments before and after the record line, with and without a space, blank lines") {
    auto h = read_wfdb_header(wfdb_dir + "100");
    CHECK(h.comments == std::vector<std::string>{"unnecessary comment", "69 M 1085 1629 x1", "Aldomet, Inderal"});
    CHECK(h.signals.size() == 2);  // a blank line between the signal lines is skipped
    CHECK(h.signals[1].description == "V5");
    auto c = read_wfdb_header(wfdb_dir + "JS00001.hea");
    CHECK(c.comments[0] == "Age: 85");
    CHECK(c.comments[1] == "Sex: Male");
    auto s = read_wfdb_header(wfdb_dir + "s0010_re");
    CHECK(s.signals[14].file_name == "s0010_re.xyz");
    CHECK(s.signals[0].uncalibrated == false);
    CHECK(s.comments[0] == "age: 81");
    auto crlf = parse_wfdb_header("# first\r\nr 1 500\r\n#second\r\nr.dat 16 200/mV 16 0 0 0 0 I\r\n", "crlf.hea");
    CHECK(crlf.comments == std::vector<std::string>{"first", "second"});
    CHECK(crlf.signals[0].description == "I");
    auto mimic = read_wfdb_header(wfdb_dir + "03700181");  // `212x4`, `212:4`, trailing spaces
    CHECK(mimic.signals[0].samples_per_frame == 4);
    CHECK(mimic.signals[2].skew == 4);
    CHECK(mimic.signals[0].description == "MCL1");
    CHECK(mimic.base_date == "15/08/1994");
}

TEST_CASE("multi-segment headers: fixed layout, variable layout with a layout segment and null segments") {
    auto f = read_wfdb_header(wfdb_dir + "multi-segment/fixed1/v102s");
    CHECK(f.is_multi_segment());
    CHECK_FALSE(f.is_variable_layout());
    CHECK(f.n_segments == 3);
    CHECK(f.segments[2].record_name == "v102s_3");
    CHECK(f.segments[2].n_samples == 75000);
    CHECK(f.comments.size() == 1);
    auto v = read_wfdb_header(wfdb_dir + "multi-segment/s00001/s00001-2896-10-10-00-31");
    CHECK(v.is_variable_layout());
    CHECK(v.n_segments == 21);
    CHECK(v.segments[0].record_name == "3975656_layout");
    CHECK(v.segments[0].n_samples == 0);
    CHECK(v.segments[1].is_null());
    CHECK(v.segments[1].n_samples == 3261);
    auto layout = read_wfdb_header(wfdb_dir + "multi-segment/s00001/3975656_layout");
    CHECK(layout.n_samples == 0);
    CHECK(layout.base_time == "31:25.894");
    CHECK(layout.signals[2].file_name == "~");
    CHECK(layout.signals[2].format == 0);
    CHECK(layout.signals[2].description == "MCL1");
    CHECK(layout.signals[0].initial_value == -16384);
}

TEST_CASE("header errors name the file and the line") {
    auto bad = [](const std::string& text, const std::string& message) {
        CAPTURE(text);
        CHECK_THROWS_WITH_AS(parse_wfdb_header(text, "x.hea"), contains("fgclep: x.hea" + message), Error);
    };
    bad("", ": the header has no record line");
    bad("# only a comment\n", ": the header has no record line");
    bad("r\n", ":1: the record line needs at least a name and a number of signals");
    bad("r two\n", ":1: number of signals 'two' is not an integer");
    bad("r -1\n", ":1: number of signals -1 is outside [0, 65536]");
    bad("r 1 250 100 1 2 3\n", ":1: the record line has 7 fields, at most 6 are allowed");
    bad("r 0 0\n", ":1: sampling frequency 0 is not positive");
    bad("r 0 nan\n", ":1: sampling frequency 'nan' is not a finite number");
    bad("r 0 250/x\n", ":1: counter frequency 'x' is not a finite number");
    bad("r 0 250/100(3\n", ":1: counter frequency '100(3' lacks its closing ')'");
    bad("r 0 250 -5\n", ":1: number of samples -5 is outside");
    bad("r 0 250 1e3\n", ":1: number of samples '1e3' is not an integer");
    bad("r 2\nr.dat 16\n", ": the record line declares 2 signals but the header has 1 signal lines");
    bad("r 1\nr.dat 16\nr.dat 16\n", ":3: unexpected line after the 1 signal lines: 'r.dat 16'");
    bad("r 1\nr.dat\n", ":2: a signal line needs at least a file name and a format");
    bad("r 1\nr.dat 17\n", ":2: unknown signal format 17");
    bad("\n\nr 1\n# c\nr.dat 16x\n", ":5: format field '16x' has an empty 'x' part");
    bad("r 1\nr.dat 16x0\n", ":2: samples per frame 0 is outside [1, 1048576]");
    bad("r 1\nr.dat 16+-3\n", ":2: byte offset -3 is outside");
    bad("r 1\nr.dat 16:2x2\n", ":2: format field '16:2x2' is malformed");
    bad("r 1\nr.dat 16 abc/mV\n", ":2: ADC gain 'abc' is not a finite number");
    bad("r 1\nr.dat 16 -5/mV\n", ":2: ADC gain -5 is negative");
    bad("r 1\nr.dat 16 200(12/mV\n", ":2: gain field '200(12/mV' lacks the ')' of its baseline");
    bad("r 1\nr.dat 16 200 33\n", ":2: ADC resolution 33 is outside [0, 32]");
    bad("r 1\nr.dat 16 200 16 0 0 70000\n", ":2: checksum 70000 is outside [-32768, 65535]");
    bad("r 1\nr.dat 16 200 16 0 0 -32769\n", ":2: checksum -32769 is outside [-32768, 65535]");
    bad("r 1\nr.dat 16 200 16 0 99999999999\n", ":2: initial value 99999999999 is outside");
    bad("r/2 1\na 10\n", ": the record line declares 2 segments but the header has 1 segment lines");
    bad("r/1 1\na ten\n", ":2: segment length 'ten' is not an integer");
    bad("r/1 1\na 10 x\n", ":2: a segment line is 'name nsamp', got 'a 10 x'");
    bad("r/0 1\n", ":1: number of segments 0 is outside [1, 1048576]");
    bad(std::string("r 1\nr.dat 16 200\0 x\n", 19), ":2: the line contains a NUL byte");
    CHECK_THROWS_WITH_AS(read_wfdb_header(wfdb_dir + "no_such_record"),
                         contains("cannot open WFDB header '" + wfdb_dir + "no_such_record.hea'"), Error);
}

TEST_CASE("checksums written signed and unsigned are the same 16-bit value") {
    auto s = parse_wfdb_header("r 1\nr.dat 16 200 16 0 0 -777\n", "s.hea");
    auto u = parse_wfdb_header("r 1\nr.dat 16 200 16 0 0 64759\n", "u.hea");
    CHECK(s.signals[0].checksum == -777);
    CHECK(u.signals[0].checksum == -777);
    CHECK(parse_wfdb_header("r 1\nr.dat 16 200 16 0 0 32768\n", "x").signals[0].checksum == -32768);
    CHECK(parse_wfdb_header("r 1\nr.dat 16 200 16 0 0 32767\n", "x").signals[0].checksum == 32767);
}
