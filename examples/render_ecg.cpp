// Draws an ECG record as a 12-lead paper ECG in SVG (25 mm/s, 10 mm/mV, millimetre grid; prints at true scale).
//
//   render_ecg ptb-xl/records500/00000/00001_hr -o 00001.svg                 (any WFDB record, .hea/.dat or .mat)
//   render_ecg mitdb/100 -o 100.svg --from 60 --seconds 10                   (2 channels: one row each)
//   render_ecg --synthetic atrial_fibrillation,right_bundle_branch_block --seed 3 -o af_rbbb.svg
//
// Options: --speed MM_PER_S (25), --gain MM_PER_MV (10), --rhythm LEAD (II; "none" for no strip), --caption TEXT
// (default: the conditions of a synthetic record, else none), --from S, --seconds S (10), --rows (one row per
// channel even for 12 leads). Condition names are the snake_case names of fgclep/synth/conditions.hpp; --help
// lists them.
#include "cli.hpp"
#include "fgclep/data/wfdb_reader.hpp"
#include "fgclep/synth/conditions.hpp"
#include "fgclep/synth/corpus.hpp"
#include "fgclep/synth/render_svg.hpp"
#include "fgclep/synth/simulator.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdint>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using fgclep::synth::Condition;

struct Args {
    std::string record;
    std::vector<std::string> synthetic;  // condition names: the stable identifiers of synth/corpus.hpp
    std::uint64_t seed = 1;
    std::filesystem::path out;
    fgclep::synth::RenderOptions render;
    bool caption_given = false;
};

Args parse(int argc, char** argv) {
    CLI::App app{
        "Draws an ECG as a paper 12-lead ECG in SVG (25 mm/s, 10 mm/mV, millimetre grid; prints at true scale): a "
        "WFDB record (.hea/.dat or .mat) or a record simulated with the given conditions. Writes OUT.svg and prints "
        "a line: the record's leads, sampling rate and samples, the file and its size.",
        "render_ecg"};
    app.footer(
        fmt::format("Forms:\n  render_ecg RECORD -o OUT.svg [OPTIONS]\n  render_ecg --synthetic "
                    "CONDITION[,CONDITION...] [--seed S] -o OUT.svg [OPTIONS]\nConditions: {}",
                    fmt::join(fgclep::synth::condition_identifiers, ", ")));
    Args a;
    std::string rhythm = a.render.rhythm_lead;
    auto* input = app.add_option_group("input", "the ECG drawn: a record or a simulated one");
    input->add_option("RECORD", a.record, "a WFDB record: path without extension (any of .hea/.dat or .mat)");
    input
        ->add_option("--synthetic", a.synthetic,
                     "simulate a record with these conditions (comma-separated; see Conditions below)")
        ->delimiter(',')
        ->check(CLI::Validator(
            [](std::string& name) -> std::string {
                if (fgclep::synth::condition_from_identifier(name)) return {};
                return "unknown condition '" + name + "'";
            },
            "CONDITION"));
    input->require_option(1);
    app.add_option("-o,--output", a.out, "the SVG file written")->required();
    app.add_option("--seed", a.seed, "--synthetic: the simulation's seed")
        ->check(cli::non_negative)
        ->capture_default_str();
    app.add_option("--speed", a.render.speed_mm_per_s, "paper speed, mm/s")
        ->check(cli::positive)
        ->capture_default_str();
    app.add_option("--gain", a.render.gain_mm_per_mv, "amplitude scale, mm/mV")
        ->check(cli::positive)
        ->capture_default_str();
    app.add_option("--rhythm", rhythm, "the lead of the bottom rhythm strip; none: no strip")->capture_default_str();
    app.add_option("--caption", a.render.caption,
                   "a second header line (default: the conditions of a simulated record, else none)");
    app.add_option("--from", a.render.start_s, "first second shown")->check(cli::non_negative)->capture_default_str();
    app.add_option("--seconds", a.render.duration_s, "seconds shown (clipped to the record)")
        ->check(cli::positive)
        ->capture_default_str();
    bool rows = false;
    app.add_flag("--rows", rows, "one row per channel, even for 12 leads");
    cli::parse(app, argc, argv);
    a.render.rhythm_lead = rhythm == "none" ? std::string() : rhythm;
    a.caption_given = app.count("--caption") > 0;
    if (rows) a.render.layout = fgclep::synth::Layout::rows;
    return a;
}

}  // namespace

int main(int argc, char** argv) {
    Args args = parse(argc, argv);
    try {
        fgclep::data::EcgRecord record;
        if (!args.synthetic.empty()) {
            std::vector<Condition> conditions;  // each name checked by the command line
            for (const std::string& name : args.synthetic)
                conditions.push_back(*fgclep::synth::condition_from_identifier(name));
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
