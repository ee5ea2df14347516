#pragma once
// Identity: y = x. The default shortcut of Residual.
#include "fgclep/core/concepts.hpp"

namespace fgclep {

struct Identity {
    struct Options {};
    static constexpr std::string_view name = "Identity";
    template <Backend B>
    struct impl : Module {
        explicit impl(const Options& = {}) : Module(Identity::name) {}
        template <class V>
        void visit(V&) {}
        Tensor<B> forward(Context<B>&, const Tensor<B>& x) { return x; }
        Tensor<B> backward(Context<B>&, const Tensor<B>& dy) { return dy; }
    };
};

}  // namespace fgclep
