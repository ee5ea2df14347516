#pragma once
// Cpu<T>: the CPU backend, T = float or double (gradient checks run in double). Memory is 64-byte aligned host
// memory from a caching allocator (backend/cpu/allocator.hpp); the compute primitives (backend/cpu/*.hpp) use
// Eigen and OpenMP threads.
#include "fgclep/backend/cpu/allocator.hpp"
#include "fgclep/core/backend.hpp"
#include "fgclep/core/matmul_precision.hpp"
#include "fgclep/core/platform.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string_view>
#include <thread>
#include <type_traits>

namespace fgclep {

template <class T>
struct Cpu {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "fgclep: Cpu<T> is defined for T = float and T = double");
    using value_type = T;
    static constexpr std::string_view name = "Cpu";
    static constexpr bool host_accessible = true;

    struct State {
        // Threads for the primitives and Eigen's GEMM; 0 means all the machine has.
        int threads = 0;
        // What the float GEMMs (and the convolutions and attention built on them) may round their inputs to;
        // ignored by Cpu<double>. See core/matmul_precision.hpp.
        MatmulPrecision matmul_precision = MatmulPrecision::fp32;
        int thread_count() const {
#if defined(_OPENMP)
            return threads > 0 ? threads : omp_get_max_threads();
#else
            return 1;
#endif
        }
    };

    template <class E>
    static std::shared_ptr<E[]> allocate(std::size_t n) {
        static_assert(std::is_trivially_copyable_v<E>, "fgclep: tensor elements must be trivially copyable");
        const std::size_t bytes = n * sizeof(E);
        void* p = cpu::CachingAllocator::instance().allocate(bytes);
        return std::shared_ptr<E[]>(static_cast<E*>(p),
                                    [bytes](E* q) { cpu::CachingAllocator::instance().deallocate(q, bytes); });
    }
    template <class E>
    static void fill(State&, E* data, std::size_t n, E value) {
        std::fill_n(data, n, value);
    }
    template <class E>
    static void copy(State&, E* dst, const E* src, std::size_t n) {
        if (n) std::memmove(dst, src, n * sizeof(E));
    }
    template <class E>
    static void upload(State& s, E* dst, const E* src, std::size_t n) {
        copy(s, dst, src, n);
    }
    template <class E>
    static void download(State& s, E* dst, const E* src, std::size_t n) {
        copy(s, dst, src, n);
    }
    static void synchronize(State&) {}
};

}  // namespace fgclep
