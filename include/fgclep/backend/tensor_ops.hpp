#pragma once
// Tensor-level forms of the GEMM primitives, for layers: shapes in, shapes checked, no leading dimensions to get
// wrong. A tensor of rank >= 2 is read as the matrix (rows, last dimension): (N, L, D) is (N * L, D).
//
//   ops::matmul(ctx, x, weight, y, {.trans_b = true});            // y = x W^T        (Linear's forward)
//   ops::matmul(ctx, dy, x, weight.grad, {.trans_a = true, .beta = 1});  // dW += dy^T x (accumulate)
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/context.hpp"
#include "fgclep/core/tensor.hpp"

#include <cstdint>

namespace fgclep::ops {

struct MatmulOptions {
    bool trans_a = false;
    bool trans_b = false;
    double alpha = 1;
    double beta = 0;  // 0 assigns C (never reading it); 1 accumulates into C
};

// C = alpha op(A) op(B) + beta C, each tensor read as a row-major matrix (rows(), last dimension). C must already
// have the result's element layout; a mismatch is an fgclep::Error naming the three shapes.
template <Backend B>
void matmul(Context<B>& ctx, const Tensor<B>& a, const Tensor<B>& b, Tensor<B>& c, const MatmulOptions& o = {}) {
    using T = typename B::value_type;
    auto matrix = [](const Tensor<B>& t) {
        return std::pair<std::int64_t, std::int64_t>{t.shape().rows(), t.rank() == 0 ? 1 : t.shape().back()};
    };
    const auto [ar, ac] = matrix(a);
    const auto [br, bc] = matrix(b);
    const auto [cr, cc] = matrix(c);
    const std::int64_t M = o.trans_a ? ac : ar, K = o.trans_a ? ar : ac;
    const std::int64_t Kb = o.trans_b ? bc : br, N = o.trans_b ? br : bc;
    if (K != Kb || cr != M || cc != N)
        fail("matmul: {}{} times {}{} does not fit into {}", a.shape(), o.trans_a ? "^T" : "", b.shape(),
             o.trans_b ? "^T" : "", c.shape());
    ops::gemm(ctx, o.trans_a, o.trans_b, M, N, K, static_cast<T>(o.alpha), a.data(), ac, b.data(), bc,
              static_cast<T>(o.beta), c.data(), cc);
}

}  // namespace fgclep::ops
