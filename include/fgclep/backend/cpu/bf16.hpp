#pragma once
// bfloat16 on the CPU: the upper 16 bits of an IEEE float, rounded to nearest even (as PyTorch, oneDNN and the
// AVX512_BF16 instructions round). Used by the bf16 matmul precision (core/matmul_precision.hpp) to round GEMM
// inputs; values are stored as raw uint16 bits, since C++20 has no bfloat16 type.
#include "fgclep/backend/cpu/parallel.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>

#if defined(__AVX512BF16__) && defined(__AVX512VL__)
#include <immintrin.h>
#endif

namespace fgclep::cpu {

inline std::uint16_t to_bf16_bits(float x) {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);  // NaN stays quiet NaN
    return static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

inline float from_bf16_bits(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

// x rounded to the nearest bfloat16, as a float.
inline float round_to_bf16(float x) { return from_bf16_bits(to_bf16_bits(x)); }

namespace detail {
inline void to_bf16_row(const float* src, std::int64_t n, std::uint16_t* dst) {
    std::int64_t i = 0;
#if defined(__AVX512BF16__) && defined(__AVX512VL__)
    // VCVTNEPS2BF16 rounds to nearest even like to_bf16_bits; it also flushes denormal inputs to zero, which
    // bf16 GEMMs do anyway (oneDNN's kernels run with denormals flushed).
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i),
                            reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i))));
#endif
    for (; i < n; ++i) dst[i] = to_bf16_bits(src[i]);
}
}  // namespace detail

// Packs a rows x cols row-major matrix with leading dimension ld into dst (rows x cols, leading dimension cols),
// rounding to bfloat16; rows are split among `threads`.
inline void pack_bf16(int threads, const float* src, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                      std::uint16_t* dst) {
    parallel_chunks(threads, rows, std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(cols, 1)),
                    [&](std::int64_t begin, std::int64_t end) {
                        for (std::int64_t r = begin; r < end; ++r)
                            detail::to_bf16_row(src + r * ld, cols, dst + r * cols);
                    });
}

// The same, into floats that hold bfloat16 values (for GEMM engines without bf16 inputs).
inline void pack_rounded_to_bf16(int threads, const float* src, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                                 float* dst) {
    parallel_chunks(threads, rows, std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(cols, 1)),
                    [&](std::int64_t begin, std::int64_t end) {
                        for (std::int64_t r = begin; r < end; ++r)
                            for (std::int64_t c = 0; c < cols; ++c) dst[r * cols + c] = round_to_bf16(src[r * ld + c]);
                    });
}

}  // namespace fgclep::cpu
