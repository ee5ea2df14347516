#pragma once
// Progress of long work on the terminal: a bar redrawn in place when stderr is a terminal, otherwise (CI logs,
// files) one line every `line_interval` seconds, so logs stay readable. The one progress printer: the Trainer,
// synth::write_corpus and the llm_features example all draw through it.
//
//   epoch 2/10 [########------------]  41% 120/290 loss 0.4123 (sigmoid_loss 0.31 fnm_loss 0.20) 35.2 samples/s ETA 3m12s
#include <fmt/format.h>

#include <unistd.h>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace fgclep {

// automatic: a bar on a terminal, else lines; terminal: a bar on a terminal, else nothing.
enum class ProgressMode { automatic, bar, lines, off, terminal };

class ProgressReporter {
public:
    explicit ProgressReporter(ProgressMode mode = ProgressMode::automatic, double line_interval = 30,
                              std::FILE* out = stderr)
        : out_(out), line_interval_(line_interval) {
        const bool tty = ::isatty(::fileno(out));
        mode_ = mode == ProgressMode::automatic  ? (tty ? ProgressMode::bar : ProgressMode::lines)
                : mode == ProgressMode::terminal ? (tty ? ProgressMode::bar : ProgressMode::off)
                                                 : mode;
    }

    // done of total units; `status` is appended (loss, rate, ...). Redraws at most 10 times a second.
    void update(std::string_view label, std::int64_t done, std::int64_t total, std::string_view status,
                bool force = false) {
        if (mode_ == ProgressMode::off) return;
        const auto now = std::chrono::steady_clock::now();
        const double since = std::chrono::duration<double>(now - last_).count();
        const double min_interval = mode_ == ProgressMode::bar ? 0.1 : line_interval_;
        if (!force && drawn_ && since < min_interval) return;
        last_ = now;
        drawn_ = true;
        const double fraction = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 0.0;
        if (mode_ == ProgressMode::bar) {
            constexpr int width = 20;
            const int filled = static_cast<int>(fraction * width);
            fmt::print(out_, "\r{} [{}{}] {:3.0f}% {}/{} {}\033[K", label,
                       std::string(static_cast<std::size_t>(filled), '#'),
                       std::string(static_cast<std::size_t>(width - filled), '-'), 100 * fraction, done, total, status);
        } else {
            fmt::print(out_, "{} {:3.0f}% {}/{} {}\n", label, 100 * fraction, done, total, status);
        }
        std::fflush(out_);
    }
    // Ends the bar's line (so the next message starts on a fresh one).
    void finish() {
        if (mode_ == ProgressMode::bar && drawn_) fmt::print(out_, "\n");
        drawn_ = false;
    }
    // A message that does not break the bar.
    void message(std::string_view text) {
        if (mode_ == ProgressMode::off) return;
        if (mode_ == ProgressMode::bar && drawn_) fmt::print(out_, "\r\033[K");
        fmt::print(out_, "{}\n", text);
        drawn_ = false;
        std::fflush(out_);
    }
    ProgressMode mode() const { return mode_; }

    // 3h02m, 4m05s, 12s.
    static std::string duration(double seconds) {
        if (!(seconds >= 0) || seconds > 1e8) return "?";
        const auto s = static_cast<std::int64_t>(seconds + 0.5);
        if (s >= 3600) return fmt::format("{}h{:02d}m", s / 3600, (s % 3600) / 60);
        if (s >= 60) return fmt::format("{}m{:02d}s", s / 60, s % 60);
        return fmt::format("{}s", s);
    }

private:
    std::FILE* out_;
    ProgressMode mode_;
    double line_interval_;
    bool drawn_ = false;
    std::chrono::steady_clock::time_point last_{};
};

}  // namespace fgclep
