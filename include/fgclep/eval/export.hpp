#pragma once
// Embeddings and labels as NumPy .npy files (format version 1.0, little-endian, C order), for t-SNE or any
// analysis in Python:  numpy.load("test_embeddings.npy")  ->  array of shape (N, P).
//
//   write_npy("emb.npy", embeddings);                        // HostMatrix, float32 by default
//   write_npy("labels.npy", labels, NpyType::float64);
//   NpyArray a = read_npy("emb.npy");                        // shape + values as double
//
// The header is the one numpy.save writes (the dict, padded with spaces and a newline to a multiple of 64
// bytes), so a file written here is byte-identical to numpy's for the same array.
#include "fgclep/core/error.hpp"
#include "fgclep/loss/pair_batch.hpp"

#include <fmt/format.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
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
    if (shape.size() > 1) dims.resize(dims.size() - 2);  // numpy: "(2, 3)" but "(5,)" for one dimension
    else if (shape.size() == 1) dims.resize(dims.size() - 1);
    std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}",
                                   type == NpyType::float32 ? "<f4" : "<f8", dims);
    // magic (6) + version (2) + header length (2) + dict + padding + '\n' = a multiple of 64.
    const std::size_t total = (10 + dict.size() + 1 + 63) / 64 * 64;
    dict.append(total - 10 - dict.size() - 1, ' ');
    dict += '\n';
    std::string out("\x93NUMPY\x01\x00", 8);
    const auto len = static_cast<std::uint16_t>(dict.size());
    out += static_cast<char>(len & 0xff);
    out += static_cast<char>(len >> 8);
    return out + dict;
}
}  // namespace detail

// Writes values (C order) of the given shape. Creates the parent directory; replaces the file.
inline void write_npy(const std::filesystem::path& path, const std::vector<std::int64_t>& shape,
                      const double* values, NpyType type = NpyType::float32) {
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
inline NpyArray read_npy(const std::filesystem::path& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail("read_npy: cannot open '{}'", path.string());
    char pre[10];
    f.read(pre, 10);
    if (!f || std::memcmp(pre, "\x93NUMPY", 6) != 0) fail("read_npy: '{}' is not a .npy file", path.string());
    if (pre[6] != 1) fail("read_npy: '{}' has .npy format version {}; only 1.0 is read", path.string(), int(pre[6]));
    const std::size_t len =
        static_cast<unsigned char>(pre[8]) | (static_cast<std::size_t>(static_cast<unsigned char>(pre[9])) << 8);
    std::string dict(len, '\0');
    f.read(dict.data(), static_cast<std::streamsize>(len));
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
    std::int64_t numel = 1;
    for (std::size_t i = open + 10; i < close;) {
        while (i < close && (dict[i] == ' ' || dict[i] == ',')) ++i;
        if (i >= close) break;
        std::size_t used = 0;
        a.shape.push_back(std::stoll(dict.substr(i, close - i), &used));
        numel *= a.shape.back();
        i += used;
    }
    a.values.resize(static_cast<std::size_t>(numel));
    if (a.type == NpyType::float64) {
        f.read(reinterpret_cast<char*>(a.values.data()), static_cast<std::streamsize>(numel * 8));
    } else {
        std::vector<float> v(static_cast<std::size_t>(numel));
        f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(numel * 4));
        for (std::size_t i = 0; i < v.size(); ++i) a.values[i] = v[i];
    }
    if (!f) fail("read_npy: '{}' ends before its {} values", path.string(), numel);
    return a;
}

}  // namespace fgclep::eval
