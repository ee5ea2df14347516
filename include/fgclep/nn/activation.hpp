#pragma once
// Elementwise activations: ReLU, GELU (exact erf form), Tanh. One layer template over the per-element functors
// of backend/functors.hpp, which CUDA kernels share.
#include "fgclep/backend/functors.hpp"
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/concepts.hpp"

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
            if (ctx.training) {
                saved_input = x;
                saved_output = y;
            } else {
                saved_input = saved_output = Tensor<B>();
            }
            return y;
        }
        Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
            if (!saved_input.defined()) fail("backward needs a forward pass in training mode first");
            if (!(dy.shape() == saved_input.shape()))
                fail("expected an output gradient of shape {}, got {}", saved_input.shape(), dy.shape());
            Tensor<B> dx = ctx.empty(dy.shape());
            ops::unary_backward(ctx, F{}, dy.numel(), saved_input.data(), saved_output.data(), dy.data(), dx.data());
            saved_input = saved_output = Tensor<B>();
            return dx;
        }

    private:
        Tensor<B> saved_input, saved_output;
    };
};

using ReLU = Activation<fn::Relu>;
using GELU = Activation<fn::GeluErf>;
using Tanh = Activation<fn::Tanh>;

}  // namespace fgclep
