#pragma once
// The pure arithmetic of the CUDA backend, kept free of CUDA so that the CPU tests check it
// (tests/cuda/test_mapping.cpp): how a row-major GEMM becomes a cuBLAS (column-major) call, how many blocks and
// threads each kind of kernel launches, and the size classes of the caching allocator.
//
// Functions are FGCLEP_HD constexpr: the kernels use the grid-stride helpers on the device, the backend's host
// code the rest.
#include "fgclep/core/platform.hpp"

#include <cstddef>
#include <cstdint>

namespace fgclep::cuda {

// --- GEMM: row-major -> column-major ---------------------------------------------------------------------------
//
// A row-major matrix with leading dimension ld is, read column-major with the same ld, its transpose. So the
// row-major product C = op(A) op(B) (C is M x N) is the column-major product C^T = op(B)^T op(A)^T (C^T is N x M):
// cuBLAS gets the operands swapped (its A is our B), m and n swapped, the transpose flags and leading
// dimensions carried along with their operands, and the same ldc. Nothing is copied or transposed in memory.
struct CublasGemm {
    bool transa = false, transb = false;  // cuBLAS's op flags: true means CUBLAS_OP_T
    std::int64_t m = 0, n = 0, k = 0;
    // cuBLAS's A operand is the caller's B, cuBLAS's B operand is the caller's A.
    std::int64_t lda = 0, ldb = 0, ldc = 0;
    std::int64_t stride_a = 0, stride_b = 0, stride_c = 0;
};

FGCLEP_HD constexpr CublasGemm row_major_to_cublas(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N,
                                                   std::int64_t K, std::int64_t lda, std::int64_t ldb, std::int64_t ldc,
                                                   std::int64_t stride_a = 0, std::int64_t stride_b = 0,
                                                   std::int64_t stride_c = 0) {
    CublasGemm g;
    g.transa = trans_b;
    g.transb = trans_a;
    g.m = N;
    g.n = M;
    g.k = K;
    g.lda = ldb;
    g.ldb = lda;
    g.ldc = ldc;
    g.stride_a = stride_b;
    g.stride_b = stride_a;
    g.stride_c = stride_c;
    return g;
}

inline constexpr std::int64_t cublas_int_max = 2147483647;  // cuBLAS's classic API takes int sizes

// Why a row-major GEMM's arguments cannot go to cuBLAS, or nullptr when they can. Leading dimensions must be at
// least the stored row length (and at least 1, as cuBLAS requires even for empty matrices), and every size must
// fit cuBLAS's int. Callers return early for M == 0, N == 0 or batch == 0 before asking.
constexpr const char* gemm_argument_problem(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                                            std::int64_t lda, std::int64_t ldb, std::int64_t ldc,
                                            std::int64_t batch = 1) {
    if (M < 0 || N < 0 || K < 0 || batch < 0) return "a negative size (M, N, K or batch)";
    const std::int64_t a_row = trans_a ? M : K, b_row = trans_b ? K : N;
    if (lda < (a_row > 1 ? a_row : 1)) return "lda smaller than the row length of the stored A";
    if (ldb < (b_row > 1 ? b_row : 1)) return "ldb smaller than the row length of the stored B";
    if (ldc < (N > 1 ? N : 1)) return "ldc smaller than N";
    if (M > cublas_int_max || N > cublas_int_max || K > cublas_int_max || lda > cublas_int_max ||
        ldb > cublas_int_max || ldc > cublas_int_max || batch > cublas_int_max)
        return "a size or leading dimension above cuBLAS's 32-bit int limit";
    return nullptr;
}

// --- Launch geometry --------------------------------------------------------------------------------------------

inline constexpr std::uint32_t warp_size = 32;
inline constexpr std::uint32_t block_size = 256;  // threads per block of every kernel but the column reductions
// Grid-stride kernels launch at most this many blocks (65536 x 256 threads) and loop over the rest, so element
// counts above 2^31 need no special case. (CUDA allows 2^31 - 1 blocks in x; fewer, longer-lived threads are
// as fast for memory-bound loops.)
// (FGCLEP_CUDA_MAX_GRID overrides it for the host emulation of the tests, whose blocks are 256 OS threads each, so
// that its grid-stride tests wrap with thousands of elements instead of millions.)
#if !defined(FGCLEP_CUDA_MAX_GRID)
#define FGCLEP_CUDA_MAX_GRID 65536
#endif
inline constexpr std::int64_t max_grid = FGCLEP_CUDA_MAX_GRID;

struct Launch {
    std::uint32_t grid = 0;  // 0: nothing to do, do not launch (a zero-block launch is an error)
    std::uint32_t block = 0;
    constexpr bool empty() const { return grid == 0; }
};

// ceil(n / d) for n >= 0, d > 0, without overflowing near INT64_MAX.
FGCLEP_HD constexpr std::int64_t ceil_div(std::int64_t n, std::int64_t d) { return n <= 0 ? 0 : (n - 1) / d + 1; }

FGCLEP_HD constexpr std::int64_t clamp_grid(std::int64_t blocks, std::int64_t limit = max_grid) {
    return blocks < limit ? blocks : limit;
}

// One thread per element, grid-stride: for n elements.
constexpr Launch elementwise_launch(std::int64_t n, std::int64_t limit = max_grid) {
    return {static_cast<std::uint32_t>(clamp_grid(ceil_div(n, block_size), limit)), block_size};
}

// One warp per row (8 rows per block), grid-stride over rows: softmax, layer norm, row means.
inline constexpr std::uint32_t rows_per_warp_block = block_size / warp_size;
constexpr Launch warp_per_row_launch(std::int64_t rows, std::int64_t limit = max_grid) {
    return {static_cast<std::uint32_t>(clamp_grid(ceil_div(rows, rows_per_warp_block), limit)), block_size};
}

// One block per row (channel), grid-stride over rows: batch norm and per-channel sums, where a row is long.
constexpr Launch block_per_row_launch(std::int64_t rows, std::int64_t limit = max_grid) {
    return {static_cast<std::uint32_t>(clamp_grid(rows > 0 ? rows : 0, limit)), block_size};
}

// Column sums of a (rows, cols) matrix in two deterministic stages: blocks of 32 columns x 8 row lanes, the rows
// split into `chunks` contiguous ranges (grid.y), each writing double partial sums; then one thread per column
// adds the chunks in order. Enough chunks to fill the GPU for long matrices, at most 64 (grid.y <= 65535).
inline constexpr std::uint32_t column_tile = 32, column_lanes = 8;
inline constexpr std::int64_t rows_per_column_chunk = 512, max_column_chunks = 64;
FGCLEP_HD constexpr std::int64_t column_reduce_chunks(std::int64_t rows) {
    const std::int64_t c = ceil_div(rows, rows_per_column_chunk);
    return c < 1 ? 1 : (c > max_column_chunks ? max_column_chunks : c);
}
// Rows [begin, end) of chunk `chunk` out of `chunks`: a balanced, gap-free partition of [0, rows).
FGCLEP_HD constexpr std::int64_t chunk_begin(std::int64_t rows, std::int64_t chunks, std::int64_t chunk) {
    return rows / chunks * chunk + (chunk < rows % chunks ? chunk : rows % chunks);
}

// A full reduction (sum of squares) in two deterministic stages: at most this many blocks write partial sums,
// one block adds them. The count depends only on n, never on the device, so results repeat across GPUs.
inline constexpr std::int64_t max_reduction_blocks = 1024;
FGCLEP_HD constexpr std::int64_t reduction_blocks(std::int64_t n) {
    const std::int64_t b = ceil_div(n, std::int64_t(block_size) * 4);
    return b < 1 ? 1 : (b > max_reduction_blocks ? max_reduction_blocks : b);
}

// The grid-stride loop every elementwise kernel runs, computed in 64 bits (blockIdx.x * blockDim.x overflows 32
// bits beyond 2^32 elements):
//     for (i = GridStride::first(blockIdx.x, blockDim.x, threadIdx.x); i < n;
//          i += GridStride::step(gridDim.x, blockDim.x))
struct GridStride {
    FGCLEP_HD static constexpr std::int64_t first(std::uint32_t block_index, std::uint32_t block_dim,
                                                  std::uint32_t thread_index) {
        return static_cast<std::int64_t>(block_index) * block_dim + thread_index;
    }
    FGCLEP_HD static constexpr std::int64_t step(std::uint32_t grid_dim, std::uint32_t block_dim) {
        return static_cast<std::int64_t>(grid_dim) * block_dim;
    }
};

// --- Caching allocator size classes -------------------------------------------------------------------------------
//
// Blocks are cached by exact size class, so a freed block serves any later request of its class. Classes are
// 512 bytes at least, then four per power of two (2^k, 1.25, 1.5, 1.75 x 2^k: at most 25% slack), and
// multiples of 2 MiB above 64 MiB (where 25% would waste too much). Each block is its own cudaMalloc, so its
// start is 256-byte aligned whatever its class.
inline constexpr std::size_t min_block_bytes = 512;
inline constexpr std::size_t large_block_bytes = std::size_t(64) << 20;
inline constexpr std::size_t large_block_granularity = std::size_t(2) << 20;
constexpr std::size_t block_size_class(std::size_t bytes) {
    if (bytes <= min_block_bytes) return min_block_bytes;
    if (bytes > large_block_bytes)
        return (bytes + large_block_granularity - 1) / large_block_granularity * large_block_granularity;
    std::size_t base = min_block_bytes;
    while (base * 2 <= bytes) base *= 2;  // the largest power of two <= bytes (bytes <= 64 MiB: a few steps)
    const std::size_t step = base / 4;
    return base + (bytes - base + step - 1) / step * step;
}

}  // namespace fgclep::cuda
