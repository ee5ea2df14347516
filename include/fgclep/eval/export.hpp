#pragma once
// Embeddings and labels as NumPy .npy files (format version 1.0, little-endian, C order), for t-SNE or any
// analysis in Python:  numpy.load("test_embeddings.npy")  ->  array of shape (N, P).
//
//   write_npy("emb.npy", embeddings);                        // HostMatrix, float32 by default
//   write_npy("labels.npy", labels, NpyType::float64);
//   NpyArray a = read_npy("emb.npy");                        // shape + values as double
//
// The header is the one numpy.save writes (numpy 1.24, which wrote the test fixtures: the dict, padded with spaces
// and a newline to a multiple of 64 bytes), so a file written here is byte-identical to numpy's for the same
// array. The library's only .npy writer: interop::save_npy (any element type, needs xtensor) uses xtensor's
// xt::dump_npy instead.
#include "fgclep/core/error.hpp"
#include "fgclep/loss/pair_batch.hpp"

#include <fmt/format.h>

#include <bit>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace fgclep::eval {

enum class NpyType { float32, float64 };

struct NpyArray {
    std::vector<std::int64_t> shape;
    std::vector<double> values;  // C order
    NpyType type = NpyType::float64;
    std::int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
    std::int64_t cols() const { return shape.size() < 2 ? 1 : shape[1]; }
};

namespace detail {
static_assert(std::endian::native == std::endian::little, "fgclep::eval .npy export assumes a little-endian host");

inline std::string npy_header(const std::vector<std::int64_t>& shape, NpyType type) {
    std::string dims;
    for (auto d : shape) dims += fmt::format("{}, ", d);
    if (shape.size() > 1)
        dims.resize(dims.size() - 2);  // numpy: "(2, 3)" but "(5,)" for one dimension
    else if (shape.size() == 1)
        dims.resize(dims.size() - 1);
    std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}",
                                   type == NpyType::float32 ? "<f4" : "<f8", dims);
    // numpy leaves room for axis 0 to grow to 21 digits in place (GROWTH_AXIS_MAX_DIGITS), then pads with 1 to
    // 64 spaces so that magic (6) + version (2) + header length (2) + dict + '\n' is a multiple of 64.
    if (!shape.empty()) dict.append(21 - fmt::formatted_size("{}", shape[0]), ' ');
    dict.append(64 - (10 + dict.size() + 1) % 64, ' ');
    dict += '\n';
    if (dict.size() > 0xffff) fail("write_npy: a shape of {} dimensions does not fit a .npy 1.0 header", shape.size());
    std::string out("\x93NUMPY\x01\x00", 8);
    const auto len = static_cast<std::uint16_t>(dict.size());
    out += static_cast<char>(len & 0xff);
    out += static_cast<char>(len >> 8);
    return out + dict;
}

// The dimensions of a .npy header's shape tuple, "(2, 3)", "(5,)" or "()": each a non-negative decimal integer.
inline std::vector<std::int64_t> npy_shape(std::string_view tuple, const std::filesystem::path& path) {
    std::vector<std::int64_t> shape;
    std::vector<std::string_view> parts;
    for (std::size_t begin = 0;;) {
        const std::size_t comma = tuple.find(',', begin);
        std::string_view part = tuple.substr(begin, comma - begin);  // no comma: npos - begin, the rest
        while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
        while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
        parts.push_back(part);
        if (comma == std::string_view::npos) break;
        begin = comma + 1;
    }
    if (parts.size() > 1 && parts.back().empty()) parts.pop_back();  // "(5,)"
    if (parts.size() == 1 && parts[0].empty()) return shape;         // "()": a scalar
    std::int64_t numel = 1;
    for (std::string_view part : parts) {
        if (!part.empty() && part[0] == '-')
            fail("read_npy: '{}' has a negative dimension {} in its shape ({})", path.string(), part, tuple);
        std::int64_t d = 0;
        const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), d);
        if (part.empty() || ec == std::errc::result_out_of_range || end != part.data() + part.size())
            fail("read_npy: '{}' has a malformed shape ({}): '{}' is not a dimension", path.string(), tuple, part);
        if (d > 0 && numel > std::numeric_limits<std::int64_t>::max() / 8 / d)
            fail("read_npy: '{}' has a shape ({}) of more elements than any file holds", path.string(), tuple);
        numel *= d;
        shape.push_back(d);
    }
    return shape;
}
}  // namespace detail

// Writes values (C order) of the given shape. Creates the parent directory; replaces the file.
inline void write_npy(const std::filesystem::path& path, const std::vector<std::int64_t>& shape, const double* values,
                      NpyType type = NpyType::float32) {
    std::int64_t numel = 1;
    for (auto d : shape) {
        if (d < 0) fail("write_npy: negative dimension in the shape of '{}'", path.string());
        numel *= d;
    }
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) fail("write_npy: cannot open '{}' for writing", path.string());
    const std::string header = detail::npy_header(shape, type);
    f.write(header.data(), static_cast<std::streamsize>(header.size()));
    if (type == NpyType::float64) {
        f.write(reinterpret_cast<const char*>(values), static_cast<std::streamsize>(numel * 8));
    } else {
        std::vector<float> v(static_cast<std::size_t>(numel));
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(values[i]);
        f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(numel * 4));
    }
    if (!f) fail("write_npy: writing '{}' failed", path.string());
}

// A matrix (N, P) as a 2-d array.
inline void write_npy(const std::filesystem::path& path, const HostMatrix& m, NpyType type = NpyType::float32) {
    write_npy(path, {m.rows(), m.cols()}, m.data(), type);
}

// Reads a little-endian float32/float64 C-order .npy file (what write_npy and numpy.save write for such arrays).
// Anything else, or a malformed or truncated file, is an fgclep::Error naming the file.
inline NpyArray read_npy(const std::filesystem::path& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail("read_npy: cannot open '{}'", path.string());
    f.seekg(0, std::ios::end);
    const auto file_size = static_cast<std::uint64_t>(f.tellg());
    f.seekg(0);
    char pre[10];
    f.read(pre, 10);
    if (!f || std::memcmp(pre, "\x93NUMPY", 6) != 0) fail("read_npy: '{}' is not a .npy file", path.string());
    if (pre[6] != 1) fail("read_npy: '{}' has .npy format version {}; only 1.0 is read", path.string(), int(pre[6]));
    const std::size_t len =
        static_cast<unsigned char>(pre[8]) | (static_cast<std::size_t>(static_cast<unsigned char>(pre[9])) << 8);
    std::string dict(len, '\0');
    f.read(dict.data(), static_cast<std::streamsize>(len));
    if (!f) fail("read_npy: '{}' ends inside its {}-byte header", path.string(), len);
    NpyArray a;
    if (dict.find("'descr': '<f4'") != std::string::npos)
        a.type = NpyType::float32;
    else if (dict.find("'descr': '<f8'") != std::string::npos)
        a.type = NpyType::float64;
    else
        fail("read_npy: '{}' is not little-endian float32/float64: {}", path.string(), dict);
    if (dict.find("'fortran_order': False") == std::string::npos)
        fail("read_npy: '{}' is in Fortran order; only C order is read", path.string());
    const auto open = dict.find("'shape': ("), close = dict.find(')', open);
    if (open == std::string::npos || close == std::string::npos) fail("read_npy: '{}' has no shape", path.string());
    a.shape = detail::npy_shape(std::string_view(dict).substr(open + 10, close - open - 10), path);
    std::int64_t numel = 1;
    for (auto d : a.shape) numel *= d;  // bounded by npy_shape
    // Checked before allocating, so a corrupt shape cannot ask for terabytes.
    const auto bytes = static_cast<std::uint64_t>(numel) * (a.type == NpyType::float64 ? 8 : 4);
    if (file_size - 10 - len < bytes) fail("read_npy: '{}' ends before its {} values", path.string(), numel);
    a.values.resize(static_cast<std::size_t>(numel));
    if (a.type == NpyType::float64) {
        f.read(reinterpret_cast<char*>(a.values.data()), static_cast<std::streamsize>(bytes));
    } else {
        std::vector<float> v(static_cast<std::size_t>(numel));
        f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(bytes));
        for (std::size_t i = 0; i < v.size(); ++i) a.values[i] = v[i];
    }
    if (!f) fail("read_npy: '{}' ends before its {} values", path.string(), numel);
    return a;
}

}  // namespace fgclep::eval
