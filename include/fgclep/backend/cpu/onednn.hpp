#pragma once
// The oneDNN GEMM engine (CMake option FGCLEP_ONEDNN, which defines FGCLEP_USE_ONEDNN and links libdnnl): float
// GEMMs and strided-batched GEMMs as oneDNN matmul primitives, with fp32 inputs or, for the bf16 matmul precision,
// bf16 inputs and fp32 accumulation (the AVX512_BF16 / AMX kernels where the CPU has them, oneDNN's emulation on
// other AVX-512 CPUs). oneDNN is the library PyTorch's CPU convolutions and bf16 matmuls run on.
//
// A primitive is created once per shape and cached per thread. Leading dimensions, transposes and batch strides
// become memory strides, so nothing is copied in fp32; in bf16 the inputs are first rounded into packed buffers
// (bf16 where the CPU has bf16 kernels, fp32 holding bf16 values where it has not: see native_bf16).
// gemm() returns false when oneDNN cannot run a case (no kernel for this CPU, an unusual layout): the caller then
// uses its portable engine.
#include "fgclep/backend/cpu/bf16.hpp"

#include <dnnl.hpp>

#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace fgclep::cpu::onednn {

// One (possibly batched) GEMM: C_i (M x N) = alpha op(A_i) op(B_i) + beta C_i, row-major, i < batch, matrix i of X
// at X + i * stride_x (stride 0: one matrix shared by every i).
struct GemmShape {
    bool bf16 = false, trans_a = false, trans_b = false;
    std::int64_t M = 0, N = 0, K = 0, lda = 0, ldb = 0, ldc = 0, batch = 1, stride_a = 0, stride_b = 0, stride_c = 0;
    float alpha = 1, beta = 0;
    bool operator==(const GemmShape&) const = default;
};

struct GemmShapeHash {
    std::size_t operator()(const GemmShape& s) const {
        std::size_t h = (std::size_t(s.bf16) << 2) | (std::size_t(s.trans_a) << 1) | std::size_t(s.trans_b);
        for (std::int64_t v : {s.M, s.N, s.K, s.lda, s.ldb, s.ldc, s.batch, s.stride_a, s.stride_b, s.stride_c})
            h = h * 1000003u ^ std::hash<std::int64_t>{}(v);
        h = h * 1000003u ^ std::hash<float>{}(s.alpha);
        return h * 1000003u ^ std::hash<float>{}(s.beta);
    }
};

namespace detail {

inline dnnl::engine& engine() {
    static dnnl::engine e(dnnl::engine::kind::cpu, 0);
    return e;
}

// op(X) is rows x cols; X is stored (trans ? cols x rows : rows x cols) with leading dimension ld.
inline dnnl::memory::desc matrix_desc(dnnl::memory::data_type type, bool batched, std::int64_t batch,
                                      std::int64_t batch_stride, std::int64_t rows, std::int64_t cols, bool trans,
                                      std::int64_t ld) {
    const std::int64_t row_stride = trans ? 1 : ld, col_stride = trans ? ld : 1;
    if (!batched) return dnnl::memory::desc({rows, cols}, type, dnnl::memory::dims{row_stride, col_stride});
    return dnnl::memory::desc({batch, rows, cols}, type, dnnl::memory::dims{batch_stride, row_stride, col_stride});
}

// A matmul primitive with the memory descriptions it was made for.
struct Matmul {
    dnnl::matmul primitive;
    dnnl::memory::desc a, b, c;
};

// The cached primitive for s on `threads` threads, or nullptr when oneDNN has no kernel for it (remembered too).
// With OpenMP, oneDNN requires a primitive to run on as many threads as it was created with: the thread count is
// part of the key, and the primitive is created with OpenMP set to it.
inline const Matmul* primitive(const GemmShape& s, int threads) {
    thread_local std::unordered_map<int, std::unordered_map<GemmShape, Matmul, GemmShapeHash>> caches;
    auto& cache = caches[threads];
    if (auto it = cache.find(s); it != cache.end()) return it->second.primitive ? &it->second : nullptr;
    using dt = dnnl::memory::data_type;
    const dt in = s.bf16 ? dt::bf16 : dt::f32;
    const bool batched = s.batch > 1;
    // A shared matrix (stride 0) is a batch of 1 that oneDNN broadcasts; its batch stride is then irrelevant.
    const std::int64_t batch_a = s.stride_a == 0 ? 1 : s.batch, batch_b = s.stride_b == 0 ? 1 : s.batch;
    const auto a =
        matrix_desc(in, batched, batch_a, s.stride_a == 0 ? s.M * s.K : s.stride_a, s.M, s.K, s.trans_a, s.lda);
    const auto b =
        matrix_desc(in, batched, batch_b, s.stride_b == 0 ? s.K * s.N : s.stride_b, s.K, s.N, s.trans_b, s.ldb);
    const auto c = matrix_desc(dt::f32, batched, s.batch, s.stride_c, s.M, s.N, false, s.ldc);
    dnnl::primitive_attr attr;
    if (s.alpha != 1.0f) attr.set_output_scales(0, {s.alpha});
    if (s.beta != 0.0f) {
        dnnl::post_ops ops;
        ops.append_sum(s.beta);
        attr.set_post_ops(ops);
    }
    Matmul made{{}, a, b, c};
    with_omp_threads(threads, [&] {
        try {
            const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, engine());
            // A reference kernel is far slower than Eigen: not worth running.
            if (std::strncmp(pd.impl_info_str(), "ref", 3) != 0) made.primitive = dnnl::matmul(pd);
        } catch (const dnnl::error&) {
            // unimplemented for this CPU or layout: the caller falls back
        }
    });
    auto [it, inserted] = cache.emplace(s, std::move(made));
    return it->second.primitive ? &it->second : nullptr;
}

// Whether oneDNN has bf16 kernels for this CPU (AVX512_BF16 or AMX). Elsewhere it emulates bf16 more slowly than
// its fp32 kernels run (measured with DNNL_MAX_CPU_ISA=AVX512_CORE: ResNet1D-50 inference 2.26 s/step in bf16
// against 0.95 s in fp32), so bf16 products are then fp32 products of inputs rounded to bf16: the same numbers at
// fp32 speed.
inline bool native_bf16() {
    static const bool native = [] {
        const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
        return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
    }();
    return native;
}

// Rounds each of `count` matrices (rows x cols, leading dimension ld, matrix i at src + i * stride) to bf16 into a
// packed buffer of E (uint16 bf16 bits, or floats holding bf16 values); returns the buffer.
template <class E>
E* pack_rounded_batch(std::vector<E>& buffer, int threads, const float* src, std::int64_t count, std::int64_t stride,
                      std::int64_t rows, std::int64_t cols, std::int64_t ld) {
    const std::int64_t size = rows * cols;
    if (buffer.size() < static_cast<std::size_t>(count * size)) buffer.resize(static_cast<std::size_t>(count * size));
    for (std::int64_t i = 0; i < count; ++i) {
        if constexpr (std::is_same_v<E, std::uint16_t>)
            pack_bf16(threads, src + i * stride, rows, cols, ld, buffer.data() + i * size);
        else
            pack_rounded_to_bf16(threads, src + i * stride, rows, cols, ld, buffer.data() + i * size);
    }
    return buffer.data();
}

}  // namespace detail

// Runs s on A, B, C with `threads` OpenMP threads; false if oneDNN cannot (nothing was written then).
inline bool gemm(int threads, GemmShape s, const float* A, const float* B, float* C) {
    thread_local std::vector<std::uint16_t> bf16_a, bf16_b;
    thread_local std::vector<float> rounded_a, rounded_b;
    const void* a = A;
    const void* b = B;
    if (s.bf16) {
        const std::int64_t lda = s.lda, ldb = s.ldb, stride_a = s.stride_a, stride_b = s.stride_b;
        // The packed copies are op-free row-major matrices as stored (transposes stay strides), one per batch entry.
        const std::int64_t a_rows = s.trans_a ? s.K : s.M, a_cols = s.trans_a ? s.M : s.K;
        const std::int64_t b_rows = s.trans_b ? s.N : s.K, b_cols = s.trans_b ? s.K : s.N;
        const std::int64_t count_a = s.stride_a == 0 ? 1 : s.batch, count_b = s.stride_b == 0 ? 1 : s.batch;
        s.lda = a_cols;
        s.ldb = b_cols;
        s.stride_a = s.stride_a == 0 ? 0 : a_rows * a_cols;
        s.stride_b = s.stride_b == 0 ? 0 : b_rows * b_cols;
        s.bf16 = detail::native_bf16();  // otherwise an fp32 product of the rounded inputs
        if (!detail::primitive(s, threads)) return false;
        if (s.bf16) {
            a = detail::pack_rounded_batch(bf16_a, threads, A, count_a, stride_a, a_rows, a_cols, lda);
            b = detail::pack_rounded_batch(bf16_b, threads, B, count_b, stride_b, b_rows, b_cols, ldb);
        } else {
            a = detail::pack_rounded_batch(rounded_a, threads, A, count_a, stride_a, a_rows, a_cols, lda);
            b = detail::pack_rounded_batch(rounded_b, threads, B, count_b, stride_b, b_rows, b_cols, ldb);
        }
    }
    const detail::Matmul* mm = detail::primitive(s, threads);
    if (!mm) return false;
    auto& eng = detail::engine();
    dnnl::memory ma(mm->a, eng, const_cast<void*>(a)), mb(mm->b, eng, const_cast<void*>(b)), mc(mm->c, eng, C);
    thread_local dnnl::stream stream(eng);
    with_omp_threads(threads, [&] {
        mm->primitive.execute(stream, {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}});
        stream.wait();
    });
    return true;
}

}  // namespace fgclep::cpu::onednn
