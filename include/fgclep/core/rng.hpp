#pragma once
// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011) usable on host and device, plus a small
// host generator for parameter initialisation.
#include "fgclep/core/hash.hpp"
#include "fgclep/core/platform.hpp"

#include <cmath>
#include <cstdint>
#include <string_view>

namespace fgclep {

struct Philox {
    // Four 32-bit outputs for a 64-bit counter under a 64-bit key.
    struct Block {
        std::uint32_t v[4];
    };
    FGCLEP_HD static Block generate(std::uint64_t key, std::uint64_t counter) {
        std::uint32_t c0 = static_cast<std::uint32_t>(counter), c1 = static_cast<std::uint32_t>(counter >> 32);
        std::uint32_t c2 = 0, c3 = 0;
        std::uint32_t k0 = static_cast<std::uint32_t>(key), k1 = static_cast<std::uint32_t>(key >> 32);
        for (int round = 0; round < 10; ++round) {
            std::uint64_t p0 = static_cast<std::uint64_t>(0xD2511F53u) * c0;
            std::uint64_t p1 = static_cast<std::uint64_t>(0xCD9E8D57u) * c2;
            std::uint32_t hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
            std::uint32_t hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
            c0 = hi1 ^ c1 ^ k0;
            c1 = lo1;
            c2 = hi0 ^ c3 ^ k1;
            c3 = lo0;
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        return Block{{c0, c1, c2, c3}};
    }
    // A uniform float in [0, 1) from counter i (24 random bits, exact in float).
    FGCLEP_HD static float uniform(std::uint64_t key, std::uint64_t counter) {
        return static_cast<float>(generate(key, counter).v[0] >> 8) * (1.0f / 16777216.0f);
    }
};

// A sequential host generator (splitmix64) for initialisation and shuffling. Deterministic for a seed.
class HostRng {
public:
    explicit HostRng(std::uint64_t seed = 0) : state_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    // Uniform in [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    double normal() {
        double u1 = uniform(), u2 = uniform();
        if (u1 < 1e-300) u1 = 1e-300;
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }
    // A generator derived from this seed and a name, so that each parameter's initial values do not depend on
    // the order in which parameters are visited.
    static HostRng for_name(std::uint64_t seed, std::string_view name) {
        return HostRng(seed ^ fnv1a64(name, fnv1a64_legacy_basis));  // legacy basis: seeded weights stay the same
    }

private:
    std::uint64_t state_;
};

}  // namespace fgclep
