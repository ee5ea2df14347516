#pragma once
// The fused AdamW update for Context<Cpu<T>>: one pass over a contiguous run of the parameter arena.
#include "fgclep/backend/cpu.hpp"
#include "fgclep/backend/cpu/parallel.hpp"
#include "fgclep/backend/functors.hpp"
#include "fgclep/core/context.hpp"

namespace fgclep::cpu {

template <class T>
struct OptimPrimitives {
    static void adamw_update(Context<Cpu<T>>& ctx, std::int64_t n, const fn::AdamWStep<T>& step, T* p, const T* g, T* m,
                             T* v) {
        cpu::parallel_chunks(ctx.state.thread_count(), n, 1 << 14, [&](std::int64_t s, std::int64_t e) {
            for (std::int64_t i = s; i < e; ++i) step(p[i], g[i], m[i], v[i]);
        });
    }
};

}  // namespace fgclep::cpu
