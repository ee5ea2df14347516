#pragma once
// Context<Backend>: the run-time side of a backend (threads, streams) plus what a forward/backward pass needs to
// know: whether it is training, where dropout draws its random numbers, and how new tensors are created.
#include "fgclep/core/backend.hpp"
#include "fgclep/core/collectives.hpp"
#include "fgclep/core/tensor.hpp"

#include <cstdint>
#include <optional>
#include <type_traits>
#include <vector>

namespace fgclep {

template <Backend B>
class Context {
public:
    using T = typename B::value_type;

    Context() = default;
    explicit Context(typename B::State state) : state(std::move(state)) {}

    // Training mode: layers cache what backward needs, BatchNorm uses batch statistics, Dropout drops.
    bool training = false;

    // Dropout draws counter-based random numbers (Philox): element i of a draw uses counter offset + i under
    // this seed, so results do not depend on thread count or backend, and a checkpoint can store (seed, offset).
    std::uint64_t seed = 0x5eed;
    std::uint64_t offset = 0;
    // Reserves `count` counters of the random stream and returns the first.
    std::uint64_t reserve_random(std::uint64_t count) {
        std::uint64_t first = offset;
        offset += count;
        return first;
    }

    // When set, every tensor made by empty() is filled with this value. The gradient checker sets NaN so an
    // element that a layer forgets to write shows up instead of passing with stale memory.
    std::optional<double> fill_new_tensors;

    // The other ranks of a data-parallel run (core/collectives.hpp), set by the Trainer while it trains; null in
    // one process. Losses then see the global batch, and a synchronised BatchNorm1d the global statistics.
    Collectives* collectives = nullptr;
    int world_size() const { return collectives ? collectives->size() : 1; }
    int rank() const { return collectives ? collectives->rank() : 0; }

    typename B::State state{};

    template <class E = T>
    Tensor<B, E> empty(Shape shape) {
        auto t = Tensor<B, E>::uninitialized(shape);
        if constexpr (std::is_floating_point_v<E>)  // a NaN sentinel has no integer value
            if (fill_new_tensors) B::fill(state, t.data(), t.numel(), static_cast<E>(*fill_new_tensors));
        return t;
    }
    template <class E = T>
    Tensor<B, E> full(Shape shape, E value) {
        auto t = Tensor<B, E>::uninitialized(shape);
        B::fill(state, t.data(), t.numel(), value);
        return t;
    }
    template <class E = T>
    Tensor<B, E> zeros(Shape shape) {
        return full<E>(shape, E(0));
    }
    // A deep copy.
    template <class E>
    Tensor<B, E> clone(const Tensor<B, E>& t) {
        auto c = Tensor<B, E>::uninitialized(t.shape());
        B::copy(state, c.data(), t.data(), t.numel());
        return c;
    }
    template <class E>
    Tensor<B, E> from_host(Shape shape, const std::vector<E>& values) {
        if (static_cast<std::int64_t>(values.size()) != shape.numel())
            fail("{} host values cannot fill a tensor of shape {}", values.size(), shape);
        auto t = Tensor<B, E>::uninitialized(shape);
        B::upload(state, t.data(), values.data(), values.size());
        return t;
    }
    template <class E>
    std::vector<E> to_host(const Tensor<B, E>& t) {
        std::vector<E> values(static_cast<std::size_t>(t.numel()));
        B::download(state, values.data(), t.data(), values.size());
        return values;
    }
    // Copies src into dst, which must have the same element count.
    template <class E>
    void copy(Tensor<B, E>& dst, const Tensor<B, E>& src) {
        if (dst.numel() != src.numel())
            fail("cannot copy a tensor of shape {} into one of shape {}", src.shape(), dst.shape());
        B::copy(state, dst.data(), src.data(), src.numel());
    }
    // The same into a temporary view (a slice or reshape of a tensor the caller owns).
    template <class E>
    void copy(Tensor<B, E>&& dst, const Tensor<B, E>& src) {
        copy(dst, src);
    }
    void synchronize() { B::synchronize(state); }
};

namespace detail {
// Restores ctx.training when a scope ends, also when a layer throws.
template <Backend B>
class TrainingScope {
public:
    TrainingScope(Context<B>& ctx, bool training) : ctx_(ctx), saved_(ctx.training) { ctx.training = training; }
    ~TrainingScope() { ctx_.training = saved_; }
    TrainingScope(const TrainingScope&) = delete;
    TrainingScope& operator=(const TrainingScope&) = delete;

private:
    Context<B>& ctx_;
    bool saved_;
};
}  // namespace detail

}  // namespace fgclep
