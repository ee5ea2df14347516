// A tiny FgClep<ResNet1D18, Bert, SigmoidLoss, FnmLoss> on Cuda<T> against the same model on Cpu<T>: built from
// the same options and seed (identical parameters, checked), one training step on the same batch (the loss and
// each part, every parameter gradient, the parameters after AdamW, BatchNorm's running statistics), then the
// inference helpers (encode_ecg, encode_text, probability) and the validation loss of the updated models.
// Dropout is 0: the two backends' dropout masks are compared by the layer tests, not here.
#include "cuda/cuda_compare.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using namespace fgclep;
using test::Tol;
using test::Tolerance;

namespace {

template <class B>
using TinyFgClep = FgClep<ResNet1D18, Bert, SigmoidLoss, FnmLoss, B>;

// tests/models/test_fgclep.cpp's tiny model, without dropout.
template <class M>
typename M::Options tiny_options(FnmSource source) {
    typename M::Options o;
    o.ecg.backbone = {.leads = 2, .base_width = 2, .stages = {1, 1}, .input_length = 64};
    o.ecg.head.embed_dim = 8;
    o.ecg.head.num_heads = 2;
    o.ecg.head.output_dim = 8;
    o.text.bert.vocab_size = 30;
    o.text.bert.hidden_size = 8;
    o.text.bert.num_hidden_layers = 1;
    o.text.bert.num_attention_heads = 2;
    o.text.bert.intermediate_size = 16;
    o.text.bert.max_position_embeddings = 16;
    o.text.bert.hidden_dropout_prob = 0;
    o.text.bert.attention_probs_dropout_prob = 0;
    o.text.head = {0, 8, 8};
    o.template loss<FnmLoss>().source = source;
    o.template loss<SigmoidLoss>().logit_scale = 0.5;  // gradients of a useful size (as the CPU gradient check)
    o.template loss<SigmoidLoss>().logit_bias = -1;
    return o;
}

// The batch as host vectors: N noisy two-lead sines of length L, and N token sequences (odd ones padded).
template <class T>
struct HostBatch {
    static constexpr std::int64_t N = 4, leads = 2, L = 64, len = 6;
    std::vector<T> ecg;
    std::vector<std::int32_t> ids, mask;

    HostBatch() {
        HostRng rng(3);
        for (std::int64_t n = 0; n < N; ++n)
            for (std::int64_t c = 0; c < leads; ++c)
                for (std::int64_t l = 0; l < L; ++l)
                    ecg.push_back(static_cast<T>(std::sin(0.1 * static_cast<double>((n + 1) * (c + 1) * l)) +
                                                 0.05 * rng.normal()));
        for (std::int64_t n = 0; n < N; ++n)
            for (std::int64_t l = 0; l < len; ++l) {
                const bool pad = n % 2 == 1 && l == len - 1;
                ids.push_back(pad ? 0 : static_cast<std::int32_t>(l == 0 ? 1 : 2 + (n * 3 + l) % 27));
                mask.push_back(pad ? 0 : 1);
            }
    }
    template <class B>
    PairedBatch<B> on(Context<B>& ctx) const {
        return {ctx.from_host(Shape{N, leads, L}, ecg),
                BertInput<B>{ctx.from_host(Shape{N, len}, ids), ctx.from_host(Shape{N, len}, mask), {}}};
    }
};

void check_scalar(double cpu, double gpu, Tolerance tol, const std::string& what) {
    INFO(what, ": cpu ", cpu, ", cuda ", gpu);
    CHECK(std::abs(gpu - cpu) <= tol.atol + tol.rtol * std::abs(cpu));
}

void check_loss(const LossValue& cpu, const LossValue& gpu, Tolerance tol, const std::string& what) {
    check_scalar(cpu.total, gpu.total, tol, what + " total");
    REQUIRE(cpu.parts.size() == gpu.parts.size());
    for (const auto& [key, value] : cpu.parts) check_scalar(value, gpu.part(key), tol, what + " " + std::string(key));
}

std::vector<double> host_values(const HostMatrix& m) { return {m.data(), m.data() + m.size()}; }

template <class T>
void compare_fgclep_training_step(FnmSource source) {
    using MC = TinyFgClep<Cpu<T>>;
    using MG = TinyFgClep<Cuda<T>>;
    const Tolerance tol = Tol<T>::layer;
    MC cpu(tiny_options<MC>(source), 7);
    MG gpu(tiny_options<MG>(source), 7);
    Context<Cpu<T>> cctx;
    Context<Cuda<T>> gctx;
    cctx.seed = gctx.seed = 2024;

    // Initialisation runs on the host from the seed: both start from the same values.
    REQUIRE(cpu.arena().values().numel() == gpu.arena().values().numel());
    test::check_equal(cctx.to_host(cpu.arena().values()), gctx.to_host(gpu.arena().values()), "initial parameters");
    test::check_equal(cctx.to_host(cpu.arena().buffer_values()), gctx.to_host(gpu.arena().buffer_values()),
                      "initial buffers");

    // A frozen parameter: its gradient stays zero and AdamW leaves it alone, on both.
    cpu.freeze("lm_model.embeddings.token_type_embeddings");
    gpu.freeze("lm_model.embeddings.token_type_embeddings");

    const HostBatch<T> host;
    const auto batch_c = host.on(cctx);
    const auto batch_g = host.on(gctx);

    // AdamW's first step moves each parameter by about lr g / (|g| + eps): eps = 1e-4 keeps gradients that are
    // rounding noise (the attention key biases) from being amplified to lr (see test_cuda_layers.cpp).
    const AdamWOptions adamw{.lr = 1e-2, .eps = 1e-4, .weight_decay = 0.01};
    AdamW<Cpu<T>> opt_cpu(cpu.arena(), adamw);
    AdamW<Cuda<T>> opt_gpu(gpu.arena(), adamw);

    LossValue loss_c, loss_g;
    {
        // New tensors start as NaN during the step: an element a CUDA kernel forgets to write shows up.
        cctx.fill_new_tensors = gctx.fill_new_tensors = std::numeric_limits<double>::quiet_NaN();
        cpu.zero_grad(cctx);
        gpu.zero_grad(gctx);
        loss_c = cpu.compute_gradients(cctx, batch_c);
        loss_g = gpu.compute_gradients(gctx, batch_g);
        cctx.fill_new_tensors.reset();
        gctx.fill_new_tensors.reset();
    }
    check_loss(loss_c, loss_g, tol, "training loss");
    CHECK(loss_c.parts.size() == 2);
    CHECK(std::isfinite(loss_c.total));

    // Every parameter's gradient, named.
    const auto gc = cctx.to_host(cpu.arena().grads()), gg = gctx.to_host(gpu.arena().grads());
    REQUIRE(gc.size() == gg.size());
    std::size_t nonzero = 0;
    for (const auto& e : cpu.arena().params()) {
        const auto begin = static_cast<std::size_t>(e.offset), end = begin + static_cast<std::size_t>(e.numel());
        const std::vector<T> c(gc.begin() + begin, gc.begin() + end), g(gg.begin() + begin, gg.begin() + end);
        test::check_close(c, g, tol, "gradient of " + e.name);
        if (!e.param->trainable) test::check_equal(std::vector<T>(c.size(), T(0)), g, "gradient of frozen " + e.name);
        for (const T v : c) nonzero += v != T(0);
    }
    CHECK(nonzero > gc.size() / 2);  // the comparison is not of zeros

    opt_cpu.step(cctx);
    opt_gpu.step(gctx);
    test::check_close(cctx.to_host(cpu.arena().values()), gctx.to_host(gpu.arena().values()), tol,
                      "parameters after the AdamW step");
    test::check_close(cctx.to_host(opt_cpu.exp_avg()), gctx.to_host(opt_gpu.exp_avg()), tol, "exp_avg");
    test::check_close(cctx.to_host(opt_cpu.exp_avg_sq()), gctx.to_host(opt_gpu.exp_avg_sq()), tol, "exp_avg_sq");
    test::check_close(cctx.to_host(cpu.arena().buffer_values()), gctx.to_host(gpu.arena().buffer_values()), tol,
                      "buffers after the step (BatchNorm running statistics)");
    for (std::size_t i = 0; i < cpu.arena().counters().size(); ++i)
        CHECK(cpu.arena().counters()[i].counter->value == gpu.arena().counters()[i].counter->value);

    // The updated models in inference: embeddings, calibrated probabilities, the validation loss.
    const auto ec = cpu.encode_ecg(cctx, batch_c.ecg);
    const auto eg = gpu.encode_ecg(gctx, batch_g.ecg);
    REQUIRE(ec.shape() == eg.shape());
    test::check_close(cctx.to_host(ec), gctx.to_host(eg), tol, "encode_ecg");
    const auto tc = cpu.encode_text(cctx, batch_c.text);
    const auto tg = gpu.encode_text(gctx, batch_g.text);
    REQUIRE(tc.shape() == tg.shape());
    test::check_close(cctx.to_host(tc), gctx.to_host(tg), tol, "encode_text");
    const MatchCalibration cal_c = cpu.calibration(cctx), cal_g = gpu.calibration(gctx);
    check_scalar(cal_c.scale, cal_g.scale, tol, "calibration scale");
    check_scalar(cal_c.bias, cal_g.bias, tol, "calibration bias");
    test::check_close(host_values(cpu.probability(cctx, ec, tc)), host_values(gpu.probability(gctx, eg, tg)), tol,
                      "probability");
    check_loss(cpu.evaluate_loss(cctx, batch_c), gpu.evaluate_loss(gctx, batch_g), tol, "validation loss");
}

}  // namespace

TEST_CASE_TEMPLATE("FgClep: one training step agrees on CPU and CUDA (FNM similarity from the projections)", T, float,
                   double) {
    compare_fgclep_training_step<T>(FnmSource::projected);
}

TEST_CASE_TEMPLATE("FgClep: one training step agrees on CPU and CUDA (FNM similarity from the pooled features)", T,
                   float, double) {
    compare_fgclep_training_step<T>(FnmSource::features);
}
