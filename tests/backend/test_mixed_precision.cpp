// The bf16 matmul precision (core/matmul_precision.hpp): bf16 rounding, every GEMM engine against a double
// reference of the rounded inputs, every layer's bf16 forward and backward against fp32 within the documented
// tolerances, and a bf16 training run that follows fp32's loss curve.
#include "fixture.hpp"

#include "fgclep/backend/cpu/gemm.hpp"
#include "fgclep/loss/fnm.hpp"
#include "fgclep/loss/sigmoid.hpp"
#include "fgclep/models/bert.hpp"
#include "fgclep/models/fgclep.hpp"
#include "fgclep/models/resnet1d.hpp"
#include "fgclep/nn/activation.hpp"
#include "fgclep/nn/attention.hpp"
#include "fgclep/nn/batchnorm1d.hpp"
#include "fgclep/nn/conv1d.hpp"
#include "fgclep/nn/layernorm.hpp"
#include "fgclep/nn/linear.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>

using namespace fgclep;

namespace {

std::vector<float> random_vector(std::size_t n, std::uint64_t seed) {
    HostRng rng(seed);
    std::vector<float> v(n);
    for (auto& x : v) x = static_cast<float>(rng.normal());
    return v;
}

double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double diff = 0, norm = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff += (double(a[i]) - double(b[i])) * (double(a[i]) - double(b[i]));
        norm += double(b[i]) * double(b[i]);
    }
    return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

// C = alpha op(A) op(B) + beta C in double, on A and B as given (row-major, leading dimensions).
void reference_gemm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, double alpha,
                    const std::vector<float>& A, std::int64_t lda, const std::vector<float>& B, std::int64_t ldb,
                    double beta, std::vector<double>& C, std::int64_t ldc, bool round) {
    auto in = [&](float x) { return round ? double(cpu::round_to_bf16(x)) : double(x); };
    for (std::int64_t m = 0; m < M; ++m)
        for (std::int64_t n = 0; n < N; ++n) {
            double s = 0;
            for (std::int64_t k = 0; k < K; ++k)
                s += in(ta ? A[k * lda + m] : A[m * lda + k]) * in(tb ? B[n * ldb + k] : B[k * ldb + n]);
            C[m * ldc + n] = alpha * s + (beta == 0 ? 0.0 : beta * C[m * ldc + n]);
        }
}

using Engine = std::function<void(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*,
                                  std::int64_t, const float*, std::int64_t, float, float*, std::int64_t)>;

// Runs `engine` on awkward shapes (odd sizes, padded leading dimensions, every transpose, alpha and beta) and
// returns the largest error against the double reference, relative to the largest reference entry.
double worst_gemm_error(const Engine& engine, bool bf16) {
    double worst = 0;
    const std::int64_t M = 37, N = 53, K = 131;  // 37 * 53 * 131 = 256,891 multiply-adds: oneDNN's range too
    for (bool ta : {false, true})
        for (bool tb : {false, true})
            for (float beta : {0.0f, 1.5f}) {
                const std::int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
                const auto A = random_vector(static_cast<std::size_t>((ta ? K : M) * lda), 1);
                const auto B = random_vector(static_cast<std::size_t>((tb ? N : K) * ldb), 2);
                auto C = random_vector(static_cast<std::size_t>(M * ldc), 3);
                // beta = 0 must not read C: a NaN there must not reach the result.
                if (beta == 0) std::fill(C.begin(), C.end(), std::numeric_limits<float>::quiet_NaN());
                std::vector<double> ref(C.begin(), C.end());
                reference_gemm(ta, tb, M, N, K, 0.5, A, lda, B, ldb, beta, ref, ldc, bf16);
                engine(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
                double scale = 0, err = 0;
                for (std::int64_t m = 0; m < M; ++m)
                    for (std::int64_t n = 0; n < N; ++n) {
                        scale = std::max(scale, std::abs(ref[m * ldc + n]));
                        err = std::max(err, std::abs(double(C[m * ldc + n]) - ref[m * ldc + n]));
                        if (!std::isfinite(C[m * ldc + n])) err = std::numeric_limits<double>::infinity();
                    }
                worst = std::max(worst, err / scale);
            }
    return worst;
}

#if defined(FGCLEP_USE_ONEDNN)
// oneDNN called directly (the dispatcher would fall back to Eigen if it refused): it must take every case.
Engine onednn_engine(bool bf16) {
    return [bf16](bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A,
                  std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
        REQUIRE(cpu::onednn::gemm(2, {bf16, ta, tb, M, N, K, lda, ldb, ldc, 1, 0, 0, 0, alpha, beta}, A, B, C));
    };
}
#endif

}  // namespace

TEST_CASE("bf16 rounding is round to nearest, ties to even, as PyTorch rounds") {
    CHECK(cpu::to_bf16_bits(1.0f) == 0x3f80);
    CHECK(cpu::to_bf16_bits(-2.0f) == 0xc000);
    // 1 + 2^-8 lies halfway between 1 and the next bf16 (1 + 2^-7): ties go to the even mantissa, 1.
    CHECK(cpu::to_bf16_bits(1.0f + 0x1p-8f) == 0x3f80);
    // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): up.
    CHECK(cpu::to_bf16_bits(1.0f + 3 * 0x1p-8f) == 0x3f82);
    CHECK(cpu::to_bf16_bits(1.0f + 0x1p-8f + 0x1p-20f) == 0x3f81);  // above halfway: up
    CHECK(cpu::to_bf16_bits(std::numeric_limits<float>::infinity()) == 0x7f80);
    CHECK(cpu::to_bf16_bits(std::numeric_limits<float>::max()) == 0x7f80);  // overflows to infinity, as in PyTorch
    CHECK(std::isnan(cpu::round_to_bf16(std::numeric_limits<float>::quiet_NaN())));
    CHECK(std::isnan(cpu::from_bf16_bits(cpu::to_bf16_bits(-std::numeric_limits<float>::quiet_NaN()))));
    CHECK(cpu::round_to_bf16(3.140625f) == 3.140625f);  // exactly representable: unchanged

    // The packing loop (vectorised where the build targets AVX512_BF16) rounds as the scalar code does.
    const auto x = random_vector(1000, 4);
    std::vector<std::uint16_t> packed(10 * 97);
    cpu::pack_bf16(2, x.data(), 10, 97, 100, packed.data());
    for (int r = 0; r < 10; ++r)
        for (int c = 0; c < 97; ++c) REQUIRE(packed[r * 97 + c] == cpu::to_bf16_bits(x[r * 100 + c]));
}

TEST_CASE("bf16 GEMMs compute the products of the bf16-rounded inputs, accumulated in fp32, on every engine") {
    // fp32 accumulation of K = 131 products: errors of a few 1e-7 relative; a product of unrounded inputs would
    // be off by ~1e-3 (bf16 keeps 8 significant bits), so the bound tells rounding done from rounding skipped.
    const Engine dispatched = [](auto... a) { cpu::gemm(2, MatmulPrecision::bf16, a...); };
    const Engine emulated = [](auto... a) { cpu::detail::gemm_bf16_emulated(2, a...); };
    CHECK(worst_gemm_error(dispatched, true) < 2e-6);
    CHECK(worst_gemm_error(emulated, true) < 2e-6);
    CHECK(worst_gemm_error(dispatched, false) > 1e-4);  // it did round
#if defined(FGCLEP_USE_ONEDNN)
    CHECK(worst_gemm_error(onednn_engine(true), true) < 2e-6);
#endif
}

TEST_CASE("fp32 GEMMs are exact fp32 on every engine") {
    const Engine dispatched = [](auto... a) { cpu::gemm(2, MatmulPrecision::fp32, a...); };
    const Engine eigen = [](auto... a) { cpu::detail::gemm_eigen<float>(a...); };
    CHECK(worst_gemm_error(dispatched, false) < 2e-6);
    CHECK(worst_gemm_error(eigen, false) < 2e-6);
#if defined(FGCLEP_USE_ONEDNN)
    CHECK(worst_gemm_error(onednn_engine(false), false) < 2e-6);
#endif
}

TEST_CASE("strided-batched GEMMs, shared or strided operands, in both precisions") {
    const std::int64_t M = 24, N = 70, K = 40, batch = 5;
    for (MatmulPrecision precision : {MatmulPrecision::fp32, MatmulPrecision::bf16})
        for (bool ta : {false, true})
            for (bool tb : {false, true})
                for (std::int64_t shared_a : {0, 1}) {
                    CAPTURE(to_string(precision));
                    CAPTURE(ta);
                    CAPTURE(tb);
                    CAPTURE(shared_a);
                    const std::int64_t lda = ta ? M : K, ldb = tb ? K : N, ldc = N;
                    const std::int64_t stride_a = shared_a ? 0 : M * K + 7, stride_b = K * N + 3, stride_c = M * N + 1;
                    const auto A = random_vector(static_cast<std::size_t>(M * K + 7) * batch, 5);
                    const auto B = random_vector(static_cast<std::size_t>(K * N + 3) * batch, 6);
                    auto C = random_vector(static_cast<std::size_t>(stride_c * batch), 7);
                    std::vector<double> ref(C.begin(), C.end());
                    for (std::int64_t i = 0; i < batch; ++i) {
                        std::vector<float> a(A.begin() + i * stride_a, A.begin() + i * stride_a + M * K);
                        std::vector<float> b(B.begin() + i * stride_b, B.begin() + i * stride_b + K * N);
                        std::vector<double> c(ref.begin() + i * stride_c, ref.begin() + i * stride_c + M * N);
                        reference_gemm(ta, tb, M, N, K, 1.0, a, lda, b, ldb, 1.0, c, ldc,
                                       precision == MatmulPrecision::bf16);
                        std::copy(c.begin(), c.end(), ref.begin() + i * stride_c);
                    }
                    cpu::gemm_strided_batched(2, precision, ta, tb, M, N, K, 1.0f, A.data(), lda, stride_a, B.data(),
                                              ldb, stride_b, 1.0f, C.data(), ldc, stride_c, batch);
                    double worst = 0;
                    for (std::size_t j = 0; j < C.size(); ++j)
                        worst = std::max(worst, std::abs(double(C[j]) - ref[j]) / (1 + std::abs(ref[j])));
                    CHECK(worst < 5e-6);
                }
}

namespace {

// Two identical copies of a layer (same options, same seed), one run with fp32 products, one with bf16: returns
// the relative errors of bf16 against fp32 for the output, the input gradient and the parameter gradients.
struct PrecisionGap {
    double output = 0, input_grad = 0, param_grad = 0;
};

template <class Spec, class Run>
PrecisionGap precision_gap(const typename Spec::Options& options, Shape input_shape, Run run) {
    using B = Cpu<float>;
    PrecisionGap gap;
    std::vector<float> out[2], dx[2], grads[2];
    for (int bf16 = 0; bf16 < 2; ++bf16) {
        Context<B> ctx(B::State{2, bf16 ? MatmulPrecision::bf16 : MatmulPrecision::fp32});
        ctx.training = true;
        Model<Spec, B> model(options, 7);
        model.zero_grad(ctx);
        const auto x = ctx.from_host(input_shape, random_vector(static_cast<std::size_t>(input_shape.numel()), 8));
        const Tensor<B> y = run(model, ctx, x);
        const auto dy = ctx.from_host(y.shape(), random_vector(static_cast<std::size_t>(y.numel()), 9));
        out[bf16] = ctx.to_host(y);
        dx[bf16] = ctx.to_host(model.backward(ctx, dy));
        grads[bf16] = ctx.to_host(model.arena().grads());
    }
    return {relative_error(out[1], out[0]), relative_error(dx[1], dx[0]), relative_error(grads[1], grads[0])};
}

auto plain = [](auto& model, auto& ctx, const auto& x) { return model.forward(ctx, x); };

// The documented tolerances (docs/performance.md#bf16-mixed-precision): bf16 keeps 8 significant bits, a relative
// rounding error of at most 2^-9 = 0.2% per input; through a layer's products the output and its gradients stay
// within 1% (relative Frobenius norm) of fp32, and through a block of layers within 3%. Training-mode BatchNorm's
// backward subtracts the batch means of its gradient, a cancellation that magnifies relative errors: a block with
// BatchNorm stays within 10%.
constexpr double layer_tolerance = 1e-2, block_tolerance = 3e-2, batchnorm_block_tolerance = 1e-1;

void check_layer(const PrecisionGap& gap, double tolerance, double acted = 1e-4) {
    CHECK(gap.output < tolerance);
    CHECK(gap.input_grad < tolerance);
    CHECK(gap.param_grad < tolerance);
    // ... and bf16 did act: a layer with products differs from fp32 by far more than fp32 rounding.
    CHECK(gap.output > acted);
    CHECK(gap.input_grad > acted);
}

}  // namespace

TEST_CASE("every layer with matrix products, in bf16, stays within the documented tolerance of fp32") {
    SUBCASE("Linear") { check_layer(precision_gap<Linear>({96, 80}, Shape{6, 32, 96}, plain), layer_tolerance); }
    SUBCASE("Conv1d, 7 taps, stride 2 (im2col)") {
        check_layer(precision_gap<Conv1d>({12, 32, 7, 2, 3}, Shape{4, 12, 300}, plain), layer_tolerance);
    }
    SUBCASE("Conv1d, pointwise (plain GEMM)") {
        check_layer(precision_gap<Conv1d>({64, 48, 1}, Shape{4, 64, 150}, plain), layer_tolerance);
    }
    SUBCASE("MultiHeadSelfAttention with a padding mask") {
        check_layer(precision_gap<MultiHeadSelfAttention>({.embed_dim = 64, .num_heads = 4}, Shape{3, 20, 64},
                                                          [](auto& model, auto& ctx, const auto& x) {
                                                              std::vector<std::int32_t> mask(60, 1);
                                                              mask[59] = mask[58] = 0;
                                                              const auto m = ctx.from_host(Shape{3, 20}, mask);
                                                              return model.module().forward(ctx, x, &m);
                                                          }),
                    layer_tolerance);
    }
    SUBCASE("Bottleneck (three convolutions, BatchNorm, shortcut)") {
        check_layer(precision_gap<Bottleneck>({.in_channels = 32, .width = 16, .stride = 2}, Shape{4, 32, 120}, plain),
                    batchnorm_block_tolerance);
    }
    SUBCASE("BertLayer (attention, feed-forward, two LayerNorms)") {
        BertConfig c;
        c.hidden_size = 64;
        c.num_attention_heads = 4;
        c.intermediate_size = 128;
        c.hidden_dropout_prob = c.attention_probs_dropout_prob = 0;
        // The residual carries the input past both sublayers, so bf16 moves the output less than in one layer.
        check_layer(precision_gap<BertLayer>(c, Shape{3, 16, 64}, plain), block_tolerance, 1e-5);
    }
}

TEST_CASE("layers without matrix products are bit-identical in bf16 and fp32") {
    auto same = [](const PrecisionGap& gap) {
        CHECK(gap.output == 0);
        CHECK(gap.input_grad == 0);
        CHECK(gap.param_grad == 0);
    };
    same(precision_gap<LayerNorm>({64}, Shape{4, 10, 64}, plain));
    same(precision_gap<BatchNorm1d>({16}, Shape{4, 16, 50}, plain));
    same(precision_gap<GELU>({}, Shape{4, 16, 50}, plain));
}

TEST_CASE("a small FgClep trained in bf16 follows fp32's loss curve") {
    using B = Cpu<float>;
    using M = FgClep<ResNet1D18, Bert, SigmoidLoss, FnmLoss>;
    M::Options o;
    o.ecg.backbone = {.leads = 2, .base_width = 16, .stages = {1, 1}, .input_length = 256};
    o.ecg.head.embed_dim = 32;
    o.ecg.head.num_heads = 2;
    o.ecg.head.output_dim = 32;
    o.text.bert.vocab_size = 40;
    o.text.bert.hidden_size = 64;
    o.text.bert.num_hidden_layers = 2;
    o.text.bert.num_attention_heads = 4;
    o.text.bert.intermediate_size = 128;
    o.text.bert.max_position_embeddings = 16;
    o.text.bert.hidden_dropout_prob = o.text.bert.attention_probs_dropout_prob = 0;
    o.text.head = {0, 64, 32};
    o.loss<SigmoidLoss>().logit_scale = std::log(30.0);
    const std::int64_t N = 16, L = 256, len = 8;
    std::vector<float> ecg(static_cast<std::size_t>(N * 2 * L));
    HostRng rng(3);
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t i = 0; i < 2 * L; ++i)
            ecg[static_cast<std::size_t>(n * 2 * L + i)] =
                static_cast<float>(std::sin(0.05 * double((n + 1) * (i % L))) + 0.1 * rng.normal());
    std::vector<std::int32_t> ids, mask(static_cast<std::size_t>(N * len), 1);
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t l = 0; l < len; ++l)
            ids.push_back(static_cast<std::int32_t>(l == 0 ? 1 : 2 + (n * 5 + l) % 38));

    std::vector<double> curve[2];
    for (int bf16 = 0; bf16 < 2; ++bf16) {
        Context<B> ctx(B::State{2, bf16 ? MatmulPrecision::bf16 : MatmulPrecision::fp32});
        const PairedBatch<B> batch{
            ctx.from_host(Shape{N, 2, L}, ecg),
            BertInput<B>{ctx.from_host(Shape{N, len}, ids), ctx.from_host(Shape{N, len}, mask), {}}};
        M model(o, 11);
        AdamW<B> optimizer(model.arena(), {.lr = 1e-3, .weight_decay = 0});
        for (int step = 0; step < 60; ++step)
            curve[bf16].push_back(model.train_step(ctx, batch, optimizer, 1e-3).total);
    }
    MESSAGE("loss fp32 ", curve[0].front(), " -> ", curve[0].back(), ", bf16 ", curve[1].front(), " -> ",
            curve[1].back());
    CHECK(curve[0].back() < 0.5 * curve[0].front());  // it learns, so the comparison means something
    // Every step within 5% of fp32's loss (plus 0.02 absolute, for losses near zero).
    for (std::size_t s = 0; s < curve[0].size(); ++s) {
        CAPTURE(s);
        CHECK(std::abs(curve[1][s] - curve[0][s]) <= 0.05 * curve[0][s] + 0.02);
    }
}
