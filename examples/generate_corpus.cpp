// Generates a synthetic ECG-report corpus laid out like MIMIC-IV-ECG (issue 8; docs/synthetic-corpus.md):
//
//   generate_corpus OUT_DIR [--records N] [--eval-records N] [--seed S] [--threads T] [--omit-features 0.55]
//                           [--noise SCALE] [--mains-hz HZ] [--overwrite]
//
// --noise scales all noise levels of the simulator (0: clean signals, 1: the defaults). Prints a summary: records,
// subjects, condition prevalence, seconds and records per second.
#include "cli.hpp"
#include "fgclep/synth/corpus.hpp"

#include <cstdio>
#include <exception>
#include <string>

int main(int argc, char** argv) {
    CLI::App app{
        "Generates a synthetic ECG-report corpus laid out like MIMIC-IV-ECG in OUT_DIR (docs/synthetic-corpus.md): "
        "simulated 12-lead WFDB records under files/, record_list.csv, machine_measurements.csv (the machine "
        "reports), ground_truth.csv and, with --eval-records, labelled evaluation records and split files under "
        "eval/. Prints a summary: records, subjects, condition prevalence, seconds and records per second.",
        "generate_corpus"};
    fgclep::synth::CorpusOptions o;
    o.records = 10000;
    std::string out;
    double noise_scale = 1;
    app.add_option("OUT_DIR", out, "the corpus directory (created if needed)")->required();
    app.add_option("--records", o.records, "pre-training records")->check(cli::non_negative)->capture_default_str();
    app.add_option("--eval-records", o.eval_records, "labelled evaluation records (folds 1-8 train, 9 val, 10 test)")
        ->check(cli::non_negative)
        ->capture_default_str();
    app.add_option("--seed", o.seed, "seed of the whole corpus")->check(cli::non_negative)->capture_default_str();
    app.add_option("--threads", o.threads, "threads (0: all cores)")->check(cli::non_negative)->capture_default_str();
    app.add_option("--omit-features", o.report.omit_features, "share of reports without waveform-feature statements")
        ->check(CLI::Validator(
            [](std::string& text) -> std::string {
                double v = 0;
                if (CLI::detail::lexical_cast(text, v) && v >= 0 && v <= 1) return {};
                return "must be in [0, 1], got " + text;
            },
            "SHARE"))
        ->capture_default_str();
    app.add_option("--noise", noise_scale,
                   "scales all noise levels of the simulator (0: clean signals, 1: the defaults)")
        ->check(cli::non_negative)
        ->capture_default_str();
    app.add_option("--mains-hz", o.simulator.noise.mains_hz,
                   "mains frequency in Hz of the simulated hum and the notch filter")
        ->check(cli::non_negative)
        ->capture_default_str();
    app.add_flag("--overwrite", o.overwrite,
                 "replace the corpus files of a non-empty directory (others are left alone); without it such a "
                 "directory is refused");
    cli::parse(app, argc, argv);
    try {
        auto& n = o.simulator.noise;
        n.baseline_wander_mv *= noise_scale;
        n.mains_mv *= noise_scale;
        n.muscle_mv *= noise_scale;

        const auto s = fgclep::synth::write_corpus(out, o);
        std::printf("corpus: %s\n", s.root.string().c_str());
        std::printf("records: %lld pre-training (%lld subjects), %lld evaluation (train %lld, val %lld, test %lld)\n",
                    static_cast<long long>(s.records), static_cast<long long>(s.subjects),
                    static_cast<long long>(s.eval_records), static_cast<long long>(s.eval_train),
                    static_cast<long long>(s.eval_val), static_cast<long long>(s.eval_test));
        std::printf(
            "reports stating the waveform features: %lld (%.1f%%)\n", static_cast<long long>(s.reports_with_features),
            s.records > 0 ? 100.0 * static_cast<double>(s.reports_with_features) / static_cast<double>(s.records)
                          : 0.0);
        std::printf("condition prevalence (pre-training records):\n");
        for (std::size_t c = 0; c < fgclep::synth::condition_count; ++c)
            std::printf("  %-32s %7lld  %5.1f%%\n", std::string(fgclep::synth::condition_identifiers[c]).c_str(),
                        static_cast<long long>(s.condition_counts[c]),
                        s.records > 0
                            ? 100.0 * static_cast<double>(s.condition_counts[c]) / static_cast<double>(s.records)
                            : 0.0);
        std::printf("seconds: %.2f, records/s: %.0f\n", s.seconds, s.records_per_second());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
