#pragma once
// LoadIssues: what a loader or a batch source skipped or repaired, counted by kind, with the first few
// messages of each kind kept for the report ("missing waveform: files/p1000/p10000032/s40689238/40689238.hea
// (subject 10000032, study 40689238)"). Loaders never drop data silently: every skip lands here.
#include <fmt/format.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace fgclep::data {

class LoadIssues {
public:
    static constexpr std::size_t examples_per_kind = 5;

    void add(const std::string& kind, std::string message) {
        std::lock_guard lock(mutex_);
        Entry& e = entries_[kind];
        ++e.count;
        if (e.examples.size() < examples_per_kind) e.examples.push_back(std::move(message));
    }
    void merge(const LoadIssues& other) {
        if (&other == this) return;
        std::scoped_lock lock(mutex_, other.mutex_);
        for (const auto& [kind, e] : other.entries_) {
            Entry& mine = entries_[kind];
            mine.count += e.count;
            for (const auto& m : e.examples)
                if (mine.examples.size() < examples_per_kind) mine.examples.push_back(m);
        }
    }

    std::int64_t count(const std::string& kind) const {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(kind);
        return it == entries_.end() ? 0 : it->second.count;
    }
    std::int64_t total() const {
        std::lock_guard lock(mutex_);
        std::int64_t n = 0;
        for (const auto& [kind, e] : entries_) n += e.count;
        return n;
    }
    bool empty() const { return total() == 0; }
    std::vector<std::string> kinds() const {
        std::lock_guard lock(mutex_);
        std::vector<std::string> out;
        for (const auto& [kind, e] : entries_) out.push_back(kind);
        return out;
    }
    std::vector<std::string> examples(const std::string& kind) const {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(kind);
        return it == entries_.end() ? std::vector<std::string>{} : it->second.examples;
    }

    // One line per kind, then its examples indented: for a terminal or a log.
    std::string summary() const {
        std::lock_guard lock(mutex_);
        if (entries_.empty()) return "no problems found\n";
        std::string out;
        for (const auto& [kind, e] : entries_) {
            out += fmt::format("{}: {}\n", kind, e.count);
            for (const auto& m : e.examples) out += fmt::format("    {}\n", m);
            if (e.count > static_cast<std::int64_t>(e.examples.size()))
                out += fmt::format("    ... and {} more\n", e.count - static_cast<std::int64_t>(e.examples.size()));
        }
        return out;
    }

    LoadIssues() = default;
    LoadIssues(const LoadIssues& other) { merge(other); }
    LoadIssues& operator=(const LoadIssues& other) {
        if (this != &other) {
            LoadIssues copy(other);
            std::lock_guard lock(mutex_);
            entries_ = std::move(copy.entries_);
        }
        return *this;
    }

private:
    struct Entry {
        std::int64_t count = 0;
        std::vector<std::string> examples;
    };
    mutable std::mutex mutex_;
    std::map<std::string, Entry> entries_;
};

}  // namespace fgclep::data
