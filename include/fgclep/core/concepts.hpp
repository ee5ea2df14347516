#pragma once
// The layer contract, as C++20 concepts.
//
// A *layer spec* is a short type users name in compositions (Linear, Conv1d, Sequential<...>): it has
//   - `Options`, an aggregate of run-time sizes (channels, features, ...),
//   - `name`, the type name printed in errors and summaries,
//   - `template <Backend B> struct impl`, the implementation for one backend.
// A *layer* is such an impl. For input x (of type `input_type`, a Tensor<B> unless the layer says otherwise):
//   forward(ctx, x) -> Tensor<B>
//       requires: x has the shape the layer documents (checked; a wrong shape throws fgclep::Error naming the
//                 module path).
//       ensures:  when ctx.training, the layer keeps what backward needs (shallow copies); otherwise it keeps
//                 nothing. Inputs are never modified.
//   backward(ctx, dy) -> Tensor<B> (the gradient wrt x; void for non-differentiable inputs such as token ids)
//       requires: the last call was forward(ctx, x) in training mode; dy has the shape of that output.
//       ensures:  the returned gradient is *assigned*: a fresh tensor, except that layers which pass gradients
//                 through unchanged (Identity, Dropout in evaluation mode) may return dy itself, so callers treat
//                 a returned gradient as read-only. Parameter gradients are *accumulated* (+=) into the gradient
//                 arena, skipping frozen parameters.
//   visit(v)
//       calls v.param / v.buffer / v.counter / v.module(name, child) in PyTorch state_dict order. One traversal
//       drives binding to the arenas, initialisation, the optimizer, checkpoints, printing and gradient checks.
#include "fgclep/core/backend.hpp"
#include "fgclep/core/context.hpp"
#include "fgclep/core/module.hpp"
#include "fgclep/core/tensor.hpp"

#include <concepts>
#include <memory>
#include <string_view>

namespace fgclep {

namespace detail {
// A backend that satisfies the Backend concept but is never used: it lets the concepts below ask whether a spec
// has an impl<> without naming a real backend.
struct ProbeBackend {
    using value_type = float;
    struct State {};
    static constexpr std::string_view name = "Probe";
    static constexpr bool host_accessible = true;
    template <class E>
    static std::shared_ptr<E[]> allocate(std::size_t);
    template <class E>
    static void fill(State&, E*, std::size_t, E);
    template <class E>
    static void copy(State&, E*, const E*, std::size_t);
    template <class E>
    static void upload(State&, E*, const E*, std::size_t);
    template <class E>
    static void download(State&, E*, const E*, std::size_t);
    static void synchronize(State&);
};
struct ProbeVisitor : Visitor<ProbeVisitor> {};

template <class M, class B>
struct input_of {
    using type = Tensor<B>;
};
template <class M, class B>
    requires requires { typename M::input_type; }
struct input_of<M, B> {
    using type = typename M::input_type;
};
}  // namespace detail

template <class S>
concept LayerSpec = requires {
    typename S::Options;
    { S::name } -> std::convertible_to<std::string_view>;
    typename S::template impl<detail::ProbeBackend>;
};

// The input type a layer's forward takes: M::input_type if it declares one, else Tensor<B>.
template <class M, class B>
using layer_input_t = typename detail::input_of<M, B>::type;

template <class M, class B>
concept Layer = Backend<B> && std::derived_from<M, Module> &&
                requires(M& m, Context<B>& ctx, const layer_input_t<M, B>& x, const Tensor<B>& dy,
                         detail::ProbeVisitor& v) {
                    { m.forward(ctx, x) } -> std::same_as<Tensor<B>>;
                    m.backward(ctx, dy);
                    m.visit(v);
                };

// Instantiated once per argument of a composition so that the compiler's note names the offending type.
template <class S>
struct require_layer_spec {
    static_assert(LayerSpec<S>,
                  "fgclep: this type is not a layer spec, so it cannot be composed. A layer spec has `Options`, a "
                  "`name` and a nested `template <fgclep::Backend B> struct impl` (see docs/layers.md); the "
                  "offending type is the template argument of require_layer_spec named in this note.");
    static constexpr bool value = true;
};

}  // namespace fgclep
