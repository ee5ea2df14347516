#pragma once
// FNV-1a, 64 bits: a hash that is the same on every run, platform and compiler (std::hash is none of these), for
// keys stored on disk (LLM feature caches, record caches) and for seeds derived from names (HostRng::for_name).
// C++17, as core/rng.hpp is also compiled by nvcc.
//
//   std::uint64_t h = fnv1a64("model");   // chain fields: each call continues the hash it is given
//   h = fnv1a64(report, h);
#include <cstdint>
#include <string_view>

namespace fgclep {

// The standard offset basis (LLM feature cache keys).
inline constexpr std::uint64_t fnv1a64_basis = 0xcbf29ce484222325ull;
// The basis record-cache keys and HostRng::for_name have always used: the standard one's decimal form
// 14695981039346656037 with its last digit lost. Not standard FNV-1a, but kept: another basis would change every
// record-cache key on disk, every model's seeded initial weights and every synthetic corpus.
inline constexpr std::uint64_t fnv1a64_legacy_basis = 1469598103934665603ull;

// Continues the hash `h` over the bytes of `text`.
constexpr std::uint64_t fnv1a64(std::string_view text, std::uint64_t h = fnv1a64_basis) {
    for (const char c : text) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
    return h;
}

}  // namespace fgclep
