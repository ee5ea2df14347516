#pragma once
// A structured log of a run: one JSON object per line (JSON Lines), flushed as it is written, so a crashed run
// keeps everything up to its last step and tools (jq, pandas.read_json(lines=True)) read it directly. A resumed
// run appends to the same file; its "resume" event says from which step, and a step repeated after a crash
// appears twice, the later line being the one that counts.
#include "fgclep/core/error.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>

namespace fgclep {

class JsonLinesLog {
public:
    JsonLinesLog() = default;
    explicit JsonLinesLog(const std::filesystem::path& path) : path_(path) {
        if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
        out_.open(path, std::ios::app);
        if (!out_) fail("cannot open the log file '{}' for appending", path.string());
    }
    bool enabled() const { return out_.is_open(); }
    // Writes `record` with "event" and a wall-clock "time" (seconds since the Unix epoch) added.
    void write(std::string_view event, nlohmann::json record = nlohmann::json::object()) {
        if (!out_.is_open()) return;
        record["event"] = event;
        record["time"] = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
        out_ << record.dump() << '\n';
        out_.flush();
        if (!out_) fail("writing the log file '{}' failed (disk full?)", path_.string());
    }

private:
    std::filesystem::path path_;
    std::ofstream out_;
};

}  // namespace fgclep
