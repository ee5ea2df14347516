#pragma once
// ops::gemm and ops::gemm_strided_batched for Context<Cpu<T>>.
#include "fgclep/backend/cpu.hpp"
#include "fgclep/backend/cpu/gemm.hpp"
#include "fgclep/core/context.hpp"

namespace fgclep::cpu {

template <class T>
struct BlasPrimitives {
    static void gemm(Context<Cpu<T>>& ctx, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                     T alpha, const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C,
                     std::int64_t ldc) {
        cpu::gemm(ctx.state.thread_count(), ctx.state.matmul_precision, trans_a, trans_b, M, N, K, alpha, A, lda, B,
                  ldb, beta, C, ldc);
    }

    static void gemm_strided_batched(Context<Cpu<T>>& ctx, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N,
                                     std::int64_t K, T alpha, const T* A, std::int64_t lda, std::int64_t stride_a,
                                     const T* B, std::int64_t ldb, std::int64_t stride_b, T beta, T* C,
                                     std::int64_t ldc, std::int64_t stride_c, std::int64_t batch) {
        cpu::gemm_strided_batched(ctx.state.thread_count(), ctx.state.matmul_precision, trans_a, trans_b, M, N, K,
                                  alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, batch);
    }
};

}  // namespace fgclep::cpu
