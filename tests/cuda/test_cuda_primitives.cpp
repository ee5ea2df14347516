// Every primitive of backend/ops.hpp and the memory primitives: CUDA against the CPU backend, within the
// tolerances of cuda_compare.hpp. Needs a CUDA device (test_cuda exits 77 without one).
#include "cuda/cuda_compare.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using namespace fgclep;
using test::Contexts;
using test::Tol;

// --- memory -------------------------------------------------------------------------------------------------------

TEST_CASE_TEMPLATE("memory: upload, download, copy and fill round-trip", T, float, double) {
    Context<Cuda<T>> ctx;
    const auto values = test::random_values<T>(1000, 1);
    auto t = ctx.from_host(Shape{10, 100}, values);
    CHECK(ctx.to_host(t) == values);
    auto c = ctx.clone(t);
    CHECK(ctx.to_host(c) == values);
    auto f = ctx.full(Shape{777}, T(2.5));
    CHECK(ctx.to_host(f) == std::vector<T>(777, T(2.5)));
    auto z = ctx.zeros(Shape{33});
    CHECK(ctx.to_host(z) == std::vector<T>(33, T(0)));
    auto ids = ctx.template full<std::int32_t>(Shape{5}, -7);
    CHECK(ctx.to_host(ids) == std::vector<std::int32_t>(5, -7));
    auto wide = ctx.template full<std::int64_t>(Shape{3}, std::int64_t(1) << 40);
    CHECK(ctx.to_host(wide) == std::vector<std::int64_t>(3, std::int64_t(1) << 40));
    // A slice is a view: writing through Context::copy changes rows 2..3 of t only.
    ctx.copy(t.slice(2, 4), ctx.full(Shape{2, 100}, T(-1)));
    const auto after = ctx.to_host(t);
    CHECK(after[199] == values[199]);
    CHECK(after[200] == T(-1));
    CHECK(after[399] == T(-1));
    CHECK(after[400] == values[400]);
    // An empty tensor still has storage, as on the CPU.
    auto empty = ctx.empty(Shape{0, 4});
    CHECK(empty.defined());
    CHECK(ctx.to_host(empty).empty());
    // The gradient checker's sentinel reaches device tensors too.
    ctx.fill_new_tensors = std::numeric_limits<double>::quiet_NaN();
    for (T v : ctx.to_host(ctx.empty(Shape{300}))) CHECK(std::isnan(v));
}

TEST_CASE("memory: the caching allocator reuses freed blocks and releases its cache") {
    Context<Cuda<float>> ctx;
    cuda::release_cached();
    const auto before = cuda::allocator_stats();
    { auto a = ctx.empty(Shape{1000, 1000}); }  // 4 MB back to the cache
    const auto cached = cuda::allocator_stats();
    CHECK(cached.cached_bytes >= before.cached_bytes + 4000000);
    CHECK(cached.device_allocations == before.device_allocations + 1);
    { auto b = ctx.empty(Shape{999, 1001}); }  // same size class: served from the cache
    const auto reused = cuda::allocator_stats();
    CHECK(reused.device_allocations == cached.device_allocations);
    CHECK(reused.cache_hits == cached.cache_hits + 1);
    CHECK(reused.peak_in_use_bytes >= 4000000);
    CHECK(cuda::release_cached() >= 4000000);
    CHECK(cuda::allocator_stats().cached_bytes == 0);
    CHECK(cuda::allocator_stats().device_frees > reused.device_frees);
}

TEST_CASE("memory: a failed cudaMalloc says how much and which call") {
    const std::size_t huge = std::size_t(1) << 52;  // 4 PiB of floats
    CHECK_THROWS_WITH_AS(Cuda<float>::allocate<float>(huge),
                         doctest::Contains("CUDA call cudaMalloc of 18014398509481984 bytes"), Error);
    // The failure leaves the runtime usable.
    Context<Cuda<float>> ctx;
    CHECK(ctx.to_host(ctx.full(Shape{4}, 1.0f)) == std::vector<float>(4, 1.0f));
}

TEST_CASE("state: own streams, copies that share them, and StreamScope") {
    auto state = cuda::State::create(0, true);
    CHECK(state.stream() != nullptr);
    CHECK(state.device() == 0);
    Context<Cuda<float>> ctx(state);
    Context<Cuda<float>> copy = ctx;
    CHECK(copy.state.stream() == ctx.state.stream());
    {
        cuda::StreamScope scope(ctx.state);
        CHECK(cuda::allocation_stream() == ctx.state.stream());
        auto x = ctx.from_host(Shape{3}, std::vector<float>{1, 2, 3});
        auto y = ctx.empty(Shape{3});
        ops::scale(ctx, 3, 2.0f, x.data(), y.data());
        CHECK(ctx.to_host(y) == std::vector<float>{2, 4, 6});
    }
    CHECK(cuda::allocation_stream() == nullptr);
    // The default state uses the legacy default stream.
    CHECK(cuda::State().stream() == nullptr);
}

// --- GEMM -----------------------------------------------------------------------------------------------------------

namespace {
template <class T>
void compare_gemm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, std::int64_t pad, T beta,
                  std::int64_t batch, bool share_a, bool tf32, bool bf16 = false) {
    CAPTURE(ta);
    CAPTURE(tb);
    CAPTURE(M);
    CAPTURE(N);
    CAPTURE(K);
    CAPTURE(pad);
    CAPTURE(batch);
    CAPTURE(tf32);
    CAPTURE(bf16);
    Contexts<T> x;
    x.gpu.state.allow_tf32 = tf32;
    if (bf16) x.cpu.state.matmul_precision = x.gpu.state.matmul_precision = MatmulPrecision::bf16;
    const std::int64_t a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
    const std::int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = N + pad;
    const std::int64_t stride_a = share_a ? 0 : a_rows * lda, stride_b = b_rows * ldb, stride_c = M * ldc;
    auto A = x.pair(test::random_values<T>(std::max<std::int64_t>(1, (share_a ? 1 : batch) * a_rows * lda), 1));
    auto B = x.pair(test::random_values<T>(std::max<std::int64_t>(1, batch * stride_b), 2));
    auto C = x.pair(beta == T(0) ? test::nan_values<T>(std::max<std::int64_t>(1, batch * stride_c))
                                 : test::random_values<T>(std::max<std::int64_t>(1, batch * stride_c), 3));
    const T alpha = T(0.75);
    if (batch == 1 && !share_a) {
        ops::gemm(x.cpu, ta, tb, M, N, K, alpha, A.c(), lda, B.c(), ldb, beta, C.c(), ldc);
        ops::gemm(x.gpu, ta, tb, M, N, K, alpha, A.g(), lda, B.g(), ldb, beta, C.g(), ldc);
    } else {
        ops::gemm_strided_batched(x.cpu, ta, tb, M, N, K, alpha, A.c(), lda, stride_a, B.c(), ldb, stride_b, beta,
                                  C.c(), ldc, stride_c, batch);
        ops::gemm_strided_batched(x.gpu, ta, tb, M, N, K, alpha, A.g(), lda, stride_a, B.g(), ldb, stride_b, beta,
                                  C.g(), ldc, stride_c, batch);
    }
    // Padding columns of C keep their values (NaN when beta = 0): compared too, NaN against NaN.
    // TF32 rounds inputs to 10 bits: an error of ~4e-4 per product, growing like sqrt(K) over the sum.
    // bf16 on both sides: the same rounded inputs, fp32 sums in different orders.
    const test::Tolerance tol = tf32   ? test::Tolerance{1e-2, 2e-3 * std::sqrt(double(K))}
                                : bf16 ? test::Tolerance{1e-4, 1e-5 * std::sqrt(double(K))}
                                       : Tol<T>::gemm;
    x.check(C, tol, "C");
}
}  // namespace

TEST_CASE_TEMPLATE("gemm: every transpose combination, padded leading dimensions, beta 0 and not", T, float, double) {
    for (bool ta : {false, true})
        for (bool tb : {false, true})
            for (std::int64_t pad : {0, 5})
                for (T beta : {T(0), T(0.5)}) {
                    compare_gemm<T>(ta, tb, 37, 23, 19, pad, beta, 1, false, false);
                    compare_gemm<T>(ta, tb, 1, 64, 300, pad, beta, 1, false, false);
                    compare_gemm<T>(ta, tb, 128, 96, 64, pad, beta, 1, false, false);
                }
}

TEST_CASE_TEMPLATE("gemm_strided_batched: batches and a shared (stride 0) matrix", T, float, double) {
    for (bool ta : {false, true})
        for (bool tb : {false, true}) {
            compare_gemm<T>(ta, tb, 16, 9, 24, 0, T(0), 6, false, false);
            compare_gemm<T>(ta, tb, 16, 9, 24, 3, T(1), 4, true, false);  // a convolution's shared weights
        }
}

TEST_CASE("gemm: FP32 by default, TF32 when the state allows it") {
    compare_gemm<float>(false, true, 256, 256, 512, 0, 0.0f, 1, false, true);
    compare_gemm<float>(true, false, 64, 48, 512, 0, 0.0f, 3, false, true);
    // Default FP32 at this size still meets the FP32 tolerance (TF32 would not: ~1e-3 relative).
    compare_gemm<float>(false, true, 256, 256, 512, 0, 0.0f, 1, false, false);
}

TEST_CASE("gemm: the bf16 matmul precision rounds the inputs as the CPU does (CUBLAS_COMPUTE_32F_FAST_16BF)") {
    for (bool ta : {false, true})
        for (bool tb : {false, true}) {
            compare_gemm<float>(ta, tb, 96, 80, 200, 3, 0.5f, 1, false, false, true);
            compare_gemm<float>(ta, tb, 16, 40, 72, 0, 0.0f, 5, true, false, true);
        }
}

TEST_CASE_TEMPLATE("gemm: K = 0 scales C by beta without reading it; M = 0 or N = 0 does nothing", T, float, double) {
    for (T beta : {T(0), T(2)}) {
        compare_gemm<T>(false, false, 5, 4, 0, 2, beta, 1, false, false);
        compare_gemm<T>(true, true, 5, 4, 0, 0, beta, 3, false, false);
    }
    Context<Cuda<T>> ctx;
    auto C = ctx.full(Shape{4}, T(3));
    ops::gemm(ctx, false, false, 0, 4, 3, T(1), C.data(), 3, C.data(), 4, T(0), C.data(), 4);
    ops::gemm(ctx, false, false, 4, 0, 3, T(1), C.data(), 3, C.data(), 1, T(0), C.data(), 1);
    CHECK(ctx.to_host(C) == std::vector<T>(4, T(3)));
}

TEST_CASE("gemm: arguments cuBLAS would reject are reported with the primitive's name") {
    Context<Cuda<float>> ctx;
    auto A = ctx.zeros(Shape{64});
    CHECK_THROWS_WITH_AS(ops::gemm(ctx, false, false, 4, 4, 4, 1.0f, A.data(), 3, A.data(), 4, 0.0f, A.data(), 4),
                         doctest::Contains("ops::gemm on CUDA cannot run: lda smaller than"), Error);
}

// --- convolution --------------------------------------------------------------------------------------------------

TEST_CASE_TEMPLATE("im2col_1d and col2im_1d", T, float, double) {
    struct Case {
        std::int64_t N, C, L, K, stride, pad, dilation;
    };
    for (const Case& k : {Case{2, 3, 17, 5, 2, 2, 1}, Case{3, 2, 40, 3, 1, 1, 2}, Case{1, 4, 9, 7, 3, 3, 1},
                          Case{2, 2, 12, 1, 1, 0, 1}, Case{1, 1, 5, 4, 5, 4, 3}}) {
        CAPTURE(k.K);
        CAPTURE(k.stride);
        CAPTURE(k.pad);
        CAPTURE(k.dilation);
        const std::int64_t Lout = (k.L + 2 * k.pad - k.dilation * (k.K - 1) - 1) / k.stride + 1;
        REQUIRE(Lout >= 1);
        Contexts<T> x;
        auto in = x.pair(test::random_values<T>(k.N * k.C * k.L, 4));
        auto col = x.pair(test::nan_values<T>(k.N * k.C * k.K * Lout));
        ops::im2col_1d(x.cpu, in.c(), k.N, k.C, k.L, k.K, k.stride, k.pad, k.dilation, Lout, col.c());
        ops::im2col_1d(x.gpu, in.g(), k.N, k.C, k.L, k.K, k.stride, k.pad, k.dilation, Lout, col.g());
        x.check_exact(col, "im2col");
        auto dcol = x.pair(test::random_values<T>(k.N * k.C * k.K * Lout, 5));
        auto dx = x.pair(test::nan_values<T>(k.N * k.C * k.L));
        ops::col2im_1d(x.cpu, dcol.c(), k.N, k.C, k.L, k.K, k.stride, k.pad, k.dilation, Lout, dx.c());
        ops::col2im_1d(x.gpu, dcol.g(), k.N, k.C, k.L, k.K, k.stride, k.pad, k.dilation, Lout, dx.g());
        x.check(dx, Tol<T>::elementwise, "col2im");
    }
}

// --- elementwise --------------------------------------------------------------------------------------------------

namespace {
template <class T, class F>
void compare_unary(F f, const char* name) {
    Contexts<T> x;
    const std::int64_t n = 5001;
    auto in = x.pair(test::random_values<T>(n, 6, -4, 4));
    auto y = x.pair(test::nan_values<T>(n));
    ops::unary(x.cpu, f, n, in.c(), y.c());
    ops::unary(x.gpu, f, n, in.g(), y.g());
    x.check(y, Tol<T>::elementwise, std::string(name) + " forward");
    auto dy = x.pair(test::random_values<T>(n, 7));
    auto dx = x.pair(test::nan_values<T>(n));
    ops::unary_backward(x.cpu, f, n, in.c(), y.c(), dy.c(), dx.c());
    ops::unary_backward(x.gpu, f, n, in.g(), y.g(), dy.g(), dx.g());
    x.check(dx, Tol<T>::elementwise, std::string(name) + " backward");
}
}  // namespace

TEST_CASE_TEMPLATE("unary and unary_backward with the shared functors", T, float, double) {
    compare_unary<T>(fn::Relu{}, "ReLU");
    compare_unary<T>(fn::GeluErf{}, "GELU");
    compare_unary<T>(fn::Tanh{}, "Tanh");
}

TEST_CASE_TEMPLATE("add, axpy, scale (in place too), bias broadcasts", T, float, double) {
    Contexts<T> x;
    const std::int64_t rows = 37, cols = 29, n = rows * cols;
    auto a = x.pair(test::random_values<T>(n, 8));
    auto b = x.pair(test::random_values<T>(n, 9));
    auto y = x.pair(test::nan_values<T>(n));
    ops::add(x.cpu, n, a.c(), b.c(), y.c());
    ops::add(x.gpu, n, a.g(), b.g(), y.g());
    x.check(y, Tol<T>::elementwise, "add");
    ops::axpy(x.cpu, n, T(-0.3), a.c(), y.c());
    ops::axpy(x.gpu, n, T(-0.3), a.g(), y.g());
    x.check(y, Tol<T>::elementwise, "axpy (accumulates)");
    ops::scale(x.cpu, n, T(1.7), y.c(), y.c());
    ops::scale(x.gpu, n, T(1.7), y.g(), y.g());
    x.check(y, Tol<T>::elementwise, "scale in place");
    auto bias = x.pair(test::random_values<T>(cols, 10));
    ops::add_bias_rows(x.cpu, rows, cols, bias.c(), y.c());
    ops::add_bias_rows(x.gpu, rows, cols, bias.g(), y.g());
    x.check(y, Tol<T>::elementwise, "add_bias_rows");
    const std::int64_t N = 3, C = 5, L = 11;
    auto z = x.pair(test::random_values<T>(N * C * L, 11));
    auto cbias = x.pair(test::random_values<T>(C, 12));
    ops::add_bias_channels(x.cpu, N, C, L, cbias.c(), z.c());
    ops::add_bias_channels(x.gpu, N, C, L, cbias.g(), z.g());
    x.check(z, Tol<T>::elementwise, "add_bias_channels");
}

TEST_CASE("elementwise kernels cover more elements than one grid (grid-stride loops)") {
    Contexts<float> x;
    const std::int64_t n = std::int64_t(cuda::max_grid) * cuda::block_size * 5 / 4 + 3;  // 1.25 grids
    auto a = x.pair(test::random_values<float>(n, 13));
    auto y = x.pair(test::nan_values<float>(n));
    ops::scale(x.cpu, n, 3.0f, a.c(), y.c());
    ops::scale(x.gpu, n, 3.0f, a.g(), y.g());
    x.check_exact(y, "scale over 1.25 grids");
}

TEST_CASE_TEMPLATE("transpose_middle splits and merges heads", T, float, double) {
    Contexts<T> x;
    const std::int64_t A = 3, B = 7, C = 4, D = 5;
    auto in = x.pair(test::random_values<T>(A * B * C * D, 14));
    auto out = x.pair(test::nan_values<T>(A * B * C * D));
    ops::transpose_middle(x.cpu, in.c(), A, B, C, D, out.c());
    ops::transpose_middle(x.gpu, in.g(), A, B, C, D, out.g());
    x.check_exact(out, "transpose_middle");
}

TEST_CASE_TEMPLATE("dropout draws the CPU's mask, in place too", T, float, double) {
    Contexts<T> x;
    const std::int64_t n = 100003;
    auto in = x.pair(test::random_values<T>(n, 15));
    auto y = x.pair(test::nan_values<T>(n));
    for (double p : {0.1, 0.5, 0.9}) {
        ops::dropout(x.cpu, n, T(p), 77, 123456789, in.c(), y.c());
        ops::dropout(x.gpu, n, T(p), 77, 123456789, in.g(), y.g());
        x.check_exact(y, "dropout output (mask and scaling)");
    }
    ops::dropout(x.cpu, n, T(0.3), 5, 1ull << 40, in.c(), in.c());
    ops::dropout(x.gpu, n, T(0.3), 5, 1ull << 40, in.g(), in.g());
    x.check_exact(in, "dropout in place");
    const auto kept = x.gpu.to_host(in.gpu);
    const auto zeros = std::count(kept.begin(), kept.end(), T(0));
    CHECK(std::abs(double(zeros) / n - 0.3) < 0.01);
}

// --- normalisation ------------------------------------------------------------------------------------------------

TEST_CASE_TEMPLATE("batch norm: training statistics, running statistics, eval, backward", T, float, double) {
    for (std::int64_t L : {1, 13, 300}) {
        CAPTURE(L);
        Contexts<T> x;
        const std::int64_t N = 6, C = 5;
        auto in = x.pair(test::random_values<T>(N * C * L, 16, -2, 3));
        auto gamma = x.pair(test::random_values<T>(C, 17, 0.5, 1.5));
        auto beta = x.pair(test::random_values<T>(C, 18));
        auto rmean = x.pair(test::random_values<T>(C, 19));
        auto rvar = x.pair(test::random_values<T>(C, 20, 0.5, 2));
        auto y = x.pair(test::nan_values<T>(N * C * L));
        auto mean = x.pair(test::nan_values<T>(C)), invstd = x.pair(test::nan_values<T>(C));
        ops::batch_norm_forward_train(x.cpu, in.c(), N, C, L, gamma.c(), beta.c(), T(1e-5), T(0.1), y.c(), mean.c(),
                                      invstd.c(), rmean.c(), rvar.c());
        ops::batch_norm_forward_train(x.gpu, in.g(), N, C, L, gamma.g(), beta.g(), T(1e-5), T(0.1), y.g(), mean.g(),
                                      invstd.g(), rmean.g(), rvar.g());
        x.check(y, Tol<T>::reduction, "batch norm y (train)");
        x.check(mean, Tol<T>::reduction, "batch mean");
        x.check(invstd, Tol<T>::reduction, "batch invstd");
        x.check(rmean, Tol<T>::reduction, "running mean");
        x.check(rvar, Tol<T>::reduction, "running var");

        for (bool batch_statistics : {true, false}) {
            CAPTURE(batch_statistics);
            auto dy = x.pair(test::random_values<T>(N * C * L, 21));
            auto dx = x.pair(test::nan_values<T>(N * C * L));
            auto dgamma = x.pair(test::random_values<T>(C, 22)), dbeta = x.pair(test::random_values<T>(C, 23));
            ops::batch_norm_backward(x.cpu, dy.c(), in.c(), N, C, L, gamma.c(), mean.c(), invstd.c(), batch_statistics,
                                     dx.c(), dgamma.c(), dbeta.c());
            ops::batch_norm_backward(x.gpu, dy.g(), in.g(), N, C, L, gamma.g(), mean.g(), invstd.g(), batch_statistics,
                                     dx.g(), dgamma.g(), dbeta.g());
            x.check(dx, Tol<T>::reduction, "batch norm dx");
            x.check(dgamma, Tol<T>::reduction, "dgamma (accumulated)");
            x.check(dbeta, Tol<T>::reduction, "dbeta (accumulated)");
            // Frozen parameters: null gradients.
            T* const none = nullptr;
            ops::batch_norm_backward(x.cpu, dy.c(), in.c(), N, C, L, gamma.c(), mean.c(), invstd.c(), batch_statistics,
                                     dx.c(), none, none);
            ops::batch_norm_backward(x.gpu, dy.g(), in.g(), N, C, L, gamma.g(), mean.g(), invstd.g(), batch_statistics,
                                     dx.g(), none, none);
            x.check(dx, Tol<T>::reduction, "batch norm dx without parameter gradients");
        }

        auto ye = x.pair(test::nan_values<T>(N * C * L));
        auto emean = x.pair(test::nan_values<T>(C)), einvstd = x.pair(test::nan_values<T>(C));
        ops::batch_norm_forward_eval(x.cpu, in.c(), N, C, L, gamma.c(), beta.c(), rmean.c(), rvar.c(), T(1e-5), ye.c(),
                                     emean.c(), einvstd.c());
        ops::batch_norm_forward_eval(x.gpu, in.g(), N, C, L, gamma.g(), beta.g(), rmean.g(), rvar.g(), T(1e-5), ye.g(),
                                     emean.g(), einvstd.g());
        x.check(ye, Tol<T>::elementwise, "batch norm y (eval)");
        x.check(emean, Tol<T>::elementwise, "eval mean");
        x.check(einvstd, Tol<T>::elementwise, "eval invstd");
    }
}

TEST_CASE_TEMPLATE("layer norm forward and backward, several row chunks", T, float, double) {
    for (std::int64_t D : {1, 31, 64, 200}) {
        CAPTURE(D);
        Contexts<T> x;
        const std::int64_t rows = 1100;  // more than one column-reduction chunk
        auto in = x.pair(test::random_values<T>(rows * D, 24, -3, 2));
        auto gamma = x.pair(test::random_values<T>(D, 25, 0.5, 1.5));
        auto beta = x.pair(test::random_values<T>(D, 26));
        auto y = x.pair(test::nan_values<T>(rows * D));
        auto mean = x.pair(test::nan_values<T>(rows)), rstd = x.pair(test::nan_values<T>(rows));
        ops::layer_norm_forward(x.cpu, in.c(), rows, D, gamma.c(), beta.c(), T(1e-5), y.c(), mean.c(), rstd.c());
        ops::layer_norm_forward(x.gpu, in.g(), rows, D, gamma.g(), beta.g(), T(1e-5), y.g(), mean.g(), rstd.g());
        x.check(y, Tol<T>::reduction, "layer norm y");
        x.check(mean, Tol<T>::reduction, "layer norm mean");
        x.check(rstd, Tol<T>::reduction, "layer norm rstd");
        auto dy = x.pair(test::random_values<T>(rows * D, 27));
        auto dx = x.pair(test::nan_values<T>(rows * D));
        auto dgamma = x.pair(test::random_values<T>(D, 28)), dbeta = x.pair(test::random_values<T>(D, 29));
        ops::layer_norm_backward(x.cpu, dy.c(), in.c(), rows, D, gamma.c(), mean.c(), rstd.c(), dx.c(), dgamma.c(),
                                 dbeta.c());
        ops::layer_norm_backward(x.gpu, dy.g(), in.g(), rows, D, gamma.g(), mean.g(), rstd.g(), dx.g(), dgamma.g(),
                                 dbeta.g());
        x.check(dx, Tol<T>::reduction, "layer norm dx");
        x.check(dgamma, Tol<T>::reduction, "layer norm dgamma (accumulated)");
        x.check(dbeta, Tol<T>::reduction, "layer norm dbeta (accumulated)");
        // One of the two frozen.
        T* const none = nullptr;
        ops::layer_norm_backward(x.cpu, dy.c(), in.c(), rows, D, gamma.c(), mean.c(), rstd.c(), dx.c(), none,
                                 dbeta.c());
        ops::layer_norm_backward(x.gpu, dy.g(), in.g(), rows, D, gamma.g(), mean.g(), rstd.g(), dx.g(), none,
                                 dbeta.g());
        x.check(dbeta, Tol<T>::reduction, "layer norm dbeta with dgamma frozen");
        x.check(dgamma, Tol<T>::reduction, "layer norm dgamma left alone");
    }
}

// --- attention ----------------------------------------------------------------------------------------------------

TEST_CASE_TEMPLATE("masked softmax: masked keys get 0, an all-masked row 0, -inf/NaN rows NaN; backward", T, float,
                   double) {
    for (std::int64_t cols : {1, 7, 32, 33, 200}) {
        CAPTURE(cols);
        Contexts<T> x;
        const std::int64_t batch = 4, rows = 6;
        std::vector<std::int32_t> mask(static_cast<std::size_t>(batch * cols), 1);
        for (std::int64_t c = 0; c < cols; ++c) {
            mask[static_cast<std::size_t>(0 * cols + c)] = 0;                     // batch 0: every key masked
            mask[static_cast<std::size_t>(1 * cols + c)] = c % 3 != 1;            // batch 1: some masked
            if (c == cols - 1) mask[static_cast<std::size_t>(2 * cols + c)] = 0;  // batch 2: the last masked
        }
        auto m = x.pair(mask);
        auto scores = test::random_values<T>(batch * rows * cols, 30, -5, 5);
        // Batch 3, row 0: every score -inf, a NaN row on both backends (as in PyTorch); row 1: one NaN score.
        for (std::int64_t c = 0; c < cols; ++c) scores[static_cast<std::size_t>(3 * rows * cols + c)] = -INFINITY;
        scores[static_cast<std::size_t>((3 * rows + 1) * cols)] = std::numeric_limits<T>::quiet_NaN();
        auto in = x.pair(scores);
        for (const bool masked : {true, false}) {
            auto y = x.pair(test::nan_values<T>(batch * rows * cols));
            ops::masked_softmax_forward(x.cpu, in.c(), batch, rows, cols, masked ? m.c() : nullptr, T(0.37), y.c());
            ops::masked_softmax_forward(x.gpu, in.g(), batch, rows, cols, masked ? m.g() : nullptr, T(0.37), y.g());
            x.check(y, Tol<T>::elementwise, masked ? "masked softmax" : "softmax");
            if (masked) {
                const auto got = x.gpu.to_host(y.gpu);
                std::int64_t nonzero = 0;
                for (std::int64_t r = 0; r < rows; ++r)
                    for (std::int64_t c = 0; c < cols; ++c) {
                        nonzero += got[static_cast<std::size_t>(r * cols + c)] != T(0);  // batch 0: all masked
                        if (c % 3 == 1) nonzero += got[static_cast<std::size_t>((rows + r) * cols + c)] != T(0);
                    }
                CHECK(nonzero == 0);
            }
            auto dy = x.pair(test::random_values<T>(batch * rows * cols, 31));
            auto dx = x.pair(test::nan_values<T>(batch * rows * cols));
            ops::softmax_backward(x.cpu, y.c(), dy.c(), batch * rows, cols, T(0.37), dx.c());
            ops::softmax_backward(x.gpu, y.g(), dy.g(), batch * rows, cols, T(0.37), dx.g());
            x.check(dx, Tol<T>::elementwise, "softmax backward");
        }
    }
}

// --- reductions ---------------------------------------------------------------------------------------------------

TEST_CASE_TEMPLATE("sum_rows (assign and accumulate), sum_channels, mean_last, broadcast_last", T, float, double) {
    Contexts<T> x;
    for (std::int64_t rows : {1, 100, 3000}) {
        CAPTURE(rows);
        const std::int64_t cols = 45;
        auto in = x.pair(test::random_values<T>(rows * cols, 32));
        auto out = x.pair(test::nan_values<T>(cols));
        ops::sum_rows(x.cpu, rows, cols, in.c(), T(0), out.c());
        ops::sum_rows(x.gpu, rows, cols, in.g(), T(0), out.g());
        x.check(out, Tol<T>::reduction, "sum_rows with beta 0 (never reads out)");
        ops::sum_rows(x.cpu, rows, cols, in.c(), T(1), out.c());
        ops::sum_rows(x.gpu, rows, cols, in.g(), T(1), out.g());
        x.check(out, Tol<T>::reduction, "sum_rows with beta 1");
    }
    const std::int64_t N = 7, C = 9, L = 130;
    auto in = x.pair(test::random_values<T>(N * C * L, 33));
    auto sums = x.pair(test::random_values<T>(C, 34));
    ops::sum_channels(x.cpu, N, C, L, in.c(), sums.c());
    ops::sum_channels(x.gpu, N, C, L, in.g(), sums.g());
    x.check(sums, Tol<T>::reduction, "sum_channels (accumulates)");
    auto means = x.pair(test::nan_values<T>(N * C));
    ops::mean_last(x.cpu, N * C, L, in.c(), means.c());
    ops::mean_last(x.gpu, N * C, L, in.g(), means.g());
    x.check(means, Tol<T>::reduction, "mean_last");
    auto back = x.pair(test::nan_values<T>(N * C * L));
    ops::broadcast_last(x.cpu, N * C, L, T(1) / T(L), means.c(), back.c());
    ops::broadcast_last(x.gpu, N * C, L, T(1) / T(L), means.g(), back.g());
    x.check(back, Tol<T>::reduction, "broadcast_last");
}

TEST_CASE_TEMPLATE("max pooling: maxima, argmax indices (NaN and -inf too), backward", T, float, double) {
    struct Case {
        std::int64_t K, stride, pad;
    };
    for (const Case& k : {Case{3, 2, 1}, Case{2, 2, 0}, Case{5, 1, 2}, Case{4, 3, 2}}) {
        CAPTURE(k.K);
        CAPTURE(k.stride);
        CAPTURE(k.pad);
        Contexts<T> x;
        const std::int64_t rows = 12, L = 50, Lout = (L + 2 * k.pad - k.K) / k.stride + 1;
        auto values = test::random_values<T>(rows * L, 35);
        values[3] = std::numeric_limits<T>::quiet_NaN();
        for (std::int64_t l = 0; l < L; ++l) values[static_cast<std::size_t>(L + l)] = -INFINITY;   // row 1: all -inf
        values[static_cast<std::size_t>(2 * L + 7)] = values[static_cast<std::size_t>(2 * L + 8)];  // a tie
        auto in = x.pair(values);
        auto y = x.pair(test::nan_values<T>(rows * Lout));
        auto arg = x.pair(std::vector<std::int32_t>(static_cast<std::size_t>(rows * Lout), -1));
        ops::max_pool_1d_forward(x.cpu, in.c(), rows, L, k.K, k.stride, k.pad, Lout, y.c(), arg.c());
        ops::max_pool_1d_forward(x.gpu, in.g(), rows, L, k.K, k.stride, k.pad, Lout, y.g(), arg.g());
        x.check_exact(y, "max pool y");
        x.check_exact(arg, "max pool argmax");
        auto dy = x.pair(test::random_values<T>(rows * Lout, 36));
        auto dx = x.pair(test::nan_values<T>(rows * L));
        ops::max_pool_1d_backward(x.cpu, dy.c(), arg.c(), rows, L, Lout, dx.c());
        ops::max_pool_1d_backward(x.gpu, dy.g(), arg.g(), rows, L, Lout, dx.g());
        x.check(dx, Tol<T>::elementwise, "max pool dx");
    }
}

TEST_CASE_TEMPLATE("sum_squares returns the CPU's double", T, float, double) {
    Contexts<T> x;
    for (std::int64_t n : {1, 1000, 3000001}) {
        CAPTURE(n);
        auto in = x.pair(test::random_values<T>(n, 37));
        const double cpu = ops::sum_squares(x.cpu, n, in.c());
        const double gpu = ops::sum_squares(x.gpu, n, in.g());
        CHECK(std::abs(gpu - cpu) <= 1e-10 * cpu);  // double sums of the same terms, in another order
    }
    CHECK(ops::sum_squares(x.gpu, 0, static_cast<const T*>(nullptr)) == 0.0);
}

// --- embedding ----------------------------------------------------------------------------------------------------

TEST_CASE_TEMPLATE("embedding gather counts bad ids and zeroes their rows; scatter-add sums repeats", T, float,
                   double) {
    Contexts<T> x;
    const std::int64_t V = 50, D = 70, n = 333;
    std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
    HostRng rng(38);
    for (auto& id : ids) id = static_cast<std::int32_t>(rng.next() % 8);  // many repeats
    ids[5] = -1;
    ids[100] = static_cast<std::int32_t>(V);
    ids[101] = 1 << 30;
    auto id = x.pair(ids);
    auto table = x.pair(test::random_values<T>(V * D, 39));
    auto out = x.pair(test::nan_values<T>(n * D));
    const auto bad_cpu = ops::embedding_gather(x.cpu, table.c(), V, D, id.c(), n, out.c());
    const auto bad_gpu = ops::embedding_gather(x.gpu, table.g(), V, D, id.g(), n, out.g());
    CHECK(bad_cpu == 3);
    CHECK(bad_gpu == bad_cpu);
    x.check_exact(out, "embedding rows");
    auto dout = x.pair(test::random_values<T>(n * D, 40));
    auto dtable = x.pair(test::random_values<T>(V * D, 41));
    ops::embedding_scatter_add(x.cpu, dout.c(), id.c(), n, V, D, dtable.c());
    ops::embedding_scatter_add(x.gpu, dout.g(), id.g(), n, V, D, dtable.g());
    x.check(dtable, Tol<T>::elementwise, "embedding table gradient (accumulated, the CPU's order)");
}

// --- optimisation -------------------------------------------------------------------------------------------------

TEST_CASE_TEMPLATE("adamw_update: three steps", T, float, double) {
    Contexts<T> x;
    const std::int64_t n = 10007;
    auto p = x.pair(test::random_values<T>(n, 42));
    auto m = x.pair(std::vector<T>(static_cast<std::size_t>(n), T(0)));
    auto v = x.pair(std::vector<T>(static_cast<std::size_t>(n), T(0)));
    for (int t = 1; t <= 3; ++t) {
        auto g = x.pair(test::random_values<T>(n, 43 + static_cast<std::uint64_t>(t)));
        const double lr = 1e-3, b1 = 0.9, b2 = 0.999;
        fn::AdamWStep<T> step{T(1 - lr * 0.01),
                              T(b1),
                              T(1 - b1),
                              T(b2),
                              T(1 - b2),
                              T(-lr / (1 - std::pow(b1, t))),
                              T(std::sqrt(1 - std::pow(b2, t))),
                              T(1e-8)};
        ops::adamw_update(x.cpu, n, step, p.c(), g.c(), m.c(), v.c());
        ops::adamw_update(x.gpu, n, step, p.g(), g.g(), m.g(), v.g());
    }
    x.check(p, Tol<T>::elementwise, "parameters");
    x.check(m, Tol<T>::elementwise, "exp_avg");
    x.check(v, Tol<T>::elementwise, "exp_avg_sq");
}
