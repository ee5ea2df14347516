#pragma once
// Decoding of WFDB signal formats into int32 digital values. A data file is a stream of samples (frames of
// interleaved signals); these functions turn bytes into stream samples and know nothing about signals.
//
//   8    8-bit first differences (decode_wfdb gives the raw differences; the reader integrates them per signal)
//   16   16-bit two's complement, little-endian         61   the same, big-endian
//   24   24-bit two's complement, little-endian         32   32-bit two's complement, little-endian
//   80   8-bit offset binary (byte - 128)               160  16-bit offset binary (word - 32768), little-endian
//   212  two 12-bit samples in 3 bytes                  310  three 10-bit samples in two 16-bit words
//   311  three 10-bit samples in one 32-bit word
//
// Each format has an invalid-sample marker (its most negative value: -32768 for 16, -2048 for 212, ...);
// digital values keep it, physical conversion turns it into NaN. Format 8 has none: its values are sums.
#include "fgclep/core/error.hpp"

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace fgclep::data {

// The invalid-sample marker of a format (the value a decoded sample has when it is missing or invalid).
inline std::int32_t wfdb_invalid_marker(int format) {
    switch (format) {
        case 80:
            return -128;
        case 212:
            return -2048;
        case 310:
        case 311:
            return -512;
        case 24:
            return -8388608;
        case 32:
            return std::numeric_limits<std::int32_t>::min();
        case 8:
            return std::numeric_limits<std::int32_t>::min();  // no marker; this value cannot be reached
        default:
            return -32768;  // 16, 61, 160, and 0 (WFDB_INVALID_SAMPLE)
    }
}

// The smallest and largest valid digital values of a format (for writers).
inline std::int64_t wfdb_format_min(int format) { return std::int64_t{wfdb_invalid_marker(format)} + 1; }
inline std::int64_t wfdb_format_max(int format) {
    switch (format) {
        case 8:
        case 80:
            return 127;
        case 212:
            return 2047;
        case 310:
        case 311:
            return 511;
        case 24:
            return 8388607;
        case 32:
            return std::numeric_limits<std::int32_t>::max();
        default:
            return 32767;
    }
}

// Bytes a stream needs to hold samples [0, k] (sample k included): the unit of truncation checks.
inline std::int64_t wfdb_bytes_through_sample(int format, std::int64_t k) {
    switch (format) {
        case 8:
        case 80:
            return k + 1;
        case 16:
        case 61:
        case 160:
            return 2 * (k + 1);
        case 24:
            return 3 * (k + 1);
        case 32:
            return 4 * (k + 1);
        case 212:
            return 3 * (k / 2) + (k % 2 == 0 ? 2 : 3);
        case 310:
            return 4 * (k / 3) + (k % 3 == 0 ? 2 : 4);
        case 311:
            return 4 * (k / 3) + (k % 3 == 0 ? 2 : k % 3 == 1 ? 3 : 4);
        default:
            fail("WFDB format {} has no data layout", format);
    }
}

// How many whole samples `bytes` bytes of a stream hold.
inline std::int64_t wfdb_samples_in_bytes(int format, std::int64_t bytes) {
    if (bytes <= 0) return 0;
    switch (format) {
        case 8:
        case 80:
            return bytes;
        case 16:
        case 61:
        case 160:
            return bytes / 2;
        case 24:
            return bytes / 3;
        case 32:
            return bytes / 4;
        case 212:
            return (bytes / 3) * 2 + (bytes % 3 == 2 ? 1 : 0);
        case 310:
            return (bytes / 4) * 3 + (bytes % 4 >= 2 ? 1 : 0);
        case 311:
            return (bytes / 4) * 3 + (bytes % 4 == 2 ? 1 : bytes % 4 == 3 ? 2 : 0);
        default:
            fail("WFDB format {} has no data layout", format);
    }
}

// The byte where sample k's group starts: reading from there decodes samples k, k+1, ...
inline std::int64_t wfdb_group_start_byte(int format, std::int64_t k) {
    switch (format) {
        case 212:
            return 3 * (k / 2);
        case 310:
        case 311:
            return 4 * (k / 3);
        default:
            return wfdb_bytes_through_sample(format, k) - wfdb_bytes_through_sample(format, 0);
    }
}

namespace detail {
inline std::int32_t sign_extend(std::uint32_t v, int bits) {
    const std::uint32_t m = 1u << (bits - 1);
    return static_cast<std::int32_t>((v ^ m) - m);
}
inline std::uint32_t byte_or_zero(const std::uint8_t* data, std::int64_t size, std::int64_t i) {
    return i < size ? data[i] : 0u;
}
}  // namespace detail

// Decodes stream samples [k0, k0 + n) into out[0, n). `data` holds the stream's bytes from byte
// wfdb_group_start_byte(format, k0) on, `size` of them; the caller checks (with wfdb_bytes_through_sample)
// that they cover sample k0 + n - 1. Format 8 yields the raw signed differences.
inline void decode_wfdb(int format, const std::uint8_t* data, std::int64_t size, std::int64_t k0, std::int64_t n,
                        std::int32_t* out) {
    if (n <= 0) return;
    const std::int64_t start = wfdb_group_start_byte(format, k0);
    const std::int64_t need = wfdb_bytes_through_sample(format, k0 + n - 1) - start;
    if (need > size)
        fail("decode_wfdb: format {} samples [{}, {}) need {} bytes, {} given", format, k0, k0 + n, need, size);
    const std::uint8_t* p = data;
    switch (format) {
        case 8:
            for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<std::int8_t>(p[i]);
            return;
        case 80:
            for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<std::int32_t>(p[i]) - 128;
            return;
        case 16:
            for (std::int64_t i = 0; i < n; ++i)
                out[i] = static_cast<std::int16_t>(static_cast<std::uint16_t>(p[2 * i] | (p[2 * i + 1] << 8)));
            return;
        case 61:
            for (std::int64_t i = 0; i < n; ++i)
                out[i] = static_cast<std::int16_t>(static_cast<std::uint16_t>((p[2 * i] << 8) | p[2 * i + 1]));
            return;
        case 160:
            for (std::int64_t i = 0; i < n; ++i)
                out[i] = static_cast<std::int32_t>(p[2 * i] | (p[2 * i + 1] << 8)) - 32768;
            return;
        case 24:
            for (std::int64_t i = 0; i < n; ++i)
                out[i] = detail::sign_extend(
                    p[3 * i] | (p[3 * i + 1] << 8) | (static_cast<std::uint32_t>(p[3 * i + 2]) << 16), 24);
            return;
        case 32:
            for (std::int64_t i = 0; i < n; ++i) {
                std::uint32_t v = p[4 * i] | (p[4 * i + 1] << 8) | (p[4 * i + 2] << 16) |
                                  (static_cast<std::uint32_t>(p[4 * i + 3]) << 24);
                out[i] = static_cast<std::int32_t>(v);
            }
            return;
        case 212:
            for (std::int64_t i = 0, k = k0; i < n; ++i, ++k) {
                const std::int64_t b = 3 * (k / 2) - start;
                if (k % 2 == 0)
                    out[i] = detail::sign_extend(p[b] | ((detail::byte_or_zero(p, size, b + 1) & 0x0Fu) << 8), 12);
                else
                    out[i] = detail::sign_extend(p[b + 2] | ((p[b + 1] & 0xF0u) << 4), 12);
            }
            return;
        case 310:
            for (std::int64_t i = 0, k = k0; i < n; ++i, ++k) {
                const std::int64_t b = 4 * (k / 3) - start;
                const std::uint32_t w0 = p[b] | (detail::byte_or_zero(p, size, b + 1) << 8);
                if (k % 3 == 0) {
                    out[i] = detail::sign_extend((w0 >> 1) & 0x3FFu, 10);
                } else {
                    const std::uint32_t w1 = p[b + 2] | (p[b + 3] << 8);
                    if (k % 3 == 1)
                        out[i] = detail::sign_extend((w1 >> 1) & 0x3FFu, 10);
                    else
                        out[i] = detail::sign_extend(((w0 >> 11) & 0x1Fu) | (((w1 >> 11) & 0x1Fu) << 5), 10);
                }
            }
            return;
        case 311:
            for (std::int64_t i = 0, k = k0; i < n; ++i, ++k) {
                const std::int64_t b = 4 * (k / 3) - start;
                const std::uint32_t w = p[b] | (detail::byte_or_zero(p, size, b + 1) << 8) |
                                        (detail::byte_or_zero(p, size, b + 2) << 16) |
                                        (detail::byte_or_zero(p, size, b + 3) << 24);
                out[i] = detail::sign_extend((w >> (10 * (k % 3))) & 0x3FFu, 10);
            }
            return;
        default:
            fail("decode_wfdb: unknown WFDB format {}", format);
    }
}

// Encodes n samples (stream order, starting at sample 0) into bytes: the inverse of decode_wfdb for formats
// 16, 61, 80, 160, 212, 24 and 32. Values must be in the format's range (the writer checks).
inline std::vector<std::uint8_t> encode_wfdb(int format, const std::int32_t* v, std::int64_t n) {
    std::vector<std::uint8_t> out;
    if (n <= 0) return out;
    out.resize(static_cast<std::size_t>(wfdb_bytes_through_sample(format, n - 1)));
    std::uint8_t* p = out.data();
    switch (format) {
        case 80:
            for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(v[i] + 128);
            break;
        case 16:
        case 160:
            for (std::int64_t i = 0; i < n; ++i) {
                const auto u = static_cast<std::uint16_t>(format == 160 ? v[i] + 32768 : v[i]);
                p[2 * i] = static_cast<std::uint8_t>(u & 0xFF);
                p[2 * i + 1] = static_cast<std::uint8_t>(u >> 8);
            }
            break;
        case 61:
            for (std::int64_t i = 0; i < n; ++i) {
                const auto u = static_cast<std::uint16_t>(v[i]);
                p[2 * i] = static_cast<std::uint8_t>(u >> 8);
                p[2 * i + 1] = static_cast<std::uint8_t>(u & 0xFF);
            }
            break;
        case 24:
            for (std::int64_t i = 0; i < n; ++i)
                for (int b = 0; b < 3; ++b)
                    p[3 * i + b] = static_cast<std::uint8_t>((static_cast<std::uint32_t>(v[i]) >> (8 * b)) & 0xFF);
            break;
        case 32:
            for (std::int64_t i = 0; i < n; ++i)
                for (int b = 0; b < 4; ++b)
                    p[4 * i + b] = static_cast<std::uint8_t>((static_cast<std::uint32_t>(v[i]) >> (8 * b)) & 0xFF);
            break;
        case 212:
            for (std::int64_t i = 0; i < n; ++i) {
                const std::uint32_t u = static_cast<std::uint32_t>(v[i]) & 0xFFFu;
                const std::int64_t b = 3 * (i / 2);
                if (i % 2 == 0) {
                    p[b] = static_cast<std::uint8_t>(u & 0xFF);
                    p[b + 1] = static_cast<std::uint8_t>((p[b + 1] & 0xF0u) | (u >> 8));
                } else {
                    p[b + 1] = static_cast<std::uint8_t>((p[b + 1] & 0x0Fu) | ((u >> 4) & 0xF0u));
                    p[b + 2] = static_cast<std::uint8_t>(u & 0xFF);
                }
            }
            break;
        default:
            fail("encode_wfdb: writing WFDB format {} is not supported (16, 61, 80, 160, 212, 24, 32 are)", format);
    }
    return out;
}

}  // namespace fgclep::data
