// Prints a summary of an ECG encoder: the backbone's activation shapes, the modules with their parameter counts,
// and (with --tensors) every parameter and buffer by its PyTorch state_dict name; then runs one forward pass to
// show the shapes it produces.
//
//   ecg_encoder_summary [--backbone 18|34|50|101] [--head attention|gap] [--leads 12] [--length 5000]
//                       [--batch 1] [--depth 2] [--threads T] [--tensors] [--check]
//
// --check exits with status 1 unless the numbers are MERL's: ResNet1D50 (12 leads, 5000 samples) has 15,959,168
// backbone parameters and maps (N, 12, 5000) to (N, 2048, 313); ResNet1D18 has 3,848,832 and gives (N, 512, 313).
#include "cli.hpp"

#include <fgclep/fgclep.hpp>

#include <fmt/format.h>

#include <chrono>
#include <string>

using namespace fgclep;
using B = Cpu<float>;

namespace {
struct Args {
    int backbone = 50;
    std::string head = "attention";
    std::int64_t leads = 12, length = 5000, batch = 1;
    int depth = 2, threads = 0;
    bool tensors = false, check = false;
};

template <class Backbone, class Head>
int summarise(const Args& a) {
    using Encoder = EcgEncoder<Backbone, Head>;
    typename Encoder::Options options;
    options.backbone.leads = a.leads;
    options.backbone.input_length = a.length;
    Model<Encoder, B> model(options, 0, "ecg");
    auto& backbone = model.module().backbone;
    std::int64_t backbone_parameters = 0;
    for (auto& e : model.arena().params())
        if (e.name.starts_with("ecg.ecg_encoder.")) backbone_parameters += e.numel();

    fmt::print("EcgEncoder<ResNet1D{}, {}>: {} leads, {} samples, batch {}\n\n", a.backbone,
               a.head == "gap" ? "GlobalAvgPoolHead" : "AttentionPoolHead", a.leads, a.length, a.batch);
    fmt::print("Backbone activations\n");
    for (auto& [stage, shape] : backbone.activation_shapes(a.batch, a.length))
        fmt::print("  {:<26} {}\n", stage, shape.str());
    fmt::print("  {:<26} {}\n\n", "head output", Shape{a.batch, options.head.output_dim}.str());

    fmt::print("Modules (depth {})\n{}\n", a.depth, module_summary(model, a.depth));
    if (a.tensors) fmt::print("Tensors\n{}\n", model.summary());
    fmt::print("backbone parameters {:>12}\nhead parameters     {:>12}\ntotal               {:>12}\n\n",
               backbone_parameters, model.parameter_count() - backbone_parameters, model.parameter_count());

    // One forward pass in evaluation mode, for the real shapes: the backbone, then the head on its feature map
    // (model.forward(ctx, x) does both; model.module().pooled_features(ctx, x) gives the linear-probe features).
    Context<B> ctx(B::State{a.threads});
    HostRng rng(1);
    std::vector<float> signal(static_cast<std::size_t>(a.batch * a.leads * a.length));
    for (auto& v : signal) v = static_cast<float>(rng.normal());
    const auto x = ctx.from_host(Shape{a.batch, a.leads, a.length}, signal);
    const auto t0 = std::chrono::steady_clock::now();
    const auto features = backbone.forward(ctx, x);
    const auto embedding = model.module().head.forward(ctx, features);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("forward {} -> feature map {} -> embedding {} ({:.2f} s, {} threads)\n", x.shape().str(),
               features.shape().str(), embedding.shape().str(), seconds, ctx.state.thread_count());

    if (!a.check) return 0;
    bool ok = features.shape() == Shape{a.batch, backbone.out_channels(), backbone.output_length(a.length)} &&
              embedding.shape() == Shape{a.batch, options.head.output_dim};
    if (a.leads == 12 && a.length == 5000) {
        const std::int64_t merl = a.backbone == 50 ? 15959168 : a.backbone == 18 ? 3848832 : backbone_parameters;
        ok = ok && backbone_parameters == merl && features.size(2) == 313 &&
             features.size(1) == (a.backbone >= 50 ? 2048 : 512);
    }
    fmt::print("check: {}\n", ok ? "passed" : "FAILED");
    return ok ? 0 : 1;
}

// --head is attention or gap (checked by the command line).
template <class Backbone>
int with_head(const Args& a) {
    return a.head == "gap" ? summarise<Backbone, GlobalAvgPoolHead>(a) : summarise<Backbone, AttentionPoolHead>(a);
}
}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "Prints a summary of an ECG encoder, EcgEncoder<ResNet1D..., head>: the backbone's activation shapes, its "
        "modules with their parameter counts (and with --tensors every parameter and buffer by its PyTorch "
        "state_dict name), then runs one forward pass on random signals and prints the shapes it produces; writes "
        "no files. --check exits with status 1 unless the numbers are MERL's.",
        "ecg_encoder_summary"};
    Args a;
    app.add_option("--backbone", a.backbone, "ResNet1D depth")
        ->check(CLI::IsMember({18, 34, 50, 101}))
        ->capture_default_str();
    app.add_option("--head", a.head, "pooling head: attention (AttentionPoolHead) or gap (GlobalAvgPoolHead)")
        ->check(CLI::IsMember({"attention", "gap"}))
        ->capture_default_str();
    app.add_option("--leads", a.leads, "leads (input channels)")->check(cli::positive)->capture_default_str();
    app.add_option("--length", a.length, "samples per lead")->check(cli::positive)->capture_default_str();
    app.add_option("--batch", a.batch, "signals in the forward pass")->check(cli::positive)->capture_default_str();
    app.add_option("--depth", a.depth, "module tree depth of the summary")
        ->check(cli::non_negative)
        ->capture_default_str();
    app.add_option("--threads", a.threads, "CPU threads (0: all cores)")
        ->check(cli::non_negative)
        ->capture_default_str();
    app.add_flag("--tensors", a.tensors, "also list every parameter and buffer");
    app.add_flag("--check", a.check,
                 "exit with status 1 unless the shapes (and, for 12 leads and 5000 samples, MERL's parameter counts "
                 "of ResNet1D18 and ResNet1D50) are right");
    cli::parse(app, argc, argv);
    try {
        switch (a.backbone) {
            case 18:
                return with_head<ResNet1D18>(a);
            case 34:
                return with_head<ResNet1D34>(a);
            case 50:
                return with_head<ResNet1D50>(a);
            default:  // 101, as --backbone is one of the four
                return with_head<ResNet1D101>(a);
        }
    } catch (const Error& e) {
        fmt::print(stderr, "{}\n", e.what());
        return 1;
    }
}
