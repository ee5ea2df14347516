#pragma once
// Residual<Main, Shortcut = Identity>: y = main(x) + shortcut(x). Children are named "0" and "1" unless
// wrapped in Named; a torchvision-style block is
//   Residual<Named<"", Sequential<Named<"conv1", Conv1d>, ...>>, Named<"downsample", Sequential<Conv1d, BatchNorm1d>>>
// which yields conv1.weight, ..., downsample.0.weight.
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/concepts.hpp"
#include "fgclep/nn/identity.hpp"
#include "fgclep/nn/named.hpp"

namespace fgclep {

template <class Main, class Shortcut = Identity>
struct Residual {
    static_assert(require_layer_spec<Main>::value && require_layer_spec<Shortcut>::value);
    struct Options {
        typename Main::Options main{};
        typename Shortcut::Options shortcut{};
    };
    static constexpr std::string_view name = "Residual";
    template <Backend B>
    struct impl : Module {
        static_assert(require_layer<typename Main::template impl<B>, B>::value &&
                      require_layer<typename Shortcut::template impl<B>, B>::value);
        typename Main::template impl<B> main;
        typename Shortcut::template impl<B> shortcut;

        explicit impl(const Options& o) : Module(Residual::name), main(o.main), shortcut(o.shortcut) {}

        template <class V>
        void visit(V& v) {
            v.module(child_name<Main>(0), main);
            v.module(child_name<Shortcut>(1), shortcut);
        }

        Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
            Tensor<B> a = main.forward(ctx, x);
            Tensor<B> s = shortcut.forward(ctx, x);
            if (!(a.shape() == s.shape()))
                fail(
                    "the main branch gives {} but the shortcut gives {}; a shape-changing block needs a projection "
                    "shortcut",
                    a.shape(), s.shape());
            Tensor<B> y = ctx.empty(a.shape());
            ops::add(ctx, y.numel(), a.data(), s.data(), y.data());
            return y;
        }

        Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
            Tensor<B> da = main.backward(ctx, dy);
            Tensor<B> ds = shortcut.backward(ctx, dy);
            Tensor<B> dx = ctx.empty(da.shape());
            ops::add(ctx, dx.numel(), da.data(), ds.data(), dx.data());
            return dx;
        }
    };
};

}  // namespace fgclep
