// Encoder and whole-model benchmarks, measured exactly as the PyTorch peer (shared/peers/torch_peer.py) measures its
// cases, so benchmarks/compare_peer.py can put the two side by side:
//
//   ecg_infer         ResNet1D50 + mean over the length, evaluation mode, forward only
//   ecg_train         the same in training mode: zero_grad, forward, loss = mean(y^2), backward, AdamW step
//                     (lr 2e-5, weight decay 1e-4 on every parameter, as torch.optim.AdamW's single group)
//   ecg_infer_folded  ecg_infer with BatchNorm folded into the convolutions (fold_batchnorm); no peer case
//   bert_train        BERT-base (Bert::Options defaults: 28996 tokens, 12 x 768, 12 heads, 3072, dropout 0.1) in
//                     training mode: zero_grad, forward, loss = mean(h[:, 0]^2) of the [CLS] hidden state, backward
//                     (the gradient enters at row 0 of each sequence), AdamW step as above
//   gemm              one 2048 x 2048 x 2048 product through ops::gemm (the engine's limit, for "% of limit";
//                     reports "gflops")
//   fgclep_train      one FgClep::train_step: ResNet1D50 + GlobalAvgPoolHead (mean, Linear(2048, 256)), BERT-base
//                     with CLS pooling + TextProjectionHead, SigmoidLoss + 0.5 FnmLoss (S = cos of the projected
//                     text embeddings, detached), AdamW as above on every parameter (logit scale and bias included)
//
// Timing (the peer's timeit): one warm-up step, then the mean over --steps steps. Inputs as the peer's: ECGs
// (batch, 12, len) normal; token ids (batch, seq) uniform in [0, 28996); attention mask all ones.
//
// Differences from the peer's architecture (the peer is written from the paper with torch.nn building blocks):
//   - BERT layer: ours is Hugging Face's BertLayer, the peer's nn.TransformerEncoderLayer (post-LN, erf GELU, same
//     shapes and parameter count per layer). The peer also drops out after the feed-forward GELU (dropout between
//     linear1 and linear2), which BertLayer does not; ours drops out after the embedding LayerNorm, which the peer
//     does not. Both drop attention probabilities and the two sublayer outputs at 0.1.
//   - BERT pooler: our Bert always computes pooled = tanh(dense(h[:, 0])) (N x 768 x 768, negligible); the peer has
//     no pooler. Its parameters are frozen here so that AdamW updates the same parameter set as the peer's.
//   - Token type and pad row: ours adds token-type row 0 to every token (the peer looks up typ(zeros)), and keeps
//     the pad token's (id 0) word-embedding row out of the gradient as HF's padding_idx; same arithmetic otherwise.
//   - fgclep_train text head: ours is MERL's proj_t, Linear(768, 256) - GELU - Linear(256, 256); the peer has one
//     Linear(768, 256) (one extra 256 x 256 layer here, negligible next to BERT).
//   - Losses: ours computes the (batch x batch) similarity losses in double on the host; the peer in float.
//
//   bench_encoders [--case NAME[,NAME...]] [--batch 16] [--len 5000] [--seq 64] [--steps 3] [--threads T]
//                  [--precision fp32|bf16]
// --precision bf16 runs every case with the bf16 matmul precision (core/matmul_precision.hpp), the counterpart of
// the peer's --dtype bf16 (torch.autocast).
// prints one JSON line per case, with the thread count it ran with ("threads"), the compiler and compile flags it was
// built with ("compiler", "flags": -O3 -march=native on top of the build type's, see benchmarks/CMakeLists.txt), the
// vector extensions those allowed ("isa") and the CPU model ("cpu").
#include "bench_info.hpp"

#include <fgclep/fgclep.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

using namespace fgclep;
using B = Cpu<float>;
using Net = Sequential<ResNet1D50, GlobalAvgPool1d>;  // the peer's ResNet1D: backbone, then .mean(-1)
// The peer's FgClep: mean-pooled ResNet1D50 + Linear(2048, 256); BERT [CLS] + head; sigmoid + FNM losses.
using Clep = FgClep<EcgEncoder<ResNet1D50, GlobalAvgPoolHead>, TextEncoder, SigmoidLoss, FnmLoss>;

namespace {
double mean_seconds(const std::function<void()>& step, int steps) {
    step();  // warm-up
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) step();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / steps;
}
}  // namespace

int main(int argc, char** argv) {
    std::string cases = "ecg_infer,ecg_train";
    std::int64_t batch = 16, length = 5000, seq = 64;
    int steps = 3, threads = 0;
    MatmulPrecision precision = MatmulPrecision::fp32;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string arg = argv[i];
        if (arg == "--case")
            cases = argv[i + 1];
        else if (arg == "--batch")
            batch = std::atoll(argv[i + 1]);
        else if (arg == "--len")
            length = std::atoll(argv[i + 1]);
        else if (arg == "--seq")
            seq = std::atoll(argv[i + 1]);
        else if (arg == "--steps")
            steps = std::atoi(argv[i + 1]);
        else if (arg == "--threads")
            threads = std::atoi(argv[i + 1]);
        else if (arg == "--precision")
            precision = parse_matmul_precision(argv[i + 1]);
        else {
            fmt::print(stderr, "unknown option {}\n", arg);
            return 2;
        }
    }
    Context<B> ctx(B::State{threads, precision});
    HostRng rng(0);
    std::vector<float> signal(static_cast<std::size_t>(batch * 12 * length));
    for (auto& v : signal) v = static_cast<float>(rng.normal());
    const Tensor<B> x = ctx.from_host(Shape{batch, 12, length}, signal);
    // Reports as the peer's: token ids uniform in [0, vocab_size), nothing padded.
    const std::int64_t vocab = Bert::Options{}.vocab_size;
    std::vector<std::int32_t> ids(static_cast<std::size_t>(batch * seq));
    for (auto& id : ids) id = static_cast<std::int32_t>(std::min<double>(rng.uniform() * vocab, vocab - 1));
    const BertInput<B> text{ctx.from_host(Shape{batch, seq}, ids),
                            ctx.from_host(Shape{batch, seq}, std::vector<std::int32_t>(ids.size(), 1)),
                            {}};
    const AdamWOptions adamw{.lr = 2e-5, .weight_decay = 1e-4, .decay_all = true};

    std::string rest = cases + ",";
    for (std::size_t comma; (comma = rest.find(',')) != std::string::npos; rest.erase(0, comma + 1)) {
        const std::string name = rest.substr(0, comma);
        if (name.empty()) continue;
        double seconds = 0, gflops = 0;
        if (name == "gemm") {
            const std::int64_t n = 2048;
            std::vector<float> values(static_cast<std::size_t>(n * n));
            for (auto& v : values) v = static_cast<float>(rng.normal());
            const Tensor<B> a = ctx.from_host(Shape{n, n}, values), b = ctx.from_host(Shape{n, n}, values);
            Tensor<B> c = ctx.empty(Shape{n, n});
            // The best of the steps: a limit, not a typical time.
            seconds = 1e30;
            for (int i = 0; i < std::max(steps, 3); ++i)
                seconds = std::min(seconds, mean_seconds([&] { ops::matmul(ctx, a, b, c); }, 1));
            gflops = 2.0 * double(n) * double(n) * double(n) / seconds / 1e9;
        } else if (name == "ecg_infer" || name == "ecg_infer_folded") {
            Model<Net, B> model;
            ctx.training = false;
            if (name == "ecg_infer") {
                seconds = mean_seconds([&] { model.forward(ctx, x); }, steps);
            } else {
                Model<ResNet1D50, B> backbone;
                auto folded = fold_batchnorm(ctx, backbone);
                GlobalAvgPool1d::impl<B> pool;
                seconds = mean_seconds([&] { pool.forward(ctx, folded.forward(ctx, x)); }, steps);
            }
        } else if (name == "ecg_train") {
            Model<Net, B> model;
            AdamW<B> optimizer(model.arena(), adamw);
            ctx.training = true;
            seconds = mean_seconds(
                [&] {
                    model.zero_grad(ctx);
                    const Tensor<B> y = model.forward(ctx, x);
                    // loss = mean(y^2): dloss/dy = 2 y / numel
                    Tensor<B> dy = ctx.empty(y.shape());
                    ops::scale(ctx, y.numel(), 2.0f / static_cast<float>(y.numel()), y.data(), dy.data());
                    model.backward(ctx, dy);
                    optimizer.step(ctx);
                },
                steps);
        } else if (name == "bert_train") {
            Model<BertBase, B> model;
            model.freeze("pooler");  // the peer's BERT has no pooler (see the header)
            AdamW<B> optimizer(model.arena(), adamw);
            ctx.training = true;
            seconds = mean_seconds(
                [&] {
                    model.zero_grad(ctx);
                    const Tensor<B> h = model.forward(ctx, text);  // (N, S, H)
                    // loss = mean(h[:, 0]^2) over N x H: dloss/dh[n, 0] = 2 h[n, 0] / (N H), 0 at the other tokens
                    const std::int64_t N = h.size(0), S = h.size(1), H = h.size(2);
                    Tensor<B> dh = ctx.zeros(h.shape());
                    for (std::int64_t n = 0; n < N; ++n)
                        ops::scale(ctx, H, 2.0f / static_cast<float>(N * H), h.data() + n * S * H,
                                   dh.data() + n * S * H);
                    model.module().backward(ctx, dh, Tensor<B>());
                    optimizer.step(ctx);
                },
                steps);
        } else if (name == "fgclep_train") {
            Clep::Options options;
            options.text.pooling = TextPooling::cls;  // the peer projects h[:, 0]
            options.loss<FnmLoss>().detach = true;    // the peer's S = (t @ t.T).detach(); weight 0.5 by default
            Clep model(options);
            model.freeze("lm_model.pooler");  // computed but unused with CLS pooling; the peer has no pooler
            AdamW<B> optimizer(model.arena(), adamw);
            const PairedBatch<B> pairs{x, text};
            seconds = mean_seconds([&] { model.train_step(ctx, pairs, optimizer, adamw.lr); }, steps);
        } else {
            fmt::print(stderr,
                       "unknown case {} (gemm, ecg_infer, ecg_train, ecg_infer_folded, bert_train, fgclep_train)\n",
                       name);
            return 2;
        }
        fmt::print(
            "{{\"impl\": \"fgclep\", \"threads\": {}, \"case\": \"{}\", \"batch\": {}, \"len\": {}, "
            "\"seq\": {}, \"steps\": {}, \"s_per_step\": {:.4f}, \"samples_per_s\": {:.3f}, \"gflops\": {:.1f}, "
            "\"precision\": \"{}\", "
            "\"engine\": \"{}\", \"compiler\": \"{}\", \"flags\": \"{}\", \"isa\": \"{}\", \"cpu\": \"{}\"}}\n",
            ctx.state.thread_count(), name, batch, length, seq, steps, seconds, static_cast<double>(batch) / seconds,
            gflops, to_string(precision), cpu::gemm_engine(), fgclep_bench::json_escape(fgclep_bench::compiler()),
            fgclep_bench::json_escape(fgclep_bench::compile_flags()),
            fgclep_bench::json_escape(fgclep_bench::vector_isa()),
            fgclep_bench::json_escape(fgclep_bench::cpu_model()));
        std::fflush(stdout);
    }
}
