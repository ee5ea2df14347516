#pragma once
// Tensor<Backend, Element>: plain row-major storage with a runtime shape.
//
// Copies are shallow (they share storage, like torch.Tensor), which is how layers keep their forward inputs for
// backward without copying. A tensor may be a view into larger storage (an arena slice, a batch slice): the
// storage pointer keeps the owner alive. No expression templates: arithmetic is done by backend primitives.
#include "fgclep/core/backend.hpp"
#include "fgclep/core/error.hpp"
#include "fgclep/core/shape.hpp"

#include <memory>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

namespace fgclep {

template <Backend B, class E = typename B::value_type>
class Tensor {
public:
    using backend = B;
    using element_type = E;

    Tensor() = default;
    Tensor(Shape shape, std::shared_ptr<E[]> storage, E* data)
        : shape_(shape), storage_(std::move(storage)), data_(data) {}
    Tensor(const Tensor&) = default;
    Tensor& operator=(const Tensor&) = default;
    // A moved-from tensor is undefined (no storage, no shape), not a dangling view of the new owner's data.
    Tensor(Tensor&& other) noexcept
        : shape_(std::exchange(other.shape_, Shape{})),
          storage_(std::move(other.storage_)),
          data_(std::exchange(other.data_, nullptr)) {}
    Tensor& operator=(Tensor&& other) noexcept {
        shape_ = std::exchange(other.shape_, Shape{});
        storage_ = std::move(other.storage_);
        data_ = std::exchange(other.data_, nullptr);
        return *this;
    }

    // Fresh, uninitialised storage. Layers allocate through Context::empty instead, so that tests can fill new
    // tensors with a sentinel and catch elements a layer forgot to write.
    static Tensor uninitialized(Shape shape) {
        auto storage = B::template allocate<E>(static_cast<std::size_t>(shape.numel()));
        E* data = storage.get();
        return Tensor(shape, std::move(storage), data);
    }

    bool defined() const { return data_ != nullptr || (storage_ && shape_.numel() == 0); }
    const Shape& shape() const { return shape_; }
    int rank() const { return shape_.rank(); }
    std::int64_t numel() const { return shape_.numel(); }
    std::int64_t size(int dim) const { return shape_[dim]; }
    // Const-correct access: a const tensor hands out read-only elements, so that an input a layer received as
    // `const Tensor&` cannot be written through (shallow copies still share storage: copy to a non-const Tensor
    // only what the code owns, such as a tensor it just made).
    const E* data() const { return data_; }
    E* data() { return data_; }
    const std::shared_ptr<E[]>& storage() const { return storage_; }

    // The same elements under another shape with the same element count.
    Tensor reshape(Shape shape) const {
        if (shape.numel() != numel())
            fail("cannot reshape a tensor of shape {} ({} elements) to {} ({} elements)", shape_, numel(), shape,
                 shape.numel());
        return Tensor(shape, storage_, data_);
    }
    // Rows [begin, end) along the first dimension, sharing storage.
    Tensor slice(std::int64_t begin, std::int64_t end) const {
        if (rank() == 0 || begin < 0 || end > shape_[0] || begin > end)
            fail("slice [{}, {}) is out of range for a tensor of shape {}", begin, end, shape_);
        Shape s = shape_;
        s[0] = end - begin;
        return Tensor(s, storage_, data_ + begin * (numel() / std::max<std::int64_t>(shape_[0], 1)));
    }

    // Host access; only for backends whose memory the CPU can read.
    std::span<const E> host() const requires(B::host_accessible) { return {data_, static_cast<std::size_t>(numel())}; }
    std::span<E> host() requires(B::host_accessible) { return {data_, static_cast<std::size_t>(numel())}; }
    const E& operator[](std::int64_t i) const requires(B::host_accessible) { return data_[i]; }
    E& operator[](std::int64_t i) requires(B::host_accessible) { return data_[i]; }

private:
    Shape shape_;
    std::shared_ptr<E[]> storage_;
    E* data_ = nullptr;
};

// The (rows, last) view that row-wise primitives (Linear, LayerNorm, softmax) work on.
template <class Tn>
std::int64_t rows_of(const Tn& t) {
    return t.shape().rows();
}

}  // namespace fgclep
