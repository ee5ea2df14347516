#pragma once
// Elementwise activations: ReLU, GELU (exact erf form), Tanh. One layer template over the per-element functors
// of backend/functors.hpp, which CUDA kernels share.
#include "fgclep/backend/functors.hpp"
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/concepts.hpp"
#include "fgclep/core/saved.hpp"

namespace fgclep {

template <class F>
struct Activation {
    struct Options {};
    static constexpr std::string_view name = F::name;
    template <Backend B>
    struct impl : Module {
        explicit impl(const Options& = {}) : Module(Activation::name) {}
        template <class V>
        void visit(V&) {}

        Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
            Tensor<B> y = ctx.empty(x.shape());
            ops::unary(ctx, F{}, x.numel(), x.data(), y.data());
            saved_input.keep(ctx, x);
            saved_output.keep(ctx, y);
            return y;
        }
        Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
            const Tensor<B> x = saved_input.take(*this, dy.shape()), y = saved_output.take(*this);
            Tensor<B> dx = ctx.empty(dy.shape());
            ops::unary_backward(ctx, F{}, dy.numel(), x.data(), y.data(), dy.data(), dx.data());
            return dx;
        }

    private:
        Saved<B> saved_input, saved_output;
    };
};

using ReLU = Activation<fn::Relu>;
using GELU = Activation<fn::GeluErf>;
using Tanh = Activation<fn::Tanh>;

}  // namespace fgclep
