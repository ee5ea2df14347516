#pragma once
// Row-major GEMM and strided-batched GEMM on the CPU.
//
// Every Eigen product in the library goes through the two non-template entry points below (float, double):
// instantiating an Eigen GEMM costs seconds of compile time per translation unit, so there are exactly
// 2 types x 4 transpose combinations of them. With EIGEN_USE_BLAS (CMake option FGCLEP_EIGEN_USE_BLAS) Eigen
// forwards these products to OpenBLAS.
#include "fgclep/backend/cpu/parallel.hpp"

#include <Eigen/Core>

#include <cstdint>

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
}  // namespace detail

// Runs f with OpenMP's thread count for the calling thread set to `threads`, restoring it afterwards. Eigen sizes
// its GEMM's parallel region from omp_get_max_threads(), a per-thread setting, so two contexts on two threads
// cannot change each other's count (Eigen::setNbThreads would set a process-wide value, racily).
template <class F>
void with_omp_threads(int threads, F&& f) {
#if defined(_OPENMP)
    const int saved = omp_get_max_threads();
    if (saved != threads) omp_set_num_threads(threads);
    f();
    if (saved != threads) omp_set_num_threads(saved);
#else
    (void)threads;
    f();
#endif
}

// C(M x N) = alpha * op(A) * op(B) + beta * C, all row-major with leading dimensions lda, ldb, ldc;
// op(A) is M x K, op(B) is K x N. `threads` bounds Eigen's threads (unless the program called
// Eigen::setNbThreads, which takes precedence).
inline void gemm(int threads, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
                 const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
                 std::int64_t ldc) {
    with_omp_threads(
        threads, [&] { detail::gemm_eigen<float>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); });
}
inline void gemm(int threads, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, double alpha,
                 const double* A, std::int64_t lda, const double* B, std::int64_t ldb, double beta, double* C,
                 std::int64_t ldc) {
    with_omp_threads(
        threads, [&] { detail::gemm_eigen<double>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); });
}

// batch independent GEMMs; matrix i starts at A + i*stride_a (a stride of 0 reuses one matrix, e.g. a
// convolution's weights). Small matrices run one per thread; large ones one at a time on all threads.
template <class T>
void gemm_strided_batched(int threads, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                          T alpha, const T* A, std::int64_t lda, std::int64_t stride_a, const T* B, std::int64_t ldb,
                          std::int64_t stride_b, T beta, T* C, std::int64_t ldc, std::int64_t stride_c,
                          std::int64_t batch) {
    const bool per_thread = batch >= threads && M * N * K < (std::int64_t(1) << 24);
    if (per_thread) {
        // Inside the parallel region Eigen runs each GEMM on the calling thread alone.
        parallel_for(threads, batch, 1, [&](std::int64_t i) {
            detail::gemm_eigen<T>(trans_a, trans_b, M, N, K, alpha, A + i * stride_a, lda, B + i * stride_b, ldb, beta,
                                  C + i * stride_c, ldc);
        });
    } else {
        for (std::int64_t i = 0; i < batch; ++i)
            gemm(threads, trans_a, trans_b, M, N, K, alpha, A + i * stride_a, lda, B + i * stride_b, ldb, beta,
                 C + i * stride_c, ldc);
    }
}

}  // namespace fgclep::cpu
