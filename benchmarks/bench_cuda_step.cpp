// The paper's training step on a GPU: FgClep with ResNet1D-50 (12 x 5000) and BERT-base (64 tokens), sigmoid +
// FNM losses, AdamW, batch 100 by default, on Cuda<float> in fp32, TF32 or bf16 GEMMs (--precision). One JSON line
// per precision: seconds per step, samples per second, the allocator's peak device memory. Part of
// benchmarks/gpu_day.sh; built with FGCLEP_CUDA=ON and FGCLEP_BUILD_BENCHMARKS=ON.
//
//   bench_cuda_step [--precision fp32,tf32,bf16] [--batch 100] [--len 5000] [--seq 64] [--steps 5] [--device N]
//
// Without a CUDA device it says so and exits with 77.
#include "bench_info.hpp"

#include <fgclep/backend/cuda.hpp>  // after the layers, as every user's file may
#include <fgclep/fgclep.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

using namespace fgclep;
using B = Cuda<float>;
// The model of bench_encoders' fgclep_train case (and of the PyTorch peer): mean-pooled ResNet1D50 +
// Linear(2048, 256), BERT-base [CLS] + head, sigmoid + FNM losses.
using Clep = FgClep<EcgEncoder<ResNet1D50, GlobalAvgPoolHead>, TextEncoder, SigmoidLoss, FnmLoss, B>;

int main(int argc, char** argv) try {
    std::string precisions = "fp32,tf32,bf16";
    std::int64_t batch = 100, length = 5000, seq = 64;
    int steps = 5, device = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string arg = argv[i];
        if (arg == "--precision")
            precisions = argv[i + 1];
        else if (arg == "--batch")
            batch = std::atoll(argv[i + 1]);
        else if (arg == "--len")
            length = std::atoll(argv[i + 1]);
        else if (arg == "--seq")
            seq = std::atoll(argv[i + 1]);
        else if (arg == "--steps")
            steps = std::atoi(argv[i + 1]);
        else if (arg == "--device")
            device = std::atoi(argv[i + 1]);
        else {
            fmt::print(stderr, "unknown option {}\n", arg);
            return 2;
        }
    }
    if (cuda::device_count() <= device) {
        fmt::print("bench_cuda_step: no CUDA device {} here; skipping\n", device);
        return 77;
    }
    cudaDeviceProp properties{};
    FGCLEP_CUDA_CHECK(cudaGetDeviceProperties(&properties, device));

    Context<B> ctx(cuda::State::create(device, /*own_stream=*/true));
    const cuda::StreamScope scope(ctx.state);
    HostRng rng(0);
    std::vector<float> signal(static_cast<std::size_t>(batch * 12 * length));
    for (auto& v : signal) v = static_cast<float>(rng.normal());
    const std::int64_t vocab = Bert::Options{}.vocab_size;
    std::vector<std::int32_t> ids(static_cast<std::size_t>(batch * seq));
    for (auto& id : ids) id = static_cast<std::int32_t>(std::min<double>(rng.uniform() * vocab, vocab - 1));
    const PairedBatch<B> pairs{ctx.from_host(Shape{batch, 12, length}, signal),
                               BertInput<B>{ctx.from_host(Shape{batch, seq}, ids),
                                            ctx.from_host(Shape{batch, seq}, std::vector<std::int32_t>(ids.size(), 1)),
                                            {}}};

    Clep::Options options;
    options.text.pooling = TextPooling::cls;
    options.loss<FnmLoss>().detach = true;
    Clep model(options);
    model.freeze("lm_model.pooler");
    const AdamWOptions adamw{.lr = 2e-5, .weight_decay = 1e-4, .decay_all = true};
    AdamW<B> optimizer(model.arena(), adamw);

    std::string rest = precisions + ",";
    for (std::size_t comma; (comma = rest.find(',')) != std::string::npos; rest.erase(0, comma + 1)) {
        const std::string name = rest.substr(0, comma);
        if (name.empty()) continue;
        ctx.state.allow_tf32 = name == "tf32";
        ctx.state.matmul_precision = parse_matmul_precision(name == "tf32" ? "fp32" : name);
        double loss = model.train_step(ctx, pairs, optimizer, adamw.lr).total;  // warm-up: the allocator's cache
        B::synchronize(ctx.state);
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < steps; ++i) loss = model.train_step(ctx, pairs, optimizer, adamw.lr).total;
        B::synchronize(ctx.state);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / steps;
        const cuda::AllocatorStats memory = cuda::allocator_stats();
        fmt::print(
            "{{\"impl\": \"fgclep\", \"device\": \"{}\", \"case\": \"fgclep_train\", \"precision\": \"{}\", "
            "\"batch\": {}, \"len\": {}, \"seq\": {}, \"steps\": {}, \"s_per_step\": {:.4f}, \"samples_per_s\": "
            "{:.1f}, \"peak_device_gib\": {:.2f}, \"last_loss\": {:.4f}}}\n",
            fgclep_bench::json_escape(properties.name), name, batch, length, seq, steps, seconds,
            static_cast<double>(batch) / seconds, static_cast<double>(memory.peak_in_use_bytes) / (1 << 30), loss);
        std::fflush(stdout);
    }
    return 0;
} catch (const std::exception& e) {
    fmt::print(stderr, "bench_cuda_step: {}\n", e.what());
    return 1;
}
