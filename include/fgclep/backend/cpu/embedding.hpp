#pragma once
// Embedding gather and scatter-add for Context<Cpu<T>>.
#include "fgclep/backend/cpu.hpp"
#include "fgclep/backend/cpu/parallel.hpp"
#include "fgclep/core/context.hpp"

#include <cstdint>

namespace fgclep::cpu {

template <class T>
struct EmbeddingPrimitives {
    // out (n, D) row i = table (V, D) row ids[i]. Ids outside [0, V) give a zero row and are counted; the count is
    // returned so the layer can raise an error that names itself (a kernel cannot throw).
    static std::int64_t embedding_gather(Context<Cpu<T>>& ctx, const T* table, std::int64_t V, std::int64_t D,
                                         const std::int32_t* ids, std::int64_t n, T* out) {
        std::int64_t bad = 0;
        for (std::int64_t i = 0; i < n; ++i) bad += (ids[i] < 0 || ids[i] >= V);
        cpu::parallel_for(ctx.state.thread_count(), n, 64, [&](std::int64_t i) {
            T* o = out + i * D;
            const std::int32_t id = ids[i];
            if (id < 0 || id >= V) {
                for (std::int64_t d = 0; d < D; ++d) o[d] = T(0);
                return;
            }
            const T* row = table + static_cast<std::int64_t>(id) * D;
            for (std::int64_t d = 0; d < D; ++d) o[d] = row[d];
        });
        return bad;
    }

    // dtable (V, D) row ids[i] += dout row i (accumulate). Serial over i because ids repeat; parallel over D.
    static void embedding_scatter_add(Context<Cpu<T>>& ctx, const T* dout, const std::int32_t* ids, std::int64_t n,
                                      std::int64_t V, std::int64_t D, T* dtable) {
        cpu::parallel_chunks(ctx.state.thread_count(), D, 256, [&](std::int64_t d0, std::int64_t d1) {
            for (std::int64_t i = 0; i < n; ++i) {
                const std::int32_t id = ids[i];
                if (id < 0 || id >= V) continue;
                T* row = dtable + static_cast<std::int64_t>(id) * D;
                const T* g = dout + i * D;
                for (std::int64_t d = d0; d < d1; ++d) row[d] += g[d];
            }
        });
    }
};

}  // namespace fgclep::cpu
