#pragma once
// The ZIP reader behind TorchCheckpoint (io/torch_checkpoint.hpp): the central directory, with ZIP64 sizes, offsets
// and end records honoured, and uncompressed ("stored") records, each checked against its CRC-32. Deflated records
// are refused (torch never compresses, and supporting them would make this header-only library link zlib). Its
// messages speak of torch checkpoints, the one kind of archive fgclep reads.
#include "fgclep/core/error.hpp"
#include "fgclep/io/crc32.hpp"

#include <cstdint>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace fgclep::io {

namespace torch_detail {

// Little-endian reads with bounds checks against the whole buffer.
struct Reader {
    std::span<const char> bytes;
    const std::string& source;
    template <class U>
    U at(std::uint64_t offset, std::string_view what) const {
        if (offset > bytes.size() || bytes.size() - offset < sizeof(U))
            fail("'{}' is truncated or not a zip file: {} at byte {} lies past its end ({} bytes)", source, what,
                 offset, bytes.size());
        U v;
        std::memcpy(&v, bytes.data() + offset, sizeof(U));
        return v;
    }
};

// The records of a ZIP archive in memory (a mapped file or a buffer), by name. Records are spans into that memory,
// which must outlive them; every offset and size is checked against its length before it is used, so a truncated
// or corrupt file is an error here, never a read past the end (of a map: SIGBUS).
class ZipArchive {
public:
    struct Record {
        std::uint64_t data_offset = 0, size = 0;
        std::uint32_t crc = 0;
        std::uint16_t method = 0;
    };

    ZipArchive(std::span<const char> bytes, std::string source)
        : bytes_(bytes), source_(std::move(source)), records_(read_zip()) {}

    const std::map<std::string, Record>& records() const { return records_; }
    bool contains(const std::string& name) const { return records_.count(name) != 0; }

    // A stored record's bytes, once they match its CRC.
    std::span<const char> record(const std::string& name) const {
        auto it = records_.find(name);
        if (it == records_.end()) fail("'{}' has no record '{}'", source_, name);
        const Record& rec = it->second;
        if (rec.method != 0)
            fail(
                "'{}': record '{}' is compressed (zip method {}); only uncompressed records, as torch.save writes "
                "them, are supported",
                source_, name, rec.method == 8 ? "8, deflate" : std::to_string(rec.method));
        std::span<const char> s(bytes_.data() + rec.data_offset, rec.size);
        if (crc32(s.data(), s.size()) != rec.crc)  // ZIP records carry the standard CRC-32
            fail("'{}' is corrupt: record '{}' fails its CRC check", source_, name);
        return s;
    }

private:
    std::span<const char> bytes_;
    std::string source_;
    std::map<std::string, Record> records_;

    // The central directory: record name -> where its bytes are. ZIP64 sizes and offsets are honoured.
    std::map<std::string, Record> read_zip() const {
        const auto& b = bytes_;
        Reader r{b, source_};
        if (b.size() < 22)
            fail("'{}' is not a torch checkpoint: {} bytes is too short for a zip file", source_, b.size());
        // The end-of-central-directory record is in the last 22 + 65535 (comment) bytes.
        std::uint64_t eocd = b.size() - 22;
        const std::uint64_t lowest = b.size() > 22 + 65535 ? b.size() - 22 - 65535 : 0;
        while (r.at<std::uint32_t>(eocd, "the end of the central directory") != 0x06054b50u) {
            if (eocd == lowest)
                fail(
                    "'{}' is not a zip file (torch.save's format since torch 1.6) or is truncated: no end of central "
                    "directory record (a legacy torch.save file? re-save it with a current torch)",
                    source_);
            --eocd;
        }
        std::uint64_t count = r.at<std::uint16_t>(eocd + 10, "the record count");
        std::uint64_t cd_size = r.at<std::uint32_t>(eocd + 12, "the central directory size");
        std::uint64_t cd_offset = r.at<std::uint32_t>(eocd + 16, "the central directory offset");
        if (count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_offset == 0xFFFFFFFFu) {
            // ZIP64: a locator just before the end record points at the ZIP64 end record.
            if (eocd < 20 || r.at<std::uint32_t>(eocd - 20, "the ZIP64 locator") != 0x07064b50u)
                fail("'{}' is corrupt: the zip end record asks for ZIP64 but there is no ZIP64 locator", source_);
            const auto z = r.at<std::uint64_t>(eocd - 20 + 8, "the ZIP64 end record offset");
            if (r.at<std::uint32_t>(z, "the ZIP64 end record") != 0x06064b50u)
                fail("'{}' is corrupt: no ZIP64 end of central directory record at byte {}", source_, z);
            count = r.at<std::uint64_t>(z + 32, "the ZIP64 record count");
            cd_size = r.at<std::uint64_t>(z + 40, "the ZIP64 central directory size");
            cd_offset = r.at<std::uint64_t>(z + 48, "the ZIP64 central directory offset");
        }
        if (cd_offset > b.size() || cd_size > b.size() - cd_offset)
            fail("'{}' is truncated or corrupt: its central directory spans bytes [{}, {}) of a {}-byte file", source_,
                 cd_offset, cd_offset + cd_size, b.size());
        std::map<std::string, Record> records;
        std::uint64_t p = cd_offset;
        for (std::uint64_t i = 0; i < count; ++i) {
            if (r.at<std::uint32_t>(p, "a central directory entry") != 0x02014b50u)
                fail("'{}' has a corrupt zip central directory: entry {} of {} at byte {} has a bad signature", source_,
                     i, count, p);
            Record rec;
            rec.method = r.at<std::uint16_t>(p + 10, "a compression method");
            rec.crc = r.at<std::uint32_t>(p + 16, "a CRC");
            std::uint64_t compressed = r.at<std::uint32_t>(p + 20, "a compressed size");
            rec.size = r.at<std::uint32_t>(p + 24, "a size");
            const std::uint16_t name_len = r.at<std::uint16_t>(p + 28, "a name length");
            const std::uint16_t extra_len = r.at<std::uint16_t>(p + 30, "an extra field length");
            const std::uint16_t comment_len = r.at<std::uint16_t>(p + 32, "a comment length");
            std::uint64_t local = r.at<std::uint32_t>(p + 42, "a local header offset");
            if (p + 46 + name_len > b.size()) fail("'{}' is truncated inside its zip central directory", source_);
            std::string name(b.data() + p + 46, name_len);
            // ZIP64 extra field (id 1): the 64-bit values of the fields that were saturated, in this order.
            std::uint64_t e = p + 46 + name_len;
            const std::uint64_t extra_end = e + extra_len;
            while (e + 4 <= extra_end) {
                const auto id = r.at<std::uint16_t>(e, "an extra field id");
                const auto len = r.at<std::uint16_t>(e + 2, "an extra field length");
                if (id == 1) {
                    std::uint64_t q = e + 4, q_end = e + 4 + len;
                    auto next = [&](std::uint64_t& field) {
                        if (q + 8 > q_end) fail("'{}': entry '{}' has a short ZIP64 extra field", source_, name);
                        field = r.at<std::uint64_t>(q, "a ZIP64 value");
                        q += 8;
                    };
                    if (rec.size == 0xFFFFFFFFu) next(rec.size);
                    if (compressed == 0xFFFFFFFFu) next(compressed);
                    if (local == 0xFFFFFFFFu) next(local);
                }
                e += 4 + len;
            }
            p = extra_end + comment_len;
            if (rec.method == 0 && compressed != rec.size)
                fail("'{}' is corrupt: stored entry '{}' has size {} but compressed size {}", source_, name, rec.size,
                     compressed);
            if (r.at<std::uint32_t>(local, "a local file header") != 0x04034b50u)
                fail("'{}' is corrupt: entry '{}' has no local file header at byte {}", source_, name, local);
            rec.data_offset = local + 30 + r.at<std::uint16_t>(local + 26, "a local name length") +
                              r.at<std::uint16_t>(local + 28, "a local extra length");
            if (rec.data_offset > b.size() || compressed > b.size() - rec.data_offset)
                fail("'{}' is truncated: entry '{}' spans bytes [{}, {}) of a {}-byte file", source_, name,
                     rec.data_offset, rec.data_offset + compressed, b.size());
            records[name] = rec;
        }
        return records;
    }
};

}  // namespace torch_detail

}  // namespace fgclep::io
