#pragma once
// Stage 2's candidate waveform features from an LLM server: the cache first, then N concurrent requests.
//
//   LlmFeatureSource source({.chat = {.base_url = "http://127.0.0.1:8000/v1", .model = "llama3-8b"},
//                            .cache_file = "run/llm_cache.jsonl", .concurrency = 16});
//   std::vector<std::vector<std::string>> c = source.candidates(reports);  // c[i]: features of reports[i]
//   source.stats();     // reports, cached, asked, answered, failed, malformed, not_asked, duplicates
//   source.failures();  // each failed or malformed report: index, text, error, raw answer
//
// The same interface as the embedded knowledge base (fgclep/features/), so stage 2 can take either.
// A report gets an empty list when it failed, its answer was malformed, or it was not asked (stopped by
// options.cancel or options.max_requests); statuses() tells these apart from a real empty answer, and such
// reports are not cached, so the next run asks them again. Identical report texts in one call are asked once.
// Successes are cached as they arrive (flushed per entry), so a run killed at any point loses at most the requests
// in flight. Invariant: cached + answered + failed + malformed + not_asked == reports.
#include "fgclep/core/error.hpp"
#include "fgclep/core/workers.hpp"
#include "fgclep/llm/chat_client.hpp"
#include "fgclep/llm/feature_cache.hpp"
#include "fgclep/llm/feature_prompt.hpp"
#include "fgclep/llm/list_parser.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fgclep::llm {

struct LlmStats {
    std::size_t reports = 0;
    std::size_t cached = 0;      // reports answered from the cache
    std::size_t asked = 0;       // requests sent (one per distinct uncached report text)
    std::size_t answered = 0;    // reports given candidates by this call's requests
    std::size_t failed = 0;      // reports whose request failed (server error, timeout, ...)
    std::size_t malformed = 0;   // reports whose answer was not a readable list
    std::size_t not_asked = 0;   // reports left when the run was stopped (cancel, max_requests)
    std::size_t duplicates = 0;  // reports that shared a request with an identical report text
};

enum class CandidateStatus { cached, answered, failed, malformed, not_asked };

inline std::string_view to_string(CandidateStatus s) {
    switch (s) {
        case CandidateStatus::cached:
            return "cached";
        case CandidateStatus::answered:
            return "answered";
        case CandidateStatus::failed:
            return "failed";
        case CandidateStatus::malformed:
            return "malformed";
        case CandidateStatus::not_asked:
            return "not asked";
    }
    return "?";
}

struct ReportFailure {
    std::size_t index = 0;  // into the reports of the call
    std::string report;
    CandidateStatus status = CandidateStatus::failed;  // failed or malformed
    std::string error;
    std::string answer;  // the raw answer, for malformed ones
};

struct LlmProgress {
    std::size_t done = 0;   // requests finished in this call
    std::size_t total = 0;  // requests to make in this call (distinct uncached reports)
    double seconds = 0;     // since the call began
    LlmStats stats;         // so far
};

struct LlmFeatureOptions {
    ChatOptions chat;
    FeaturePrompt prompt;
    ListParseOptions parse;
    std::filesystem::path cache_file;  // empty: no cache (every call asks again)
    FeatureCacheOptions cache;
    int concurrency = 4;                        // requests in flight at once
    std::int64_t max_requests = -1;             // per call: stop starting requests after this many (-1: no limit)
    const std::atomic<bool>* cancel = nullptr;  // when set to true: no new requests; those in flight finish
    std::function<void(const LlmProgress&)> on_progress;  // called from the asking threads, one at a time
    std::chrono::milliseconds progress_interval{10'000};
};

class LlmFeatureSource {
public:
    explicit LlmFeatureSource(LlmFeatureOptions options) : options_(std::move(options)), client_(options_.chat) {
        if (options_.concurrency < 1) fail("LLM features: concurrency must be >= 1, got {}", options_.concurrency);
        options_.prompt.validate();
        if (!options_.cache_file.empty())
            cache_ = std::make_unique<FeatureCache>(options_.cache_file, options_.chat.model,
                                                    options_.prompt.identity(), options_.cache);
    }

    const LlmFeatureOptions& options() const { return options_; }
    const ChatClient& client() const { return client_; }
    const FeatureCache* cache() const { return cache_.get(); }

    // Of the last call to candidates().
    const LlmStats& stats() const { return stats_; }
    const std::vector<ReportFailure>& failures() const { return failures_; }
    const std::vector<CandidateStatus>& statuses() const { return statuses_; }
    bool complete() const { return stats_.failed + stats_.malformed + stats_.not_asked == 0; }

    std::vector<std::vector<std::string>> candidates(std::span<const std::string> reports) {
        const auto start = std::chrono::steady_clock::now();
        stats_ = LlmStats{};
        stats_.reports = reports.size();
        failures_.clear();
        statuses_.assign(reports.size(), CandidateStatus::not_asked);
        std::vector<std::vector<std::string>> out(reports.size());

        // Cache hits first; the rest grouped by text so each distinct report is asked once.
        std::vector<std::size_t> unique_first;  // index of the first report of each distinct text
        std::vector<std::size_t> group(reports.size(), npos);
        std::unordered_map<std::string_view, std::size_t> group_of;
        for (std::size_t i = 0; i < reports.size(); ++i) {
            if (cache_) {
                if (auto hit = cache_->find(reports[i])) {
                    out[i] = std::move(*hit);
                    statuses_[i] = CandidateStatus::cached;
                    ++stats_.cached;
                    continue;
                }
            }
            const auto [it, inserted] = group_of.emplace(reports[i], unique_first.size());
            if (inserted)
                unique_first.push_back(i);
            else
                ++stats_.duplicates;
            group[i] = it->second;
        }

        std::vector<Outcome> outcomes(unique_first.size());
        std::atomic<std::size_t> next{0};
        std::atomic<std::int64_t> started{0};
        std::mutex progress_mutex;
        std::size_t done = 0;
        LlmStats running = stats_;  // progress counts requests (distinct texts); cached reports come from stats_
        auto last_report = start;
        std::atomic<bool> stopping{false};  // a worker threw (the progress callback, the cache): the others stop
        const auto worker = [&](int) {
            while (!stopping && !(options_.cancel && options_.cancel->load())) {
                if (options_.max_requests >= 0 && started.fetch_add(1) >= options_.max_requests) break;
                const std::size_t u = next.fetch_add(1);
                if (u >= unique_first.size()) break;
                ask(reports[unique_first[u]], outcomes[u]);
                std::lock_guard lock(progress_mutex);
                ++done;
                ++running.asked;
                running.answered += outcomes[u].status == CandidateStatus::answered;
                running.failed += outcomes[u].status == CandidateStatus::failed;
                running.malformed += outcomes[u].status == CandidateStatus::malformed;
                const auto now = std::chrono::steady_clock::now();
                if (options_.on_progress &&
                    (now - last_report >= options_.progress_interval || done == unique_first.size())) {
                    last_report = now;
                    options_.on_progress(LlmProgress{done, unique_first.size(), seconds_since(start), running});
                }
            }
        };
        const std::size_t threads =
            std::min<std::size_t>(static_cast<std::size_t>(options_.concurrency), unique_first.size());
        run_workers("LLM features", static_cast<int>(threads), worker, [&] { stopping = true; });

        stats_.asked = 0;
        for (const Outcome& o : outcomes) stats_.asked += o.status != CandidateStatus::not_asked;
        for (std::size_t i = 0; i < reports.size(); ++i) {
            if (group[i] == npos) continue;
            const Outcome& o = outcomes[group[i]];
            statuses_[i] = o.status;
            switch (o.status) {
                case CandidateStatus::answered:
                    ++stats_.answered;
                    out[i] = o.features;
                    break;
                case CandidateStatus::failed:
                    ++stats_.failed;
                    break;
                case CandidateStatus::malformed:
                    ++stats_.malformed;
                    break;
                default:
                    ++stats_.not_asked;
                    break;
            }
            if (o.status == CandidateStatus::failed || o.status == CandidateStatus::malformed)
                failures_.push_back({i, reports[i], o.status, o.error, o.answer});
        }
        return out;
    }

    // One report; throws fgclep::Error when it cannot be answered (the error names the server and the problem).
    std::vector<std::string> candidates(std::string_view report) {
        const std::string one[] = {std::string(report)};
        std::vector<std::vector<std::string>> out = candidates(std::span<const std::string>(one));
        if (statuses_[0] == CandidateStatus::failed || statuses_[0] == CandidateStatus::malformed)
            fail("LLM features: {} for report '{}': {}", to_string(statuses_[0]), chat_detail::snippet(report, 80),
                 failures_[0].error);
        if (statuses_[0] == CandidateStatus::not_asked)
            fail("LLM features: report '{}' was not asked (cancelled or max_requests reached)",
                 chat_detail::snippet(report, 80));
        return std::move(out[0]);
    }

private:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    struct Outcome {
        CandidateStatus status = CandidateStatus::not_asked;
        std::vector<std::string> features;
        std::string error, answer;
    };

    void ask(const std::string& report, Outcome& o) const {
        ChatResult r = client_.complete(options_.prompt.messages(report));
        if (!r.ok) {
            o.status = CandidateStatus::failed;
            o.error = std::move(r.error);
            return;
        }
        ParseResult parsed = parse_feature_list(r.content, options_.parse);
        if (!parsed.ok) {
            o.status = CandidateStatus::malformed;
            o.error = "the answer is not a Python list: " + parsed.error;
            if (r.finish_reason == "length")
                o.error += fmt::format(" (the answer was cut off at max_tokens = {})", options_.chat.max_tokens);
            o.answer = std::move(r.content);
            return;
        }
        if (cache_) cache_->put(report, parsed.items, r.content);
        o.status = CandidateStatus::answered;
        o.features = std::move(parsed.items);
    }

    static double seconds_since(std::chrono::steady_clock::time_point t) {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    }

    LlmFeatureOptions options_;
    ChatClient client_;
    std::unique_ptr<FeatureCache> cache_;
    LlmStats stats_;
    std::vector<ReportFailure> failures_;
    std::vector<CandidateStatus> statuses_;
};

}  // namespace fgclep::llm
