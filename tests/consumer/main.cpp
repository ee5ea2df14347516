// A downstream program: builds a small MLP through the umbrella header, runs a training step's forward and
// backward, and checks the results; instantiates the paper's FgClep<ResNet1D50, BertBase, SigmoidLoss, FnmLoss>;
// defines its own contrastive loss, gradient-checks it and trains a tiny FgClep with it. Exits non-zero (with a
// message) on any failure.
#include <fgclep/fgclep.hpp>
#include <fgclep/testing/gradcheck.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

namespace {
int failures = 0;
void check(bool ok, const std::string& what) {
    if (!ok) {
        std::fprintf(stderr, "consumer check failed: %s\n", what.c_str());
        ++failures;
    }
}
double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

// A loss written in the consumer's own code, against the contract in fgclep/loss/contrastive_loss.hpp: a smooth
// ranking hinge on the cosine matrix. Each non-matching report j of ECG i (and each non-matching ECG of report i)
// should be at least `margin` less similar than the matching one:
//
//   x_ij = s (C_ij - C_ii + m),  y_ij = s (C_ji - C_ii + m),   s = exp(log_sharpness), learnable
//   L = 1 / (2 N (N - 1)) sum_i sum_{j != i} [softplus(x_ij) + softplus(y_ij)]
//
// softplus(s z) is a hinge max(0, s z) with a rounded corner; the learned s sets how sharp it is.
struct RankingHingeLoss {
    struct Options {
        double margin = 0.2;
        double log_sharpness = 2.302585092994046;  // s = 10
        double weight = 1;
    };
    static constexpr std::string_view name = "RankingHingeLoss";
    static constexpr std::string_view key = "ranking_hinge_loss";
    template <fgclep::Backend B>
    struct impl : fgclep::Module {
        Options options;
        fgclep::Param<B> log_sharpness;

        explicit impl(const Options& o)
            : fgclep::Module(RankingHingeLoss::name),
              options(o),
              log_sharpness("log_sharpness", fgclep::Shape{}, fgclep::Decay::no,
                            fgclep::Init::constant(o.log_sharpness)) {}

        template <class V>
        void visit(V& v) {
            v.param(log_sharpness);
        }
        double weight() const { return options.weight; }

        double forward(fgclep::Context<B>& ctx, const fgclep::PairBatch& batch) {
            const double s = sharpness(ctx);
            double sum = 0;
            for_each_term(batch, [&](std::int64_t, std::int64_t, double z) { sum += softplus(s * z); });
            return sum / terms(batch);
        }

        void backward(fgclep::Context<B>& ctx, const fgclep::PairBatch& batch, fgclep::PairGradients& grads,
                      double dloss) {
            const double s = sharpness(ctx), k = dloss / terms(batch);
            double dlog_sharpness = 0;
            // d softplus(u) / du = sigmoid(u); u = s z with z = C_ab - C_ii + m, and du / dlog_sharpness = u.
            for_each_term(batch, [&](std::int64_t i, std::int64_t ab, double z) {
                const double g = fgclep::detail::sigmoid(s * z) * k;
                const std::int64_t N = batch.size();
                grads.cos(ab / N, ab % N) += g * s;
                grads.cos(i, i) -= g * s;
                dlog_sharpness += g * s * z;
            });
            fgclep::detail::accumulate_scalar_grad(ctx, log_sharpness, dlog_sharpness);
        }

    private:
        double sharpness(fgclep::Context<B>& ctx) const {
            return std::exp(fgclep::detail::read_scalar(ctx, log_sharpness));
        }
        static double softplus(double u) { return -fgclep::detail::log_sigmoid(-u); }
        static double terms(const fgclep::PairBatch& batch) {
            const double N = static_cast<double>(batch.size());
            return std::max(1.0, 2 * N * (N - 1));
        }
        // f(i, a * N + b, z) for every term: (a, b) = (i, j) for ECG i against report j, (j, i) for report i
        // against ECG j; z = C_ab - C_ii + m.
        template <class F>
        void for_each_term(const fgclep::PairBatch& batch, F&& f) const {
            const std::int64_t N = batch.size();
            for (std::int64_t i = 0; i < N; ++i)
                for (std::int64_t j = 0; j < N; ++j) {
                    if (j == i) continue;
                    f(i, i * N + j, batch.cos(i, j) - batch.cos(i, i) + options.margin);
                    f(i, j * N + i, batch.cos(j, i) - batch.cos(i, i) + options.margin);
                }
        }
    };
};

namespace {

// The headers this consumer compiles against are the version its build system found.
void version_checks() {
    check(
        std::string(FGCLEP_VERSION_STRING) == FGCLEP_FOUND_VERSION,
        std::string("fgclep/version.hpp says ") + FGCLEP_VERSION_STRING + ", the build found " + FGCLEP_FOUND_VERSION);
}

void mlp_checks() {
    using B = fgclep::Cpu<float>;
    using Mlp = fgclep::Sequential<fgclep::Linear, fgclep::ReLU, fgclep::Linear>;
    fgclep::Model<Mlp, B> model({{4, 8}, {}, {8, 2}}, /*seed=*/7);
    fgclep::Context<B> ctx;
    ctx.training = true;

    check(model.parameter_count() == 4 * 8 + 8 + 8 * 2 + 2, "parameter count of Linear(4, 8) + Linear(8, 2)");

    std::vector<float> input(3 * 4);
    for (std::size_t i = 0; i < input.size(); ++i) input[i] = std::sin(0.7f * float(i) + 0.3f);
    auto x = ctx.from_host(fgclep::Shape{3, 4}, input);
    auto y = model.forward(ctx, x);
    check(y.shape() == fgclep::Shape{3, 2}, "output shape (3, 2), got " + y.shape().str());

    // d(sum y)/dy = 1: the bias gradient of the last layer is then exactly the batch size.
    model.zero_grad(ctx);
    auto dx = model.backward(ctx, ctx.full(y.shape(), 1.0f));
    check(dx.shape() == x.shape(), "input gradient shape (3, 4), got " + dx.shape().str());
    for (float g : ctx.to_host(model.parameter("2.bias").grad))
        check(std::abs(g - 3.0f) < 1e-6f, "2.bias gradient is 3 (the batch size), got " + std::to_string(g));
    float norm = 0;
    for (float g : ctx.to_host(model.parameter("0.weight").grad)) {
        check(std::isfinite(g), "0.weight gradient is finite");
        norm += g * g;
    }
    check(norm > 0, "0.weight gradient is non-zero");

    // Errors name the module path, through fmt (a dependency the package must bring along).
    try {
        model.forward(ctx, ctx.zeros(fgclep::Shape{3, 5}));
        check(false, "a (3, 5) input is refused");
    } catch (const fgclep::Error& e) {
        check(std::string(e.what()).find("0 (Linear): expected input (*, 4), got (3, 5)") != std::string::npos,
              std::string("error wording, got: ") + e.what());
    }
    std::printf("MLP: output %s\n", y.shape().str().c_str());
}

// The paper's model at full size (ResNet1D50 + BERT-base, about 125M parameters): construction and names only.
void default_model_checks() {
    const auto t0 = std::chrono::steady_clock::now();
    fgclep::FgClep<fgclep::ResNet1D50, fgclep::BertBase, fgclep::SigmoidLoss, fgclep::FnmLoss> model({}, /*seed=*/1);
    const std::int64_t count = model.parameter_count();
    std::printf("FgClep<ResNet1D50, BertBase, SigmoidLoss, FnmLoss>: %lld parameters (built in %.1f s)\n",
                static_cast<long long>(count), seconds_since(t0));
    // ResNet1D50 backbone (15,959,168) + BERT-base (108,310,272) + the heads and the loss's t' and b.
    check(count > 15'959'168 + 108'310'272 && count < 130'000'000,
          "about 125M parameters, got " + std::to_string(count));
    check(model.parameter("ecg_encoder.conv1.weight").shape == fgclep::Shape{64, 12, 7}, "MERL's ecg_encoder.conv1");
    check(model.parameter("proj_t.2.weight").shape == fgclep::Shape{256, 256}, "MERL's proj_t.2");
    check(model.parameter("sigmoid_loss.logit_bias").shape == fgclep::Shape{}, "sigmoid_loss.logit_bias is a scalar");
    fgclep::Context<fgclep::Cpu<float>> ctx;
    const fgclep::MatchCalibration c = model.calibration(ctx);
    check(std::abs(c.scale - 10) < 1e-4 && c.bias == -10, "initial calibration sigmoid(10 cos - 10)");
}

// The consumer's own loss: a finite-difference check of its gradient (embeddings and log_sharpness) in double,
// then a tiny FgClep<ResNet1D18, Bert, SigmoidLoss, RankingHingeLoss> trained for a few steps.
void custom_loss_checks() {
    static_assert(fgclep::ContrastiveLossSpec<RankingHingeLoss>);
    {
        using B = fgclep::Cpu<double>;
        fgclep::Context<B> ctx;
        fgclep::ContrastiveObjective<RankingHingeLoss>::impl<B> objective({});
        fgclep::ParameterArena<B> arena;
        arena.bind(objective);
        arena.initialize(ctx.state, 0);
        const std::int64_t N = 5, P = 4;
        fgclep::HostRng rng(3);
        std::vector<double> e(N * P), t(N * P);
        for (auto& v : e) v = rng.normal();
        for (auto& v : t) v = rng.normal();
        fgclep::Tensor<B> ecg = ctx.from_host(fgclep::Shape{N, P}, e), text = ctx.from_host(fgclep::Shape{N, P}, t);
        fgclep::Tensor<B> decg, dtext;
        ctx.training = true;
        auto evaluate = [&](bool backward) {
            const double v = objective.forward(ctx, ecg, text).total;
            if (backward) {
                auto g = objective.backward(ctx);
                decg = g.ecg;
                dtext = g.text;
            }
            return v;
        };
        const auto r = fgclep::testing::gradcheck_scalar(
            arena, ctx, evaluate, {{"ecg", ecg, &decg}, {"text", text, &dtext}}, {.eps = 1e-6, .tolerance = 1e-6});
        check(r.ok && r.checked == 2 * N * P + 1, "RankingHingeLoss gradient check: " + r.report());
        std::printf("RankingHingeLoss: %s", r.report().c_str());
    }

    using M = fgclep::FgClep<fgclep::ResNet1D18, fgclep::Bert, fgclep::SigmoidLoss, RankingHingeLoss>;
    using B = M::backend_type;
    static_assert(std::is_same_v<B, fgclep::Cpu<float>>);
    M::Options o;
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
    o.text.head = {0, 8, 8};
    o.loss<RankingHingeLoss>().weight = 0.5;
    M model(o, /*seed=*/3);
    fgclep::Context<B> ctx;
    check(model.parameter("ranking_hinge_loss.log_sharpness").shape == fgclep::Shape{},
          "the consumer's loss parameter sits under its key");

    // N = 4 pairs: ECG n a sine of frequency n + 1 on both leads, report n a distinct token sequence.
    const std::int64_t N = 4, L = 64, len = 5;
    std::vector<float> ecg(N * 2 * L);
    std::vector<std::int32_t> ids, mask;
    for (std::int64_t n = 0; n < N; ++n) {
        for (std::int64_t c = 0; c < 2; ++c)
            for (std::int64_t l = 0; l < L; ++l)
                ecg[(n * 2 + c) * L + l] = static_cast<float>(std::sin(0.1 * double((n + 1) * (c + 1) * l)));
        for (std::int64_t l = 0; l < len; ++l) {
            ids.push_back(static_cast<std::int32_t>(l == 0 ? 1 : 2 + (n * 3 + l) % 27));
            mask.push_back(1);
        }
    }
    const M::batch_type batch{
        ctx.from_host(fgclep::Shape{N, 2, L}, ecg),
        fgclep::BertInput<B>{
            ctx.from_host(fgclep::Shape{N, len}, ids), ctx.from_host(fgclep::Shape{N, len}, mask), {}}};

    auto sharpness = [&] { return ctx.to_host(model.parameter("ranking_hinge_loss.log_sharpness").value).at(0); };
    const float sharpness0 = sharpness();
    fgclep::AdamW<B> optimizer(model.arena(), {.lr = 1e-2, .weight_decay = 0});
    std::vector<fgclep::LossValue> losses;
    for (int step = 0; step < 5; ++step) losses.push_back(model.train_step(ctx, batch, optimizer, 1e-2));
    for (const auto& v : losses) {
        check(std::isfinite(v.total) && v.parts.size() == 2, "finite total with two parts");
        check(std::abs(v.total - (v.part("sigmoid_loss") + 0.5 * v.part("ranking_hinge_loss"))) < 1e-9 * (1 + v.total),
              "total = sigmoid + 0.5 ranking hinge");
    }
    std::printf(
        "tiny FgClep with RankingHingeLoss: total %.4f -> %.4f (ranking_hinge_loss %.4f -> %.4f), "
        "log_sharpness %.4f -> %.4f\n",
        losses.front().total, losses.back().total, losses.front().part("ranking_hinge_loss"),
        losses.back().part("ranking_hinge_loss"), sharpness0, sharpness());
    check(losses.back().total < losses.front().total, "the loss falls over 5 steps on one batch");
    check(sharpness() != sharpness0, "the optimizer trains the consumer's loss parameter");
}

}  // namespace

int main() {
    try {
        version_checks();
        mlp_checks();
        default_model_checks();
        custom_loss_checks();
    } catch (const std::exception& e) {
        check(false, std::string("unexpected exception: ") + e.what());
    }
    if (failures == 0) std::printf("fgclep consumer OK\n");
    return failures == 0 ? 0 : 1;
}
