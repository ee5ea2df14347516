// ECG encoder benchmarks, measured exactly as the PyTorch peer (shared/peers/torch_peer.py) measures its cases, so
// benchmarks/compare_peer.py can put the two side by side:
//
//   ecg_infer         ResNet1D50 + mean over the length, evaluation mode, forward only
//   ecg_train         the same in training mode: zero_grad, forward, loss = mean(y^2), backward, AdamW step
//                     (lr 2e-5, weight decay 1e-4 on every parameter, as torch.optim.AdamW's single group)
//   ecg_infer_folded  ecg_infer with BatchNorm folded into the convolutions (fold_batchnorm); no peer case
//
// Timing (the peer's timeit): one warm-up step, then the mean over --steps steps. Input: (batch, 12, len) normal.
//
//   bench_encoders [--case NAME[,NAME...]] [--batch 16] [--len 5000] [--steps 3] [--threads T]
// prints one JSON line per case.
#include <fgclep/fgclep.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

using namespace fgclep;
using B = Cpu<float>;
using Net = Sequential<ResNet1D50, GlobalAvgPool1d>;  // the peer's ResNet1D: backbone, then .mean(-1)

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
    std::int64_t batch = 16, length = 5000;
    int steps = 3, threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string arg = argv[i];
        if (arg == "--case") cases = argv[i + 1];
        else if (arg == "--batch") batch = std::atoll(argv[i + 1]);
        else if (arg == "--len") length = std::atoll(argv[i + 1]);
        else if (arg == "--steps") steps = std::atoi(argv[i + 1]);
        else if (arg == "--threads") threads = std::atoi(argv[i + 1]);
        else {
            fmt::print(stderr, "unknown option {}\n", arg);
            return 2;
        }
    }
    Context<B> ctx(B::State{threads});
    HostRng rng(0);
    std::vector<float> signal(static_cast<std::size_t>(batch * 12 * length));
    for (auto& v : signal) v = static_cast<float>(rng.normal());
    const Tensor<B> x = ctx.from_host(Shape{batch, 12, length}, signal);

    std::string rest = cases + ",";
    for (std::size_t comma; (comma = rest.find(',')) != std::string::npos; rest.erase(0, comma + 1)) {
        const std::string name = rest.substr(0, comma);
        if (name.empty()) continue;
        double seconds = 0;
        if (name == "ecg_infer" || name == "ecg_infer_folded") {
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
            AdamW<B> optimizer(model.arena(), {.lr = 2e-5, .weight_decay = 1e-4, .decay_all = true});
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
        } else {
            fmt::print(stderr, "unknown case {} (ecg_infer, ecg_train, ecg_infer_folded)\n", name);
            return 2;
        }
        fmt::print("{{\"impl\": \"fgclep\", \"threads\": {}, \"case\": \"{}\", \"batch\": {}, \"len\": {}, "
                   "\"s_per_step\": {:.4f}, \"samples_per_s\": {:.3f}}}\n",
                   ctx.state.thread_count(), name, batch, length, seconds, static_cast<double>(batch) / seconds);
        std::fflush(stdout);
    }
}
