#pragma once
// parallel_for over [0, n) on the context's OpenMP threads. Work below `grain` items per thread runs serially:
// a parallel region costs microseconds, more than small loops take.
#include "fgclep/core/platform.hpp"

#include <algorithm>
#include <cstdint>

namespace fgclep::cpu {

template <class F>
void parallel_for(int threads, std::int64_t n, std::int64_t grain, F&& f) {
#if defined(_OPENMP)
    if (threads > 1 && n >= 2 * grain && !omp_in_parallel()) {
        const int t = static_cast<int>(std::min<std::int64_t>(threads, n / std::max<std::int64_t>(grain, 1)));
#pragma omp parallel for num_threads(t) schedule(static)
        for (std::int64_t i = 0; i < n; ++i) f(i);
        return;
    }
#endif
    for (std::int64_t i = 0; i < n; ++i) f(i);
}

// Calls f(begin, end) on contiguous chunks, for loops that vectorise over a range.
template <class F>
void parallel_chunks(int threads, std::int64_t n, std::int64_t grain, F&& f) {
#if defined(_OPENMP)
    if (threads > 1 && n >= 2 * grain && !omp_in_parallel()) {
        const int t = static_cast<int>(std::min<std::int64_t>(threads, n / std::max<std::int64_t>(grain, 1)));
#pragma omp parallel num_threads(t)
        {
            const std::int64_t id = omp_get_thread_num(), count = omp_get_num_threads();
            const std::int64_t begin = n * id / count, end = n * (id + 1) / count;
            if (begin < end) f(begin, end);
        }
        return;
    }
#endif
    if (n > 0) f(std::int64_t(0), n);
}

// Runs f with OpenMP's thread count for the calling thread set to `threads`, restoring it afterwards. Eigen sizes
// its GEMM's parallel region from omp_get_max_threads(), a per-thread setting, so two contexts on two threads
// cannot change each other's count (Eigen::setNbThreads would set a process-wide value, racily).
template <class F>
void with_omp_threads(int threads, F&& f) {
#if defined(_OPENMP)
    const int saved = omp_get_max_threads();
    if (saved != threads) omp_set_num_threads(threads);
    f();
    if (saved != threads) omp_set_num_threads(saved);
#else
    (void)threads;
    f();
#endif
}

}  // namespace fgclep::cpu
