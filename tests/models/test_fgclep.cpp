// FgClep: composition and names, the default spelling, inference helpers, the end-to-end gradient check in double,
// and a tiny model overfitting a small batch of pairs.
#include "fixture.hpp"

#include "fgclep/loss/fnm.hpp"
#include "fgclep/loss/infonce.hpp"
#include "fgclep/loss/sigmoid.hpp"
#include "fgclep/models/fgclep.hpp"
#include "fgclep/optim/schedule.hpp"
#include "fgclep/testing/gradcheck.hpp"

#include <doctest/doctest.h>

using namespace fgclep;

namespace {

template <class M>
typename M::Options tiny_options(double dropout = 0.0, std::int64_t dim = 8) {
    typename M::Options o;
    o.ecg.backbone = {.leads = 2, .base_width = 2, .stages = {1, 1}, .input_length = 64};
    o.ecg.head.embed_dim = 8;
    o.ecg.head.num_heads = 2;
    o.ecg.head.output_dim = dim;
    o.text.bert.vocab_size = 30;
    o.text.bert.hidden_size = 8;
    o.text.bert.num_hidden_layers = 1;
    o.text.bert.num_attention_heads = 2;
    o.text.bert.intermediate_size = 16;
    o.text.bert.max_position_embeddings = 16;
    o.text.bert.hidden_dropout_prob = dropout;
    o.text.bert.attention_probs_dropout_prob = dropout;
    o.text.head = {0, 8, dim};
    return o;
}

// N pairs: ECG i is a noisy sine of frequency i+1 on both leads, report i is a distinct token sequence.
template <class B>
PairedBatch<B> tiny_batch(Context<B>& ctx, std::int64_t N, std::int64_t L = 64, std::uint64_t seed = 3) {
    using T = typename B::value_type;
    std::vector<T> ecg(static_cast<std::size_t>(N * 2 * L));
    HostRng rng(seed);
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t c = 0; c < 2; ++c)
            for (std::int64_t l = 0; l < L; ++l)
                ecg[static_cast<std::size_t>((n * 2 + c) * L + l)] =
                    static_cast<T>(std::sin(0.1 * static_cast<double>((n + 1) * (c + 1) * l)) + 0.05 * rng.normal());
    std::vector<std::int32_t> ids, mask;
    const std::int64_t len = 6;
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t l = 0; l < len; ++l) {
            const bool pad = n % 2 == 1 && l == len - 1;  // odd reports are one token shorter
            ids.push_back(pad ? 0 : static_cast<std::int32_t>(l == 0 ? 1 : 2 + (n * 3 + l) % 27));
            mask.push_back(pad ? 0 : 1);
        }
    return {ctx.from_host(Shape{N, 2, L}, ecg),
            BertInput<B>{ctx.from_host(Shape{N, len}, ids), ctx.from_host(Shape{N, len}, mask), {}}};
}

}  // namespace

using Default = FgClep<ResNet1D50, BertBase, SigmoidLoss, FnmLoss>;
static_assert(std::is_same_v<Default::backend_type, Cpu<float>>);
static_assert(std::is_same_v<Default::ecg_spec, EcgEncoder<ResNet1D50, AttentionPoolHead>>);
static_assert(std::is_same_v<Default::text_spec, TextEncoder>);
static_assert(std::is_same_v<Default::objective_spec, ContrastiveObjective<SigmoidLoss, FnmLoss>>);
static_assert(std::is_same_v<FgClep<ResNet1D18, Bert, InfoNceLoss, Cpu<double>>::backend_type, Cpu<double>>);
static_assert(std::is_same_v<FgClep<EcgEncoder<ResNet1D18, GlobalAvgPoolHead>, TextEncoder, InfoNceLoss>::ecg_spec,
                             EcgEncoder<ResNet1D18, GlobalAvgPoolHead>>);

TEST_CASE("the default FgClep<ResNet1D50, BertBase, SigmoidLoss, FnmLoss> has the paper's parts and MERL's names") {
    Default model({}, 1);
    // ResNet1D50 backbone (15,959,168) + BERT-base (108,310,272) + heads + t' and b.
    CHECK(model.parameter_count() > 15'959'168 + 108'310'272);
    CHECK(model.parameter("ecg_encoder.conv1.weight").shape == Shape{64, 12, 7});
    CHECK(model.parameter("lm_model.encoder.layer.11.output.dense.weight").shape == Shape{768, 3072});
    CHECK(model.parameter("proj_t.2.weight").shape == Shape{256, 256});
    CHECK(model.parameter("sigmoid_loss.logit_scale").shape == Shape{});
    Context<Cpu<float>> ctx;
    const MatchCalibration c = model.calibration(ctx);
    CHECK(c.scale == doctest::Approx(10.0));
    CHECK(c.bias == -10);
    Default::Options o;
    CHECK(o.loss<FnmLoss>().weight == 0.5);
    CHECK(o.loss<FnmLoss>().source == FnmSource::projected);
    CHECK_FALSE(o.loss<FnmLoss>().detach);
}

TEST_CASE("a whole tiny FgClep passes the gradient check in double, end to end") {
    using M = FgClep<ResNet1D18, Bert, SigmoidLoss, FnmLoss, Cpu<double>>;
    for (FnmSource source : {FnmSource::projected, FnmSource::features}) {
        CAPTURE(static_cast<int>(source));
        auto o = tiny_options<M>(0.1);
        o.template loss<FnmLoss>().source = source;
        o.template loss<SigmoidLoss>().logit_scale = 0.5;  // gradients of a useful size
        o.template loss<SigmoidLoss>().logit_bias = -1;
        M model(o, 7);
        model.freeze("lm_model.embeddings.token_type_embeddings");  // a frozen parameter must keep its gradient
        Context<Cpu<double>> ctx;
        const auto batch = tiny_batch(ctx, 3);
        auto evaluate = [&](bool backward) {
            if (backward) return model.compute_gradients(ctx, batch).total;
            ctx.training = true;
            auto v = model.evaluate_loss(ctx, batch);  // an inference pass: BatchNorm would use running statistics
            (void)v;
            // The numeric side must see the same training-mode function: run the training forward without backward.
            detail::TrainingScope<Cpu<double>> scope(ctx, true);
            const auto e = model.ecg_encoder().forward(ctx, batch.ecg);
            const auto t = model.text_encoder().forward(ctx, batch.text);
            const Tensor<Cpu<double>> f =
                source == FnmSource::features ? model.text_encoder().last_pooled_features() : Tensor<Cpu<double>>();
            return model.objective().forward(ctx, e, t, f).total;
        };
        auto r = testing::gradcheck_scalar(model.arena(), ctx, evaluate, {},
                                           {.eps = 1e-6,
                                            .tolerance = 1e-5,
                                            .max_checks_per_tensor = 12,
                                            // softmax ignores the key bias
                                            .expect_zero_gradient = {"key.bias"}});
        CHECK_MESSAGE(r.ok, r.report());
        CHECK(r.checked > 300);
    }
}

TEST_CASE("FgClep's embeddings are normalised and its probabilities are calibrated by the sigmoid loss") {
    using M = FgClep<ResNet1D18, Bert, SigmoidLoss, FnmLoss, Cpu<double>>;
    M model(tiny_options<M>(), 2);
    Context<Cpu<double>> ctx;
    const auto batch = tiny_batch(ctx, 4);
    ctx.training = true;  // encode_* run as inference whatever the context says, and restore it
    const auto e = model.encode_ecg(ctx, batch.ecg);
    const auto t = model.encode_text(ctx, batch.text);
    CHECK(ctx.training);
    CHECK(e.shape() == Shape{4, 8});
    const HostMatrix ee = model.similarity(ctx, e, e);
    for (int i = 0; i < 4; ++i) CHECK(ee(i, i) == doctest::Approx(1.0).epsilon(1e-12));
    const HostMatrix s = model.similarity(ctx, e, t);
    const HostMatrix p = model.probability(ctx, e, t);
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
            CHECK(p(i, j) == doctest::Approx(1 / (1 + std::exp(-(10 * s(i, j) - 10)))).epsilon(1e-12));
    CHECK_THROWS_WITH(model.similarity(ctx, e, ctx.zeros(Shape{2, 5})),
                      doctest::Contains("expected embeddings (N, P) and (M, P)"));
}

TEST_CASE("FgClep reports mismatched embedding sizes and bad batches clearly") {
    using M = FgClep<ResNet1D18, Bert, SigmoidLoss>;
    auto o = tiny_options<M>();
    o.text.head.out_features = 6;
    CHECK_THROWS_WITH(M{o}, doctest::Contains("ECG encoder embeds into 8 dimensions but the text encoder into 6"));
    M model(tiny_options<M>());
    Context<Cpu<float>> ctx;
    auto batch = tiny_batch(ctx, 3);
    batch.ecg = tiny_batch(ctx, 2).ecg;
    CHECK_THROWS_WITH(model.compute_gradients(ctx, batch),
                      doctest::Contains("as many reports as ECGs: 2 ECGs, 3 reports"));
    CHECK_THROWS_WITH(model.compute_gradients(ctx, tiny_batch(ctx, 1)), doctest::Contains("at least 2 pairs"));
}

TEST_CASE("a tiny FgClep overfits a small batch: the loss falls to near zero and retrieval is 100%") {
    using M = FgClep<ResNet1D18, Bert, SigmoidLoss, FnmLoss>;
    auto o = tiny_options<M>(0.0, 16);
    o.ecg.head.embed_dim = 16;
    o.text.bert.hidden_size = 16;
    o.text.head = {0, 16, 16};
    // From the paper's t' = log 10, b = -10 a positive pair's loss is at least log 2 until b has risen, which takes
    // thousands of steps at this learning rate; a larger initial temperature lets 500 steps show the fit.
    o.loss<SigmoidLoss>().logit_scale = std::log(30.0);
    M model(o, 11);
    Context<Cpu<float>> ctx;
    const std::int64_t N = 8;
    const auto batch = tiny_batch(ctx, N);
    AdamW<Cpu<float>> optimizer(model.arena(), {.lr = 3e-3, .weight_decay = 0});
    const LossValue first = model.evaluate_loss(ctx, batch);
    LossValue last;
    for (int step = 0; step < 500; ++step) last = model.train_step(ctx, batch, optimizer, 3e-3);
    const LossValue after = model.evaluate_loss(ctx, batch);
    MESSAGE("sigmoid loss ", first.part("sigmoid_loss"), " -> ", after.part("sigmoid_loss"), ", fnm ",
            first.part("fnm_loss"), " -> ", after.part("fnm_loss"));
    CHECK(after.part("sigmoid_loss") < 0.05 * first.part("sigmoid_loss"));
    CHECK(after.part("sigmoid_loss") < 0.1);
    const auto e = model.encode_ecg(ctx, batch.ecg);
    const auto t = model.encode_text(ctx, batch.text);
    const HostMatrix p = model.probability(ctx, e, t);
    for (std::int64_t i = 0; i < N; ++i) {
        Eigen::Index best_text, best_ecg;
        p.row(i).maxCoeff(&best_text);
        p.col(i).maxCoeff(&best_ecg);
        CHECK(best_text == i);  // ECG -> report
        CHECK(best_ecg == i);   // report -> ECG
        CHECK(p(i, i) > 0.5);
    }
}
