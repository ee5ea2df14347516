// Generates a synthetic ECG-report corpus laid out like MIMIC-IV-ECG (issue 8; docs/synthetic-corpus.md):
//
//   generate_corpus OUT_DIR [--records N] [--eval-records N] [--seed S] [--threads T] [--omit-features 0.55]
//                           [--noise SCALE] [--mains-hz HZ] [--overwrite]
//
// --noise scales all noise levels of the simulator (0: clean signals, 1: the defaults). Prints a summary: records,
// subjects, condition prevalence, seconds and records per second.
#include "fgclep/synth/corpus.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

namespace {

void usage() {
    std::fprintf(stderr,
                 "usage: generate_corpus OUT_DIR [--records N] [--eval-records N] [--seed S] [--threads T]\n"
                 "                       [--omit-features SHARE] [--noise SCALE] [--mains-hz HZ] [--overwrite]\n");
}

double number(std::string_view flag, const char* text) {
    char* end = nullptr;
    const double v = std::strtod(text, &end);
    if (end == text || *end != '\0') fgclep::fail("generate_corpus: {} expects a number, got '{}'", flag, text);
    return v;
}

std::int64_t integer(std::string_view flag, const char* text) {
    char* end = nullptr;
    const long long v = std::strtoll(text, &end, 10);
    if (end == text || *end != '\0' || v < 0)
        fgclep::fail("generate_corpus: {} expects a non-negative integer, got '{}'", flag, text);
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        fgclep::synth::CorpusOptions o;
        o.records = 10000;
        std::string out;
        double noise_scale = 1;
        for (int i = 1; i < argc; ++i) {
            const std::string_view a = argv[i];
            const auto value = [&]() -> const char* {
                if (i + 1 >= argc) fgclep::fail("generate_corpus: {} needs a value", a);
                return argv[++i];
            };
            if (a == "--records")
                o.records = integer(a, value());
            else if (a == "--eval-records")
                o.eval_records = integer(a, value());
            else if (a == "--seed")
                o.seed = static_cast<std::uint64_t>(integer(a, value()));
            else if (a == "--threads")
                o.threads = static_cast<int>(integer(a, value()));
            else if (a == "--omit-features")
                o.report.omit_features = number(a, value());
            else if (a == "--noise")
                noise_scale = number(a, value());
            else if (a == "--mains-hz")
                o.simulator.noise.mains_hz = number(a, value());
            else if (a == "--overwrite")
                o.overwrite = true;
            else if (a == "--help" || a == "-h") {
                usage();
                return 0;
            } else if (!a.empty() && a.front() == '-') {
                usage();
                fgclep::fail("generate_corpus: unknown option '{}'", a);
            } else if (out.empty())
                out = a;
            else
                fgclep::fail("generate_corpus: a second output directory '{}'", a);
        }
        if (out.empty()) {
            usage();
            return 2;
        }
        if (!(noise_scale >= 0)) fgclep::fail("generate_corpus: --noise must not be negative");
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
