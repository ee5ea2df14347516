#pragma once
// A preprocessed cache on disk: every record of a source, read and preprocessed once, stored as float32
// (leads, length) in one file that later epochs read through mmap: no WFDB parsing, no resampling, no
// normalisation, and the page cache (not the process) holds what is hot.
//
// The file is written to a temporary name and renamed into place, so a reader sees all of it or none. Its key hashes
// the record list and every preprocessing option, and a cache with another key is refused; the key does not see the
// records' contents, so rebuild after editing files. File layout and BatchStream's use of it: docs/data-pipeline.md.
#include "fgclep/core/error.hpp"
#include "fgclep/core/workers.hpp"
#include "fgclep/data/record_source.hpp"
#include "fgclep/io/mapped_file.hpp"

#include <unistd.h>

#include <atomic>
#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

namespace fgclep::data {

inline constexpr char record_cache_magic[8] = {'F', 'G', 'C', 'L', 'E', 'P', 'R', 'C'};
inline constexpr std::uint32_t record_cache_version = 1;

// The key a cache of `source` preprocessed by `preprocessor` must carry.
template <RecordSource S>
std::uint64_t record_cache_key(const S& source, const Preprocessor& preprocessor) {
    return fnv1a64(preprocessor.options().fingerprint(), record_list_hash(source));
}

namespace detail {
struct CacheHeader {
    char magic[8];
    std::uint32_t version;
    std::uint32_t data_offset;
    std::uint64_t key;
    std::int64_t count, leads, length;
    std::uint64_t reserved[2];
};
static_assert(sizeof(CacheHeader) == 64);
inline std::uint64_t cache_data_offset(std::int64_t count) {
    return (64 + static_cast<std::uint64_t>(count) + 63) / 64 * 64;
}
}  // namespace detail

class RecordCache {
public:
    using Status = PreparedRecord::Status;

    // Opens and checks a cache file: its magic, version, size, and (unless expected_key is 0) its key.
    explicit RecordCache(const std::filesystem::path& path, std::uint64_t expected_key = 0)
        : path_(path), file_(path, "record cache") {
        static_assert(std::endian::native == std::endian::little, "the cache stores little-endian float32");
        size_ = file_.size();
        if (size_ < sizeof(detail::CacheHeader))
            fail("record cache '{}' is truncated: {} bytes, less than its 64-byte header", path.string(), size_);
        map_ = reinterpret_cast<const unsigned char*>(file_.data());  // page-aligned: the floats are aligned
        check(expected_key);
    }
    RecordCache(const RecordCache&) = delete;
    RecordCache& operator=(const RecordCache&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::uint64_t key() const { return header_.key; }
    std::int64_t size() const { return header_.count; }
    std::int64_t leads() const { return header_.leads; }
    std::int64_t length() const { return header_.length; }

    Status status(std::int64_t i) const { return static_cast<Status>(map_[64 + index(i)]); }
    std::span<const float> record(std::int64_t i) const {
        const std::size_t per = static_cast<std::size_t>(header_.leads * header_.length);
        return {reinterpret_cast<const float*>(map_ + header_.data_offset) + index(i) * per, per};
    }
    std::int64_t count(Status s) const {
        std::int64_t n = 0;
        for (std::int64_t i = 0; i < size(); ++i) n += status(i) == s;
        return n;
    }

private:
    std::size_t index(std::int64_t i) const {
        if (i < 0 || i >= header_.count)
            fail("record cache '{}': record {} is outside [0, {})", path_.string(), i, header_.count);
        return static_cast<std::size_t>(i);
    }
    void check(std::uint64_t expected_key) {
        std::memcpy(&header_, map_, sizeof header_);
        if (std::memcmp(header_.magic, record_cache_magic, 8) != 0)
            fail("record cache '{}' is not a record cache (bad magic)", path_.string());
        if (header_.version != record_cache_version)
            fail("record cache '{}' has version {}; this library reads version {}: rebuild it", path_.string(),
                 header_.version, record_cache_version);
        if (header_.count < 0 || header_.leads < 1 || header_.length < 1 ||
            header_.data_offset != detail::cache_data_offset(header_.count))
            fail("record cache '{}' has a corrupt header (count {}, leads {}, length {}, data offset {})",
                 path_.string(), header_.count, header_.leads, header_.length, header_.data_offset);
        // count x leads x length x 4 can overflow for a corrupt header (and then match a small file): bound the
        // shape first, then compare the body's size by division.
        if (header_.leads > (std::int64_t{1} << 20) || header_.length > (std::int64_t{1} << 31))
            fail("record cache '{}' has a corrupt header (leads {}, length {})", path_.string(), header_.leads,
                 header_.length);
        const auto record_bytes = static_cast<std::uint64_t>(header_.leads * header_.length) * 4;
        const std::uint64_t body = size_ > header_.data_offset ? size_ - header_.data_offset : 0;
        const bool size_ok = size_ >= header_.data_offset && body % record_bytes == 0 &&
                             body / record_bytes == static_cast<std::uint64_t>(header_.count);
        const double want = static_cast<double>(header_.data_offset) +
                            static_cast<double>(header_.count) * static_cast<double>(record_bytes);
        if (!size_ok)
            fail("record cache '{}' is {}: {} bytes, expected {} for {} records of ({}, {})", path_.string(),
                 static_cast<double>(size_) < want ? "truncated" : "longer than its header says", size_, want,
                 header_.count, header_.leads, header_.length);
        if (expected_key != 0 && header_.key != expected_key)
            fail(
                "record cache '{}' was built for another record list or other preprocessing options (key {:016x}, "
                "expected {:016x}): delete it to rebuild it",
                path_.string(), header_.key, expected_key);
        for (std::int64_t i = 0; i < header_.count; ++i) {
            const auto s = map_[64 + i];
            if (s < 1 || s > 3) fail("record cache '{}': record {} has an unknown status {}", path_.string(), i, s);
        }
    }

    std::filesystem::path path_;
    io::MappedFile file_;
    const unsigned char* map_ = nullptr;  // file_'s bytes
    std::size_t size_ = 0;
    detail::CacheHeader header_{};
};

struct CacheBuildOptions {
    int workers = 2;
    std::int64_t chunk = 64;                                              // records prepared in parallel, then written
    std::function<void(std::int64_t done, std::int64_t total)> progress;  // after each chunk
};

struct CacheBuildReport {
    std::int64_t ok = 0, failed = 0, dropped = 0;
    LoadIssues issues;  // the records that failed, named
};

// Reads and preprocesses every record of `source` with `workers` threads and writes the cache at `path`
// atomically. Memory: one chunk of records. Returns what was stored; failed and dropped records are counted.
template <RecordSource S>
CacheBuildReport build_record_cache(const S& source, const Preprocessor& preprocessor,
                                    const std::filesystem::path& path, const CacheBuildOptions& options = {}) {
    if (preprocessor.leads() < 1)
        fail("record cache '{}': the preprocessing must fix the lead list (PreprocessOptions::leads.target)",
             path.string());
    if (options.workers < 1 || options.chunk < 1)
        fail("record cache '{}': workers and chunk must be >= 1", path.string());
    const auto n = static_cast<std::int64_t>(source.size());
    const std::int64_t per = preprocessor.leads() * preprocessor.length();
    detail::CacheHeader header{};
    std::memcpy(header.magic, record_cache_magic, 8);
    header.version = record_cache_version;
    header.data_offset = static_cast<std::uint32_t>(detail::cache_data_offset(n));
    if (detail::cache_data_offset(n) > 0xFFFFFFFFull)
        fail("record cache '{}': {} records are too many", path.string(), n);
    header.key = record_cache_key(source, preprocessor);
    header.count = n;
    header.leads = preprocessor.leads();
    header.length = preprocessor.length();

    if (!path.parent_path().empty()) std::filesystem::create_directories(path.parent_path());
    const auto tmp = std::filesystem::path(path.string() + fmt::format(".tmp-{}", static_cast<long>(::getpid())));
    CacheBuildReport report;
    std::vector<std::uint8_t> status(static_cast<std::size_t>(n), 0);
    try {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) fail("record cache '{}': cannot write '{}'", path.string(), tmp.string());
        out.write(reinterpret_cast<const char*>(&header), sizeof header);
        const std::vector<char> zeros(header.data_offset - sizeof header, 0);
        out.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));  // status, written at the end
        const std::vector<float> zero_record(static_cast<std::size_t>(per), 0.0f);
        std::vector<PreparedRecord> chunk;
        for (std::int64_t begin = 0; begin < n; begin += options.chunk) {
            const std::int64_t count = std::min(options.chunk, n - begin);
            chunk.assign(static_cast<std::size_t>(count), {});
            std::atomic<std::int64_t> next{0};
            run_workers(
                fmt::format("record cache '{}'", path.string()),
                static_cast<int>(std::min<std::int64_t>(options.workers, count)),
                [&](int) {
                    for (std::int64_t j; (j = next++) < count;)
                        chunk[static_cast<std::size_t>(j)] = prepare_record(source, begin + j, preprocessor);
                },
                [&] { next = count; });
            for (std::int64_t j = 0; j < count; ++j) {
                PreparedRecord& r = chunk[static_cast<std::size_t>(j)];
                status[static_cast<std::size_t>(begin + j)] = static_cast<std::uint8_t>(r.status);
                const std::vector<float>& data = r.status == PreparedRecord::Status::ok ? r.ecg : zero_record;
                out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(per * 4));
                if (r.status == PreparedRecord::Status::ok)
                    ++report.ok;
                else if (r.status == PreparedRecord::Status::dropped)
                    ++report.dropped;
                else {
                    ++report.failed;
                    report.issues.add("record failed to read", r.message);
                }
            }
            if (options.progress) options.progress(begin + count, n);
        }
        out.seekp(sizeof header);
        out.write(reinterpret_cast<const char*>(status.data()), static_cast<std::streamsize>(status.size()));
        out.close();
        if (!out) fail("record cache '{}': writing '{}' failed (disk full?)", path.string(), tmp.string());
        std::filesystem::rename(tmp, path);
    } catch (...) {
        std::error_code ignored;
        std::filesystem::remove(tmp, ignored);
        throw;
    }
    return report;
}

}  // namespace fgclep::data
