#pragma once
// The command lines of the example programs, parsed with CLI11 (Debian: libcli11-dev; header-only): one library so
// that every program behaves alike. `--help` prints the complete usage and exits 0; an unknown option, a missing
// value or a malformed number is refused with exit code 2 and a message that names the option.
//
//   CLI::App app{"What the program does.", "program_name"};
//   std::int64_t epochs = 4;
//   app.add_option("--epochs", epochs, "training epochs")->check(cli::non_negative)->capture_default_str();
//   cli::parse(app, argc, argv);
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace cli {

// Exit code of a command line that cannot be parsed (as getopt-style tools and Python's argparse use).
inline constexpr int usage_error = 2;

// Parses argv into `app`'s options; returns only when the command line is valid. --help: the usage on stdout, exit
// 0. Anything else wrong: the reason on stderr ("--epochs: ...", "The following arguments were not expected:
// --epoch"), a pointer to --help, exit 2.
inline void parse(CLI::App& app, int argc, char** argv) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        std::exit(app.exit(e));
    } catch (const CLI::CallForAllHelp& e) {
        std::exit(app.exit(e));
    } catch (const CLI::RequiredError& e) {
        // CLI11 reports a missing required argument before the arguments it could not match (it has collected
        // them by then): a mistyped option is the likelier cause, so name those first.
        if (const std::vector<std::string> extras = app.remaining(); !extras.empty()) {
            std::string names;
            for (const auto& x : extras) names += " " + x;
            std::fprintf(stderr,
                         "The following arguments were not expected:%s\nRun with --help for more information.\n",
                         names.c_str());
            std::exit(usage_error);
        }
        app.exit(e);
        std::exit(usage_error);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        std::exit(usage_error);
    }
}

namespace detail {
inline CLI::Validator number_at_least(double low, bool strict, const char* name) {
    return CLI::Validator(
        [=](std::string& text) -> std::string {
            double v = 0;
            if (!CLI::detail::lexical_cast(text, v) || !std::isfinite(v)) return "'" + text + "' is not a number";
            if (strict ? !(v > low) : !(v >= low))
                return "must be " + std::string(strict ? "> " : ">= ") + CLI::detail::to_string(low) + ", got " + text;
            return {};
        },
        name);
}
}  // namespace detail

// Validators with short messages ("--lr: must be >= 0, got -1"); CLI11's own Range prints DBL_MAX in full.
inline const CLI::Validator non_negative = detail::number_at_least(0, false, "NON-NEGATIVE");
inline const CLI::Validator positive = detail::number_at_least(0, true, "POSITIVE");
// A share: 0 <= x < 1.
inline const CLI::Validator share = CLI::Validator(
    [](std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v) || !std::isfinite(v)) return "'" + text + "' is not a number";
        if (!(v >= 0 && v < 1)) return "must be in [0, 1), got " + text;
        return {};
    },
    "SHARE");

}  // namespace cli
