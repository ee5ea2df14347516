#pragma once
// Conv1d: 1-D convolution of (N, C_in, L) into (N, C_out, L_out), as torch.nn.Conv1d (groups = 1), with
// weight (C_out, C_in, K) and bias (C_out). L_out = (L + 2 padding - dilation (K - 1) - 1) / stride + 1.
//
// Computed as im2col + one strided-batched GEMM per pass: col (N, C_in*K, L_out) unfolds the input, and
// y_n = W col_n with W (C_out, C_in*K) shared by every sample (stride 0), which writes y in (N, C_out, L_out)
// layout directly. A 1x1 convolution with stride 1 and no padding is a plain GEMM on x (no unfolding).
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/concepts.hpp"
#include "fgclep/core/param.hpp"
#include "fgclep/core/saved.hpp"

#include <cmath>

namespace fgclep {

struct Conv1d {
    struct Options {
        std::int64_t in_channels = 0;
        std::int64_t out_channels = 0;
        std::int64_t kernel_size = 1;
        std::int64_t stride = 1;
        std::int64_t padding = 0;
        std::int64_t dilation = 1;
        bool bias = true;
    };
    static constexpr std::string_view name = "Conv1d";
    template <Backend B>
    struct impl;
};

template <Backend B>
struct Conv1d::impl : Module {
    using T = typename B::value_type;
    Options options;
    Param<B> weight, bias;

    explicit impl(const Options& o)
        : Module(Conv1d::name),
          options(o),
          // PyTorch's reset_parameters: kaiming_uniform(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
          // fan_in = C_in * K, and the bias uses the same bound.
          weight("weight", {o.out_channels, o.in_channels, o.kernel_size}, Decay::yes, Init::uniform(bound(o))),
          bias("bias", {o.out_channels}, Decay::no, Init::uniform(bound(o))) {
        if (o.in_channels <= 0 || o.out_channels <= 0 || o.kernel_size <= 0)
            fgclep::fail("Conv1d needs positive in_channels, out_channels and kernel_size, got {}, {} and {}",
                         o.in_channels, o.out_channels, o.kernel_size);
        if (o.stride <= 0 || o.dilation <= 0 || o.padding < 0)
            fgclep::fail("Conv1d needs a positive stride and dilation and a non-negative padding, got {}, {} and {}",
                         o.stride, o.dilation, o.padding);
    }

    template <class V>
    void visit(V& v) {
        v.param(weight);
        if (options.bias) v.param(bias);
    }

    // The output length for an input of length L (may be < 1 for a too-short input).
    std::int64_t output_length(std::int64_t L) const {
        const std::int64_t span = options.dilation * (options.kernel_size - 1) + 1;
        const std::int64_t room = L + 2 * options.padding - span;
        return room < 0 ? 0 : room / options.stride + 1;
    }

    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
        expect_shape(x.shape(), {-1, options.in_channels, -1}, "input");
        const std::int64_t N = x.size(0), L = x.size(2), Lout = output_length(L);
        if (Lout < 1)
            fail("input length {} is too short for kernel_size {}, dilation {} and padding {} (input {})", L,
                 options.kernel_size, options.dilation, options.padding, x.shape());
        const std::int64_t out = options.out_channels, ck = options.in_channels * options.kernel_size;

        // col is x itself on the fast path; otherwise a temporary that does not outlive this call.
        const T* col = x.data();
        Tensor<B> unfolded;
        if (!is_pointwise()) {
            unfolded = ctx.empty(Shape{N, ck, Lout});
            ops::im2col_1d(ctx, x.data(), N, options.in_channels, L, options.kernel_size, options.stride,
                           options.padding, options.dilation, Lout, unfolded.data());
            col = unfolded.data();
        }
        Tensor<B> y = ctx.empty(Shape{N, out, Lout});
        ops::gemm_strided_batched(ctx, false, false, out, Lout, ck, T(1), weight.value.data(), ck, 0, col, Lout,
                                  ck * Lout, T(0), y.data(), Lout, out * Lout, N);
        if (options.bias) ops::add_bias_channels(ctx, N, out, Lout, bias.value.data(), y.data());
        // Backward recomputes col from x rather than keeping it: col is K times the size of x and would live
        // from forward to backward in every convolution of the network, while x is usually kept alive anyway
        // (the previous layer's output) and re-unfolding it is a memory-bound copy, cheap next to the GEMMs.
        saved_input.keep(ctx, x);
        return y;
    }

    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
        const Shape in = saved_input.peek(*this).shape();
        const std::int64_t N = in[0], C = options.in_channels, L = in[2], Lout = output_length(L);
        const std::int64_t out = options.out_channels, K = options.kernel_size, ck = C * K;
        expect_output_gradient(*this, dy.shape(), Shape{N, out, Lout});
        const Tensor<B> x = saved_input.take(*this);

        // One (N, C*K, L_out) buffer serves first as col (for dW), then as dcol (for dx).
        Tensor<B> buffer;
        if (!is_pointwise()) buffer = ctx.empty(Shape{N, ck, Lout});

        if (weight.trainable) {
            const T* col = x.data();
            if (!is_pointwise()) {
                ops::im2col_1d(ctx, x.data(), N, C, L, K, options.stride, options.padding, options.dilation, Lout,
                               buffer.data());
                col = buffer.data();
            }
            // dW (out, C*K) += sum_n dy_n col_n^T: the samples are not contiguous in a (out, N*L_out) layout,
            // so one GEMM per sample, each accumulating with beta = 1.
            for (std::int64_t n = 0; n < N; ++n)
                ops::gemm(ctx, false, true, out, ck, Lout, T(1), dy.data() + n * out * Lout, Lout, col + n * ck * Lout,
                          Lout, T(1), weight.grad.data(), ck);
        }
        if (options.bias && bias.trainable) ops::sum_channels(ctx, N, out, Lout, dy.data(), bias.grad.data());

        // dcol_n = W^T dy_n; on the fast path dcol is dx.
        Tensor<B> dx = ctx.empty(x.shape());
        T* dcol = is_pointwise() ? dx.data() : buffer.data();
        ops::gemm_strided_batched(ctx, true, false, ck, Lout, out, T(1), weight.value.data(), ck, 0, dy.data(), Lout,
                                  out * Lout, T(0), dcol, Lout, ck * Lout, N);
        if (!is_pointwise())
            ops::col2im_1d(ctx, dcol, N, C, L, K, options.stride, options.padding, options.dilation, Lout, dx.data());
        return dx;
    }

private:
    bool is_pointwise() const { return options.kernel_size == 1 && options.stride == 1 && options.padding == 0; }
    static double bound(const Options& o) {
        const std::int64_t fan_in = o.in_channels * o.kernel_size;
        return fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
    }
    Saved<B> saved_input;
};

}  // namespace fgclep
