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

}  // namespace fgclep::cpu
