// Trains the same small 1-D CNN on the CPU and on a CUDA GPU, step for step from the same initial weights and
// data, and prints how far the two backends drift apart. Switching a model to the GPU is one template argument:
// Model<Net, Cpu<float>> becomes Model<Net, Cuda<float>>; the layers are the same code.
//
//   cuda_train_step [--steps N] [--batch B] [--tf32]
//
// This file is compiled by the C++ compiler (not nvcc) and linked with fgclep::cuda. Without a CUDA device it
// says so (after reading its command line, so --help works anywhere) and exits with 77 (ctest: skipped). It exits
// with 1 if the backends disagree by more than the test suite's layer tolerance (rtol 1e-4, atol 1e-5 on
// parameters and running statistics). With --tf32 the float GEMMs round their inputs to 10 bits, so the drift is
// only printed.
#include "cli.hpp"

#include <fgclep/fgclep.hpp>

#include <fgclep/backend/cuda.hpp>  // after the layers: Cuda<T> brings its primitives whatever came first

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

using namespace fgclep;

using Net = Sequential<Conv1d, BatchNorm1d, ReLU, MaxPool1d, Conv1d, BatchNorm1d, GELU, GlobalAvgPool1d, Linear>;

namespace {
constexpr std::int64_t leads = 2, length = 256, classes = 3;

const Net::Options net_options{
    {.in_channels = leads, .out_channels = 16, .kernel_size = 7, .stride = 2, .padding = 3, .bias = false},
    {.num_features = 16},
    {},
    {.kernel_size = 3, .stride = 2, .padding = 1},
    {.in_channels = 16, .out_channels = 32, .kernel_size = 3, .stride = 1, .padding = 1, .bias = false},
    {.num_features = 32},
    {},
    {},
    {.in_features = 32, .out_features = classes}};

// A batch of noisy sines, squares and sawtooths (as in train_waveforms), on the host.
void make_batch(std::int64_t n, std::uint64_t index, std::vector<float>& x, std::vector<int>& labels) {
    HostRng rng(7919 * index + 1);
    x.assign(static_cast<std::size_t>(n * leads * length), 0.0f);
    labels.assign(static_cast<std::size_t>(n), 0);
    for (std::int64_t i = 0; i < n; ++i) {
        const int label = static_cast<int>(rng.next() % classes);
        labels[static_cast<std::size_t>(i)] = label;
        const double cycles = rng.uniform(2, 6), phase = rng.uniform(0, 1);
        for (std::int64_t lead = 0; lead < leads; ++lead)
            for (std::int64_t t = 0; t < length; ++t) {
                const double u = std::fmod(cycles * double(t) / length + phase, 1.0);
                const double wave = label == 0   ? std::sin(6.283185307179586 * u)
                                    : label == 1 ? (u < 0.5 ? 1.0 : -1.0)
                                                 : 2 * u - 1;
                x[static_cast<std::size_t>((i * leads + lead) * length + t)] =
                    static_cast<float>((lead == 0 ? 1.0 : -0.7) * wave + 0.3 * rng.normal());
            }
    }
}

// Mean softmax cross-entropy and its gradient wrt the logits, on the host.
double cross_entropy(const std::vector<float>& logits, const std::vector<int>& labels, std::vector<float>& dlogits) {
    const std::size_t n = labels.size();
    double loss = 0;
    dlogits.assign(logits.size(), 0.0f);
    for (std::size_t i = 0; i < n; ++i) {
        const float* z = &logits[i * classes];
        const double top = *std::max_element(z, z + classes);
        double sum = 0;
        for (int c = 0; c < classes; ++c) sum += std::exp(z[c] - top);
        loss += std::log(sum) + top - z[labels[i]];
        for (int c = 0; c < classes; ++c)
            dlogits[i * classes + c] = static_cast<float>((std::exp(z[c] - top) / sum - (c == labels[i])) / double(n));
    }
    return loss / double(n);
}

double max_abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::abs(a[i] - b[i])));
    return worst;
}
// The largest |a - b| / (atol + rtol |a|): at most 1 means close.
double closeness(const std::vector<float>& a, const std::vector<float>& b, double rtol, double atol) {
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double r = std::abs(double(a[i]) - b[i]) / (atol + rtol * std::abs(double(a[i])));
        worst = std::isnan(r) ? INFINITY : std::max(worst, r);
    }
    return worst;
}

// One training step of `model` on backend B: forward, loss, backward, clipping, AdamW. Returns the loss.
template <class B>
double train_step(Model<Net, B>& model, AdamW<B>& optimizer, Context<B>& ctx, const std::vector<float>& x,
                  const std::vector<int>& labels, std::int64_t batch) {
    ctx.training = true;
    const Tensor<B> logits = model.forward(ctx, ctx.from_host(Shape{batch, leads, length}, x));
    std::vector<float> dlogits;
    const double loss = cross_entropy(ctx.to_host(logits), labels, dlogits);
    model.zero_grad(ctx);
    model.backward(ctx, ctx.from_host(logits.shape(), dlogits));
    clip_grad_norm(ctx, model.arena(), 1.0);
    optimizer.step(ctx);
    return loss;
}
}  // namespace

int main(int argc, char** argv) try {
    CLI::App app{
        "Trains the same small 1-D CNN on the CPU and on CUDA device 0, step for step from the same weights and "
        "data, and prints each step's losses and how far the parameters drift apart, the time per step and the "
        "device memory used; writes no files. Exits 77 without a CUDA device, 1 if the backends disagree by more "
        "than rtol 1e-4, atol 1e-5 (not checked with --tf32).",
        "cuda_train_step"};
    std::int64_t steps = 5, batch = 16;
    bool tf32 = false;
    app.add_option("--steps", steps, "training steps on each backend")->check(cli::positive)->capture_default_str();
    app.add_option("--batch", batch, "signals per batch")->check(cli::positive)->capture_default_str();
    app.add_flag("--tf32", tf32, "let the GPU's float GEMMs round inputs to TF32 (the drift is then only printed)");
    cli::parse(app, argc, argv);

    const int devices = cuda::device_count();
    if (devices == 0) {
        fmt::print("cuda_train_step: no CUDA device is available here, so there is nothing to compare; skipping\n");
        return 77;
    }

    // Same options and seed: both models start from the same parameters.
    Model<Net, Cpu<float>> cpu_model(net_options, 42);
    Model<Net, Cuda<float>> gpu_model(net_options, 42);
    Context<Cpu<float>> cpu_ctx;
    Context<Cuda<float>> gpu_ctx(cuda::State::create(0));
    gpu_ctx.state.allow_tf32 = tf32;
    const AdamWOptions options{.lr = 1e-2, .eps = 1e-4, .weight_decay = 1e-4};
    AdamW<Cpu<float>> cpu_optimizer(cpu_model.arena(), options);
    AdamW<Cuda<float>> gpu_optimizer(gpu_model.arena(), options);

    cudaDeviceProp properties{};
    FGCLEP_CUDA_CHECK(cudaGetDeviceProperties(&properties, 0));
    fmt::print("CPU vs {} ({}), {} parameters, batch {}, FP32 GEMMs{}\n", properties.name, gpu_ctx.state.device(),
               cpu_model.parameter_count(), batch, tf32 ? " with TF32" : "");
    std::vector<float> x;
    std::vector<int> labels;
    double cpu_seconds = 0, gpu_seconds = 0;
    for (std::int64_t step = 1; step <= steps; ++step) {
        make_batch(batch, static_cast<std::uint64_t>(step), x, labels);
        auto t0 = std::chrono::steady_clock::now();
        const double cpu_loss = train_step(cpu_model, cpu_optimizer, cpu_ctx, x, labels, batch);
        auto t1 = std::chrono::steady_clock::now();
        const double gpu_loss = train_step(gpu_model, gpu_optimizer, gpu_ctx, x, labels, batch);
        gpu_ctx.synchronize();
        auto t2 = std::chrono::steady_clock::now();
        cpu_seconds += std::chrono::duration<double>(t1 - t0).count();
        gpu_seconds += std::chrono::duration<double>(t2 - t1).count();
        const auto cpu_params = cpu_ctx.to_host(cpu_model.arena().values());
        const auto gpu_params = gpu_ctx.to_host(gpu_model.arena().values());
        fmt::print("step {:>2}  loss cpu {:.6f} cuda {:.6f}  max |param difference| {:.2e}\n", step, cpu_loss, gpu_loss,
                   max_abs_difference(cpu_params, gpu_params));
    }
    const auto cpu_params = cpu_ctx.to_host(cpu_model.arena().values());
    const auto gpu_params = gpu_ctx.to_host(gpu_model.arena().values());
    const auto cpu_stats = cpu_ctx.to_host(cpu_model.arena().buffer_values());
    const auto gpu_stats = gpu_ctx.to_host(gpu_model.arena().buffer_values());
    fmt::print("max |difference| after {} steps: parameters {:.2e}, running statistics {:.2e}\n", steps,
               max_abs_difference(cpu_params, gpu_params), max_abs_difference(cpu_stats, gpu_stats));
    fmt::print("time per step: cpu {:.1f} ms, cuda {:.1f} ms (first step includes CUDA and cuBLAS start-up)\n",
               1e3 * cpu_seconds / steps, 1e3 * gpu_seconds / steps);
    const auto stats = cuda::allocator_stats();
    fmt::print("device memory: peak {:.1f} MiB in tensors, {} cudaMalloc calls for {} allocations\n",
               stats.peak_in_use_bytes / 1048576.0, stats.device_allocations, stats.allocations);

    if (tf32) return 0;
    const double rtol = 1e-4, atol = 1e-5;
    const double worst =
        std::max(closeness(cpu_params, gpu_params, rtol, atol), closeness(cpu_stats, gpu_stats, rtol, atol));
    if (!(worst <= 1.0)) {
        fmt::print(stderr, "the backends disagree: {:.2f} x the tolerance (rtol {}, atol {})\n", worst, rtol, atol);
        return 1;
    }
    fmt::print("the backends agree within rtol {} and atol {}\n", rtol, atol);
    return 0;
} catch (const fgclep::Error& e) {
    fmt::print(stderr, "{}\n", e.what());
    return 1;
}
