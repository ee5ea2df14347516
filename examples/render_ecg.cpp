// Draws an ECG record as a 12-lead paper ECG in SVG (25 mm/s, 10 mm/mV, millimetre grid; prints at true scale).
//
//   render_ecg ptb-xl/records500/00000/00001_hr -o 00001.svg                 (any WFDB record, .hea/.dat or .mat)
//   render_ecg mitdb/100 -o 100.svg --from 60 --seconds 10                   (2 channels: one row each)
//   render_ecg --synthetic atrial_fibrillation,right_bundle_branch_block --seed 3 -o af_rbbb.svg
//
// Options: --speed MM_PER_S (25), --gain MM_PER_MV (10), --rhythm LEAD (II; "none" for no strip), --caption TEXT
// (default: the conditions of a synthetic record, else none), --from S, --seconds S (10), --rows (one row per
// channel even for 12 leads). Condition names are the snake_case names of fgclep/synth/conditions.hpp.
#include "fgclep/data/wfdb_reader.hpp"
#include "fgclep/synth/conditions.hpp"
#include "fgclep/synth/corpus.hpp"
#include "fgclep/synth/render_svg.hpp"
#include "fgclep/synth/simulator.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using fgclep::synth::Condition;

// The command line spells a condition by its stable identifier (synth/corpus.hpp).
constexpr const auto& condition_names = fgclep::synth::condition_identifiers;
std::optional<Condition> parse_condition(std::string_view name) {
    return fgclep::synth::condition_from_identifier(name);
}

struct Args {
    std::string record;
    std::string synthetic;  // comma-separated condition names
    std::uint64_t seed = 1;
    std::filesystem::path out;
    fgclep::synth::RenderOptions render;
    bool caption_given = false;
};

[[noreturn]] void usage(const std::string& problem) {
    fmt::print(stderr,
               "render_ecg: {}\nusage: render_ecg RECORD -o OUT.svg [--speed 25] [--gain 10] [--rhythm II|none] "
               "[--caption TEXT] [--from S] [--seconds 10] [--rows]\n"
               "       render_ecg --synthetic CONDITION[,CONDITION...] [--seed S] -o OUT.svg [same options]\n"
               "conditions: {}\n",
               problem, fmt::join(condition_names, ", "));
    std::exit(2);
}

double to_number(const std::string& flag, const std::string& value) {
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0') usage(flag + " expects a number, got '" + value + "'");
    return v;
}

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const auto value = [&] {
            if (i + 1 >= argc) usage(arg + " needs a value");
            return std::string(argv[++i]);
        };
        if (arg == "-o" || arg == "--output")
            a.out = value();
        else if (arg == "--synthetic")
            a.synthetic = value();
        else if (arg == "--seed") {
            const std::string v = value();
            char* end = nullptr;
            a.seed = std::strtoull(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || v[0] == '-')
                usage("--seed expects a non-negative integer, got '" + v + "'");
        } else if (arg == "--speed")
            a.render.speed_mm_per_s = to_number(arg, value());
        else if (arg == "--gain")
            a.render.gain_mm_per_mv = to_number(arg, value());
        else if (arg == "--from")
            a.render.start_s = to_number(arg, value());
        else if (arg == "--seconds")
            a.render.duration_s = to_number(arg, value());
        else if (arg == "--rhythm") {
            a.render.rhythm_lead = value();
            if (a.render.rhythm_lead == "none") a.render.rhythm_lead.clear();
        } else if (arg == "--caption") {
            a.render.caption = value();
            a.caption_given = true;
        } else if (arg == "--rows")
            a.render.layout = fgclep::synth::Layout::rows;
        else if (arg.starts_with("-"))
            usage("unknown option " + arg);
        else if (a.record.empty())
            a.record = arg;
        else
            usage("more than one RECORD");
    }
    if (a.record.empty() == a.synthetic.empty()) usage("give either a RECORD or --synthetic CONDITIONS");
    if (a.out.empty()) usage("no output file (-o OUT.svg)");
    return a;
}

std::vector<Condition> parse_conditions(const std::string& list) {
    std::vector<Condition> out;
    std::size_t start = 0;
    while (start <= list.size()) {
        const auto comma = std::min(list.find(',', start), list.size());
        const std::string name = list.substr(start, comma - start);
        const auto c = parse_condition(name);
        if (!c) usage("unknown condition '" + name + "'");
        out.push_back(*c);
        start = comma + 1;
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    Args args = parse(argc, argv);
    try {
        fgclep::data::EcgRecord record;
        if (!args.synthetic.empty()) {
            const std::vector<Condition> conditions = parse_conditions(args.synthetic);
            auto simulated = fgclep::synth::simulate(conditions, args.seed);
            record = std::move(simulated.record);
            record.name = fmt::format("synthetic, seed {}", args.seed);
            if (!args.caption_given) {
                std::vector<std::string_view> statements;
                for (Condition c : simulated.conditions) statements.push_back(fgclep::synth::statement(c));
                args.render.caption =
                    fmt::format("{} (heart rate {:.0f} bpm)", fmt::join(statements, ", "), simulated.heart_rate_bpm);
            }
        } else {
            record = fgclep::data::read_ecg(args.record);
        }
        fgclep::synth::write_svg(args.out, record, args.render);
        fmt::print("{}: {} leads, {} Hz, {} samples -> {} ({} bytes)\n", record.name, record.channels(), record.fs,
                   record.length, args.out.string(), std::filesystem::file_size(args.out));
    } catch (const std::exception& e) {
        fmt::print(stderr, "render_ecg: {}\n", e.what());
        return 1;
    }
    return 0;
}
