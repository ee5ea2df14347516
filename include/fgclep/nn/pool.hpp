#pragma once
// Pooling over the length of (N, C, L): GlobalAvgPool1d ((N, C, L) -> (N, C), the mean over L, as x.mean(-1) or
// AdaptiveAvgPool1d(1) + flatten) and MaxPool1d (as torch.nn.MaxPool1d, padding counted as -inf).
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/concepts.hpp"
#include "fgclep/core/saved.hpp"

#include <cstdint>

namespace fgclep {

struct GlobalAvgPool1d {
    struct Options {};
    static constexpr std::string_view name = "GlobalAvgPool1d";
    template <Backend B>
    struct impl;
};

template <Backend B>
struct GlobalAvgPool1d::impl : Module {
    using T = typename B::value_type;
    explicit impl(const Options& = {}) : Module(GlobalAvgPool1d::name) {}
    template <class V>
    void visit(V&) {}

    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
        expect_shape(x.shape(), {-1, -1, -1}, "input");
        if (x.size(2) < 1) fail("cannot average over an empty length, got input {}", x.shape());
        const std::int64_t N = x.size(0), C = x.size(1), L = x.size(2);
        Tensor<B> y = ctx.empty(Shape{N, C});
        ops::mean_last(ctx, N * C, L, x.data(), y.data());
        // Backward needs only the input's shape.
        saved_shape = x.shape();
        have_saved = ctx.training;
        return y;
    }

    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
        require_forward_pass(*this, have_saved);
        const std::int64_t N = saved_shape[0], C = saved_shape[1], L = saved_shape[2];
        expect_output_gradient(*this, dy.shape(), Shape{N, C});
        have_saved = false;
        Tensor<B> dx = ctx.empty(saved_shape);
        ops::broadcast_last(ctx, N * C, L, T(1) / static_cast<T>(L), dy.data(), dx.data());
        return dx;
    }

private:
    Shape saved_shape;
    bool have_saved = false;
};

struct MaxPool1d {
    struct Options {
        std::int64_t kernel_size = 1;
        std::int64_t stride = 0;  // 0 means kernel_size, like PyTorch's stride=None
        std::int64_t padding = 0;
    };
    static constexpr std::string_view name = "MaxPool1d";
    template <Backend B>
    struct impl;
};

template <Backend B>
struct MaxPool1d::impl : Module {
    using T = typename B::value_type;
    Options options;

    explicit impl(const Options& o) : Module(MaxPool1d::name), options(o) {
        if (options.stride == 0) options.stride = options.kernel_size;
        if (o.kernel_size <= 0 || options.stride <= 0 || o.padding < 0)
            fgclep::fail(
                "MaxPool1d needs a positive kernel_size and stride and a non-negative padding, got {}, {} "
                "and {}",
                o.kernel_size, o.stride, o.padding);
        // As PyTorch: a larger padding could make a window that sees only padding.
        if (2 * o.padding > o.kernel_size)
            fgclep::fail("MaxPool1d's padding must be at most half of kernel_size, got padding {} with kernel_size {}",
                         o.padding, o.kernel_size);
    }
    template <class V>
    void visit(V&) {}

    std::int64_t output_length(std::int64_t L) const {
        const std::int64_t room = L + 2 * options.padding - options.kernel_size;
        return room < 0 ? 0 : room / options.stride + 1;
    }

    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
        expect_shape(x.shape(), {-1, -1, -1}, "input");
        const std::int64_t N = x.size(0), C = x.size(1), L = x.size(2), Lout = output_length(L);
        if (Lout < 1)
            fail("input length {} is too short for kernel_size {} and padding {} (input {})", L, options.kernel_size,
                 options.padding, x.shape());
        Tensor<B> y = ctx.empty(Shape{N, C, Lout});
        auto argmax = ctx.template empty<std::int32_t>(Shape{N, C, Lout});
        ops::max_pool_1d_forward(ctx, x.data(), N * C, L, options.kernel_size, options.stride, options.padding, Lout,
                                 y.data(), argmax.data());
        saved_argmax.keep(ctx, argmax);
        saved_shape = x.shape();
        return y;
    }

    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
        const Tensor<B, std::int32_t> argmax = saved_argmax.take(*this, dy.shape());
        const std::int64_t rows = saved_shape[0] * saved_shape[1], L = saved_shape[2];
        Tensor<B> dx = ctx.empty(saved_shape);
        ops::max_pool_1d_backward(ctx, dy.data(), argmax.data(), rows, L, argmax.size(2), dx.data());
        return dx;
    }

private:
    Saved<B, std::int32_t> saved_argmax;  // the input position of each output's maximum
    Shape saved_shape;
};

}  // namespace fgclep
