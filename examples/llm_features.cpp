// Stage 2 with an LLM: candidate waveform features for each report, asked of an OpenAI-compatible server (vLLM,
// llama.cpp's llama-server, Ollama), cached so a stopped run resumes without asking twice. See docs/llm.md.
//
//   llm_features /data/mimic-iv-ecg --out stage2/candidates.jsonl --cache stage2/llm_cache.jsonl
//         --base-url http://127.0.0.1:8000/v1 --model meta-llama/Meta-Llama-3-8B-Instruct --concurrency 32
//   llm_features reports.txt --out c.jsonl --base-url http://127.0.0.1:11434/v1 --model llama3   (one report a line)
//
// Writes one JSON line per report: {"id", "report", "status", "candidates", "error"?}; status is cached, answered,
// failed, malformed or "not asked" (stopped by Ctrl-C or --max-requests). Ctrl-C stops starting requests, lets
// those in flight finish and still writes the output; rerunning with the same --cache asks only what is missing.
// Exit status: 0 when every report has candidates, 3 when some failed, were malformed or were not asked, 1 on
// errors (bad input, bad prompt file), 2 on bad usage.
#include "fgclep/llm/llm_features.hpp"
#include "cli.hpp"
#include "fgclep/data/datasets/mimic_iv_ecg.hpp"
#include "fgclep/train/progress.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace fgclep::llm;

namespace {

std::atomic<bool> interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);  // stored from a signal handler

struct Args {
    fs::path input, out, cache, prompt_file;
    ChatOptions chat;
    int concurrency = 8;
    std::int64_t limit = -1, max_requests = -1;
};

Args parse(int argc, char** argv) {
    CLI::App app{
        "Stage 2 with an LLM: asks an OpenAI-compatible server (vLLM, llama.cpp's llama-server, Ollama) for each "
        "report's candidate waveform features and writes one JSON line per report to --out: {\"id\", \"report\", "
        "\"status\", \"candidates\", \"error\"?}, status cached, answered, failed, malformed or \"not asked\". "
        "Answers are kept in --cache, so a stopped run (Ctrl-C, --max-requests) resumes without asking twice. Exit "
        "status: 0 when every report has candidates, 3 when some do not, 1 on errors, 2 on bad usage. See "
        "docs/llm.md.",
        "llm_features"};
    Args a;
    a.chat.model = "default";
    std::int64_t timeout_s = std::chrono::duration_cast<std::chrono::seconds>(a.chat.read_timeout).count();
    app.add_option("REPORTS", a.input,
                   "a MIMIC-IV-ECG directory (id: the study id) or a text file, one report a line (id: the line "
                   "number)")
        ->required();
    app.add_option("--out", a.out, "the output, one JSON line per report (FILE.jsonl)")->required();
    app.add_option("--cache", a.cache, "answers cached across runs (FILE.jsonl; default: none)");
    app.add_option("--prompt-file", a.prompt_file,
                   "the prompt template, with a {report} placeholder (default: built in)");
    app.add_option("--base-url", a.chat.base_url, "the server's OpenAI-compatible API")->capture_default_str();
    app.add_option("--model", a.chat.model, "the model name sent with each request")->capture_default_str();
    app.add_option("--api-key-env", a.chat.api_key_env,
                   "environment variable holding the API key (empty: never send a key)")
        ->capture_default_str();
    app.add_option("--concurrency", a.concurrency, "requests in flight at once")
        ->check(cli::positive)
        ->capture_default_str();
    app.add_option("--limit", a.limit, "read at most N reports (default: all)")->check(cli::non_negative);
    app.add_option("--max-requests", a.max_requests, "ask at most N requests, then stop (default: no limit)")
        ->check(cli::non_negative);
    app.add_option("--timeout", timeout_s, "seconds to wait for one answer")
        ->check(cli::positive)
        ->capture_default_str();
    app.add_option("--retries", a.chat.max_retries, "retries of a failed request (connection, 429, 5xx)")
        ->check(cli::non_negative)
        ->capture_default_str();
    app.add_option("--max-tokens", a.chat.max_tokens, "the longest answer, in tokens")
        ->check(cli::positive)
        ->capture_default_str();
    cli::parse(app, argc, argv);
    a.chat.read_timeout = std::chrono::seconds(timeout_s);
    return a;
}

// Reports and their ids: a MIMIC-IV-ECG directory (id = study id) or a text file (id = line number).
void read_reports(const Args& a, std::vector<std::string>& ids, std::vector<std::string>& reports) {
    if (fs::is_directory(a.input)) {
        fgclep::data::MimicIvEcgOptions options;
        options.limit = a.limit;
        const auto dataset = fgclep::data::load_mimic_iv_ecg(a.input, options);
        for (const auto& e : dataset.entries) {
            ids.push_back(e.id);
            reports.push_back(e.report);
        }
        if (dataset.issues.total() > 0) fmt::print(stderr, "llm_features: {}\n", dataset.issues.summary());
        return;
    }
    std::ifstream in(a.input);
    if (!in) fgclep::fail("cannot open {}", a.input.string());
    std::string line;
    for (std::int64_t n = 1; std::getline(in, line); ++n) {
        if (a.limit >= 0 && static_cast<std::int64_t>(reports.size()) >= a.limit) break;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        if (line.back() == '\r') line.pop_back();
        ids.push_back(std::to_string(n));
        reports.push_back(line);
    }
}

}  // namespace

int main(int argc, char** argv) try {
    const Args a = parse(argc, argv);
    std::vector<std::string> ids, reports;
    read_reports(a, ids, reports);

    LlmFeatureOptions options;
    options.chat = a.chat;
    if (!a.prompt_file.empty()) {
        std::ifstream in(a.prompt_file);
        if (!in) fgclep::fail("cannot open the prompt file {}", a.prompt_file.string());
        std::stringstream text;
        text << in.rdbuf();
        options.prompt = FeaturePrompt::from_template(text.str());
    }
    options.cache_file = a.cache;
    options.concurrency = a.concurrency;
    options.max_requests = a.max_requests;
    options.cancel = &interrupted;
    // A bar on a terminal, a line every 10 s in a log: the reporter throttles, so every request reports.
    fgclep::ProgressReporter progress(fgclep::ProgressMode::automatic, 10);
    options.progress_interval = std::chrono::milliseconds(0);
    options.on_progress = [&progress](const LlmProgress& p) {
        const double rate = p.seconds > 0 ? static_cast<double>(p.done) / p.seconds : 0.0;
        const double eta = rate > 0 ? static_cast<double>(p.total - p.done) / rate : -1;
        progress.update("llm_features: requests", static_cast<std::int64_t>(p.done), static_cast<std::int64_t>(p.total),
                        fmt::format("{:.1f}/s ETA {}, failed {}, malformed {}", rate,
                                    fgclep::ProgressReporter::duration(eta), p.stats.failed, p.stats.malformed),
                        p.done == p.total);
    };
    std::signal(SIGINT, [](int) { interrupted.store(true); });

    LlmFeatureSource source(options);
    fmt::print(stderr, "llm_features: {} reports, asking {} (model '{}'){}\n", reports.size(), source.client().url(),
               a.chat.model, source.client().has_api_key() ? ", with an API key" : "");
    if (const FeatureCache* cache = source.cache()) {
        fmt::print(stderr, "llm_features: cache {}: {} entries for this model and prompt\n", cache->file().string(),
                   cache->size());
        for (const std::string& m : cache->issues().messages) fmt::print(stderr, "llm_features: {}\n", m);
    }
    const auto candidates = source.candidates(reports);
    progress.finish();

    if (a.out.has_parent_path()) fs::create_directories(a.out.parent_path());
    std::ofstream out(a.out);
    if (!out) fgclep::fail("cannot write {}", a.out.string());
    std::vector<std::string> errors(reports.size());
    for (const ReportFailure& f : source.failures()) errors[f.index] = f.error;
    for (std::size_t i = 0; i < reports.size(); ++i) {
        nlohmann::ordered_json line = {{"id", ids[i]},
                                       {"report", reports[i]},
                                       {"status", to_string(source.statuses()[i])},
                                       {"candidates", candidates[i]}};
        if (!errors[i].empty()) line["error"] = errors[i];
        out << line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
    }
    out.close();

    const LlmStats& s = source.stats();
    fmt::print(
        "reports: {}, cached: {}, asked: {}, answered: {}, failed: {}, malformed: {}, not asked: {}, "
        "duplicates: {}\n",
        s.reports, s.cached, s.asked, s.answered, s.failed, s.malformed, s.not_asked, s.duplicates);
    for (std::size_t k = 0; k < source.failures().size() && k < 5; ++k)
        fmt::print("  {} report {}: {}\n", to_string(source.failures()[k].status), ids[source.failures()[k].index],
                   source.failures()[k].error);
    if (source.failures().size() > 5) fmt::print("  ... {} more in {}\n", source.failures().size() - 5, a.out.string());
    fmt::print("wrote {}\n", a.out.string());
    return source.complete() ? 0 : 3;
} catch (const std::exception& e) {
    fmt::print(stderr, "llm_features: {}\n", e.what());
    return 1;
}
