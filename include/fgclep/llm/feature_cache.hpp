#pragma once
// An on-disk cache of LLM feature candidates, so a run over 800k reports can stop (or be killed) and resume
// without asking any report twice.
//
//   FeatureCache cache("stage2/llm_cache.jsonl", "llama3-8b", prompt.identity());
//   if (auto hit = cache.find(report)) use(*hit); else cache.put(report, features, answer);
//
// The file is append-only JSON lines, one line written (in one write) and flushed per entry:
//   {"type":"prompt","prompt":"<id>","model":"llama3-8b","text":"<system>\u001f<user template>"}  (once per prompt)
//   {"type":"entry","key":"<id>","prompt":"<id>","model":"llama3-8b","report":"...","features":[...],"answer":"..."}
// key = FNV-1a 64 of (model, prompt, report) in hex; the exact report text is stored and compared on lookup, so a hash
// collision cannot return another report's features. Entries of another model or prompt are kept in the file but
// not used (several prompts may share one file). Only successes are written: a failed or malformed report is
// asked again on the next run.
// Opening reads the whole file. A last line without its newline (the process was killed mid-write) is reported
// in issues() and cut off the file, so appends start on a fresh line; any other unreadable line is reported and
// skipped. find() and put() may be called from many threads.
#include "fgclep/core/error.hpp"
#include "fgclep/core/hash.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <unistd.h>

namespace fgclep::llm {

struct FeatureCacheOptions {
    bool store_answers = true;  // keep the raw LLM answer next to the parsed features (provenance)
    bool fsync = false;         // fsync after each entry: survives power loss, not only a killed process
};

struct CacheLoadIssues {
    std::size_t entries = 0;            // usable entries (this model and prompt)
    std::size_t other_prompt = 0;       // entries of another model or prompt, ignored
    std::size_t torn_last_line = 0;     // 1 when the file ended in a partial line (cut off)
    std::size_t malformed_lines = 0;    // unreadable lines elsewhere, skipped
    std::vector<std::string> messages;  // one per problem, naming the file and line
};

class FeatureCache {
public:
    FeatureCache(std::filesystem::path file, std::string model, std::string prompt, FeatureCacheOptions options = {})
        : file_(std::move(file)), model_(std::move(model)), prompt_text_(std::move(prompt)), options_(options) {
        prompt_id_ = hex(fnv1a64(prompt_text_));
        load();
        if (file_.has_parent_path()) std::filesystem::create_directories(file_.parent_path());
        out_ = std::fopen(file_.c_str(), "ab");
        if (!out_) fail("feature cache: cannot open {} for appending", file_.string());
    }
    FeatureCache(const FeatureCache&) = delete;
    FeatureCache& operator=(const FeatureCache&) = delete;
    ~FeatureCache() {
        if (out_) std::fclose(out_);
    }

    const std::filesystem::path& file() const { return file_; }
    const CacheLoadIssues& issues() const { return issues_; }
    std::size_t size() const {
        std::shared_lock lock(mutex_);
        return entries_.size();
    }

    std::string key(std::string_view report) const {
        const std::string_view separator("\0", 1);
        std::uint64_t h = fnv1a64(model_);
        h = fnv1a64(separator, h);
        h = fnv1a64(prompt_text_, h);
        h = fnv1a64(separator, h);
        return hex(fnv1a64(report, h));
    }

    std::optional<std::vector<std::string>> find(std::string_view report) const {
        std::shared_lock lock(mutex_);
        const auto it = entries_.find(key(report));
        if (it == entries_.end() || it->second.report != report) return std::nullopt;
        return it->second.features;
    }

    // Appends the entry and flushes it; a report already cached is not written again.
    void put(std::string_view report, const std::vector<std::string>& features, std::string_view answer = {}) {
        const std::string k = key(report);
        std::unique_lock lock(mutex_);
        if (const auto it = entries_.find(k); it != entries_.end() && it->second.report == report) return;
        if (!prompt_written_) {
            const nlohmann::json p = {
                {"type", "prompt"}, {"prompt", prompt_id_}, {"model", model_}, {"text", prompt_text_}};
            append(p.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
            prompt_written_ = true;
        }
        nlohmann::json e = {{"type", "entry"}, {"key", k},         {"prompt", prompt_id_},
                            {"model", model_}, {"report", report}, {"features", features}};
        if (options_.store_answers) e["answer"] = answer;
        append(e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        entries_[k] = Entry{std::string(report), features};
    }

private:
    struct Entry {
        std::string report;
        std::vector<std::string> features;
    };

    static std::string hex(std::uint64_t v) { return fmt::format("{:016x}", v); }

    void append(const std::string& line) {
        std::string data = line;
        data.push_back('\n');
        if (std::fwrite(data.data(), 1, data.size(), out_) != data.size() || std::fflush(out_) != 0)
            fail("feature cache: cannot write to {}", file_.string());
        if (options_.fsync) ::fsync(::fileno(out_));
    }

    void load() {
        std::error_code ec;
        if (!std::filesystem::exists(file_, ec)) return;
        std::ifstream in(file_, std::ios::binary);
        if (!in) fail("feature cache: cannot read {}", file_.string());
        // Line by line: an 800k-entry cache is a few hundred MB, not worth holding twice.
        std::string line;
        std::uintmax_t offset = 0;  // of the current line
        for (std::size_t line_no = 1; std::getline(in, line); ++line_no) {
            if (in.eof()) {  // no newline after it: killed mid-write; cut it off so appends start cleanly
                if (line.empty()) break;
                issues_.torn_last_line = 1;
                issues_.messages.push_back(
                    fmt::format("{}:{}: the last line is incomplete ({} bytes without a "
                                "newline; the writer was interrupted): removed",
                                file_.string(), line_no, line.size()));
                in.close();
                std::filesystem::resize_file(file_, offset);
                break;
            }
            offset += line.size() + 1;
            if (!line.empty()) read_line(line, line_no);
        }
        issues_.entries = entries_.size();
    }

    void read_line(std::string_view line, std::size_t line_no) {
        const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
        const auto bad = [&](std::string_view why) {
            ++issues_.malformed_lines;
            issues_.messages.push_back(fmt::format("{}:{}: {}: skipped", file_.string(), line_no, why));
        };
        if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
        const std::string type = j.value("type", "");
        if (type == "prompt") {
            if (j.value("prompt", "") == prompt_id_ && j.value("model", "") == model_ &&
                j.value("text", "") == prompt_text_)
                prompt_written_ = true;
            return;
        }
        if (type != "entry") return bad("unknown record type");
        try {
            if (j.at("model").get<std::string>() != model_ || j.at("prompt").get<std::string>() != prompt_id_) {
                ++issues_.other_prompt;
                return;
            }
            Entry e{j.at("report").get<std::string>(), j.at("features").get<std::vector<std::string>>()};
            const std::string k = key(e.report);
            if (j.at("key").get<std::string>() != k) return bad("the key does not match the report");
            entries_[k] = std::move(e);
        } catch (const nlohmann::json::exception& ex) {
            bad(fmt::format("entry without the expected fields ({})", ex.what()));
        }
    }

    std::filesystem::path file_;
    std::string model_, prompt_text_, prompt_id_;
    FeatureCacheOptions options_;
    CacheLoadIssues issues_;
    std::unordered_map<std::string, Entry> entries_;
    bool prompt_written_ = false;
    std::FILE* out_ = nullptr;
    mutable std::shared_mutex mutex_;
};

}  // namespace fgclep::llm
