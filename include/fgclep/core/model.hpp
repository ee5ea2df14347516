#pragma once
// Model<Spec, Backend>: a layer spec instantiated for a backend, with its arenas bound and initialised.
//
//   fgclep::Model<fgclep::Sequential<Linear, ReLU, Linear>, fgclep::Cpu<float>> net({{4, 8}, {}, {8, 2}});
//
// The module and the arena live on the heap, so parameter descriptors and optimizers that point into them stay
// valid when the Model is moved (returned from a factory, stored in a vector).
#include "fgclep/core/arena.hpp"
#include "fgclep/core/concepts.hpp"
#include "fgclep/core/context.hpp"

#include <fmt/format.h>

#include <memory>
#include <string>

namespace fgclep {

// A table of every parameter and buffer of an arena: name, shape, element count, and whether it trains.
template <Backend B>
std::string parameter_table(const ParameterArena<B>& arena) {
    std::size_t width = 4;
    for (auto& e : arena.params()) width = std::max(width, e.name.size());
    for (auto& e : arena.buffers()) width = std::max(width, e.name.size());
    std::string out = fmt::format("{:<{}}  {:<18} {:>12}  {}\n", "name", width, "shape", "elements", "kind");
    for (auto& e : arena.params())
        out += fmt::format("{:<{}}  {:<18} {:>12}  {}\n", e.name, width, e.param->shape.str(), e.numel(),
                           e.param->trainable ? "parameter" : "parameter (frozen)");
    for (auto& e : arena.buffers())
        out += fmt::format("{:<{}}  {:<18} {:>12}  buffer\n", e.name, width, e.buffer->shape.str(),
                           e.buffer->shape.numel());
    out += fmt::format("{} parameters, {} trainable\n", arena.count(false), arena.count(true));
    return out;
}

namespace detail {
// A spec that declares `static constexpr bool root_only = true` is a model's root that is not itself a layer (FgClep's
// module tree): Model holds it and its arenas, and does not ask it for forward and backward.
template <class S>
constexpr bool root_only = [] {
    if constexpr (requires { S::root_only; })
        return bool(S::root_only);
    else
        return false;
}();

// The layer check of Model, made only for specs that are not root_only (a plain concept-id in the static_assert,
// so that the compiler's notes name the requirement that failed).
template <class M, class B, bool RootOnly>
struct require_model_layer {
    static_assert(Layer<M, B>,
                  "fgclep: the impl<> of this spec does not satisfy fgclep::Layer: it must derive from fgclep::Module "
                  "and have public forward(ctx, x) -> Tensor<B>, backward(ctx, dy) and visit(v) (see "
                  "core/concepts.hpp); the compiler's notes name the requirement that failed.");
    static constexpr bool value = true;
};
template <class M, class B>
struct require_model_layer<M, B, true> {
    static constexpr bool value = true;
};
}  // namespace detail

template <LayerSpec S, Backend B>
class Model {
public:
    using module_type = typename S::template impl<B>;
    using input_type = layer_input_t<module_type, B>;
    using T = typename B::value_type;
    static_assert(detail::require_model_layer<module_type, B, detail::root_only<S>>::value);

    // Builds the module, lays out its parameters and initialises them as PyTorch would (distributions, not
    // values: different generators). `prefix` is the root's state_dict path ("ecg" in a larger model).
    explicit Model(const typename S::Options& options = {}, std::uint64_t seed = 0, std::string_view prefix = {})
        : module_(std::make_unique<module_type>(options)), arena_(std::make_unique<ParameterArena<B>>()) {
        arena_->bind(*module_, prefix);
        typename B::State state{};
        arena_->initialize(state, seed);
    }

    module_type& module() { return *module_; }
    const module_type& module() const { return *module_; }
    ParameterArena<B>& arena() { return *arena_; }
    const ParameterArena<B>& arena() const { return *arena_; }

    Tensor<B> forward(Context<B>& ctx, const input_type& x) { return module_->forward(ctx, x); }
    auto backward(Context<B>& ctx, const Tensor<B>& dy) { return module_->backward(ctx, dy); }

    void zero_grad(Context<B>& ctx) {
        B::fill(ctx.state, arena_->grads().data(), static_cast<std::size_t>(arena_->grads().numel()), T(0));
    }
    std::size_t freeze(std::string_view prefix) { return arena_->freeze(prefix, true); }
    std::size_t unfreeze(std::string_view prefix) { return arena_->freeze(prefix, false); }

    Param<B>& parameter(std::string_view name) { return arena_->param(name); }
    Buffer<B>& buffer(std::string_view name) { return arena_->buffer(name); }
    std::int64_t parameter_count(bool trainable_only = false) const { return arena_->count(trainable_only); }

    // A table of every parameter and buffer: name, shape, element count, and whether it trains.
    std::string summary() const { return parameter_table(*arena_); }

private:
    // Both on the heap: parameter descriptors and optimizers point into them, and must survive a move of the Model.
    std::unique_ptr<module_type> module_;
    std::unique_ptr<ParameterArena<B>> arena_;
};

}  // namespace fgclep
