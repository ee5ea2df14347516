// The CUDA backend's pure arithmetic, on the CPU (no CUDA needed): the row-major -> cuBLAS GEMM mapping against a
// column-major reference GEMM, the kernels' launch geometry and grid-stride coverage, and the allocator's size
// classes.
#include "fgclep/backend/cuda/mapping.hpp"
#include "fgclep/core/rng.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using namespace fgclep;
using cuda::CublasGemm;

namespace {

// Reference BLAS semantics, column-major: C(m x n) = alpha op(A) op(B) + beta C; beta == 0 does not read C.
void column_major_gemm(bool transa, bool transb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
                       const double* A, std::int64_t lda, const double* B, std::int64_t ldb, double beta, double* C,
                       std::int64_t ldc) {
    for (std::int64_t j = 0; j < n; ++j)
        for (std::int64_t i = 0; i < m; ++i) {
            double acc = 0;
            for (std::int64_t l = 0; l < k; ++l) {
                const double a = transa ? A[l + i * lda] : A[i + l * lda];  // op(A)(i, l)
                const double b = transb ? B[j + l * ldb] : B[l + j * ldb];  // op(B)(l, j)
                acc += a * b;
            }
            double& c = C[i + j * ldc];
            c = alpha * acc + (beta == 0 ? 0.0 : beta * c);
        }
}

// What the row-major primitive must compute, written directly in row-major indices.
void row_major_gemm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, double alpha, const double* A,
                    std::int64_t lda, const double* B, std::int64_t ldb, double beta, double* C, std::int64_t ldc) {
    for (std::int64_t i = 0; i < M; ++i)
        for (std::int64_t j = 0; j < N; ++j) {
            double acc = 0;
            for (std::int64_t l = 0; l < K; ++l) {
                const double a = ta ? A[l * lda + i] : A[i * lda + l];  // op(A)[i][l]
                const double b = tb ? B[j * ldb + l] : B[l * ldb + j];  // op(B)[l][j]
                acc += a * b;
            }
            double& c = C[i * ldc + j];
            c = alpha * acc + (beta == 0 ? 0.0 : beta * c);
        }
}

std::vector<double> random_values(std::size_t n, std::uint64_t seed) {
    HostRng rng(seed);
    std::vector<double> v(n);
    for (auto& x : v) x = rng.uniform(-1, 1);
    return v;
}

// Runs `batch` GEMMs through the mapping (cuBLAS's operands are our B and A) and directly; returns the largest
// difference. Stored matrices get `pad` extra columns beyond their row length (ld = row length + pad).
double mapped_vs_direct(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, std::int64_t pad,
                        std::int64_t batch, bool share_a, double beta) {
    const std::int64_t a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
    const std::int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = N + pad;
    const std::int64_t stride_a = share_a ? 0 : a_rows * lda + 3, stride_b = b_rows * ldb + 5, stride_c = M * ldc + 7;
    const auto A = random_values(static_cast<std::size_t>((share_a ? 1 : batch) * (a_rows * lda + 3)), 1);
    const auto B = random_values(static_cast<std::size_t>(batch * stride_b), 2);
    auto C_mapped = random_values(static_cast<std::size_t>(batch * stride_c), 3);
    if (beta == 0)
        for (auto& c : C_mapped) c = std::numeric_limits<double>::quiet_NaN();  // must never be read
    auto C_direct = C_mapped;

    REQUIRE(cuda::gemm_argument_problem(ta, tb, M, N, K, lda, ldb, ldc, batch) == nullptr);
    const CublasGemm g = cuda::row_major_to_cublas(ta, tb, M, N, K, lda, ldb, ldc, stride_a, stride_b, stride_c);
    const double alpha = 0.75;
    for (std::int64_t i = 0; i < batch; ++i) {
        // cuBLAS's A operand is our B, its B operand our A, with the mapped strides.
        column_major_gemm(g.transa, g.transb, g.m, g.n, g.k, alpha, B.data() + i * g.stride_a, g.lda,
                          A.data() + i * g.stride_b, g.ldb, beta, C_mapped.data() + i * g.stride_c, g.ldc);
        row_major_gemm(ta, tb, M, N, K, alpha, A.data() + i * stride_a, lda, B.data() + i * stride_b, ldb, beta,
                       C_direct.data() + i * stride_c, ldc);
    }
    double worst = 0;
    for (std::size_t i = 0; i < C_mapped.size(); ++i) {
        if (std::isnan(C_mapped[i]) && std::isnan(C_direct[i])) continue;  // padding never written
        worst = std::max(worst, std::abs(C_mapped[i] - C_direct[i]));
        if (std::isnan(C_mapped[i]) || std::isnan(C_direct[i])) return INFINITY;
    }
    return worst;
}

}  // namespace

TEST_CASE("the row-major -> cuBLAS mapping matches a column-major reference GEMM for every transpose combination") {
    for (bool ta : {false, true})
        for (bool tb : {false, true})
            for (std::int64_t pad : {0, 3})
                for (double beta : {0.0, 0.5}) {
                    CAPTURE(ta);
                    CAPTURE(tb);
                    CAPTURE(pad);
                    CAPTURE(beta);
                    CHECK(mapped_vs_direct(ta, tb, 5, 7, 4, pad, 1, false, beta) < 1e-12);
                    CHECK(mapped_vs_direct(ta, tb, 1, 6, 3, pad, 1, false, beta) < 1e-12);  // a row vector
                    CHECK(mapped_vs_direct(ta, tb, 6, 1, 2, pad, 1, false, beta) < 1e-12);  // a column vector
                    CHECK(mapped_vs_direct(ta, tb, 4, 3, 9, pad, 3, false, beta) < 1e-12);  // batched
                    CHECK(mapped_vs_direct(ta, tb, 4, 3, 2, pad, 3, true, beta) < 1e-12);   // shared A (stride 0)
                }
}

TEST_CASE("the mapping swaps operands, sizes, flags, leading dimensions and strides") {
    const CublasGemm g = cuda::row_major_to_cublas(true, false, 2, 3, 4, 10, 20, 30, 100, 200, 300);
    CHECK(g.transa == false);  // cuBLAS's A is our B (not transposed)
    CHECK(g.transb == true);   // cuBLAS's B is our A (transposed)
    CHECK(g.m == 3);
    CHECK(g.n == 2);
    CHECK(g.k == 4);
    CHECK(g.lda == 20);
    CHECK(g.ldb == 10);
    CHECK(g.ldc == 30);
    CHECK(g.stride_a == 200);
    CHECK(g.stride_b == 100);
    CHECK(g.stride_c == 300);
    static_assert(cuda::row_major_to_cublas(false, true, 1, 2, 3, 3, 3, 2).m == 2, "usable at compile time");
}

TEST_CASE("GEMM arguments that cuBLAS would reject are named") {
    using cuda::gemm_argument_problem;
    CHECK(gemm_argument_problem(false, false, 4, 5, 6, 6, 5, 5) == nullptr);
    CHECK(gemm_argument_problem(true, true, 4, 5, 6, 4, 6, 5) == nullptr);
    CHECK(std::string(gemm_argument_problem(false, false, 4, 5, 6, 5, 5, 5)).find("lda") != std::string::npos);
    CHECK(std::string(gemm_argument_problem(true, false, 4, 5, 6, 3, 5, 5)).find("lda") != std::string::npos);
    CHECK(std::string(gemm_argument_problem(false, false, 4, 5, 6, 6, 4, 5)).find("ldb") != std::string::npos);
    CHECK(std::string(gemm_argument_problem(false, true, 4, 5, 6, 6, 5, 5)).find("ldb") != std::string::npos);
    CHECK(std::string(gemm_argument_problem(false, false, 4, 5, 6, 6, 5, 4)).find("ldc") != std::string::npos);
    CHECK(std::string(gemm_argument_problem(false, false, -1, 5, 6, 6, 5, 5)).find("negative") != std::string::npos);
    // Leading dimensions are at least 1 even for a zero-width matrix (cuBLAS rejects 0).
    CHECK(gemm_argument_problem(false, false, 3, 2, 0, 1, 2, 2) == nullptr);
    CHECK(gemm_argument_problem(false, false, 3, 2, 0, 0, 2, 2) != nullptr);
    const std::int64_t big = std::int64_t(1) << 31;
    CHECK(std::string(gemm_argument_problem(false, false, big, 5, 6, 6, 5, 5)).find("32-bit") != std::string::npos);
    CHECK(std::string(gemm_argument_problem(false, false, 4, 5, 6, big, 5, 5)).find("32-bit") != std::string::npos);
    CHECK(gemm_argument_problem(false, false, 4, 5, 6, 6, 5, 5, big - 1) == nullptr);
    CHECK(gemm_argument_problem(false, false, 4, 5, 6, 6, 5, 5, big) != nullptr);
}

namespace {
// Simulates a 1-D grid-stride loop with `launch` over n elements; every index must be visited exactly once.
bool grid_stride_covers_once(const cuda::Launch& launch, std::int64_t n) {
    std::vector<int> visits(static_cast<std::size_t>(n), 0);
    for (std::uint32_t block = 0; block < launch.grid; ++block)
        for (std::uint32_t thread = 0; thread < launch.block; ++thread)
            for (std::int64_t i = cuda::GridStride::first(block, launch.block, thread); i < n;
                 i += cuda::GridStride::step(launch.grid, launch.block))
                ++visits[static_cast<std::size_t>(i)];
    for (int v : visits)
        if (v != 1) return false;
    return true;
}
}  // namespace

TEST_CASE("elementwise launches cover every element once, launch nothing for 0, and cap the grid") {
    using cuda::block_size;
    using cuda::elementwise_launch;
    CHECK(elementwise_launch(0).empty());
    CHECK(elementwise_launch(-3).empty());
    CHECK(elementwise_launch(1).grid == 1);
    CHECK(elementwise_launch(1).block == block_size);
    CHECK(elementwise_launch(256).grid == 1);
    CHECK(elementwise_launch(257).grid == 2);
    CHECK(elementwise_launch(std::int64_t(cuda::max_grid) * block_size).grid == cuda::max_grid);
    CHECK(elementwise_launch(std::int64_t(cuda::max_grid) * block_size + 1).grid == cuda::max_grid);
    // Beyond 2^31 elements (and near INT64_MAX) the grid stays capped; the grid-stride loop does the rest.
    CHECK(elementwise_launch((std::int64_t(1) << 31) + 5).grid == cuda::max_grid);
    CHECK(elementwise_launch(std::numeric_limits<std::int64_t>::max()).grid == cuda::max_grid);
    CHECK(cuda::ceil_div(std::numeric_limits<std::int64_t>::max(), 256) ==
          std::numeric_limits<std::int64_t>::max() / 256 + 1);

    for (std::int64_t n : {1, 7, 255, 256, 257, 1000, 4096, 5003})
        CHECK(grid_stride_covers_once(elementwise_launch(n), n));
    // A capped grid (here 3 blocks) loops: still exactly once.
    for (std::int64_t n : {1, 767, 768, 769, 10000}) CHECK(grid_stride_covers_once(elementwise_launch(n, 3), n));
}

TEST_CASE("grid-stride indices are computed in 64 bits") {
    // Block 2^24 of 256 threads starts at element 2^32: 32-bit arithmetic would wrap to 0.
    CHECK(cuda::GridStride::first(1u << 24, 256, 0) == (std::int64_t(1) << 32));
    CHECK(cuda::GridStride::first(4294967295u, 1024, 1023) == std::int64_t(4294967295) * 1024 + 1023);
    CHECK(cuda::GridStride::step(65536, 256) == std::int64_t(1) << 24);
    CHECK(cuda::GridStride::step(4294967295u, 1024) == std::int64_t(4294967295) * 1024);
}

TEST_CASE("row kernels: one warp or one block per row, grid-stride over rows") {
    using cuda::warp_per_row_launch;
    CHECK(warp_per_row_launch(0).empty());
    CHECK(warp_per_row_launch(1).grid == 1);
    CHECK(warp_per_row_launch(8).grid == 1);
    CHECK(warp_per_row_launch(9).grid == 2);
    CHECK(warp_per_row_launch(std::int64_t(1) << 40).grid == cuda::max_grid);
    CHECK(warp_per_row_launch(5).block == cuda::rows_per_warp_block * cuda::warp_size);
    // Simulate the kernels' warp-row loop: row = block * 8 + warp, step grid * 8.
    for (std::int64_t rows : {1, 8, 9, 100}) {
        for (std::int64_t limit : {std::int64_t(2), cuda::max_grid}) {
            const auto launch = warp_per_row_launch(rows, limit);
            std::vector<int> visits(static_cast<std::size_t>(rows), 0);
            for (std::uint32_t b = 0; b < launch.grid; ++b)
                for (std::uint32_t w = 0; w < cuda::rows_per_warp_block; ++w)
                    for (std::int64_t r = std::int64_t(b) * cuda::rows_per_warp_block + w; r < rows;
                         r += std::int64_t(launch.grid) * cuda::rows_per_warp_block)
                        ++visits[static_cast<std::size_t>(r)];
            for (int v : visits) CHECK(v == 1);
        }
    }
    using cuda::block_per_row_launch;
    CHECK(block_per_row_launch(0).empty());
    CHECK(block_per_row_launch(64).grid == 64);
    CHECK(block_per_row_launch(std::int64_t(1) << 33).grid == cuda::max_grid);
}

TEST_CASE("column reductions split rows into balanced, gap-free chunks") {
    using cuda::chunk_begin;
    using cuda::column_reduce_chunks;
    CHECK(column_reduce_chunks(0) == 1);
    CHECK(column_reduce_chunks(1) == 1);
    CHECK(column_reduce_chunks(512) == 1);
    CHECK(column_reduce_chunks(513) == 2);
    CHECK(column_reduce_chunks(std::int64_t(1) << 40) == cuda::max_column_chunks);
    for (std::int64_t rows : {0, 1, 5, 63, 64, 65, 1000, 4096, 100003}) {
        const std::int64_t chunks = column_reduce_chunks(rows);
        CHECK(chunk_begin(rows, chunks, 0) == 0);
        CHECK(chunk_begin(rows, chunks, chunks) == rows);
        for (std::int64_t c = 0; c < chunks; ++c) {
            const std::int64_t size = chunk_begin(rows, chunks, c + 1) - chunk_begin(rows, chunks, c);
            CHECK(size >= rows / chunks);
            CHECK(size <= rows / chunks + 1);
        }
    }
    // Any chunk count, not only the ones column_reduce_chunks picks.
    for (std::int64_t chunks : {1, 3, 7, 64}) {
        CHECK(chunk_begin(10, chunks, chunks) == 10);
        for (std::int64_t c = 0; c < chunks; ++c) CHECK(chunk_begin(10, chunks, c) <= chunk_begin(10, chunks, c + 1));
    }
}

TEST_CASE("full reductions use a block count that depends only on n") {
    CHECK(cuda::reduction_blocks(0) == 1);
    CHECK(cuda::reduction_blocks(1) == 1);
    CHECK(cuda::reduction_blocks(1024) == 1);
    CHECK(cuda::reduction_blocks(1025) == 2);
    CHECK(cuda::reduction_blocks(std::int64_t(1) << 40) == cuda::max_reduction_blocks);
}

TEST_CASE("caching allocator size classes: at most 25% slack, stable, monotone") {
    using cuda::block_size_class;
    CHECK(block_size_class(0) == 512);
    CHECK(block_size_class(1) == 512);
    CHECK(block_size_class(512) == 512);
    CHECK(block_size_class(513) == 640);
    CHECK(block_size_class(1024) == 1024);
    CHECK(block_size_class(1025) == 1280);
    CHECK(block_size_class(std::size_t(64) << 20) == (std::size_t(64) << 20));
    CHECK(block_size_class((std::size_t(64) << 20) + 1) == (std::size_t(66) << 20));
    CHECK(block_size_class(std::size_t(1) << 30) == (std::size_t(1) << 30));
    std::size_t previous = 0;
    HostRng rng(5);
    std::vector<std::size_t> sizes;
    for (std::size_t b = 1; b < (std::size_t(1) << 28); b = b * 3 / 2 + 1) sizes.push_back(b);
    for (int i = 0; i < 2000; ++i) sizes.push_back(static_cast<std::size_t>(rng.next() % (std::size_t(1) << 31)));
    for (std::size_t bytes : sizes) {
        const std::size_t c = block_size_class(bytes);
        CAPTURE(bytes);
        CHECK(c >= bytes);
        CHECK(c % 128 == 0);
        CHECK(block_size_class(c) == c);  // a class is its own class: cached blocks serve their class exactly
        if (bytes > 512) CHECK(static_cast<double>(c) <= 1.25 * static_cast<double>(bytes) + (2 << 20));
        if (bytes > 512 && bytes <= (std::size_t(64) << 20))
            CHECK(static_cast<double>(c) < 1.25 * static_cast<double>(bytes));
    }
    for (std::size_t bytes = 1; bytes < 100000; bytes += 37) {
        CHECK(block_size_class(bytes) >= previous);
        previous = block_size_class(bytes);
    }
}
