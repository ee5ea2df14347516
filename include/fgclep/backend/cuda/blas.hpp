#pragma once
// ops::gemm and ops::gemm_strided_batched for Context<Cuda<T>>, through cuBLAS (host code; compiles with g++).
//
// Row-major operands are handed to cuBLAS's column-major API by swapping them (row_major_to_cublas in
// mapping.hpp), so nothing is transposed in memory. Float GEMMs run in FP32 unless the context's state sets
// allow_tf32 (CUBLAS_TF32_TENSOR_OP_MATH) or the bf16 matmul precision (cublasGemmEx with
// CUBLAS_COMPUTE_32F_FAST_16BF); the math mode is set before every call, since contexts of one thread share a handle.
#include "fgclep/backend/cuda/device.hpp"
#include "fgclep/backend/cuda/mapping.hpp"
#include "fgclep/core/context.hpp"

#include <cublas_v2.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace fgclep::cuda::detail {

inline cublasOperation_t blas_op(bool transpose) { return transpose ? CUBLAS_OP_T : CUBLAS_OP_N; }

// One (batch == 1) or several GEMMs in cuBLAS's terms; A and B are cuBLAS's operands (already swapped).
inline cublasStatus_t blas_gemm(cublasHandle_t h, const CublasGemm& g, const float* alpha, const float* A,
                                const float* B, const float* beta, float* C, std::int64_t batch) {
    if (batch == 1)
        return cublasSgemm(h, blas_op(g.transa), blas_op(g.transb), static_cast<int>(g.m), static_cast<int>(g.n),
                           static_cast<int>(g.k), alpha, A, static_cast<int>(g.lda), B, static_cast<int>(g.ldb), beta,
                           C, static_cast<int>(g.ldc));
    return cublasSgemmStridedBatched(h, blas_op(g.transa), blas_op(g.transb), static_cast<int>(g.m),
                                     static_cast<int>(g.n), static_cast<int>(g.k), alpha, A, static_cast<int>(g.lda),
                                     g.stride_a, B, static_cast<int>(g.ldb), g.stride_b, beta, C,
                                     static_cast<int>(g.ldc), g.stride_c, static_cast<int>(batch));
}
inline cublasStatus_t blas_gemm(cublasHandle_t h, const CublasGemm& g, const double* alpha, const double* A,
                                const double* B, const double* beta, double* C, std::int64_t batch) {
    if (batch == 1)
        return cublasDgemm(h, blas_op(g.transa), blas_op(g.transb), static_cast<int>(g.m), static_cast<int>(g.n),
                           static_cast<int>(g.k), alpha, A, static_cast<int>(g.lda), B, static_cast<int>(g.ldb), beta,
                           C, static_cast<int>(g.ldc));
    return cublasDgemmStridedBatched(h, blas_op(g.transa), blas_op(g.transb), static_cast<int>(g.m),
                                     static_cast<int>(g.n), static_cast<int>(g.k), alpha, A, static_cast<int>(g.lda),
                                     g.stride_a, B, static_cast<int>(g.ldb), g.stride_b, beta, C,
                                     static_cast<int>(g.ldc), g.stride_c, static_cast<int>(batch));
}

// Float GEMMs with bf16 inputs and fp32 accumulation (fp32 operands in memory; cuBLAS rounds them).
inline cublasStatus_t blas_gemm_bf16(cublasHandle_t h, const CublasGemm& g, const float* alpha, const float* A,
                                     const float* B, const float* beta, float* C, std::int64_t batch) {
    if (batch == 1)
        return cublasGemmEx(h, blas_op(g.transa), blas_op(g.transb), static_cast<int>(g.m), static_cast<int>(g.n),
                            static_cast<int>(g.k), alpha, A, CUDA_R_32F, static_cast<int>(g.lda), B, CUDA_R_32F,
                            static_cast<int>(g.ldb), beta, C, CUDA_R_32F, static_cast<int>(g.ldc),
                            CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT);
    return cublasGemmStridedBatchedEx(h, blas_op(g.transa), blas_op(g.transb), static_cast<int>(g.m),
                                      static_cast<int>(g.n), static_cast<int>(g.k), alpha, A, CUDA_R_32F,
                                      static_cast<int>(g.lda), g.stride_a, B, CUDA_R_32F, static_cast<int>(g.ldb),
                                      g.stride_b, beta, C, CUDA_R_32F, static_cast<int>(g.ldc), g.stride_c,
                                      static_cast<int>(batch), CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT);
}

template <class T>
void gemm(Context<Cuda<T>>& ctx, const char* primitive, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N,
          std::int64_t K, T alpha, const T* A, std::int64_t lda, std::int64_t stride_a, const T* B, std::int64_t ldb,
          std::int64_t stride_b, T beta, T* C, std::int64_t ldc, std::int64_t stride_c, std::int64_t batch) {
    if (M == 0 || N == 0 || batch == 0) return;
    // With K = 0, A and B are empty and their leading dimensions do not matter (as on the CPU).
    const std::int64_t any_ld = std::max<std::int64_t>({M, N, 1});
    if (const char* problem =
            gemm_argument_problem(trans_a, trans_b, M, N, K, K == 0 ? any_ld : lda, K == 0 ? any_ld : ldb, ldc, batch))
        fail("ops::{} on CUDA cannot run: {} (M = {}, N = {}, K = {}, lda = {}, ldb = {}, ldc = {}, batch = {})",
             primitive, problem, M, N, K, lda, ldb, ldc, batch);
    if (K == 0) {  // no products: C = beta * C, and beta = 0 must not read C (it may hold NaN)
        check_launch(launch::scale_matrices<T>(ctx.state.stream(), M, N, ldc, stride_c, batch, beta, C), primitive);
        return;
    }
    cublasHandle_t handle = ctx.state.blas();
    if constexpr (std::is_same_v<T, float>)
        FGCLEP_CUDA_CHECK(
            cublasSetMathMode(handle, ctx.state.allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    const CublasGemm g = row_major_to_cublas(trans_a, trans_b, M, N, K, lda, ldb, ldc, stride_a, stride_b, stride_c);
    bool bf16 = false;
    if constexpr (std::is_same_v<T, float>) bf16 = ctx.state.matmul_precision == MatmulPrecision::bf16;
    cublasStatus_t status;
    if constexpr (std::is_same_v<T, float>)
        status = bf16 ? blas_gemm_bf16(handle, g, &alpha, B, A, &beta, C, batch)
                      : blas_gemm(handle, g, &alpha, B, A, &beta, C, batch);
    else
        status = blas_gemm(handle, g, &alpha, B, A, &beta, C, batch);
    if (status != CUBLAS_STATUS_SUCCESS)
        fail("cuBLAS call {} for ops::{} failed: {} (M = {}, N = {}, K = {}, lda = {}, ldb = {}, ldc = {}, batch = {})",
             bf16         ? (batch == 1 ? "cublasGemmEx" : "cublasGemmStridedBatchedEx")
             : batch == 1 ? (std::is_same_v<T, float> ? "cublasSgemm" : "cublasDgemm")
                          : (std::is_same_v<T, float> ? "cublasSgemmStridedBatched" : "cublasDgemmStridedBatched"),
             primitive, blas_status_name(status), M, N, K, lda, ldb, ldc, batch);
}

}  // namespace fgclep::cuda::detail

namespace fgclep::cuda {

template <class T>
struct BlasPrimitives {
    // C(M x N) = alpha * op(A) * op(B) + beta * C, row-major (see backend/cpu/gemm.hpp); beta = 0 never reads C.
    static void gemm(Context<Cuda<T>>& ctx, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                     T alpha, const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C,
                     std::int64_t ldc) {
        cuda::detail::gemm(ctx, "gemm", trans_a, trans_b, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
    }

    // batch GEMMs, matrix i at A + i*stride_a (stride 0 reuses one matrix), as cublas<t>gemmStridedBatched.
    static void gemm_strided_batched(Context<Cuda<T>>& ctx, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N,
                                     std::int64_t K, T alpha, const T* A, std::int64_t lda, std::int64_t stride_a,
                                     const T* B, std::int64_t ldb, std::int64_t stride_b, T beta, T* C,
                                     std::int64_t ldc, std::int64_t stride_c, std::int64_t batch) {
        cuda::detail::gemm(ctx, "gemm_strided_batched", trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb,
                           stride_b, beta, C, ldc, stride_c, batch);
    }
};

}  // namespace fgclep::cuda
