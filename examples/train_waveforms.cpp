// Trains a small 1-D CNN on generated waveforms and prints its falling loss.
//
// The data: two-lead signals of three kinds (sine, square, sawtooth) with random frequency, phase, amplitude and
// noise, made on the fly by a seeded generator. The model is written the way the ECG encoder will be: Conv1d,
// BatchNorm1d, ReLU, global average pooling and a Linear head, trained with AdamW, a warm-up + cosine schedule
// and gradient clipping. Cross-entropy is computed here on the host (the loss types arrive with FgClep).
//
//   train_waveforms [--epochs N] [--batch B] [--threads T] [--seed S] [--check]
//
// --check exits with status 2 unless the last epoch's loss is below 80% of the first's (used by ctest).
#include "cli.hpp"

#include <fgclep/fgclep.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

using namespace fgclep;

using Net = Sequential<Conv1d, BatchNorm1d, ReLU, Conv1d, BatchNorm1d, ReLU, GlobalAvgPool1d, Linear>;
using B = Cpu<float>;

namespace {
constexpr std::int64_t leads = 2, length = 256, classes = 3;
const char* class_names[classes] = {"sine", "square", "sawtooth"};

struct Batch {
    Tensor<B> x;
    std::vector<int> labels;
};

// One batch of generated signals; the same (seed, index) always gives the same batch.
Batch make_batch(Context<B>& ctx, std::int64_t n, std::uint64_t seed, std::uint64_t index) {
    HostRng rng(seed * 1000003 + index);
    std::vector<float> x(static_cast<std::size_t>(n * leads * length));
    Batch b;
    for (std::int64_t i = 0; i < n; ++i) {
        const int label = static_cast<int>(rng.next() % classes);
        b.labels.push_back(label);
        const double cycles = rng.uniform(2, 6), phase = rng.uniform(0, 1);
        for (std::int64_t lead = 0; lead < leads; ++lead) {
            const double amplitude = rng.uniform(0.5, 1.5) * (lead == 0 ? 1 : -0.7);
            for (std::int64_t t = 0; t < length; ++t) {
                const double u = std::fmod(cycles * double(t) / length + phase, 1.0);
                const double wave = label == 0   ? std::sin(6.283185307179586 * u)
                                    : label == 1 ? (u < 0.5 ? 1.0 : -1.0)
                                                 : 2 * u - 1;
                x[static_cast<std::size_t>((i * leads + lead) * length + t)] =
                    static_cast<float>(amplitude * wave + 0.3 * rng.normal());
            }
        }
    }
    b.x = ctx.from_host(Shape{n, leads, length}, x);
    return b;
}

// Mean softmax cross-entropy of logits (n, classes); writes its gradient into dlogits and counts correct argmaxes.
double cross_entropy(const std::vector<float>& logits, const std::vector<int>& labels, std::vector<float>& dlogits,
                     int& correct) {
    const std::size_t n = labels.size();
    double loss = 0;
    dlogits.assign(logits.size(), 0.0f);
    for (std::size_t i = 0; i < n; ++i) {
        const float* z = &logits[i * classes];
        float top = z[0];
        int arg = 0;
        for (int c = 1; c < classes; ++c)
            if (z[c] > top) top = z[c], arg = c;
        correct += arg == labels[i];
        double sum = 0;
        for (int c = 0; c < classes; ++c) sum += std::exp(double(z[c]) - top);
        loss += std::log(sum) + top - z[labels[i]];
        for (int c = 0; c < classes; ++c)
            dlogits[i * classes + c] =
                static_cast<float>((std::exp(double(z[c]) - top) / sum - (c == labels[i])) / double(n));
    }
    return loss / double(n);
}
}  // namespace

int main(int argc, char** argv) try {
    CLI::App app{
        "Trains a small 1-D CNN (Conv1d, BatchNorm1d, ReLU, global average pooling, Linear; AdamW, warm-up + cosine, "
        "gradient clipping) to tell generated two-lead sines, squares and sawtooths apart. Prints the model's "
        "parameters, one line per epoch (loss, train accuracy, learning rate, samples/s) and the held-out accuracy; "
        "writes no files.",
        "train_waveforms"};
    std::int64_t epochs = 10, batch = 32, seed = 1;
    int threads = 0;
    bool check = false;
    app.add_option("--epochs", epochs, "training epochs (24 batches each)")
        ->check(cli::positive)
        ->capture_default_str();
    app.add_option("--batch", batch, "signals per batch")->check(cli::positive)->capture_default_str();
    app.add_option("--threads", threads, "CPU threads (0: all cores)")->check(cli::non_negative)->capture_default_str();
    app.add_option("--seed", seed, "seed of the weights and the generated data")
        ->check(cli::non_negative)
        ->capture_default_str();
    app.add_flag("--check", check, "exit with status 2 unless the last epoch's loss is below 80% of the first's");
    cli::parse(app, argc, argv);
    const std::int64_t batches_per_epoch = 24;
    Context<B> ctx(B::State{threads});

    Model<Net, B> model(
        {{.in_channels = leads, .out_channels = 16, .kernel_size = 7, .stride = 2, .padding = 3, .bias = false},
         {.num_features = 16},
         {},
         {.in_channels = 16, .out_channels = 32, .kernel_size = 3, .stride = 2, .padding = 1, .bias = false},
         {.num_features = 32},
         {},
         {},
         {.in_features = 32, .out_features = classes}},
        static_cast<std::uint64_t>(seed));
    fmt::print("{}", model.summary());

    AdamW<B> optimizer(model.arena(), {.lr = 1e-2, .weight_decay = 1e-4});
    const auto schedule = WarmupCosine::from_fraction(1e-2, epochs * batches_per_epoch, 0.1);
    std::vector<float> dlogits;
    std::int64_t step = 0;
    double first_loss = 0, last_loss = 0;
    for (long epoch = 1; epoch <= epochs; ++epoch) {
        ctx.training = true;
        double loss_sum = 0;
        int correct = 0;
        const auto t0 = std::chrono::steady_clock::now();
        for (long i = 0; i < batches_per_epoch; ++i) {
            Batch b =
                make_batch(ctx, batch, static_cast<std::uint64_t>(seed), static_cast<std::uint64_t>(epoch * 1000 + i));
            Tensor<B> logits = model.forward(ctx, b.x);
            loss_sum += cross_entropy(ctx.to_host(logits), b.labels, dlogits, correct);
            model.zero_grad(ctx);
            model.backward(ctx, ctx.from_host(logits.shape(), dlogits));
            clip_grad_norm(ctx, model.arena(), 1.0);
            optimizer.step(ctx, schedule.lr(step++));
        }
        last_loss = loss_sum / batches_per_epoch;
        if (epoch == 1) first_loss = last_loss;
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        fmt::print("epoch {:>2}/{}  loss {:.4f}  train accuracy {:5.1f}%  lr {:.2e}  {:.0f} samples/s\n", epoch, epochs,
                   loss_sum / batches_per_epoch, 100.0 * correct / (batches_per_epoch * batch), schedule.lr(step - 1),
                   batches_per_epoch * batch / seconds);
    }

    // Held-out signals from a different part of the generator's stream, in evaluation mode.
    ctx.training = false;
    int correct = 0, total = 0;
    std::vector<int> per_class_correct(classes, 0), per_class_total(classes, 0);
    for (long i = 0; i < 8; ++i) {
        Batch b = make_batch(ctx, batch, static_cast<std::uint64_t>(seed) + 7777, static_cast<std::uint64_t>(i));
        auto logits = ctx.to_host(model.forward(ctx, b.x));
        for (std::size_t j = 0; j < b.labels.size(); ++j) {
            const float* z = &logits[j * classes];
            const int guess = static_cast<int>(std::max_element(z, z + classes) - z);
            correct += guess == b.labels[j];
            per_class_correct[b.labels[j]] += guess == b.labels[j];
            ++per_class_total[b.labels[j]];
            ++total;
        }
    }
    fmt::print("held-out accuracy {:.1f}% over {} signals (", 100.0 * correct / total, total);
    for (int c = 0; c < classes; ++c)
        fmt::print("{}{} {:.0f}%", c ? ", " : "", class_names[c],
                   100.0 * per_class_correct[c] / std::max(1, per_class_total[c]));
    fmt::print(")\n");
    if (check && !(last_loss < 0.8 * first_loss)) {
        fmt::print(stderr, "the loss did not fall: {:.4f} after the first epoch, {:.4f} after the last\n", first_loss,
                   last_loss);
        return 2;
    }
    return 0;
} catch (const fgclep::Error& e) {
    fmt::print(stderr, "{}\n", e.what());
    return 1;
}
