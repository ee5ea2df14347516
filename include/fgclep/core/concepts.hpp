#pragma once
// The layer contract, as C++20 concepts (docs/layers.md has the full text).
//
// A *layer spec* has `Options` (run-time sizes), `name` (for errors and summaries) and a nested
// `template <Backend B> struct impl`, the implementation for one backend. A *layer* is such an impl:
//   forward(ctx, x) -> Tensor<B>   checks x's shape (errors name the module path); keeps what backward needs only
//                                  when ctx.training; never modifies x.
//   backward(ctx, dy)              after a training forward: returns the input gradient (assigned; void for token
//                                  ids) and *accumulates* parameter gradients, skipping frozen parameters.
//   visit(v)                       v.param / v.buffer / v.counter / v.module(name, child) in state_dict order: one
//                                  traversal drives arenas, initialisation, the optimizer, checkpoints, printing.
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
    requires(M& m, Context<B>& ctx, const layer_input_t<M, B>& x, const Tensor<B>& dy, detail::ProbeVisitor& v) {
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

// Instantiated by compositions (Sequential, Residual, Repeat) for each child's impl, so that a child which is a spec
// but not a layer for this backend (no backward, a forward that returns something else) is refused with this
// sentence, in the composition, rather than deep inside its forward or backward.
template <class M, class B>
struct require_layer {
    static_assert(Layer<M, B>,
                  "fgclep: a child of this composition is not a layer for this backend: its impl<B> must derive from "
                  "fgclep::Module and have forward(ctx, x) -> Tensor<B>, backward(ctx, dy) and visit(v) (see "
                  "docs/layers.md); the offending impl is the first template argument of require_layer named in "
                  "this note.");
    static constexpr bool value = true;
};

}  // namespace fgclep
