#pragma once
// Masked softmax for attention, for Context<Cpu<T>>.
//
// x is (batch, rows, cols): for each of `batch` sequences, `rows` score rows (heads x queries) over `cols` keys.
// mask is (batch, cols), nonzero for keys that may be attended to, or null for none masked. Masked keys get
// probability exactly 0 (as with an additive -inf). A row whose keys are all masked is all zeros rather than NaN.
#include "fgclep/backend/cpu.hpp"
#include "fgclep/backend/cpu/parallel.hpp"
#include "fgclep/core/context.hpp"

#include <cmath>
#include <cstdint>
#include <limits>

namespace fgclep::cpu {

template <class T>
struct SoftmaxPrimitives {
    // y = softmax(scale * x) along the last dimension, with masked keys excluded.
    static void masked_softmax_forward(Context<Cpu<T>>& ctx, const T* x, std::int64_t batch, std::int64_t rows,
                                       std::int64_t cols, const std::int32_t* mask, T scale, T* y) {
        cpu::parallel_for(ctx.state.thread_count(), batch * rows, 16, [&](std::int64_t br) {
            const std::int32_t* m = mask ? mask + (br / rows) * cols : nullptr;
            const T* xr = x + br * cols;
            T* yr = y + br * cols;
            T top = -std::numeric_limits<T>::infinity();
            std::int64_t keys = 0;
            for (std::int64_t c = 0; c < cols; ++c)
                if (!m || m[c]) {
                    top = std::max(top, scale * xr[c]);
                    ++keys;
                }
            if (keys == 0) {  // every key masked: zeros (PyTorch gives NaN)
                for (std::int64_t c = 0; c < cols; ++c) yr[c] = T(0);
                return;
            }
            // NaN scores (skipped by max) or all -inf scores make the row NaN below, as in PyTorch.
            T sum = 0;
            for (std::int64_t c = 0; c < cols; ++c) {
                yr[c] = (!m || m[c]) ? std::exp(scale * xr[c] - top) : T(0);
                sum += yr[c];
            }
            const T inv = T(1) / sum;
            for (std::int64_t c = 0; c < cols; ++c) yr[c] *= inv;
        });
    }

    // dx = scale * y * (dy - sum(dy * y)) per row; masked entries have y = 0 and so get dx = 0.
    static void softmax_backward(Context<Cpu<T>>& ctx, const T* y, const T* dy, std::int64_t rows, std::int64_t cols,
                                 T scale, T* dx) {
        cpu::parallel_for(ctx.state.thread_count(), rows, 16, [&](std::int64_t r) {
            const T* yr = y + r * cols;
            const T* dyr = dy + r * cols;
            T* dxr = dx + r * cols;
            T dot = 0;
            for (std::int64_t c = 0; c < cols; ++c) dot += dyr[c] * yr[c];
            for (std::int64_t c = 0; c < cols; ++c) dxr[c] = scale * yr[c] * (dyr[c] - dot);
        });
    }
};

}  // namespace fgclep::cpu
