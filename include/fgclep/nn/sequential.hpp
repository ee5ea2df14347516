#pragma once
// Sequential<A, B, C...>: layers applied in order, composed at compile time; children are named "0", "1", ...
// (as in torch.nn.Sequential) unless wrapped in Named<"label", ...>.
//
//   using Mlp = fgclep::Sequential<Linear, GELU, Linear>;
//   fgclep::Model<Mlp, Cpu<float>> mlp({{768, 256}, {}, {256, 256}});
#include "fgclep/core/concepts.hpp"
#include "fgclep/nn/named.hpp"

#include <tuple>
#include <type_traits>
#include <utility>

namespace fgclep {

template <class... Specs>
struct Sequential {
    static_assert(sizeof...(Specs) > 0, "fgclep: Sequential<...> needs at least one layer");
    static_assert((require_layer_spec<Specs>::value && ...));

    using Options = std::tuple<typename Specs::Options...>;
    static constexpr std::string_view name = "Sequential";
    template <Backend B>
    struct impl;
};

template <class... Specs>
template <Backend B>
struct Sequential<Specs...>::impl : Module {
    static_assert((require_layer<typename Specs::template impl<B>, B>::value && ...));
    static constexpr std::size_t count = sizeof...(Specs);
    using first_type = typename std::tuple_element_t<0, std::tuple<Specs...>>::template impl<B>;
    using input_type = layer_input_t<first_type, B>;

    std::tuple<typename Specs::template impl<B>...> layers;

    explicit impl(const Options& options) : impl(options, Sequential::name, std::index_sequence_for<Specs...>{}) {}
    // For a spec that is a Sequential under its own name (TextProjectionHead): errors then name that type.
    impl(const Options& options, std::string_view type) : impl(options, type, std::index_sequence_for<Specs...>{}) {}

    template <class V>
    void visit(V& v) {
        visit_children(v, std::index_sequence_for<Specs...>{});
    }

    Tensor<B> forward(Context<B>& ctx, const input_type& x) { return forward_from<0>(ctx, x); }

    // Returns the gradient wrt the input, or nothing when the first layer's input is not differentiable.
    auto backward(Context<B>& ctx, const Tensor<B>& dy) { return backward_from<count - 1>(ctx, dy); }

    template <std::size_t I>
    auto& get() {
        return std::get<I>(layers);
    }

private:
    template <std::size_t... I>
    impl(const Options& options, std::string_view type, std::index_sequence<I...>)
        : Module(type), layers(std::get<I>(options)...) {}

    template <class V, std::size_t... I>
    void visit_children(V& v, std::index_sequence<I...>) {
        (v.module(child_name<std::tuple_element_t<I, std::tuple<Specs...>>>(I), std::get<I>(layers)), ...);
    }

    template <std::size_t I, class X>
    Tensor<B> forward_from(Context<B>& ctx, const X& x) {
        Tensor<B> y = std::get<I>(layers).forward(ctx, x);
        if constexpr (I + 1 < count)
            return forward_from<I + 1>(ctx, y);
        else
            return y;
    }

    template <std::size_t I>
    auto backward_from(Context<B>& ctx, const Tensor<B>& dy) {
        if constexpr (I == 0)
            return std::get<0>(layers).backward(ctx, dy);
        else
            return backward_from<I - 1>(ctx, std::get<I>(layers).backward(ctx, dy));
    }
};

}  // namespace fgclep
