#pragma once
// What a benchmark ran on and was built with, printed beside its figures: the CPU model (/proc/cpuinfo "model
// name"), the cores, the compiler and compile flags (FGCLEP_BENCH_FLAGS and FGCLEP_BENCH_COMPILER, set by
// benchmarks/CMakeLists.txt: -O3 -march=native on top of the build type's flags) and the vector extensions the
// compiler was allowed to use (from its predefined macros, i.e. what -march=native resolved to).
#include <sched.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#ifndef FGCLEP_BENCH_FLAGS
#define FGCLEP_BENCH_FLAGS "unknown (not built through benchmarks/CMakeLists.txt)"
#endif
#ifndef FGCLEP_BENCH_COMPILER
#define FGCLEP_BENCH_COMPILER "unknown"
#endif

namespace fgclep_bench {

inline std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0) {
            const auto colon = line.find(':');
            if (colon == std::string::npos) break;
            const auto begin = line.find_first_not_of(" \t", colon + 1);
            return begin == std::string::npos ? std::string("unknown") : line.substr(begin);
        }
    return "unknown";
}

// Online CPUs, and those this process may run on (its affinity mask).
inline unsigned cores_online() { return std::thread::hardware_concurrency(); }
inline int cores_usable() {
    cpu_set_t set;
    CPU_ZERO(&set);
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : static_cast<int>(cores_online());
}

inline std::string compile_flags() { return FGCLEP_BENCH_FLAGS; }
inline std::string compiler() { return FGCLEP_BENCH_COMPILER; }

inline std::string vector_isa() {
    std::vector<std::string> isa;
#if defined(__AVX512F__)
    isa.emplace_back("avx512f");
#endif
#if defined(__AVX512BW__)
    isa.emplace_back("avx512bw");
#endif
#if defined(__AVX512VL__)
    isa.emplace_back("avx512vl");
#endif
#if defined(__AVX512BF16__)
    isa.emplace_back("avx512_bf16");
#endif
#if defined(__AVX2__)
    isa.emplace_back("avx2");
#endif
#if defined(__FMA__)
    isa.emplace_back("fma");
#endif
#if defined(__AVX__)
    isa.emplace_back("avx");
#endif
#if defined(__SSE4_2__)
    isa.emplace_back("sse4.2");
#endif
#if defined(__ARM_NEON)
    isa.emplace_back("neon");
#endif
    std::string out;
    for (const auto& s : isa) out += (out.empty() ? "" : " ") + s;
    return out.empty() ? "baseline" : out;
}

inline std::string json_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) continue;
        out += c;
    }
    return out;
}

}  // namespace fgclep_bench
