// Every layer on Cuda<T> against the same layer on Cpu<T>: forward, the input gradient, parameter gradients
// (accumulated onto random values, skipping frozen parameters), BatchNorm's running statistics, Dropout's masks;
// then a training step (forward, loss gradient, backward, clipping, AdamW) of two small composed models on both
// backends. Models are built with the same seed, so both start from identical parameters (checked).
#include "cuda/cuda_compare.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

using namespace fgclep;
using test::Tol;
using test::Tolerance;

namespace {

template <class E>
std::vector<E> host_input(std::int64_t n, std::uint64_t seed) {
    if constexpr (std::is_same_v<E, std::int32_t>) {
        HostRng rng(seed);
        std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
        for (auto& id : ids) id = static_cast<std::int32_t>(rng.next() % 11);  // repeats, for scatter-add
        return ids;
    } else {
        return test::random_values<E>(n, seed, -2, 2);
    }
}

// One model per backend, built from the same options and seed.
template <class Spec, class T>
struct Twin {
    using E = typename Model<Spec, Cpu<T>>::input_type::element_type;
    Model<Spec, Cpu<T>> cpu;
    Model<Spec, Cuda<T>> gpu;
    Context<Cpu<T>> cctx;
    Context<Cuda<T>> gctx;

    explicit Twin(const typename Spec::Options& options, std::uint64_t seed = 3)
        : cpu(options, seed), gpu(options, seed) {
        test::check_equal(cctx.to_host(cpu.arena().values()), gctx.to_host(gpu.arena().values()), "initial parameters");
        test::check_equal(cctx.to_host(cpu.arena().buffer_values()), gctx.to_host(gpu.arena().buffer_values()),
                          "initial buffers");
    }
    void freeze(const std::string& name) {
        cpu.freeze(name);
        gpu.freeze(name);
    }
    void set_training(bool on) { cctx.training = gctx.training = on; }

    // Forward (and, in training, backward) on both; compares everything that came out.
    void check_pass(Shape input_shape, bool training, Tolerance tol, std::uint64_t seed = 7) {
        set_training(training);
        const auto xh = host_input<E>(input_shape.numel(), seed);
        const auto xc = cctx.from_host(input_shape, xh);
        const auto xg = gctx.from_host(input_shape, xh);
        // New tensors start as NaN while this runs: an element a CUDA kernel forgets to write shows up.
        struct NanFill {
            Twin& t;
            explicit NanFill(Twin& twin) : t(twin) {
                t.gctx.fill_new_tensors = t.cctx.fill_new_tensors = std::numeric_limits<double>::quiet_NaN();
            }
            ~NanFill() {
                t.gctx.fill_new_tensors.reset();
                t.cctx.fill_new_tensors.reset();
            }
        } nan_fill(*this);
        const auto yc = cpu.forward(cctx, xc);
        const auto yg = gpu.forward(gctx, xg);
        REQUIRE(yc.shape() == yg.shape());
        test::check_close(cctx.to_host(yc), gctx.to_host(yg), tol, "forward output");
        test::check_close(cctx.to_host(cpu.arena().buffer_values()), gctx.to_host(gpu.arena().buffer_values()), tol,
                          "buffers after forward (BatchNorm running statistics)");
        for (std::size_t i = 0; i < cpu.arena().counters().size(); ++i)
            CHECK(cpu.arena().counters()[i].counter->value == gpu.arena().counters()[i].counter->value);
        if (!training) return;

        // Parameter gradients accumulate onto these; frozen ones must keep them.
        const auto g0 = test::random_values<T>(cpu.arena().grads().numel(), seed + 1);
        Cpu<T>::upload(cctx.state, cpu.arena().grads().data(), g0.data(), g0.size());
        Cuda<T>::upload(gctx.state, gpu.arena().grads().data(), g0.data(), g0.size());
        const auto dyh = test::random_values<T>(yc.numel(), seed + 2);
        const auto dyc = cctx.from_host(yc.shape(), dyh);
        const auto dyg = gctx.from_host(yg.shape(), dyh);
        if constexpr (std::is_void_v<decltype(cpu.backward(cctx, dyc))>) {
            cpu.backward(cctx, dyc);
            gpu.backward(gctx, dyg);
        } else {
            const auto dxc = cpu.backward(cctx, dyc);
            const auto dxg = gpu.backward(gctx, dyg);
            REQUIRE(dxc.shape() == dxg.shape());
            test::check_close(cctx.to_host(dxc), gctx.to_host(dxg), tol, "input gradient");
        }
        const auto gc = cctx.to_host(cpu.arena().grads()), gg = gctx.to_host(gpu.arena().grads());
        for (const auto& e : cpu.arena().params()) {
            const auto begin = static_cast<std::size_t>(e.offset), end = begin + static_cast<std::size_t>(e.numel());
            const std::vector<T> c(gc.begin() + begin, gc.begin() + end), g(gg.begin() + begin, gg.begin() + end);
            test::check_close(c, g, tol, "gradient of " + e.name);
            if (!e.param->trainable)
                test::check_equal(std::vector<T>(g0.begin() + begin, g0.begin() + end), g,
                                  "untouched gradient of frozen " + e.name);
        }
    }
};

}  // namespace

TEST_CASE_TEMPLATE("Linear", T, float, double) {
    Twin<Linear, T> t({7, 5});
    t.check_pass(Shape{3, 4, 7}, true, Tol<T>::layer);
    t.check_pass(Shape{2, 7}, false, Tol<T>::layer);
    Twin<Linear, T> frozen({6, 3, false});
    frozen.freeze("weight");
    frozen.check_pass(Shape{4, 6}, true, Tol<T>::layer);
}

TEST_CASE_TEMPLATE("Conv1d: unfolded (stride, padding, dilation) and the pointwise fast path", T, float, double) {
    Twin<Conv1d, T> conv(
        {.in_channels = 3, .out_channels = 4, .kernel_size = 5, .stride = 2, .padding = 2, .dilation = 2});
    conv.check_pass(Shape{2, 3, 29}, true, Tol<T>::layer);
    conv.check_pass(Shape{2, 3, 29}, false, Tol<T>::layer);
    Twin<Conv1d, T> pointwise({.in_channels = 6, .out_channels = 5, .kernel_size = 1});
    pointwise.check_pass(Shape{3, 6, 17}, true, Tol<T>::layer);
    Twin<Conv1d, T> frozen({.in_channels = 2, .out_channels = 3, .kernel_size = 3, .padding = 1});
    frozen.freeze("bias");
    frozen.check_pass(Shape{2, 2, 10}, true, Tol<T>::layer);
}

TEST_CASE_TEMPLATE("BatchNorm1d: batch statistics, running statistics, eval, frozen statistics", T, float, double) {
    Twin<BatchNorm1d, T> bn({.num_features = 5});
    bn.check_pass(Shape{4, 5, 33}, true, Tol<T>::layer, 1);
    bn.check_pass(Shape{6, 5, 20}, true, Tol<T>::layer, 2);   // running statistics updated twice
    bn.check_pass(Shape{4, 5, 33}, false, Tol<T>::layer, 3);  // eval uses them
    bn.check_pass(Shape{8, 5}, true, Tol<T>::layer, 4);       // (N, C) input
    bn.cpu.module().use_running_stats = bn.gpu.module().use_running_stats = true;
    bn.check_pass(Shape{3, 5, 9}, true, Tol<T>::layer, 5);  // bn.eval() inside training: backward with constants
    bn.freeze("weight");
    bn.check_pass(Shape{3, 5, 9}, true, Tol<T>::layer, 6);
}

TEST_CASE_TEMPLATE("LayerNorm, frozen bias too", T, float, double) {
    Twin<LayerNorm, T> ln({.normalized_shape = 48});
    ln.check_pass(Shape{5, 7, 48}, true, Tol<T>::layer);
    ln.freeze("bias");
    ln.check_pass(Shape{600, 48}, true, Tol<T>::layer);
}

TEST_CASE_TEMPLATE("Embedding: gather, scatter-add of repeated ids, bad ids named", T, float, double) {
    Twin<Embedding, T> emb({.num_embeddings = 11, .embedding_dim = 9});
    emb.check_pass(Shape{4, 13}, true, Tol<T>::layer);
    emb.gctx.training = false;
    const auto bad = emb.gctx.from_host(Shape{3}, std::vector<std::int32_t>{1, 11, -2});
    CHECK_THROWS_WITH_AS(emb.gpu.forward(emb.gctx, bad),
                         doctest::Contains("2 of 3 token ids are out of range; valid ids are 0 to 10"), Error);
}

TEST_CASE_TEMPLATE("Dropout draws identical masks on both backends", T, float, double) {
    Twin<Dropout, T> drop({.p = 0.4});
    drop.cctx.seed = drop.gctx.seed = 99;
    drop.cctx.offset = drop.gctx.offset = 1000;
    drop.set_training(true);
    const auto xh = test::random_values<T>(3 * 1000, 8);
    const auto yc = drop.cpu.forward(drop.cctx, drop.cctx.from_host(Shape{3, 1000}, xh));
    const auto yg = drop.gpu.forward(drop.gctx, drop.gctx.from_host(Shape{3, 1000}, xh));
    test::check_equal(drop.cctx.to_host(yc), drop.gctx.to_host(yg), "dropout output");
    CHECK(drop.cctx.offset == drop.gctx.offset);
    drop.check_pass(Shape{7, 50}, true, Tol<T>::elementwise);  // backward re-draws the same mask
}

TEST_CASE_TEMPLATE("pooling and activations", T, float, double) {
    Twin<GlobalAvgPool1d, T> avg({});
    avg.check_pass(Shape{3, 4, 25}, true, Tol<T>::layer);
    Twin<MaxPool1d, T> pool({.kernel_size = 3, .stride = 2, .padding = 1});
    pool.check_pass(Shape{3, 4, 25}, true, Tol<T>::layer);
    pool.check_pass(Shape{3, 4, 25}, false, Tol<T>::layer);
    Twin<ReLU, T> relu({});
    relu.check_pass(Shape{5, 60}, true, Tol<T>::layer);
    Twin<GELU, T> gelu({});
    gelu.check_pass(Shape{5, 60}, true, Tol<T>::layer);
    Twin<Tanh, T> tanh_layer({});
    tanh_layer.check_pass(Shape{5, 60}, true, Tol<T>::layer);
}

TEST_CASE_TEMPLATE("MultiHeadSelfAttention with a key padding mask and attention dropout", T, float, double) {
    using Spec = MultiHeadSelfAttention;
    Twin<Spec, T> att({.embed_dim = 16, .num_heads = 4, .dropout = 0.2});
    att.check_pass(Shape{3, 10, 16}, true, Tol<T>::layer);  // no mask, through the composable forward

    const std::int64_t N = 3, L = 10;
    std::vector<std::int32_t> mask(static_cast<std::size_t>(N * L), 1);
    for (std::int64_t l = 6; l < L; ++l) mask[static_cast<std::size_t>(L + l)] = 0;      // sample 1 padded
    for (std::int64_t l = 0; l < L; ++l) mask[static_cast<std::size_t>(2 * L + l)] = 0;  // sample 2 all padding
    const auto mc = att.cctx.from_host(Shape{N, L}, mask);
    const auto mg = att.gctx.from_host(Shape{N, L}, mask);
    att.set_training(true);
    att.cctx.seed = att.gctx.seed = 5;
    const auto xh = test::random_values<T>(N * L * 16, 9);
    const auto yc = att.cpu.module().forward(att.cctx, att.cctx.from_host(Shape{N, L, 16}, xh), &mc);
    const auto yg = att.gpu.module().forward(att.gctx, att.gctx.from_host(Shape{N, L, 16}, xh), &mg);
    test::check_close(att.cctx.to_host(yc), att.gctx.to_host(yg), Tol<T>::layer, "masked attention output");
    const auto dyh = test::random_values<T>(N * L * 16, 10);
    att.cpu.zero_grad(att.cctx);
    att.gpu.zero_grad(att.gctx);
    const auto dxc = att.cpu.backward(att.cctx, att.cctx.from_host(Shape{N, L, 16}, dyh));
    const auto dxg = att.gpu.backward(att.gctx, att.gctx.from_host(Shape{N, L, 16}, dyh));
    test::check_close(att.cctx.to_host(dxc), att.gctx.to_host(dxg), Tol<T>::layer, "masked attention dx");
    test::check_close(att.cctx.to_host(att.cpu.arena().grads()), att.gctx.to_host(att.gpu.arena().grads()),
                      Tol<T>::layer, "masked attention parameter gradients");
}

TEST_CASE_TEMPLATE("compositions: Sequential, Residual, Named", T, float, double) {
    using Block = Residual<Named<"", Sequential<Named<"fc1", Linear>, Named<"act", GELU>, Named<"fc2", Linear>>>>;
    Twin<Sequential<Linear, Block, LayerNorm>, T> net({{6, 8}, {{{8, 12}, {}, {12, 8}}, {}}, {8}});
    net.check_pass(Shape{5, 6}, true, Tol<T>::layer);
    net.check_pass(Shape{5, 6}, false, Tol<T>::layer);
}

// --- one training step --------------------------------------------------------------------------------------------
//
// Two small composed models: a 1-D CNN (the ECG encoder's building blocks) and an embedding + attention stack (the
// text side's). The whole FgClep model's step is in test_cuda_fgclep.cpp.

namespace {

// A mean-squared-error loss against a fixed target: its value and gradient, on the host.
template <class T>
double mse(const std::vector<T>& y, const std::vector<T>& target, std::vector<T>& dy) {
    double loss = 0;
    dy.resize(y.size());
    for (std::size_t i = 0; i < y.size(); ++i) {
        const double d = double(y[i]) - double(target[i]);
        loss += d * d;
        dy[i] = static_cast<T>(2 * d / double(y.size()));
    }
    return loss / double(y.size());
}

// Two training steps (forward, loss, backward, clip, AdamW) on both backends, then an eval-mode forward.
// AdamW's first steps move each parameter by about lr * g / (|g| + eps): for gradients near zero that amplifies
// the backends' rounding differences by lr / eps, so eps = 1e-4 keeps the comparison meaningful in float.
template <class Spec, class T>
void compare_training(Twin<Spec, T>& t, Shape input_shape, Tolerance tol) {
    using E = typename Twin<Spec, T>::E;
    AdamWOptions options{.lr = 1e-2, .eps = 1e-4, .weight_decay = 0.01};
    AdamW<Cpu<T>> opt_cpu(t.cpu.arena(), options);
    AdamW<Cuda<T>> opt_gpu(t.gpu.arena(), options);
    t.cctx.seed = t.gctx.seed = 2024;
    for (int step = 0; step < 2; ++step) {
        CAPTURE(step);
        t.set_training(true);
        const auto xh = host_input<E>(input_shape.numel(), 100 + static_cast<std::uint64_t>(step));
        const auto yc = t.cpu.forward(t.cctx, t.cctx.from_host(input_shape, xh));
        const auto yg = t.gpu.forward(t.gctx, t.gctx.from_host(input_shape, xh));
        const auto target = test::random_values<T>(yc.numel(), 200 + static_cast<std::uint64_t>(step));
        std::vector<T> dyc, dyg;
        const double loss_c = mse(t.cctx.to_host(yc), target, dyc), loss_g = mse(t.gctx.to_host(yg), target, dyg);
        CHECK(std::abs(loss_c - loss_g) <= tol.atol + tol.rtol * std::abs(loss_c));
        t.cpu.zero_grad(t.cctx);
        t.gpu.zero_grad(t.gctx);
        t.cpu.backward(t.cctx, t.cctx.from_host(yc.shape(), dyc));
        t.gpu.backward(t.gctx, t.gctx.from_host(yg.shape(), dyg));
        test::check_close(t.cctx.to_host(t.cpu.arena().grads()), t.gctx.to_host(t.gpu.arena().grads()), tol,
                          "gradients");
        const double norm_c = clip_grad_norm(t.cctx, t.cpu.arena(), 0.5);
        const double norm_g = clip_grad_norm(t.gctx, t.gpu.arena(), 0.5);
        CHECK(std::abs(norm_c - norm_g) <= tol.atol + tol.rtol * norm_c);
        opt_cpu.step(t.cctx);
        opt_gpu.step(t.gctx);
        test::check_close(t.cctx.to_host(t.cpu.arena().values()), t.gctx.to_host(t.gpu.arena().values()), tol,
                          "parameters after the step");
        test::check_close(t.cctx.to_host(opt_cpu.exp_avg()), t.gctx.to_host(opt_gpu.exp_avg()), tol, "exp_avg");
        test::check_close(t.cctx.to_host(opt_cpu.exp_avg_sq()), t.gctx.to_host(opt_gpu.exp_avg_sq()), tol,
                          "exp_avg_sq");
        test::check_close(t.cctx.to_host(t.cpu.arena().buffer_values()), t.gctx.to_host(t.gpu.arena().buffer_values()),
                          tol, "buffers");
        CHECK(t.cctx.offset == t.gctx.offset);
    }
    t.set_training(false);
    const auto xh = host_input<E>(input_shape.numel(), 300);
    test::check_close(t.cctx.to_host(t.cpu.forward(t.cctx, t.cctx.from_host(input_shape, xh))),
                      t.gctx.to_host(t.gpu.forward(t.gctx, t.gctx.from_host(input_shape, xh))), tol,
                      "eval output after training");
}

}  // namespace

TEST_CASE_TEMPLATE("training step: a 1-D CNN agrees on CPU and CUDA", T, float, double) {
    using Net =
        Sequential<Conv1d, BatchNorm1d, ReLU, MaxPool1d, Conv1d, BatchNorm1d, GELU, Dropout, GlobalAvgPool1d, Linear>;
    Twin<Net, T> t({{.in_channels = 2, .out_channels = 8, .kernel_size = 7, .stride = 2, .padding = 3, .bias = false},
                    {.num_features = 8},
                    {},
                    {.kernel_size = 3, .stride = 2, .padding = 1},
                    {.in_channels = 8, .out_channels = 12, .kernel_size = 3, .padding = 1, .bias = false},
                    {.num_features = 12},
                    {},
                    {.p = 0.1},
                    {},
                    {.in_features = 12, .out_features = 3}},
                   11);
    compare_training(t, Shape{6, 2, 64}, Tol<T>::layer);
}

TEST_CASE_TEMPLATE("training step: an embedding + attention model agrees on CPU and CUDA", T, float, double) {
    using Net = Sequential<Embedding, LayerNorm, Dropout, MultiHeadSelfAttention, Linear, Tanh, Linear>;
    Twin<Net, T> t({{.num_embeddings = 11, .embedding_dim = 16},
                    {.normalized_shape = 16},
                    {.p = 0.1},
                    {.embed_dim = 16, .num_heads = 2, .dropout = 0.1},
                    {16, 24},
                    {},
                    {24, 4}},
                   12);
    // The key projection's bias cannot change the softmax, so its gradient is rounding noise: frozen (which
    // also runs the frozen-parameter paths on the GPU).
    t.freeze("3.key.bias");
    compare_training(t, Shape{4, 9}, Tol<T>::layer);
}
