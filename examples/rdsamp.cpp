// rdsamp: prints a WFDB record's samples like the WFDB Software Package's rdsamp, one line per sample: the
// sample number, then one tab-separated column per selected signal (digital ADC values, or physical units with
// -P, where '-' marks an invalid or absent sample).
//
//   rdsamp -r mitdb/100 -f 0.5 -t s400 -s 1 0 -P
//
// Options (as rdsamp's): -r RECORD (path without extension), -f FROM and -t TO (seconds, or s<N> for sample N;
// the range is [FROM, TO)), -s SIGNAL... (numbers or names, in the order to print), -P (physical units), -H
// (every signal at the highest sampling rate of the record), -v (column headings). Also --no-check (skip the
// checksum checks).
#include "cli.hpp"
#include "fgclep/data/wfdb_reader.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace {

// A time as -f and -t give it: "s<N>" is sample N, anything else seconds.
struct Time {
    bool is_sample = false;
    std::int64_t sample = 0;
    double seconds = 0;
};

std::optional<Time> read_time(const std::string& text) {
    std::size_t used = 0;
    try {
        if (!text.empty() && text[0] == 's') {
            const long long n = std::stoll(text.substr(1), &used);
            if (used + 1 == text.size() && n >= 0) return Time{.is_sample = true, .sample = n};
        } else {
            const double seconds = std::stod(text, &used);
            if (used == text.size() && seconds >= 0 && std::isfinite(seconds)) return Time{.seconds = seconds};
        }
    } catch (const std::exception&) {
    }
    return std::nullopt;
}

// The sample number of a time checked by the command line; seconds are rounded to the nearest sample, as WFDB's
// strtim does.
std::int64_t parse_time(const std::string& text, double fs) {
    const Time t = read_time(text).value();
    return t.is_sample ? t.sample : static_cast<std::int64_t>(t.seconds * fs + 0.5);
}

const CLI::Validator time_format(
    [](std::string& text) -> std::string {
        return read_time(text) ? std::string() : "'" + text + "' is neither seconds (1.5) nor a sample number (s360)";
    },
    "");  // the option's type name says TIME

// The command line: what to read and how to print it.
struct Command {
    std::string record, from_text, to_text;
    std::vector<std::string> signal_args;
    bool physical = false, verbose = false;
    fgclep::data::WfdbReadOptions options;
};

Command parse_args(int argc, char** argv) {
    CLI::App app{
        "Prints a WFDB record's samples like the WFDB Software Package's rdsamp, one line per sample: the sample "
        "number, then one tab-separated column per selected signal (digital ADC values, or physical units with -P, "
        "where '-' marks an invalid or absent sample). Reads single- and multi-segment records.",
        "rdsamp"};
    Command c;
    bool no_check = false;
    app.add_option("-r", c.record, "WFDB record: path without extension (or the .hea file)")
        ->type_name("RECORD")
        ->required();
    app.add_option("-f", c.from_text, "first sample: seconds (0.5) or a sample number (s180); default 0")
        ->type_name("TIME")
        ->check(time_format);
    app.add_option("-t", c.to_text, "stop before this sample: seconds or s<N>; default the end of the record")
        ->type_name("TIME")
        ->check(time_format);
    app.add_option("-s", c.signal_args, "signals to print, by number or name, in this order; default all")
        ->type_name("SIGNAL")
        ->expected(1, -1);
    app.add_flag("-P", c.physical, "physical units ('-' for invalid samples); default digital ADC values");
    app.add_flag("-H", c.options.expand_frames,
                 "expand frames: every signal at the record's highest samples per frame");
    app.add_flag("-v", c.verbose, "print column headings");
    app.add_flag("--no-check", no_check, "do not verify checksums");
    cli::parse(app, argc, argv);
    c.options.verify_checksums = !no_check;
    return c;
}

// -s's signals by number or by name, as channels to read.
void select_signals(Command& c) {
    // An empty read gives every signal's spec (a multi-segment record's layout).
    fgclep::data::WfdbReadOptions none;
    none.to = 0;
    const auto specs = fgclep::data::read_wfdb(c.record, none).specs;
    for (const auto& s : c.signal_args) {
        char* end = nullptr;
        const long n = std::strtol(s.c_str(), &end, 10);
        if (*end == '\0' && !s.empty()) {
            c.options.channels.push_back(static_cast<int>(n));
            continue;
        }
        int found = -1;
        for (int k = 0; k < static_cast<int>(specs.size()) && found < 0; ++k)
            if (specs[static_cast<std::size_t>(k)].description == s) found = k;
        if (found < 0) fgclep::fail("record '{}' has no signal named '{}'", c.record, s);
        c.options.channels.push_back(found);
    }
}

// -v's column headings: the signals' names, and with -P their units.
std::string headings(const fgclep::data::WfdbSignals& data, bool physical) {
    std::string out = "sample";
    for (const auto& s : data.specs) out += "\t" + (s.description.empty() ? std::string("?") : s.description);
    out += "\n";
    if (physical) {
        out += "#";
        for (const auto& s : data.specs) out += "\t" + (s.units.empty() ? std::string("mV") : s.units);
        out += "\n";
    }
    return out;
}

// One line per sample: its number, then each signal's value (digital, or physical with -P).
void print_samples(const Command& c, const fgclep::data::WfdbSignals& data) {
    // Without -t, stop where a skewed signal runs out of data, as rdsamp does.
    const std::int64_t rows = c.to_text.empty() ? data.complete_length : data.length;
    std::string out = c.verbose ? headings(data, c.physical) : std::string();
    // Physical values go through read_ecg's conversion so both tools print the same numbers.
    fgclep::data::EcgRecord ecg;
    if (c.physical) ecg = fgclep::data::read_ecg(c.record, c.options);
    const std::int64_t first = data.from * data.samples_per_frame;
    for (std::int64_t t = 0; t < rows; ++t) {
        out += fmt::format("{:7d}", first + t);
        for (std::int64_t ch = 0; ch < data.n_channels(); ++ch) {
            if (c.physical) {
                const double v = ecg.samples[static_cast<std::size_t>(ch * ecg.length + t)];
                out += std::isnan(v) ? fmt::format("\t{:>15}", "-") : fmt::format("\t{:15.8f}", v);
            } else {
                out += fmt::format("\t{:7d}", data.at(ch, t));
            }
        }
        out += "\n";
        if (out.size() > (1 << 20)) {
            std::fwrite(out.data(), 1, out.size(), stdout);
            out.clear();
        }
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace

int main(int argc, char** argv) {
    Command c = parse_args(argc, argv);
    try {
        const auto header = fgclep::data::read_wfdb_header(c.record);
        select_signals(c);
        if (!c.from_text.empty()) c.options.from = parse_time(c.from_text, header.fs);
        if (!c.to_text.empty()) c.options.to = parse_time(c.to_text, header.fs);
        print_samples(c, fgclep::data::read_wfdb(c.record, c.options));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
        return 1;
    }
    return 0;
}
