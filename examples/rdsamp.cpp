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
#include "fgclep/data/wfdb_reader.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace {

int usage(const char* argv0, const std::string& problem) {
    if (!problem.empty()) std::fprintf(stderr, "%s: %s\n", argv0, problem.c_str());
    std::fprintf(stderr,
                 "usage: %s -r RECORD [-f FROM] [-t TO] [-s SIGNAL...] [-P] [-H] [-v] [--no-check]\n"
                 "  -r RECORD   WFDB record: path without extension (or the .hea file)\n"
                 "  -f FROM     first sample: seconds (0.5) or a sample number (s180); default 0\n"
                 "  -t TO       stop before this sample: seconds or s<N>; default the end of the record\n"
                 "  -s SIG...   signals to print, by number or name, in this order; default all\n"
                 "  -P          physical units ('-' for invalid samples); default digital ADC values\n"
                 "  -H          expand frames: every signal at the record's highest samples per frame\n"
                 "  -v          print column headings\n"
                 "  --no-check  do not verify checksums\n",
                 argv0);
    return 2;
}

// "s<N>" is a sample number, anything else seconds (rounded to the nearest sample, as WFDB's strtim does).
std::int64_t parse_time(const std::string& text, double fs, const std::string& option) {
    std::size_t used = 0;
    try {
        if (!text.empty() && text[0] == 's') {
            const long long n = std::stoll(text.substr(1), &used);
            if (used + 1 == text.size() && n >= 0) return n;
        } else {
            const double seconds = std::stod(text, &used);
            if (used == text.size() && seconds >= 0 && std::isfinite(seconds))
                return static_cast<std::int64_t>(seconds * fs + 0.5);
        }
    } catch (const std::exception&) {
    }
    fgclep::fail("{} '{}' is neither seconds (1.5) nor a sample number (s360)", option, text);
}

// The command line: what to read and how to print it.
struct Command {
    std::string record, from_text, to_text;
    std::vector<std::string> signal_args;
    bool physical = false, verbose = false;
    fgclep::data::WfdbReadOptions options;
};

// Fills `c` from argv; the exit code when the program should stop there (-h, or a usage error).
std::optional<int> parse_args(int argc, char** argv, Command& c) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&](const char* what) -> std::string {
            if (i + 1 >= argc) throw std::runtime_error(fmt::format("{} needs {}", a, what));
            return argv[++i];
        };
        try {
            if (a == "-r")
                c.record = value("a record name");
            else if (a == "-f")
                c.from_text = value("a time");
            else if (a == "-t")
                c.to_text = value("a time");
            else if (a == "-s") {
                while (i + 1 < argc && argv[i + 1][0] != '-') c.signal_args.push_back(argv[++i]);
                if (c.signal_args.empty()) return usage(argv[0], "-s needs at least one signal");
            } else if (a == "-P")
                c.physical = true;
            else if (a == "-H")
                c.options.expand_frames = true;
            else if (a == "-v")
                c.verbose = true;
            else if (a == "--no-check")
                c.options.verify_checksums = false;
            else if (a == "-h" || a == "--help")
                return usage(argv[0], "") == 2 ? 0 : 0;
            else
                return usage(argv[0], "unknown option '" + a + "'");
        } catch (const std::exception& e) {
            return usage(argv[0], e.what());
        }
    }
    if (c.record.empty()) return usage(argv[0], "-r RECORD is required");
    return std::nullopt;
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
    Command c;
    if (const std::optional<int> exit_code = parse_args(argc, argv, c)) return *exit_code;
    try {
        const auto header = fgclep::data::read_wfdb_header(c.record);
        select_signals(c);
        if (!c.from_text.empty()) c.options.from = parse_time(c.from_text, header.fs, "-f");
        if (!c.to_text.empty()) c.options.to = parse_time(c.to_text, header.fs, "-t");
        print_samples(c, fgclep::data::read_wfdb(c.record, c.options));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
        return 1;
    }
    return 0;
}
