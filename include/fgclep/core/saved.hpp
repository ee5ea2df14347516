#pragma once
// Saved<B>: a tensor a layer keeps from forward for its backward. Kept only in training passes, released by the
// backward that reads it (backward runs once per forward), and checked there, so that every layer words the two
// usual misuses the same way: backward without a training forward, and an output gradient of the wrong shape.
#include "fgclep/core/context.hpp"
#include "fgclep/core/error.hpp"
#include "fgclep/core/module.hpp"
#include "fgclep/core/tensor.hpp"

#include <utility>

namespace fgclep {

// The dy-shape check of backward, worded once: "expected an output gradient of shape (...), got (...)".
inline void expect_output_gradient(const Module& owner, const Shape& got, const Shape& expected) {
    if (!(got == expected))
        fail_in(owner.path(), owner.type(), "expected an output gradient of shape {}, got {}", expected, got);
}

// The backward-without-forward check, worded once, for layers that keep something other than a tensor.
inline void require_forward_pass(const Module& owner, bool kept) {
    if (!kept) fail_in(owner.path(), owner.type(), "backward needs a forward pass in training mode first");
}

template <Backend B, class E = typename B::value_type>
class Saved {
public:
    // Keeps x when ctx.training; otherwise drops whatever an earlier pass kept.
    void keep(const Context<B>& ctx, const Tensor<B, E>& x) { value_ = ctx.training ? x : Tensor<B, E>(); }

    // The kept tensor, still kept; `owner` names the module in the error when nothing was kept. For checks that
    // must pass before anything is released (a wrong output gradient leaves the layer ready for a retry).
    const Tensor<B, E>& peek(const Module& owner) const {
        require_forward_pass(owner, value_.defined());
        return value_;
    }
    // The kept tensor, released.
    Tensor<B, E> take(const Module& owner) {
        peek(owner);
        return std::exchange(value_, Tensor<B, E>());
    }
    // The same, after checking that the output gradient has the kept tensor's shape (layers that keep a tensor of
    // their output's shape); on a mismatch nothing is released.
    Tensor<B, E> take(const Module& owner, const Shape& gradient_shape) {
        expect_output_gradient(owner, gradient_shape, peek(owner).shape());
        return take(owner);
    }

private:
    Tensor<B, E> value_;
};

}  // namespace fgclep
