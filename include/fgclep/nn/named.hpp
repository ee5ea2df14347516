#pragma once
// Named<"label", Spec>: gives a child of a composition its state_dict name ("conv1", "downsample") instead of
// its position. Named<"", Spec> is transparent: the child's state appears directly at its parent's level.
// It adds no module level: Named<..., S>::impl<B> is S::impl<B>.
#include "fgclep/core/concepts.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace fgclep {

template <std::size_t N>
struct fixed_string {
    char value[N]{};
    constexpr fixed_string(const char (&s)[N]) {
        for (std::size_t i = 0; i < N; ++i) value[i] = s[i];
    }
    constexpr std::string_view view() const { return {value, N - 1}; }
};

template <fixed_string Label, class S>
struct Named {
    static_assert(require_layer_spec<S>::value);
    using Options = typename S::Options;
    static constexpr std::string_view name = S::name;
    static constexpr std::string_view label = Label.view();
    template <Backend B>
    using impl = typename S::template impl<B>;
};

// The name a composition gives the child spec S at position `index`.
template <class S>
std::string child_name(std::size_t index) {
    if constexpr (requires { S::label; })
        return std::string(S::label);
    else
        return std::to_string(index);
}

}  // namespace fgclep
