#pragma once
// WFDB header files (.hea), the full grammar of header(5) in the WFDB Software Package:
//
//   record line   name[/nseg] nsig [fs[/counterfreq[(basecounter)]] [nsamp [basetime [basedate]]]]
//   signal lines  file format[xspf][:skew][+offset] [adcgain[(baseline)][/units] [adcres [adczero [initval
//                 [checksum [blocksize [description]]]]]]]
//   segment lines name nsamp            (multi-segment records: `~` is a null segment, a first segment with 0
//                                        samples is the layout segment of a variable-layout record)
//   comments      lines starting with '#', anywhere after or before the record line ("# Dx: ...", "#Age: 85")
//
// WFDB's defaults are applied (fs 250, gain 200 marked uncalibrated when missing or 0, baseline = ADC zero,
// ADC resolution by format, initial value = ADC zero), and each default is flagged so writers and checks can
// tell "given" from "assumed". Checksums may be written signed (-32768..32767) or unsigned (0..65535, as
// PTB-XL does); both are stored as the signed 16-bit value. Every error names the file and the line.
//
//   WfdbHeader h = fgclep::data::read_wfdb_header("ptb-xl/records100/00000/00001_lr");   // or ".../00001_lr.hea"
//   h.fs == 100, h.n_samples == 1000, h.signals[0].description == "I", h.signals[0].units == "mV"
#include "fgclep/core/error.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace fgclep::data {

// Sanity limits: a header is text a stranger may have written, and sizes from it decide allocations.
inline constexpr int wfdb_max_signals = 1 << 16;
inline constexpr int wfdb_max_samples_per_frame = 1 << 20;
inline constexpr int wfdb_max_segments = 1 << 20;
inline constexpr std::int64_t wfdb_max_header_bytes = 64LL << 20;

struct WfdbSignalSpec {
    std::string file_name;         // data file relative to the header's directory; "~" = no data (null signal)
    int format = 0;                // 0 (null), 8, 16, 24, 32, 61, 80, 160, 212, 310, 311
    int samples_per_frame = 1;     // `xN`
    int skew = 0;                  // `:N`, in frames
    std::int64_t byte_offset = 0;  // `+N`, bytes before the first sample (a .mat header: 24)
    double adc_gain = 200;         // ADC units per physical unit
    bool uncalibrated = true;      // gain missing or written as 0 (WFDB then assumes 200)
    double baseline = 0;           // ADC value of physical zero
    bool baseline_given = false;   // `(baseline)` written; else baseline = adc_zero
    std::string units;             // "" when not written (WFDB assumes millivolts)
    int adc_resolution = 0;        // bits; by format when not written
    int adc_zero = 0;
    std::int32_t initial_value = 0;  // first sample; = adc_zero when not written
    bool initial_value_given = false;
    std::int16_t checksum = 0;  // sum of all samples mod 2^16, as a signed 16-bit value
    bool checksum_given = false;
    int block_size = 0;
    std::string description;  // the lead name ("II", "V5", "ECG lead II"); may contain spaces
    int line = 0;             // line number in the header, for messages
};

struct WfdbSegmentSpec {
    std::string record_name;  // "~" for a null segment (no signals, all samples invalid)
    std::int64_t n_samples = 0;
    int line = 0;

    bool is_null() const { return record_name == "~"; }
};

struct WfdbHeader {
    std::string source;  // file the header came from, for messages
    std::string record_name;
    int n_segments = 0;  // 0: a single-segment record; else segments.size()
    int n_signals = 0;
    double fs = 250;  // frames per second
    bool fs_given = false;
    double counter_fs = 0;  // counter frequency (`fs/counterfreq`); = fs when not written
    double base_counter = 0;
    std::int64_t n_samples = 0;  // frames per signal; 0 when not written (then: as many as the files hold)
    bool n_samples_given = false;
    std::string base_time;                  // as written ("17:27:45", "8:26:04.811"); "" when absent
    std::string base_date;                  // as written ("15/08/1994")
    std::vector<WfdbSignalSpec> signals;    // empty for a multi-segment master header
    std::vector<WfdbSegmentSpec> segments;  // multi-segment records only
    std::vector<std::string> comments;      // each '#' line's text without the '#', trimmed, in order

    bool is_multi_segment() const { return n_segments > 0; }
    // A multi-segment record whose first segment has 0 samples: that segment's header lists the signals
    // (the layout), and other segments may hold any subset of them.
    bool is_variable_layout() const { return is_multi_segment() && !segments.empty() && segments[0].n_samples == 0; }
    int max_samples_per_frame() const {
        int m = 1;
        for (const auto& s : signals) m = s.samples_per_frame > m ? s.samples_per_frame : m;
        return m;
    }
};

// Formats a WFDB reader or writer here understands (0 = a null signal with no data).
inline bool wfdb_format_known(int format) {
    switch (format) {
        case 0:
        case 8:
        case 16:
        case 24:
        case 32:
        case 61:
        case 80:
        case 160:
        case 212:
        case 310:
        case 311:
            return true;
        default:
            return false;
    }
}

// ADC resolution WFDB assumes when a header does not give one.
inline int wfdb_default_adc_resolution(int format) {
    switch (format) {
        case 8:
        case 80:
            return 8;
        case 310:
        case 311:
            return 10;
        case 212:
            return 12;
        case 24:
            return 24;
        case 32:
            return 32;
        default:
            return 16;
    }
}

namespace detail {

inline std::string_view trim(std::string_view s) {
    const char* ws = " \t\r\n\v\f";
    const auto a = s.find_first_not_of(ws);
    if (a == std::string_view::npos) return {};
    const auto b = s.find_last_not_of(ws);
    return s.substr(a, b - a + 1);
}

// Whitespace-separated fields of a line, and where the n-th field starts (for the free-text description).
struct Fields {
    std::vector<std::string_view> items;
    std::vector<std::size_t> starts;
};
inline Fields split_fields(std::string_view line) {
    Fields f;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
        if (i >= line.size()) break;
        std::size_t j = i;
        while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
        f.items.push_back(line.substr(i, j - i));
        f.starts.push_back(i);
        i = j;
    }
    return f;
}

// Location of a header line for messages: "fgclep: <file>:<line>: ...".
struct HeaderLine {
    const std::string& source;
    int number;

    template <class... Args>
    [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
        fgclep::fail("{}:{}: {}", source, number, fmt::format(format, std::forward<Args>(args)...));
    }

    template <class Int>
    Int integer(std::string_view text, std::string_view what, Int lo, Int hi) const {
        std::int64_t v = 0;
        const char* end = text.data() + text.size();
        const char* begin = text.data();
        if (begin != end && *begin == '+') ++begin;
        auto [p, ec] = std::from_chars(begin, end, v);
        if (text.empty() || ec != std::errc() || p != end) fail("{} '{}' is not an integer", what, text);
        if (v < static_cast<std::int64_t>(lo) || v > static_cast<std::int64_t>(hi))
            fail("{} {} is outside [{}, {}]", what, v, lo, hi);
        return static_cast<Int>(v);
    }

    double real(std::string_view text, std::string_view what) const {
        double v = 0;
        const char* begin = text.data();
        const char* end = text.data() + text.size();
        if (begin != end && *begin == '+') ++begin;
        auto [p, ec] = std::from_chars(begin, end, v);
        if (text.empty() || ec != std::errc() || p != end || !std::isfinite(v))
            fail("{} '{}' is not a finite number", what, text);
        return v;
    }
};

// "fs[/counterfreq[(basecounter)]]"
inline void parse_frequency(std::string_view field, WfdbHeader& h, const HeaderLine& at) {
    std::string_view fs = field, counter;
    if (auto slash = field.find('/'); slash != std::string_view::npos) {
        fs = field.substr(0, slash);
        counter = field.substr(slash + 1);
    }
    h.fs = at.real(fs, "sampling frequency");
    if (!(h.fs > 0)) at.fail("sampling frequency {} is not positive", h.fs);
    h.fs_given = true;
    h.counter_fs = h.fs;
    if (!counter.empty()) {
        std::string_view base;
        if (auto paren = counter.find('('); paren != std::string_view::npos) {
            if (counter.back() != ')') at.fail("counter frequency '{}' lacks its closing ')'", counter);
            base = counter.substr(paren + 1, counter.size() - paren - 2);
            counter = counter.substr(0, paren);
            h.base_counter = at.real(base, "base counter value");
        }
        h.counter_fs = at.real(counter, "counter frequency");
        if (!(h.counter_fs > 0)) at.fail("counter frequency {} is not positive", h.counter_fs);
    }
}

inline void parse_record_line(std::string_view line, WfdbHeader& h, const HeaderLine& at) {
    const Fields f = split_fields(line);
    if (f.items.size() < 2) at.fail("the record line needs at least a name and a number of signals, got '{}'", line);
    std::string_view name = f.items[0];
    if (auto slash = name.find('/'); slash != std::string_view::npos) {
        h.n_segments = at.integer<int>(name.substr(slash + 1), "number of segments", 1, wfdb_max_segments);
        name = name.substr(0, slash);
    }
    if (name.empty()) at.fail("the record name is empty");
    h.record_name = std::string(name);
    h.n_signals = at.integer<int>(f.items[1], "number of signals", 0, wfdb_max_signals);
    if (f.items.size() > 2)
        parse_frequency(f.items[2], h, at);
    else
        h.counter_fs = h.fs;
    if (f.items.size() > 3) {
        h.n_samples = at.integer<std::int64_t>(f.items[3], "number of samples", 0, std::int64_t{1} << 48);
        h.n_samples_given = true;
    }
    if (f.items.size() > 4) h.base_time = std::string(f.items[4]);
    if (f.items.size() > 5) h.base_date = std::string(f.items[5]);
    if (f.items.size() > 6) at.fail("the record line has {} fields, at most 6 are allowed: '{}'", f.items.size(), line);
}

// "format[xspf][:skew][+offset]"
inline void parse_format_field(std::string_view field, WfdbSignalSpec& s, const HeaderLine& at) {
    const auto cut = field.find_first_of("x:+");
    s.format = at.integer<int>(field.substr(0, cut), "signal format", 0, 1 << 20);
    if (!wfdb_format_known(s.format))
        at.fail("unknown signal format {} (known: 8, 16, 24, 32, 61, 80, 160, 212, 310, 311)", s.format);
    std::string_view rest = cut == std::string_view::npos ? std::string_view{} : field.substr(cut);
    auto take = [&](char tag) -> std::string_view {
        if (rest.empty() || rest[0] != tag) return {};
        auto end = rest.find_first_of("x:+", 1);
        std::string_view v = rest.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
        if (v.empty()) at.fail("format field '{}' has an empty '{}' part", field, tag);
        return v;
    };
    if (auto v = take('x'); !v.empty())
        s.samples_per_frame = at.integer<int>(v, "samples per frame", 1, wfdb_max_samples_per_frame);
    if (auto v = take(':'); !v.empty()) s.skew = at.integer<int>(v, "skew", 0, 1 << 30);
    if (auto v = take('+'); !v.empty())
        s.byte_offset = at.integer<std::int64_t>(v, "byte offset", 0, std::int64_t{1} << 48);
    if (!rest.empty()) at.fail("format field '{}' is malformed (expected format[xspf][:skew][+offset])", field);
}

// "adcgain[(baseline)][/units]"
inline void parse_gain_field(std::string_view field, WfdbSignalSpec& s, const HeaderLine& at) {
    std::string_view gain = field;
    if (auto slash = gain.find('/'); slash != std::string_view::npos) {
        s.units = std::string(gain.substr(slash + 1));
        gain = gain.substr(0, slash);
    }
    if (auto paren = gain.find('('); paren != std::string_view::npos) {
        if (gain.back() != ')') at.fail("gain field '{}' lacks the ')' of its baseline", field);
        s.baseline = at.integer<int>(gain.substr(paren + 1, gain.size() - paren - 2), "baseline",
                                     std::numeric_limits<int>::min(), std::numeric_limits<int>::max());
        s.baseline_given = true;
        gain = gain.substr(0, paren);
    }
    s.adc_gain = at.real(gain, "ADC gain");
    if (s.adc_gain < 0) at.fail("ADC gain {} is negative", s.adc_gain);
    s.uncalibrated = s.adc_gain == 0;
    if (s.uncalibrated) s.adc_gain = 200;
}

inline WfdbSignalSpec parse_signal_line(std::string_view line, const HeaderLine& at) {
    WfdbSignalSpec s;
    s.line = at.number;
    const Fields f = split_fields(line);
    if (f.items.size() < 2) at.fail("a signal line needs at least a file name and a format, got '{}'", line);
    s.file_name = std::string(f.items[0]);
    parse_format_field(f.items[1], s, at);
    if (s.format == 0 && s.file_name != "~")
        s.file_name = "~";  // format 0 is a null signal whatever the file name says
    const std::size_t n = f.items.size();
    if (n > 2) parse_gain_field(f.items[2], s, at);
    s.adc_resolution = n > 3 ? at.integer<int>(f.items[3], "ADC resolution", 0, 32) : 0;
    if (s.adc_resolution == 0) s.adc_resolution = wfdb_default_adc_resolution(s.format);
    if (n > 4)
        s.adc_zero =
            at.integer<int>(f.items[4], "ADC zero", std::numeric_limits<int>::min(), std::numeric_limits<int>::max());
    if (!s.baseline_given) s.baseline = s.adc_zero;
    s.initial_value = s.adc_zero;
    if (n > 5) {
        s.initial_value =
            at.integer<std::int32_t>(f.items[5], "initial value", std::numeric_limits<std::int32_t>::min(),
                                     std::numeric_limits<std::int32_t>::max());
        s.initial_value_given = true;
    }
    if (n > 6) {
        const int c = at.integer<int>(f.items[6], "checksum", -32768, 65535);
        s.checksum = static_cast<std::int16_t>(static_cast<std::uint16_t>(c & 0xFFFF));
        s.checksum_given = true;
    }
    if (n > 7) s.block_size = at.integer<int>(f.items[7], "block size", 0, std::numeric_limits<int>::max());
    if (n > 8) s.description = std::string(trim(line.substr(f.starts[8])));
    return s;
}

}  // namespace detail

// Parses header text; `source_name` (usually the .hea path) is used in every error message.
inline WfdbHeader parse_wfdb_header(std::string_view text, const std::string& source_name) {
    WfdbHeader h;
    h.source = source_name;
    bool have_record_line = false;
    int line_number = 0;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        auto eol = text.find('\n', pos);
        if (eol == std::string_view::npos) eol = text.size();
        std::string_view raw = text.substr(pos, eol - pos);
        pos = eol + 1;
        ++line_number;
        if (raw.find('\0') != std::string_view::npos)
            fgclep::fail("{}:{}: the line contains a NUL byte (not a text header)", source_name, line_number);
        const std::string_view line = detail::trim(raw);
        if (line.empty()) {
            if (eol == text.size()) break;
            continue;
        }
        const detail::HeaderLine at{source_name, line_number};
        if (line[0] == '#') {
            h.comments.emplace_back(detail::trim(line.substr(1)));
        } else if (!have_record_line) {
            detail::parse_record_line(line, h, at);
            have_record_line = true;
        } else if (h.is_multi_segment()) {
            if (static_cast<int>(h.segments.size()) == h.n_segments)
                at.fail("unexpected line after the {} segment lines: '{}'", h.n_segments, line);
            const auto f = detail::split_fields(line);
            if (f.items.size() != 2) at.fail("a segment line is 'name nsamp', got '{}'", line);
            WfdbSegmentSpec seg;
            seg.record_name = std::string(f.items[0]);
            seg.n_samples = at.integer<std::int64_t>(f.items[1], "segment length", 0, std::int64_t{1} << 48);
            seg.line = line_number;
            h.segments.push_back(std::move(seg));
        } else {
            if (static_cast<int>(h.signals.size()) == h.n_signals)
                at.fail("unexpected line after the {} signal lines: '{}'", h.n_signals, line);
            h.signals.push_back(detail::parse_signal_line(line, at));
        }
        if (eol == text.size()) break;
    }
    if (!have_record_line) fgclep::fail("{}: the header has no record line", source_name);
    if (h.is_multi_segment()) {
        if (static_cast<int>(h.segments.size()) != h.n_segments)
            fgclep::fail("{}: the record line declares {} segments but the header has {} segment lines", source_name,
                         h.n_segments, h.segments.size());
    } else if (static_cast<int>(h.signals.size()) != h.n_signals) {
        fgclep::fail("{}: the record line declares {} signals but the header has {} signal lines", source_name,
                     h.n_signals, h.signals.size());
    }
    return h;
}

// The .hea file of a record path given with or without the extension.
inline std::filesystem::path wfdb_header_path(const std::filesystem::path& record_or_hea) {
    if (record_or_hea.extension() == ".hea") return record_or_hea;
    return std::filesystem::path(record_or_hea.string() + ".hea");
}

inline WfdbHeader read_wfdb_header(const std::filesystem::path& record_or_hea) {
    const auto path = wfdb_header_path(record_or_hea);
    std::ifstream in(path, std::ios::binary);
    if (!in) fgclep::fail("cannot open WFDB header '{}'", path.string());
    in.seekg(0, std::ios::end);
    const auto size = static_cast<std::int64_t>(in.tellg());
    if (size < 0) fgclep::fail("cannot read WFDB header '{}'", path.string());
    if (size > wfdb_max_header_bytes)
        fgclep::fail("WFDB header '{}' is {} bytes, more than a header can be ({})", path.string(), size,
                     wfdb_max_header_bytes);
    in.seekg(0);
    std::string text(static_cast<std::size_t>(size), '\0');
    if (!in.read(text.data(), size)) fgclep::fail("cannot read WFDB header '{}'", path.string());
    return parse_wfdb_header(text, path.string());
}

}  // namespace fgclep::data
