#pragma once
// Row-major GEMM and strided-batched GEMM on the CPU, in fp32 or with the bf16 matmul precision
// (core/matmul_precision.hpp).
//
// Engines: Eigen by default (portable). Every Eigen product in the library goes through gemm_eigen, instantiated
// for 2 types x 4 transpose combinations only, since an Eigen GEMM costs seconds of compile time per translation
// unit. With EIGEN_USE_BLAS (CMake option FGCLEP_EIGEN_USE_BLAS) Eigen forwards these products to OpenBLAS. With
// FGCLEP_USE_ONEDNN (CMake option FGCLEP_ONEDNN) float products of useful size run on oneDNN (cpu/onednn.hpp),
// which has bf16 kernels; without it, bf16 is emulated: inputs rounded to bf16 in fp32 buffers, then Eigen's fp32
// GEMM, the same numbers at fp32 speed.
#include "fgclep/backend/cpu/bf16.hpp"
#include "fgclep/backend/cpu/parallel.hpp"
#include "fgclep/core/matmul_precision.hpp"

#if defined(FGCLEP_USE_ONEDNN)
#include "fgclep/backend/cpu/onednn.hpp"
#endif

#include <Eigen/Core>

#include <cstdint>
#include <type_traits>
#include <vector>

namespace fgclep::cpu {

namespace detail {
template <class T>
void gemm_eigen(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
                std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using ConstMap = Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>;
    Eigen::Map<Matrix, 0, Eigen::OuterStride<>> c(C, M, N, Eigen::OuterStride<>(ldc));
    if (M == 0 || N == 0) return;
    // beta == 0 must not read C: it may hold garbage or the gradient checker's NaN sentinel.
    if (beta == T(0))
        c.setZero();
    else if (beta != T(1))
        c *= beta;
    if (K == 0) return;
    ConstMap a(A, trans_a ? K : M, trans_a ? M : K, Eigen::OuterStride<>(lda));
    ConstMap b(B, trans_b ? N : K, trans_b ? K : N, Eigen::OuterStride<>(ldb));
    if (!trans_a && !trans_b)
        c.noalias() += alpha * a * b;
    else if (trans_a && !trans_b)
        c.noalias() += alpha * a.transpose() * b;
    else if (!trans_a && trans_b)
        c.noalias() += alpha * a * b.transpose();
    else
        c.noalias() += alpha * a.transpose() * b.transpose();
}

#if defined(FGCLEP_EXTERN_GEMM)
// Compile time: instantiating Eigen's GEMM costs 5-6 s in every file that includes this header. A program that
// defines FGCLEP_EXTERN_GEMM in every file and includes backend/cpu/gemm_instances.hpp in exactly one pays it once
// (docs/build.md#compile-time); fgclep's own tests and examples are built so.
extern template void gemm_eigen<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*,
                                       std::int64_t, const float*, std::int64_t, float, float*, std::int64_t);
extern template void gemm_eigen<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*,
                                        std::int64_t, const double*, std::int64_t, double, double*, std::int64_t);
#endif

// bf16 inputs, fp32 accumulation, on Eigen: A and B rounded into packed fp32 scratch (per thread), then fp32 GEMM.
inline void gemm_bf16_emulated(int threads, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                               float alpha, const float* A, std::int64_t lda, const float* B, std::int64_t ldb,
                               float beta, float* C, std::int64_t ldc) {
    thread_local std::vector<float> a, b;
    const std::int64_t a_rows = trans_a ? K : M, a_cols = trans_a ? M : K;
    const std::int64_t b_rows = trans_b ? N : K, b_cols = trans_b ? K : N;
    a.resize(static_cast<std::size_t>(a_rows * a_cols));
    b.resize(static_cast<std::size_t>(b_rows * b_cols));
    pack_rounded_to_bf16(threads, A, a_rows, a_cols, lda, a.data());
    pack_rounded_to_bf16(threads, B, b_rows, b_cols, ldb, b.data());
    gemm_eigen<float>(trans_a, trans_b, M, N, K, alpha, a.data(), a_cols, b.data(), b_cols, beta, C, ldc);
}

#if defined(FGCLEP_USE_ONEDNN)
// Below this many multiply-adds a oneDNN call (primitive lookup, memory objects) costs more than Eigen's GEMM.
inline constexpr std::int64_t onednn_min_work = std::int64_t(1) << 15;
#endif
}  // namespace detail

// The engine behind float GEMMs, for logs and benchmark reports.
inline const char* gemm_engine() {
#if defined(FGCLEP_USE_ONEDNN)
    return "oneDNN (Eigen below 32k multiply-adds)";
#elif defined(EIGEN_USE_BLAS)
    return "Eigen with OpenBLAS";
#else
    return "Eigen";
#endif
}

// C(M x N) = alpha * op(A) * op(B) + beta * C, all row-major with leading dimensions lda, ldb, ldc;
// op(A) is M x K, op(B) is K x N. `threads` bounds the engine's threads (unless the program called
// Eigen::setNbThreads, which takes precedence for Eigen).
inline void gemm(int threads, MatmulPrecision precision, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N,
                 std::int64_t K, float alpha, const float* A, std::int64_t lda, const float* B, std::int64_t ldb,
                 float beta, float* C, std::int64_t ldc) {
    const bool bf16 = precision == MatmulPrecision::bf16 && M > 0 && N > 0 && K > 0;
#if defined(FGCLEP_USE_ONEDNN)
    if (M * N * K >= detail::onednn_min_work &&
        onednn::gemm(threads, {bf16, trans_a, trans_b, M, N, K, lda, ldb, ldc, 1, 0, 0, 0, alpha, beta}, A, B, C))
        return;
#endif
    with_omp_threads(threads, [&] {
        if (bf16)
            detail::gemm_bf16_emulated(threads, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        else
            detail::gemm_eigen<float>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    });
}
// Double products are always exact double: the precision does not apply (gradient checks run in double).
inline void gemm(int threads, MatmulPrecision, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N,
                 std::int64_t K, double alpha, const double* A, std::int64_t lda, const double* B, std::int64_t ldb,
                 double beta, double* C, std::int64_t ldc) {
    with_omp_threads(
        threads, [&] { detail::gemm_eigen<double>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); });
}

// batch independent GEMMs; matrix i starts at A + i*stride_a (a stride of 0 reuses one matrix, e.g. a
// convolution's weights). Small matrices run one per thread; large ones one at a time on all threads.
template <class T>
void gemm_strided_batched(int threads, MatmulPrecision precision, bool trans_a, bool trans_b, std::int64_t M,
                          std::int64_t N, std::int64_t K, T alpha, const T* A, std::int64_t lda, std::int64_t stride_a,
                          const T* B, std::int64_t ldb, std::int64_t stride_b, T beta, T* C, std::int64_t ldc,
                          std::int64_t stride_c, std::int64_t batch) {
    if (batch <= 0) return;
    const bool bf16 = std::is_same_v<T, float> && precision == MatmulPrecision::bf16 && M > 0 && N > 0 && K > 0;
#if defined(FGCLEP_USE_ONEDNN)
    if constexpr (std::is_same_v<T, float>) {
        // One batched primitive: oneDNN splits the whole batch among the threads itself.
        if (batch * M * N * K >= detail::onednn_min_work &&
            onednn::gemm(
                threads,
                {bf16, trans_a, trans_b, M, N, K, lda, ldb, ldc, batch, stride_a, stride_b, stride_c, alpha, beta}, A,
                B, C))
            return;
    }
#endif
    // One matrix on the calling thread (inside a parallel region, or with one thread).
    auto serial = [&](std::int64_t i) {
        if constexpr (std::is_same_v<T, float>) {
            if (bf16) {
                detail::gemm_bf16_emulated(1, trans_a, trans_b, M, N, K, alpha, A + i * stride_a, lda, B + i * stride_b,
                                           ldb, beta, C + i * stride_c, ldc);
                return;
            }
        }
        detail::gemm_eigen<T>(trans_a, trans_b, M, N, K, alpha, A + i * stride_a, lda, B + i * stride_b, ldb, beta,
                              C + i * stride_c, ldc);
    };
    const bool per_thread = batch >= threads && M * N * K < (std::int64_t(1) << 24);
    if (per_thread) {
        // Inside the parallel region Eigen runs each GEMM on the calling thread alone.
        parallel_for(threads, batch, 1, serial);
    } else {
        for (std::int64_t i = 0; i < batch; ++i)
            gemm(threads, precision, trans_a, trans_b, M, N, K, alpha, A + i * stride_a, lda, B + i * stride_b, ldb,
                 beta, C + i * stride_c, ldc);
    }
}

}  // namespace fgclep::cpu
