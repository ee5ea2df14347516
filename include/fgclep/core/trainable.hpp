#pragma once
// Freezing: Param::trainable is the one flag. Layers skip a frozen parameter's gradient and the optimizer its update.
// Two ways to set it: by module (set_trainable on any module of a tree, what ResNet1D::freeze and
// Bert::freeze_bottom use) and by name (ParameterArena::freeze / Model::freeze with a state_dict prefix).
#include "fgclep/core/module.hpp"

namespace fgclep {

namespace detail {
struct TrainableSetter : Visitor<TrainableSetter> {
    bool trainable = true;
    template <class P>
    void param(P& p) {
        p.trainable = trainable;
    }
};
struct AnyTrainable : Visitor<AnyTrainable> {
    bool any = false;
    template <class P>
    void param(P& p) {
        any = any || p.trainable;
    }
};
}  // namespace detail

// Sets `trainable` on every parameter of `module` and its children.
template <class M>
void set_trainable(M& module, bool trainable) {
    detail::TrainableSetter v;
    v.trainable = trainable;
    v.walk(module, module.path());
}

// Whether any parameter of `module` or its children trains.
template <class M>
bool any_trainable(M& module) {
    detail::AnyTrainable v;
    v.walk(module, module.path());
    return v.any;
}

}  // namespace fgclep
