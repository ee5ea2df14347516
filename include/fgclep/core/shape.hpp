#pragma once
// Shape: the runtime extent of a row-major tensor (at most 8 dimensions).
#include "fgclep/core/error.hpp"

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace fgclep {

class Shape {
public:
    static constexpr int max_rank = 8;

    Shape() = default;
    Shape(std::initializer_list<std::int64_t> dims) {
        if (dims.size() > max_rank) fail("a shape has at most {} dimensions, got {}", max_rank, dims.size());
        for (auto d : dims) push_back(d);
    }
    template <class It>
    Shape(It first, It last) {
        for (; first != last; ++first) push_back(static_cast<std::int64_t>(*first));
    }

    int rank() const { return rank_; }
    // Cannot overflow: push_back refuses shapes whose element count does not fit in int64.
    std::int64_t numel() const {
        std::int64_t n = 1;
        for (int i = 0; i < rank_; ++i) n *= dims_[i];
        return n;
    }
    // Negative indices count from the end, as in PyTorch.
    std::int64_t operator[](int i) const { return dims_[normalise(i)]; }
    std::int64_t& operator[](int i) { return dims_[normalise(i)]; }
    std::int64_t back() const { return (*this)[-1]; }
    // Product of all dimensions but the last: the row count of the (rows, last) view.
    std::int64_t rows() const {
        std::int64_t n = 1;
        for (int i = 0; i + 1 < rank_; ++i) n *= dims_[i];
        return n;
    }

    void push_back(std::int64_t d) {
        if (rank_ == max_rank) fail("a shape has at most {} dimensions", max_rank);
        if (d < 0) fail("shape dimensions must be non-negative, got {}", d);
        std::int64_t total = 0;
        if (__builtin_mul_overflow(numel(), d, &total))
            fail("a shape of {} elements times {} overflows a 64-bit element count", numel(), d);
        dims_[rank_++] = d;
    }
    // This shape with its last dimension replaced.
    Shape with_last(std::int64_t d) const {
        Shape s = *this;
        s[-1] = d;
        return s;
    }
    const std::int64_t* begin() const { return dims_.data(); }
    const std::int64_t* end() const { return dims_.data() + rank_; }

    friend bool operator==(const Shape& a, const Shape& b) {
        if (a.rank_ != b.rank_) return false;
        for (int i = 0; i < a.rank_; ++i)
            if (a.dims_[i] != b.dims_[i]) return false;
        return true;
    }

    std::string str() const {
        std::string s = "(";
        for (int i = 0; i < rank_; ++i) s += (i ? ", " : "") + std::to_string(dims_[i]);
        return s + (rank_ == 1 ? ",)" : ")");
    }

private:
    int normalise(int i) const {
        int j = i < 0 ? i + rank_ : i;
        if (j < 0 || j >= rank_) fail("dimension {} is out of range for a shape of rank {}", i, rank_);
        return j;
    }
    std::array<std::int64_t, max_rank> dims_{};
    int rank_ = 0;
};

}  // namespace fgclep

template <>
struct fmt::formatter<fgclep::Shape> : fmt::formatter<std::string> {
    auto format(const fgclep::Shape& s, fmt::format_context& ctx) const {
        return fmt::formatter<std::string>::format(s.str(), ctx);
    }
};
