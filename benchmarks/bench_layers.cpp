// Layer benchmarks on the shapes of FG-CLEP's encoders, timed the same way as benchmarks/torch_layers.py so the
// two can be compared side by side (benchmarks/compare.py runs both and prints ratios).
//
// Method (identical in both programs): build the layer, run 2 warm-up iterations, then repeat until 1 s or
// 20 iterations have passed (at least 3), and report the median seconds per iteration. A training iteration is
// forward + backward (+ zeroing gradients); "infer" cases run forward in evaluation mode.
//
//   bench_layers [--threads T] [--case NAME[,NAME...]]   prints one JSON line per case
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

namespace {
double median_seconds(const std::function<void()>& iteration) {
    for (int i = 0; i < 2; ++i) iteration();
    std::vector<double> times;
    const auto start = std::chrono::steady_clock::now();
    while (
        times.size() < 3 ||
        (times.size() < 20 && std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < 1.0)) {
        const auto t0 = std::chrono::steady_clock::now();
        iteration();
        times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

Tensor<B> random(Context<B>& ctx, Shape shape, std::uint64_t seed = 1) {
    HostRng rng(seed);
    std::vector<float> v(static_cast<std::size_t>(shape.numel()));
    for (auto& x : v) x = static_cast<float>(rng.normal());
    return ctx.from_host(shape, v);
}

// Times a training iteration (forward, zero_grad, backward with dy = ones-like random) of a model.
template <class S>
double train_iteration(Context<B>& ctx, Model<S, B>& model, const typename Model<S, B>::input_type& x) {
    ctx.training = true;
    Tensor<B> y = model.forward(ctx, x);
    Tensor<B> dy = random(ctx, y.shape(), 2);
    return median_seconds([&] {
        model.forward(ctx, x);
        model.zero_grad(ctx);
        model.backward(ctx, dy);
    });
}

struct Case {
    std::string name, shape;
    std::function<double(Context<B>&)> run;
};
}  // namespace

int main(int argc, char** argv) {
    int threads = 0;
    std::string only;
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
        if (std::strcmp(argv[i], "--case") == 0) only = argv[i + 1];
    }
    Context<B> ctx(B::State{threads});

    std::vector<Case> cases = {
        {"linear_train", "x(2048,768) -> 3072",
         [](Context<B>& c) {
             Model<Linear, B> m({768, 3072});
             return train_iteration(c, m, random(c, {2048, 768}));
         }},
        {"conv_stem_train", "x(8,12,5000) k7 s2 p3 -> 64",
         [](Context<B>& c) {
             Model<Conv1d, B> m(
                 {.in_channels = 12, .out_channels = 64, .kernel_size = 7, .stride = 2, .padding = 3, .bias = false});
             return train_iteration(c, m, random(c, {8, 12, 5000}));
         }},
        {"conv3_train", "x(8,64,1250) k3 p1 -> 64",
         [](Context<B>& c) {
             Model<Conv1d, B> m({.in_channels = 64, .out_channels = 64, .kernel_size = 3, .padding = 1, .bias = false});
             return train_iteration(c, m, random(c, {8, 64, 1250}));
         }},
        {"conv1x1_train", "x(8,256,1250) k1 -> 64",
         [](Context<B>& c) {
             Model<Conv1d, B> m({.in_channels = 256, .out_channels = 64, .kernel_size = 1, .bias = false});
             return train_iteration(c, m, random(c, {8, 256, 1250}));
         }},
        {"conv3_infer", "x(8,64,1250) k3 p1 -> 64",
         [](Context<B>& c) {
             Model<Conv1d, B> m({.in_channels = 64, .out_channels = 64, .kernel_size = 3, .padding = 1, .bias = false});
             auto x = random(c, {8, 64, 1250});
             c.training = false;
             return median_seconds([&] { m.forward(c, x); });
         }},
        {"batchnorm_train", "x(8,256,1250)",
         [](Context<B>& c) {
             Model<BatchNorm1d, B> m({256});
             return train_iteration(c, m, random(c, {8, 256, 1250}));
         }},
        {"layernorm_train", "x(2048,768)",
         [](Context<B>& c) {
             Model<LayerNorm, B> m({768, 1e-12});
             return train_iteration(c, m, random(c, {2048, 768}));
         }},
        {"gelu_train", "x(2048,3072)",
         [](Context<B>& c) {
             Model<GELU, B> m;
             return train_iteration(c, m, random(c, {2048, 3072}));
         }},
        {"attention_train", "x(16,128,768) 12 heads, padding mask",
         [](Context<B>& c) {
             Model<MultiHeadSelfAttention, B> m({768, 12});
             auto x = random(c, {16, 128, 768});
             std::vector<std::int32_t> mask(16 * 128, 1);
             for (int n = 0; n < 16; ++n)
                 for (int l = 64 + 4 * n; l < 128; ++l) mask[static_cast<std::size_t>(n * 128 + l)] = 0;
             auto m_t = c.from_host(Shape{16, 128}, mask);
             c.training = true;
             Tensor<B> y = m.module().forward(c, x, &m_t);
             Tensor<B> dy = random(c, y.shape(), 2);
             return median_seconds([&] {
                 m.module().forward(c, x, &m_t);
                 m.zero_grad(c);
                 m.backward(c, dy);
             });
         }},
        {"adamw_step", "10M parameters",
         [](Context<B>& c) {
             Model<Linear, B> m({5000, 2000});
             AdamW<B> opt(m.arena(), {.lr = 1e-3, .weight_decay = 1e-4});
             return median_seconds([&] { opt.step(c); });
         }},
    };
    for (auto& cs : cases) {
        if (!only.empty() && ("," + only + ",").find("," + cs.name + ",") == std::string::npos) continue;
        const double s = cs.run(ctx);
        fmt::print(
            "{{\"impl\": \"fgclep\", \"threads\": {}, \"case\": \"{}\", \"shape\": \"{}\", \"s_per_iter\": {:.6f}}}\n",
            ctx.state.thread_count(), cs.name, cs.shape, s);
        std::fflush(stdout);
    }
}
