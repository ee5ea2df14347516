#pragma once
// The safetensors format: an 8-byte little-endian header length, a JSON header
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ..., "__metadata__": {...}}
// and the raw little-endian data. Checkpoints and test fixtures use it, so Python reads them without this
// library. Every error names the file and, where there is one, the tensor.
//
// SafetensorsFile::read maps the file (io/mapped_file.hpp) rather than reading it: get<E> converts a tensor straight
// from the mapped bytes into the vector it returns, and hands the pages it has read back to the kernel, so reading
// a checkpoint into a model costs about the model's size in memory, not twice that (docs/checkpoints.md).
#include "fgclep/core/error.hpp"
#include "fgclep/core/shape.hpp"
#include "fgclep/io/crc32.hpp"
#include "fgclep/io/json.hpp"
#include "fgclep/io/mapped_file.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace fgclep::io {

static_assert(std::endian::native == std::endian::little, "fgclep: safetensors I/O assumes a little-endian host");

// Element size of a safetensors dtype name, or 0 if unknown.
inline std::size_t dtype_size(std::string_view dtype) {
    if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
    if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
    if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
    if (dtype == "I8" || dtype == "U8" || dtype == "BOOL") return 1;
    return 0;
}

template <class E>
constexpr std::string_view dtype_of() {
    if constexpr (std::is_same_v<E, double>)
        return "F64";
    else if constexpr (std::is_same_v<E, float>)
        return "F32";
    else if constexpr (std::is_same_v<E, std::int64_t>)
        return "I64";
    else if constexpr (std::is_same_v<E, std::int32_t>)
        return "I32";
    else if constexpr (std::is_same_v<E, std::uint8_t>)
        return "U8";
    else
        static_assert(sizeof(E) == 0, "fgclep: no safetensors dtype for this element type");
}

namespace detail {
inline void crc_entry(Crc32& crc, const std::string& name, const std::string& dtype, const Shape& shape,
                      const char* data, std::size_t size) {
    crc.update(name.data(), name.size() + 1);  // with the terminating NUL: "ab"+"c" differs from "a"+"bc"
    crc.update(dtype.data(), dtype.size() + 1);
    for (auto d : shape) crc.update(&d, sizeof(d));
    crc.update(data, size);
}

// float16 / bfloat16 bit patterns to float.
inline float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000) << 16;
    std::uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    if (exp == 0x1F)
        bits = sign | 0x7F800000u | (mant << 13);  // inf / nan
    else if (exp != 0)
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    else if (mant == 0)
        bits = sign;
    else {  // subnormal: normalise
        int e = -1;
        do {
            ++e;
            mant <<= 1;
        } while (!(mant & 0x400));
        bits = sign | (static_cast<std::uint32_t>(112 - e) << 23) | ((mant & 0x3FF) << 13);
    }
    return std::bit_cast<float>(bits);
}
inline float bfloat16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

// Converts n contiguous little-endian elements at src to E. src may have any alignment (a tensor in a mapped
// file lies wherever the file puts it): every element is loaded with memcpy.
template <class E>
using ElementConverter = void (*)(const char* src, std::size_t n, E* out);

template <class S, class E>
void convert_elements(const char* src, std::size_t n, E* out) {
    if constexpr (std::is_same_v<S, E>) {
        if (n > 0) std::memcpy(out, src, n * sizeof(S));
    } else {
        for (std::size_t i = 0; i < n; ++i) {
            S s;
            std::memcpy(&s, src + i * sizeof(S), sizeof(S));
            out[i] = static_cast<E>(s);
        }
    }
}
template <class E, float (*widen)(std::uint16_t)>
void convert_16bit_floats(const char* src, std::size_t n, E* out) {
    for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t s;
        std::memcpy(&s, src + i * 2, 2);
        out[i] = static_cast<E>(widen(s));
    }
}

// The conversion from a safetensors dtype to E, or nullptr where there is none (I8, I16, U16, U32, U64).
template <class E>
ElementConverter<E> element_converter(std::string_view dtype) {
    if (dtype == "F64") return convert_elements<double, E>;
    if (dtype == "F32") return convert_elements<float, E>;
    if (dtype == "F16") return convert_16bit_floats<E, half_to_float>;
    if (dtype == "BF16") return convert_16bit_floats<E, bfloat16_to_float>;
    if (dtype == "I64") return convert_elements<std::int64_t, E>;
    if (dtype == "I32") return convert_elements<std::int32_t, E>;
    if (dtype == "U8" || dtype == "BOOL") return convert_elements<std::uint8_t, E>;
    return nullptr;
}

// Converts n contiguous elements at src into out in pieces of about 1 MiB, handing each piece's pages back to
// `map` once converted (a no-op for bytes outside it): the resident set then holds the destination and one piece,
// not the destination and the whole source.
template <class E>
void convert_and_release(ElementConverter<E> convert, std::size_t element_size, const char* src, std::size_t n, E* out,
                         const MappedFile& map) {
    const std::size_t piece = std::max<std::size_t>(1, (std::size_t{1} << 20) / element_size);
    for (std::size_t i = 0; i < n; i += piece) {
        const std::size_t m = std::min(piece, n - i);
        convert(src + i * element_size, m, out + i);
        map.release({src + i * element_size, m * element_size});
    }
}
}  // namespace detail

class SafetensorsFile {
public:
    struct Entry {
        std::string dtype;
        Shape shape;
        std::size_t begin = 0, end = 0;  // within the data section
    };

    // Maps the file: tensors are converted from it when asked for (get<E>), never copied whole.
    static SafetensorsFile read(const std::filesystem::path& path) {
        SafetensorsFile f;
        f.map_ = MappedFile(path, "safetensors file");
        f.load(f.map_.bytes(), path.string());
        return f;
    }

    // A file already in memory; `source` names it in errors.
    static SafetensorsFile parse(std::vector<char> bytes, std::string source) {
        SafetensorsFile f;
        f.owned_ = std::move(bytes);
        f.load(f.owned_, std::move(source));
        return f;
    }

    SafetensorsFile() = default;  // no tensors
    // Move-only: the tensors are views of the map (or of the bytes given to parse), which moves with the object.
    SafetensorsFile(SafetensorsFile&&) noexcept = default;
    SafetensorsFile& operator=(SafetensorsFile&&) noexcept = default;
    SafetensorsFile(const SafetensorsFile&) = delete;
    SafetensorsFile& operator=(const SafetensorsFile&) = delete;
    ~SafetensorsFile() = default;

    const std::string& source() const { return source_; }
    bool contains(const std::string& name) const { return entries_.count(name) != 0; }
    std::vector<std::string> names() const {
        std::vector<std::string> n;
        for (auto& [k, v] : entries_) n.push_back(k);
        return n;
    }
    const Entry& entry(const std::string& name) const {
        auto it = entries_.find(name);
        if (it == entries_.end()) fail("'{}' has no tensor named '{}'", source_, name);
        return it->second;
    }
    Shape shape(const std::string& name) const { return entry(name).shape; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

    // CRC-32 over every tensor's name, dtype, shape and bytes, in name order: equal to the writer's
    // content_crc32() for the same tensors. Checkpoints record it to detect corruption on disk.
    std::uint32_t content_crc32() const {
        map_.check_size();
        Crc32 crc;
        for (const auto& [name, e] : entries_) {
            detail::crc_entry(crc, name, e.dtype, e.shape, data_.data() + e.begin, e.end - e.begin);
            map_.release(data_.subspan(e.begin, e.end - e.begin));
        }
        return crc.value();
    }

    // The raw bytes of a tensor: a view of the file, valid while this object lives.
    std::span<const char> bytes(const std::string& name) const {
        const Entry& e = entry(name);
        map_.check_size();
        return data_.subspan(e.begin, e.end - e.begin);
    }

    // A tensor's values converted to E, from any float dtype of the file (F64, F32, F16, BF16) or I64, I32, U8,
    // BOOL. The one copy made is the returned vector's: the values are converted straight from the file's bytes.
    template <class E>
    std::vector<E> get(const std::string& name) const {
        const Entry& e = entry(name);
        const auto convert = detail::element_converter<E>(e.dtype);
        if (!convert) fail("'{}': tensor '{}' has dtype {}, which fgclep cannot convert", source_, name, e.dtype);
        map_.check_size();
        std::vector<E> out(static_cast<std::size_t>(e.shape.numel()));
        detail::convert_and_release(convert, dtype_size(e.dtype), data_.data() + e.begin, out.size(), out.data(), map_);
        return out;
    }

private:
    std::string source_;
    std::map<std::string, Entry> entries_;
    std::map<std::string, std::string> metadata_;
    MappedFile map_;              // read(): the file
    std::vector<char> owned_;     // parse(): the bytes given
    std::span<const char> data_;  // the data section, in one of the two

    void load(std::span<const char> bytes, std::string source) {
        source_ = std::move(source);
        if (bytes.size() < 8)
            fail("'{}' is not a safetensors file: it has {} bytes, fewer than the 8-byte header length", source_,
                 bytes.size());
        std::uint64_t header_len = 0;
        std::memcpy(&header_len, bytes.data(), 8);
        if (header_len > bytes.size() - 8)
            fail("'{}' is truncated or not a safetensors file: the header claims {} bytes but only {} follow", source_,
                 header_len, bytes.size() - 8);
        json::Value header;
        try {
            header = json::parse(std::string_view(bytes.data() + 8, static_cast<std::size_t>(header_len)));
        } catch (const Error& e) {
            fail("'{}' has a malformed safetensors header: {}", source_, reason(e));
        }
        if (!header.is_object()) fail("'{}' has a safetensors header that is not a JSON object", source_);
        const std::size_t data_start = 8 + header_len, data_size = bytes.size() - data_start;
        for (auto& [name, value] : header.as_object()) {
            if (name == "__metadata__") {
                if (!value.is_object()) fail("'{}': __metadata__ must be an object of strings", source_);
                for (auto& [k, v] : value.as_object())
                    if (v.is_string()) metadata_[k] = v.as_string();
                continue;
            }
            auto malformed = [&](std::string_view why) {
                fail("'{}': the header entry of tensor '{}' is malformed: {}", source_, name, why);
            };
            Entry e;
            const json::Value* dtype = value.find("dtype");
            const json::Value* shape = value.find("shape");
            const json::Value* offsets = value.find("data_offsets");
            if (!dtype || !dtype->is_string()) malformed("'dtype' must be a string");
            if (!shape || !shape->is_array()) malformed("'shape' must be an array");
            if (!offsets || !offsets->is_array() || offsets->as_array().size() != 2 ||
                !offsets->as_array()[0].is_integer() || !offsets->as_array()[1].is_integer() ||
                offsets->as_array()[0].as_integer() < 0 || offsets->as_array()[1].as_integer() < 0)
                malformed("'data_offsets' must be two non-negative integers");
            e.dtype = dtype->as_string();
            try {
                for (auto& d : shape->as_array()) {
                    if (!d.is_integer()) fail("dimension {} is not an integer", d.dump());
                    e.shape.push_back(d.as_integer());
                }
            } catch (const Error& bad) {  // negative, too many or overflowing dimensions
                fail("'{}': tensor '{}' has an invalid shape: {}", source_, name, bad.what());
            }
            e.begin = static_cast<std::size_t>(offsets->as_array()[0].as_integer());
            e.end = static_cast<std::size_t>(offsets->as_array()[1].as_integer());
            const std::size_t esize = dtype_size(e.dtype);
            if (esize == 0) fail("'{}': tensor '{}' has the unknown dtype '{}'", source_, name, e.dtype);
            if (e.begin > e.end || e.end > data_size)
                fail("'{}' is truncated or corrupt: tensor '{}' spans bytes [{}, {}) of a {}-byte data section",
                     source_, name, e.begin, e.end, data_size);
            std::size_t expected_bytes = 0;
            if (__builtin_mul_overflow(static_cast<std::size_t>(e.shape.numel()), esize, &expected_bytes) ||
                e.end - e.begin != expected_bytes)
                fail("'{}': tensor '{}' of shape {} and dtype {} should take {} bytes, but its offsets give {}",
                     source_, name, e.shape, e.dtype, e.shape.numel() * static_cast<std::int64_t>(esize),
                     e.end - e.begin);
            entries_[name] = e;
        }
        data_ = bytes.subspan(data_start);
    }
};

// Collects tensors and writes a safetensors file atomically: to a temporary file beside the target, flushed,
// then renamed, so a crash never leaves a half-written file under the real name.
class SafetensorsWriter {
public:
    template <class E>
    void add(const std::string& name, const Shape& shape, std::span<const E> values) {
        if (static_cast<std::int64_t>(values.size()) != shape.numel())
            fail("safetensors writer: tensor '{}' has {} values but shape {}", name, values.size(), shape);
        add_raw(name, std::string(dtype_of<E>()), shape, reinterpret_cast<const char*>(values.data()),
                values.size() * sizeof(E));
    }
    void add_raw(const std::string& name, const std::string& dtype, const Shape& shape, const char* data,
                 std::size_t size) {
        if (names_.count(name)) fail("safetensors writer: tensor '{}' was added twice", name);
        names_.insert(name);
        items_.push_back({name, dtype, shape, std::vector<char>(data, data + size)});
    }
    void metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

    // See SafetensorsFile::content_crc32.
    std::uint32_t content_crc32() const {
        std::map<std::string, const Item*> sorted;
        for (auto& it : items_) sorted[it.name] = &it;
        Crc32 crc;
        for (auto& [name, it] : sorted)
            detail::crc_entry(crc, name, it->dtype, it->shape, it->data.data(), it->data.size());
        return crc.value();
    }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

    void write(const std::filesystem::path& path) const {
        json::Object header;
        std::size_t offset = 0;
        for (auto& it : items_) {
            header[it.name] = json::Object{{"dtype", it.dtype},
                                           {"shape", json::Array(it.shape.begin(), it.shape.end())},
                                           {"data_offsets", json::Array{offset, offset + it.data.size()}}};
            offset += it.data.size();
        }
        if (!metadata_.empty()) header["__metadata__"] = json::Object(metadata_.begin(), metadata_.end());
        std::string h = json::Value(std::move(header)).dump();
        h.append((8 - h.size() % 8) % 8, ' ');  // align the data section to 8 bytes
        const std::uint64_t len = h.size();

        std::filesystem::path tmp = path;
        tmp += ".tmp";
        {
            std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
            if (!out) fail("cannot write '{}'", tmp.string());
            out.write(reinterpret_cast<const char*>(&len), 8);
            out.write(h.data(), static_cast<std::streamsize>(h.size()));
            for (auto& it : items_) out.write(it.data.data(), static_cast<std::streamsize>(it.data.size()));
            out.flush();
            if (!out) fail("writing '{}' failed (disk full?)", tmp.string());
        }
        std::error_code ec;
        std::filesystem::rename(tmp, path, ec);
        if (ec) fail("cannot move '{}' to '{}': {}", tmp.string(), path.string(), ec.message());
    }

private:
    struct Item {
        std::string name, dtype;
        Shape shape;
        std::vector<char> data;
    };
    std::vector<Item> items_;
    std::set<std::string> names_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace fgclep::io
