// A user-written contrastive loss, composed with FG-CLEP's SigmoidLoss into a tiny FgClep, gradient-checked and
// trained (docs/losses.md, "Writing your own loss", walks through this file).
//
// The loss: CosineMarginLoss, the additive-margin softmax of CosFace / AM-Softmax made symmetric like CLIP's loss.
// A matching pair must beat every other report (and every other ECG) by a cosine margin m:
//
//   l_ij = s (C_ij - m [i == j]),   s = exp(t) with t learnable
//   L = (1/2N) sum_i [ (logsumexp_j l_ij - l_ii) + (logsumexp_j l_ji - l_ii) ]
//
// Its gradient: dL/dl_ij = (softmax_j(l_i.)_j + softmax_i(l_.j)_i - 2 [i == j]) / 2N, then dL/dC_ij = s dL/dl_ij
// and dL/dt = sum_ij dL/dl_ij l_ij (dl/dt = l).
//
//   custom_loss [--steps 200] [--lr 0.01] [--threads T]      (200 steps take well under a second)
//
// Exits 1 if the finite-difference gradient check fails, 2 if training does not lower the loss.
#include "cli.hpp"

#include <fgclep/fgclep.hpp>
#include <fgclep/testing/gradcheck.hpp>  // not in the umbrella header: a test-only tool

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

// --- the loss ------------------------------------------------------------------------------------------------
struct CosineMarginLoss {
    struct Options {
        double margin = 0.2;                     // m, in cosine units
        double logit_scale = 2.302585092994046;  // t = log 10
        double weight = 1;                       // factor in the total loss
    };
    static constexpr std::string_view name = "CosineMarginLoss";   // in errors and summaries
    static constexpr std::string_view key = "cosine_margin_loss";  // state_dict: cosine_margin_loss.logit_scale
    template <fgclep::Backend B>
    struct impl;
};

template <fgclep::Backend B>
struct CosineMarginLoss::impl : fgclep::Module {
    Options options;
    fgclep::Param<B> logit_scale;

    explicit impl(const Options& o)
        : fgclep::Module(CosineMarginLoss::name),
          options(o),
          logit_scale("logit_scale", fgclep::Shape{}, fgclep::Decay::no, fgclep::Init::constant(o.logit_scale)) {
        if (!(o.margin >= 0 && o.margin < 2)) fgclep::fail("CosineMarginLoss needs 0 <= margin < 2, got {}", o.margin);
        if (!(o.weight >= 0)) fgclep::fail("CosineMarginLoss needs a weight >= 0, got {}", o.weight);
    }

    template <class V>
    void visit(V& v) {
        v.param(logit_scale);
    }
    double weight() const { return options.weight; }

    double forward(fgclep::Context<B>& ctx, const fgclep::PairBatch& batch) {
        const fgclep::HostMatrix l = logits(ctx, batch);
        const std::int64_t N = batch.size();
        double sum = 0;
        for (std::int64_t i = 0; i < N; ++i) sum += log_sum_exp(l.row(i)) + log_sum_exp(l.col(i)) - 2 * l(i, i);
        return sum / (2.0 * static_cast<double>(N));
    }

    void backward(fgclep::Context<B>& ctx, const fgclep::PairBatch& batch, fgclep::PairGradients& grads, double dloss) {
        const fgclep::HostMatrix l = logits(ctx, batch);
        const std::int64_t N = batch.size();
        fgclep::HostMatrix dl = fgclep::HostMatrix::Zero(N, N);
        for (std::int64_t i = 0; i < N; ++i) {
            const double row = log_sum_exp(l.row(i)), col = log_sum_exp(l.col(i));
            for (std::int64_t j = 0; j < N; ++j) {
                dl(i, j) += std::exp(l(i, j) - row);  // ECG i against every report
                dl(j, i) += std::exp(l(j, i) - col);  // report i against every ECG
            }
            dl(i, i) -= 2;
        }
        dl *= dloss / (2.0 * static_cast<double>(N));
        grads.cos += scale(ctx) * dl;  // accumulate, never assign
        fgclep::detail::accumulate_scalar_grad(ctx, logit_scale, (dl.array() * l.array()).sum());  // skips frozen
    }

private:
    double scale(fgclep::Context<B>& ctx) const { return std::exp(fgclep::detail::read_scalar(ctx, logit_scale)); }
    fgclep::HostMatrix logits(fgclep::Context<B>& ctx, const fgclep::PairBatch& batch) const {
        fgclep::HostMatrix l = batch.cos;
        l.diagonal().array() -= options.margin;
        return scale(ctx) * l;
    }
    template <class V>
    static double log_sum_exp(const V& v) {
        const double m = v.maxCoeff();
        return m + std::log((v.array() - m).exp().sum());
    }
};

static_assert(fgclep::ContrastiveLossSpec<CosineMarginLoss>);
static_assert(fgclep::ContrastiveLoss<CosineMarginLoss::impl<fgclep::Cpu<double>>, fgclep::Cpu<double>>);

namespace {

// --- the gradient check: the loss with SigmoidLoss, as FgClep composes them, in double --------------------------
// Probes are the raw (unnormalised) embeddings, so the check also covers the objective's normalisation; the
// loss's parameter t and SigmoidLoss's (t', b) are checked as parameters of the arena.
bool gradient_check() {
    using B = fgclep::Cpu<double>;
    using Objective = fgclep::ContrastiveObjective<fgclep::SigmoidLoss, CosineMarginLoss>;
    fgclep::Context<B> ctx;
    Objective::Options options;
    std::get<fgclep::SigmoidLoss::Options>(options.losses) = {.logit_scale = 0.7, .logit_bias = -1.5};
    std::get<CosineMarginLoss::Options>(options.losses).logit_scale = 1.2;
    Objective::impl<B> objective(options);
    fgclep::ParameterArena<B> arena;
    arena.bind(objective);
    arena.initialize(ctx.state, 0);

    const std::int64_t N = 6, P = 5;
    fgclep::HostRng rng(42);
    std::vector<double> e(static_cast<std::size_t>(N * P)), t(e.size());
    for (auto& v : e) v = rng.normal();
    for (auto& v : t) v = rng.normal();
    fgclep::Tensor<B> ecg = ctx.from_host(fgclep::Shape{N, P}, e), text = ctx.from_host(fgclep::Shape{N, P}, t);
    fgclep::Tensor<B> decg, dtext;
    ctx.training = true;
    auto evaluate = [&](bool backward) {
        const fgclep::LossValue v = objective.forward(ctx, ecg, text);
        if (backward) {
            const auto g = objective.backward(ctx);
            decg = g.ecg;
            dtext = g.text;
        }
        return v.total;
    };
    const auto r = fgclep::testing::gradcheck_scalar(
        arena, ctx, evaluate, {{"ecg", ecg, &decg}, {"text", text, &dtext}}, {.eps = 1e-6, .tolerance = 1e-6});
    fmt::print("gradient check of SigmoidLoss + CosineMarginLoss in Cpu<double>:\n{}", r.report());
    return r.ok && r.checked == 2 * N * P + 3;  // every embedding element, t', b and t
}

// --- training: a tiny FgClep on synthetic pairs ---------------------------------------------------------------
using Model = fgclep::FgClep<fgclep::ResNet1D18, fgclep::Bert, fgclep::SigmoidLoss, CosineMarginLoss>;
using B = Model::backend_type;  // Cpu<float>
constexpr std::int64_t leads = 2, length = 64, diagnoses = 8, report_length = 6, vocab = 30;

Model::Options tiny_options() {
    Model::Options o;
    o.ecg.backbone = {.leads = leads, .base_width = 4, .stages = {1, 1}, .input_length = length};
    o.ecg.head.embed_dim = 16;
    o.ecg.head.num_heads = 2;
    o.ecg.head.output_dim = 16;
    o.text.bert.vocab_size = vocab;
    o.text.bert.hidden_size = 16;
    o.text.bert.num_hidden_layers = 1;
    o.text.bert.num_attention_heads = 2;
    o.text.bert.intermediate_size = 32;
    o.text.bert.max_position_embeddings = 16;
    o.text.head = {0, 16, 16};
    o.loss<fgclep::SigmoidLoss>().logit_scale = std::log(30.0);  // a sharper start than log 10: 50 steps show the fit
    o.loss<CosineMarginLoss>().weight = 0.5;
    return o;
}

// One batch: every diagnosis once, in a random order. Diagnosis d's ECG is a sine of frequency d + 1 (a different
// harmonic on each lead) with a random phase, amplitude and noise; its report is a fixed token sequence.
Model::batch_type make_batch(fgclep::Context<B>& ctx, fgclep::HostRng& rng) {
    std::vector<std::int64_t> order(diagnoses);
    for (std::int64_t i = 0; i < diagnoses; ++i) order[static_cast<std::size_t>(i)] = i;
    for (std::int64_t i = diagnoses - 1; i > 0; --i)
        std::swap(order[static_cast<std::size_t>(i)], order[rng.next() % static_cast<std::uint64_t>(i + 1)]);
    std::vector<float> ecg(static_cast<std::size_t>(diagnoses * leads * length));
    std::vector<std::int32_t> ids, mask;
    for (std::int64_t n = 0; n < diagnoses; ++n) {
        const std::int64_t d = order[static_cast<std::size_t>(n)];
        const double phase = rng.uniform(0, 6.283185307179586), amplitude = rng.uniform(0.7, 1.3);
        for (std::int64_t c = 0; c < leads; ++c)
            for (std::int64_t l = 0; l < length; ++l)
                ecg[static_cast<std::size_t>((n * leads + c) * length + l)] =
                    static_cast<float>(amplitude * std::sin(0.1 * static_cast<double>((d + 1) * (c + 1) * l) + phase) +
                                       0.1 * rng.normal());
        for (std::int64_t l = 0; l < report_length; ++l) {  // [CLS]-like 1, then words 2..29
            ids.push_back(static_cast<std::int32_t>(l == 0 ? 1 : 2 + (d * 3 + l) % (vocab - 2)));
            mask.push_back(1);
        }
    }
    return {ctx.from_host(fgclep::Shape{diagnoses, leads, length}, ecg),
            fgclep::BertInput<B>{ctx.from_host(fgclep::Shape{diagnoses, report_length}, ids),
                                 ctx.from_host(fgclep::Shape{diagnoses, report_length}, mask),
                                 {}}};
}

}  // namespace

int main(int argc, char** argv) try {
    CLI::App app{
        "A user-written contrastive loss (CosineMarginLoss, an additive-margin softmax) composed with SigmoidLoss: "
        "checks its gradient against finite differences in double precision, then trains a tiny FgClep on "
        "synthetic ECG-report pairs and prints the losses, the held-out loss before and after, and ECG -> report "
        "top-1 retrieval; writes no files. Exits 1 if the gradient check fails, 2 if training does not lower the "
        "held-out loss.",
        "custom_loss"};
    std::int64_t steps = 200;
    double lr = 1e-2;
    int threads = 0;
    app.add_option("--steps", steps, "training steps")->check(cli::positive)->capture_default_str();
    app.add_option("--lr", lr, "AdamW learning rate")->check(cli::positive)->capture_default_str();
    app.add_option("--threads", threads, "CPU threads (0: all cores)")->check(cli::non_negative)->capture_default_str();
    cli::parse(app, argc, argv);

    if (!gradient_check()) {
        fmt::print(stderr, "custom_loss: the gradient check of CosineMarginLoss FAILED\n");
        return 1;
    }

    fgclep::Context<B> ctx(B::State{threads});
    Model model(tiny_options(), /*seed=*/5);
    fmt::print("\ntiny FgClep<ResNet1D18, Bert, SigmoidLoss, CosineMarginLoss>: {} parameters; the losses' are",
               model.parameter_count());
    for (const auto& e : model.arena().params())
        if (e.name.find("_loss.") != std::string::npos) fmt::print(" {}", e.name);
    fmt::print("\n");
    fgclep::AdamW<B> optimizer(model.arena(), {.lr = lr, .weight_decay = 0});
    fgclep::HostRng rng(7);
    const auto held_out = [&] {
        fgclep::HostRng fixed(1234);
        return make_batch(ctx, fixed);
    }();
    const fgclep::LossValue before = model.evaluate_loss(ctx, held_out);
    const auto t0 = std::chrono::steady_clock::now();
    for (std::int64_t step = 1; step <= steps; ++step) {
        const fgclep::LossValue v = model.train_step(ctx, make_batch(ctx, rng), optimizer, lr);
        if (step == 1 || step % 25 == 0 || step == steps)
            fmt::print("step {:>3}  total {:.4f}  sigmoid_loss {:.4f}  cosine_margin_loss {:.4f}\n", step, v.total,
                       v.part("sigmoid_loss"), v.part("cosine_margin_loss"));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const fgclep::LossValue after = model.evaluate_loss(ctx, held_out);
    fmt::print(
        "held-out batch: total {:.4f} -> {:.4f} (sigmoid {:.4f} -> {:.4f}, cosine margin {:.4f} -> {:.4f}); "
        "{} steps in {:.2f} s\n",
        before.total, after.total, before.part("sigmoid_loss"), after.part("sigmoid_loss"),
        before.part("cosine_margin_loss"), after.part("cosine_margin_loss"), steps, seconds);

    // Retrieval on the held-out batch: for how many ECGs is the matching report the most probable?
    const fgclep::HostMatrix p =
        model.probability(ctx, model.encode_ecg(ctx, held_out.ecg), model.encode_text(ctx, held_out.text));
    int top1 = 0;
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
        Eigen::Index best;
        p.row(i).maxCoeff(&best);
        top1 += best == i;
    }
    const auto cal = model.calibration(ctx);
    fmt::print("ECG -> report top-1: {}/{}; calibration sigmoid({:.3f} cos + {:.3f})\n", top1, p.rows(), cal.scale,
               cal.bias);

    if (!std::isfinite(after.total) || !(after.total < before.total)) {
        fmt::print(stderr, "custom_loss: training did not lower the held-out loss\n");
        return 2;
    }
    return 0;
} catch (const std::exception& e) {
    fmt::print(stderr, "custom_loss: {}\n", e.what());
    return 3;
}
