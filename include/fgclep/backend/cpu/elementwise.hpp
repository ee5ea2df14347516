#pragma once
// Elementwise primitives for Context<Cpu<T>>: activations and their backward, sums, scaling, bias broadcasts,
// the head-splitting transpose, and dropout. Outputs are assigned unless the name says accumulate.
#include "fgclep/backend/cpu.hpp"
#include "fgclep/backend/cpu/parallel.hpp"
#include "fgclep/backend/functors.hpp"
#include "fgclep/core/context.hpp"
#include "fgclep/core/rng.hpp"

#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>

#include <cstdint>
#include <type_traits>

namespace fgclep::cpu {

// Float activations as Eigen array expressions. Eigen vectorises exp, erf and tanh for float with its packet math
// (SSE to AVX-512), where the scalar functors call libm once per element: GELU forward + backward measured 12x
// slower than PyTorch that way. The math is the functors' (tests compare the two); double keeps the scalar
// functors, whose exact erf the gradient checks rely on.
template <class F>
struct VectorisedActivation {
    static constexpr bool available = false;
};
template <>
struct VectorisedActivation<fn::GeluErf> {
    static constexpr bool available = true;
    template <class X>
    static auto forward(const X& x) {
        return 0.5f * x * (1.0f + (x * 0.70710678118654752f).erf());
    }
    template <class X, class Y>
    static auto derivative(const X& x, const Y&) {
        // Eigen's exp clamps its argument, so far in the tails the pdf term is ~1e-37 instead of 0 (a select to cut
        // it would stop vectorisation: Eigen 3.4 evaluates select coefficient by coefficient).
        return 0.5f * (1.0f + (x * 0.70710678118654752f).erf()) + x * (-0.5f * x.square()).exp() * 0.39894228040143268f;
    }
};
template <>
struct VectorisedActivation<fn::Tanh> {
    static constexpr bool available = true;
    template <class X>
    static auto forward(const X& x) {
        return x.tanh();
    }
    template <class X, class Y>
    static auto derivative(const X&, const Y& y) {
        return 1.0f - y.square();
    }
};
template <>
struct VectorisedActivation<fn::Relu> {
    static constexpr bool available = true;
    template <class X>
    static auto forward(const X& x) {
        return x.max(0.0f);
    }
    template <class X, class Y>
    static auto derivative(const X& x, const Y&) {
        return (x > 0.0f).template cast<float>();
    }
};

namespace detail {
constexpr std::int64_t elementwise_grain = 1 << 15;
}

template <class T>
struct ElementwisePrimitives {
    // y[i] = f(x[i]) for a functor from backend/functors.hpp.
    template <class F>
    static void unary(Context<Cpu<T>>& ctx, F f, std::int64_t n, const T* x, T* y) {
        cpu::parallel_chunks(ctx.state.thread_count(), n, detail::elementwise_grain,
                             [&](std::int64_t b, std::int64_t e) {
                                 if constexpr (std::is_same_v<T, float> && cpu::VectorisedActivation<F>::available) {
                                     using Array = Eigen::Array<float, Eigen::Dynamic, 1>;
                                     Eigen::Map<Array>(y + b, e - b) =
                                         cpu::VectorisedActivation<F>::forward(Eigen::Map<const Array>(x + b, e - b));
                                 } else {
                                     for (std::int64_t i = b; i < e; ++i) y[i] = f(x[i]);
                                 }
                             });
    }

    // dx[i] = dy[i] * f'(x[i]) given the forward input x and output y.
    template <class F>
    static void unary_backward(Context<Cpu<T>>& ctx, F f, std::int64_t n, const T* x, const T* y, const T* dy, T* dx) {
        cpu::parallel_chunks(
            ctx.state.thread_count(), n, detail::elementwise_grain, [&](std::int64_t b, std::int64_t e) {
                if constexpr (std::is_same_v<T, float> && cpu::VectorisedActivation<F>::available) {
                    using Array = Eigen::Array<float, Eigen::Dynamic, 1>;
                    const Eigen::Map<const Array> xs(x + b, e - b), ys(y + b, e - b), dys(dy + b, e - b);
                    Eigen::Map<Array>(dx + b, e - b) = dys * cpu::VectorisedActivation<F>::derivative(xs, ys);
                } else {
                    for (std::int64_t i = b; i < e; ++i) dx[i] = dy[i] * f.derivative(x[i], y[i]);
                }
            });
    }

    // y = a + b.
    static void add(Context<Cpu<T>>& ctx, std::int64_t n, const T* a, const T* b, T* y) {
        cpu::parallel_chunks(ctx.state.thread_count(), n, detail::elementwise_grain,
                             [&](std::int64_t s, std::int64_t e) {
                                 for (std::int64_t i = s; i < e; ++i) y[i] = a[i] + b[i];
                             });
    }

    // y += alpha * x (accumulate).
    static void axpy(Context<Cpu<T>>& ctx, std::int64_t n, T alpha, const T* x, T* y) {
        cpu::parallel_chunks(ctx.state.thread_count(), n, detail::elementwise_grain,
                             [&](std::int64_t s, std::int64_t e) {
                                 for (std::int64_t i = s; i < e; ++i) y[i] += alpha * x[i];
                             });
    }

    // y = alpha * x (x == y allowed).
    static void scale(Context<Cpu<T>>& ctx, std::int64_t n, T alpha, const T* x, T* y) {
        cpu::parallel_chunks(ctx.state.thread_count(), n, detail::elementwise_grain,
                             [&](std::int64_t s, std::int64_t e) {
                                 for (std::int64_t i = s; i < e; ++i) y[i] = alpha * x[i];
                             });
    }

    // y (rows, cols) += bias (cols) on every row (accumulate).
    static void add_bias_rows(Context<Cpu<T>>& ctx, std::int64_t rows, std::int64_t cols, const T* bias, T* y) {
        cpu::parallel_for(ctx.state.thread_count(), rows, 64, [&](std::int64_t r) {
            T* yr = y + r * cols;
            for (std::int64_t c = 0; c < cols; ++c) yr[c] += bias[c];
        });
    }

    // y (N, C, L) += bias (C) along each channel (accumulate).
    static void add_bias_channels(Context<Cpu<T>>& ctx, std::int64_t N, std::int64_t C, std::int64_t L, const T* bias,
                                  T* y) {
        cpu::parallel_for(ctx.state.thread_count(), N * C, 16, [&](std::int64_t nc) {
            const T b = bias[nc % C];
            T* yr = y + nc * L;
            for (std::int64_t l = 0; l < L; ++l) yr[l] += b;
        });
    }

    // y (A, C, B, D) = x (A, B, C, D) with the middle two dimensions swapped: splits (N, L, H, Dh) into heads
    // (N, H, L, Dh) and merges them back.
    static void transpose_middle(Context<Cpu<T>>& ctx, const T* x, std::int64_t A, std::int64_t B, std::int64_t C,
                                 std::int64_t D, T* y) {
        cpu::parallel_for(ctx.state.thread_count(), A * B, 16, [&](std::int64_t ab) {
            const std::int64_t a = ab / B, b = ab % B;
            for (std::int64_t c = 0; c < C; ++c) {
                const T* src = x + ((a * B + b) * C + c) * D;
                T* dst = y + ((a * C + c) * B + b) * D;
                for (std::int64_t d = 0; d < D; ++d) dst[d] = src[d];
            }
        });
    }

    // Inverted dropout: y[i] = x[i] / (1 - p) if Philox(seed, offset + i) >= p, else 0. The same call with dy in
    // place of x is the backward pass, so no mask is stored.
    static void dropout(Context<Cpu<T>>& ctx, std::int64_t n, T p, std::uint64_t seed, std::uint64_t offset, const T* x,
                        T* y) {
        const T keep_scale = T(1) / (T(1) - p);
        cpu::parallel_chunks(ctx.state.thread_count(), n, 1 << 13, [&](std::int64_t s, std::int64_t e) {
            for (std::int64_t i = s; i < e; ++i)
                y[i] = Philox::uniform(seed, offset + static_cast<std::uint64_t>(i)) >= static_cast<float>(p)
                           ? x[i] * keep_scale
                           : T(0);
        });
    }
};

}  // namespace fgclep::cpu
