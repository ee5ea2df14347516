#pragma once
// MATLAB Level 4 .mat files: a sequence of variables, each a 20-byte header (MOPT type code, rows, columns,
// imaginary flag, name length), the NUL-terminated name, then the real part and the imaginary part, column-major.
// MOPT = M*1000 + O*100 + P*10 + T: M byte order (0 little-endian, 1 big-endian IEEE; VAX and Cray are refused),
// O must be 0, P the element type (0 double, 1 single, 2 int32, 3 int16, 4 uint16, 5 uint8), T 0 (full numeric)
// or 1 (text); sparse matrices (T 2) are refused.
//
// Two uses: datasets that ship bare .mat files (a `val` matrix of leads x samples), and WFDB records whose data
// live in a .mat container (header format `16+24`: 24 = 20 header bytes + "val\0"). mat_v4_first_data_offset
// lets the WFDB reader check that such a byte offset really points at the data.
//
//   auto val = fgclep::data::read_mat_v4_variable("A0001.mat", "val");   // val.rows x val.cols, val.at(r, c)
#include "fgclep/core/error.hpp"

#include <fmt/ranges.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

namespace fgclep::data {

enum class MatV4Type { float64 = 0, float32 = 1, int32 = 2, int16 = 3, uint16 = 4, uint8 = 5 };

inline int mat_v4_type_size(MatV4Type t) {
    switch (t) {
        case MatV4Type::float64:
            return 8;
        case MatV4Type::float32:
        case MatV4Type::int32:
            return 4;
        case MatV4Type::int16:
        case MatV4Type::uint16:
            return 2;
        default:
            return 1;
    }
}

struct MatV4Variable {
    std::string name;
    std::int64_t rows = 0, cols = 0;
    MatV4Type type = MatV4Type::float64;
    bool big_endian = false;
    bool text = false;             // T = 1: character codes stored as numbers
    std::int64_t data_offset = 0;  // file offset of the real part
    std::vector<double> real;      // rows * cols, column-major: real[c * rows + r]
    std::vector<double> imag;      // empty unless the variable is complex

    bool is_complex() const { return !imag.empty(); }
    double at(std::int64_t r, std::int64_t c) const {
        if (r < 0 || r >= rows || c < 0 || c >= cols)
            fail("MATLAB v4 variable '{}': element ({}, {}) is outside its {} x {} shape", name, r, c, rows, cols);
        return real[static_cast<std::size_t>(c * rows + r)];
    }
};

namespace detail {

inline std::uint32_t mat_u32(const std::uint8_t* p, bool big) {
    return big ? (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3]
               : (std::uint32_t{p[3]} << 24) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[1]} << 8) | p[0];
}

inline double mat_element(const std::uint8_t* p, MatV4Type t, bool big) {
    std::uint8_t b[8];
    const int n = mat_v4_type_size(t);
    for (int i = 0; i < n; ++i) b[i] = big ? p[n - 1 - i] : p[i];  // to little-endian (the host order here)
    switch (t) {
        case MatV4Type::float64: {
            double v;
            std::memcpy(&v, b, 8);
            return v;
        }
        case MatV4Type::float32: {
            float v;
            std::memcpy(&v, b, 4);
            return v;
        }
        case MatV4Type::int32: {
            std::int32_t v;
            std::memcpy(&v, b, 4);
            return v;
        }
        case MatV4Type::int16: {
            std::int16_t v;
            std::memcpy(&v, b, 2);
            return v;
        }
        case MatV4Type::uint16: {
            std::uint16_t v;
            std::memcpy(&v, b, 2);
            return v;
        }
        default:
            return b[0];
    }
}

struct MatV4Header {
    MatV4Variable var;     // without values
    std::int64_t end = 0;  // offset after the variable
};

// Parses the variable header at `pos`; checks every size against the file before anything is allocated.
// `bytes` may be a prefix of the file (at least the header and the name); `file_size` is the whole file's.
inline MatV4Header mat_v4_header(std::span<const std::uint8_t> bytes, std::int64_t file_size, std::int64_t pos,
                                 const std::string& source) {
    const auto size = file_size;
    const auto have = static_cast<std::int64_t>(bytes.size());
    if (have - pos < 20)
        fail("'{}' is truncated: a MATLAB v4 variable header at byte {} needs 20 bytes, {} remain", source, pos,
             size - pos);
    const std::uint8_t* p = bytes.data() + pos;
    if (pos == 0 && have >= 116 && std::memcmp(p, "MATLAB 5.0 MAT-file", 19) == 0)
        fail("'{}' is a MATLAB v5 file; only MATLAB v4 (Level 4) files are read (save with -v4)", source);
    // The type code tells the byte order, but must be read in some order first: try little-endian, then big.
    bool big = false;
    std::uint32_t mopt = mat_u32(p, false);
    if (mopt > 4999) {
        big = true;
        mopt = mat_u32(p, true);
    }
    const unsigned m = mopt / 1000, o = (mopt / 100) % 10, prec = (mopt / 10) % 10, t = mopt % 10;
    if (mopt > 4999 || (m == 0 && big) || (m == 1 && !big) || m > 1)
        fail(
            "'{}': variable at byte {} has type code {} (byte order {}): not a little- or big-endian IEEE MATLAB v4 "
            "variable",
            source, pos, mopt, m);
    if (o != 0) fail("'{}': variable at byte {} has type code {} with O = {} (must be 0)", source, pos, mopt, o);
    if (prec > 5) fail("'{}': variable at byte {} has type code {} with unknown precision {}", source, pos, mopt, prec);
    if (t == 2)
        fail("'{}': variable at byte {} is a sparse matrix (type code {}), which is not supported", source, pos, mopt);
    if (t > 2) fail("'{}': variable at byte {} has type code {} with unknown matrix type {}", source, pos, mopt, t);
    const std::uint32_t rows = mat_u32(p + 4, big), cols = mat_u32(p + 8, big), imagf = mat_u32(p + 12, big),
                        namlen = mat_u32(p + 16, big);
    if (rows > 0x7FFFFFFFu || cols > 0x7FFFFFFFu) fail("'{}': variable at byte {} has a negative shape", source, pos);
    if (imagf > 1) fail("'{}': variable at byte {} has imaginary flag {} (must be 0 or 1)", source, pos, imagf);
    if (namlen < 1 || static_cast<std::int64_t>(namlen) > have - pos - 20)
        fail("'{}' is truncated or corrupt: variable at byte {} has a {}-byte name, {} bytes remain", source, pos,
             namlen, size - pos - 20);
    MatV4Header h;
    const char* name = reinterpret_cast<const char*>(p + 20);
    if (name[namlen - 1] != '\0') fail("'{}': the name of the variable at byte {} is not NUL-terminated", source, pos);
    h.var.name = std::string(name, std::strlen(name));
    h.var.rows = rows;
    h.var.cols = cols;
    h.var.type = static_cast<MatV4Type>(prec);
    h.var.big_endian = big;
    h.var.text = t == 1;
    h.var.data_offset = pos + 20 + namlen;
    const std::int64_t elements = h.var.rows * h.var.cols;  // < 2^62: no overflow, but times 8 could overflow
    const std::int64_t es = mat_v4_type_size(h.var.type), parts = imagf ? 2 : 1;
    const std::int64_t left = size - h.var.data_offset;
    if (elements > left / es / parts)  // divided, not multiplied: elements * es * parts can overflow
        fail("'{}' is truncated: variable '{}' ({} x {}, {} bytes) needs {} bytes at byte {}, the file has {} left",
             source, h.var.name, rows, cols, es, static_cast<double>(elements) * static_cast<double>(es * parts),
             h.var.data_offset, left);
    const std::int64_t need = elements * es * parts;
    h.end = h.var.data_offset + need;
    if (imagf) h.var.imag.resize(1);  // marks complex until the values are read
    return h;
}

inline void mat_v4_values(std::span<const std::uint8_t> bytes, MatV4Variable& v) {
    const std::int64_t n = v.rows * v.cols;
    const int es = mat_v4_type_size(v.type);
    const bool complex = !v.imag.empty();
    v.real.resize(static_cast<std::size_t>(n));
    const std::uint8_t* p = bytes.data() + v.data_offset;
    for (std::int64_t i = 0; i < n; ++i) v.real[i] = mat_element(p + i * es, v.type, v.big_endian);
    if (complex) {
        v.imag.resize(static_cast<std::size_t>(n));
        for (std::int64_t i = 0; i < n; ++i) v.imag[i] = mat_element(p + (n + i) * es, v.type, v.big_endian);
    }
}

inline std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& path, const char* what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot open {} '{}'", what, path.string());
    in.seekg(0, std::ios::end);
    const auto size = static_cast<std::int64_t>(in.tellg());
    if (size < 0) fail("cannot read {} '{}'", what, path.string());
    in.seekg(0);
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
    if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size))
        fail("cannot read {} '{}'", what, path.string());
    return bytes;
}

}  // namespace detail

// Every variable of a MATLAB v4 file held in memory. `source` names the file in errors.
inline std::vector<MatV4Variable> parse_mat_v4(std::span<const std::uint8_t> bytes, const std::string& source) {
    if (bytes.empty()) fail("'{}' is empty, not a MATLAB v4 file", source);
    std::vector<MatV4Variable> out;
    std::int64_t pos = 0;
    while (pos < static_cast<std::int64_t>(bytes.size())) {
        auto h = detail::mat_v4_header(bytes, static_cast<std::int64_t>(bytes.size()), pos, source);
        detail::mat_v4_values(bytes, h.var);
        out.push_back(std::move(h.var));
        pos = h.end;
    }
    return out;
}

inline std::vector<MatV4Variable> read_mat_v4(const std::filesystem::path& path) {
    const auto bytes = detail::read_file_bytes(path, "MATLAB file");
    return parse_mat_v4(bytes, path.string());
}

// One variable by name; only that variable's values are decoded.
inline MatV4Variable parse_mat_v4_variable(std::span<const std::uint8_t> bytes, const std::string& name,
                                           const std::string& source) {
    if (bytes.empty()) fail("'{}' is empty, not a MATLAB v4 file", source);
    std::int64_t pos = 0;
    std::vector<std::string> seen;
    while (pos < static_cast<std::int64_t>(bytes.size())) {
        auto h = detail::mat_v4_header(bytes, static_cast<std::int64_t>(bytes.size()), pos, source);
        if (h.var.name == name) {
            detail::mat_v4_values(bytes, h.var);
            return std::move(h.var);
        }
        seen.push_back(h.var.name);
        pos = h.end;
    }
    fail("'{}' has no variable '{}' (it has: {})", source, name, fmt::join(seen, ", "));
}

inline MatV4Variable read_mat_v4_variable(const std::filesystem::path& path, const std::string& name) {
    const auto bytes = detail::read_file_bytes(path, "MATLAB file");
    return parse_mat_v4_variable(bytes, name, path.string());
}

// Where the first variable's values start, after checking its header against the file: the byte offset a WFDB
// header should give for a .mat container (24 for "val").
// `bytes` may be the file's first bytes only (enough for the header and name); `file_size` is the whole file's.
inline std::int64_t mat_v4_first_data_offset(std::span<const std::uint8_t> bytes, std::int64_t file_size,
                                             const std::string& source) {
    return detail::mat_v4_header(bytes, file_size, 0, source).var.data_offset;
}

}  // namespace fgclep::data
