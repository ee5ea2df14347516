// ResNet1D: MERL's parameter counts, names and shapes; PyTorch parity of tiny Bottleneck and BasicBlock networks in
// training and evaluation mode (outputs, every gradient, running statistics) and of the full-size ResNet1D50's
// forward pass; gradient checks; BatchNorm folding; frozen mode; errors; the module summary.
#include "fixture.hpp"

#include "fgclep/core/hash.hpp"
#include "fgclep/core/summary.hpp"
#include "fgclep/models/resnet1d.hpp"
#include "fgclep/testing/gradcheck.hpp"

#include <cmath>
#include <set>

using namespace fgclep;
using test::expect_close_model;
using test::random_tensor;

namespace {
// Gives BatchNorm's affine parameters and running statistics values a network could not get right by ignoring them.
template <class S>
void randomise_batchnorm(Model<S, Cpu<double>>& model, std::uint64_t seed) {
    HostRng rng(seed);
    for (auto& e : model.arena().params())
        if (e.param->shape.rank() == 1)
            for (auto& v : e.param->value.host())
                v = e.name.ends_with("weight") ? rng.uniform(0.5, 1.5) : 0.5 * rng.normal();
    for (auto& e : model.arena().buffers())
        for (auto& v : e.buffer->value.host())
            v = e.name.ends_with("running_var") ? rng.uniform(0.5, 2.0) : 0.5 * rng.normal();
}

// Running statistics close to those of the input `x` (the model's own batch statistics, after enough training
// passes for momentum 0.1 to forget the start), then moved off by 0.3 standard deviations and a variance factor
// in [0.6, 1.6], as make_resnet1d.py's calibrate_bn does. Random statistics leave whole width-2 channels below
// zero before a ReLU, where every gradient is zero and a check proves nothing; exact ones would not tell running
// from batch statistics apart.
template <LayerSpec S>
void calibrate_batchnorm(Model<S, Cpu<double>>& model, Context<Cpu<double>>& ctx, const Tensor<Cpu<double>>& x,
                         std::uint64_t seed) {
    const bool training = ctx.training;
    ctx.training = true;
    model.module().use_running_stats(false);
    for (int pass = 0; pass < 80; ++pass) model.forward(ctx, x);  // 0.9^80: 0.02 % of the old statistics left
    ctx.training = training;
    HostRng rng(seed);
    for (auto& e : model.arena().buffers()) {
        if (!e.name.ends_with("running_mean")) continue;
        const std::string layer = e.name.substr(0, e.name.size() - std::string("running_mean").size());
        auto var = model.buffer(layer + "running_var").value.host();
        auto mean = e.buffer->value.host();
        for (std::size_t c = 0; c < mean.size(); ++c) {
            mean[c] += 0.3 * std::sqrt(var[c]) * rng.normal();
            var[c] *= rng.uniform(0.6, 1.6);
        }
    }
}

// The formula make_resnet1d.py fills the full-size ResNet1D50 with (see deterministic_value there): splitmix64 of
// FNV-1a(name) + i as a uniform value in [-1, 1), scaled by the tensor's role. Integer arithmetic, so both sides
// get the same bits.
std::uint64_t name_hash(const std::string& name) { return fnv1a64(name, fnv1a64_legacy_basis); }
std::vector<double> uniform_stream(std::uint64_t seed, std::int64_t n) {
    std::vector<double> u(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
        std::uint64_t z = (static_cast<std::uint64_t>(i) + seed) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        u[static_cast<std::size_t>(i)] = static_cast<double>(z >> 11) * 0x1p-52 - 1.0;
    }
    return u;
}
template <class S, class B>
void fill_deterministic(Model<S, B>& model) {
    using T = typename B::value_type;
    auto fill = [](const std::string& name, const Shape& shape, Tensor<B> value) {
        const auto u = uniform_stream(name_hash(name), shape.numel());
        T* out = value.data();
        for (std::size_t i = 0; i < u.size(); ++i) {
            double x;
            if (name.ends_with("running_var"))
                x = 1.0 + 0.25 * u[i];
            else if (name.ends_with("running_mean") || name.ends_with("bias"))
                x = 0.1 * u[i];
            else if (shape.rank() == 1)
                x = 1.0 + 0.25 * u[i];
            else
                x = std::sqrt(6.0 / static_cast<double>(shape[1] * shape[2])) * u[i];
            out[i] = static_cast<T>(x);
        }
    };
    for (auto& e : model.arena().params()) fill(e.name, e.param->shape, e.param->value);
    for (auto& e : model.arena().buffers()) fill(e.name, e.buffer->shape, e.buffer->value);
}

std::vector<std::string> param_names(const auto& model) {
    std::vector<std::string> names;
    for (auto& e : model.arena().params()) names.push_back(e.name);
    return names;
}

// The tiny networks of the fixture.
using TinyBottleneck = ResNet1D<Bottleneck, 2, 2, 1>;
using TinyBasic = ResNet1D<BasicBlock, 2, 1, 1, 1>;
const ResNet1DOptions tiny_bottleneck{.leads = 3, .base_width = 2};
const ResNet1DOptions tiny_basic{.leads = 2, .base_width = 2};

// Forward and backward in training mode against the fixture case `name` (BatchNorm with batch statistics),
// then the running statistics and counters after the pass.
template <class S, class B>
void check_training_pass(const std::string& name, const ResNet1DOptions& options) {
    auto f = test::fixture("resnet1d.safetensors");
    Context<B> ctx;
    ctx.training = true;
    Model<S, B> model(options);
    test::load_weights(model, ctx, f, name + ".");
    const std::string p = name + ".train.";
    auto y = model.forward(ctx, test::tensor_from(ctx, f, p + "x"));
    expect_close_model(ctx, y, f, p + "y");
    model.zero_grad(ctx);
    expect_close_model(ctx, model.backward(ctx, test::tensor_from(ctx, f, p + "dy")), f, p + "dx");
    std::size_t checked = 0;
    for (auto& e : model.arena().params()) {
        expect_close_model(ctx, e.param->grad, f, p + "grad." + e.name);
        ++checked;
    }
    CHECK(checked == model.arena().params().size());
    for (auto& e : model.arena().buffers()) expect_close_model(ctx, e.buffer->value, f, name + ".after." + e.name);
    for (auto& e : model.arena().counters()) {
        CHECK(e.counter->value == 1);
        CHECK(f.get<std::int64_t>(name + ".after." + e.name).at(0) == 1);
    }
}

// Evaluation mode: forward with ctx.training = false, then torch's eval-mode gradients via use_running_stats.
template <class S, class B>
void check_evaluation_pass(const std::string& name, const ResNet1DOptions& options) {
    auto f = test::fixture("resnet1d.safetensors");
    Context<B> ctx;
    Model<S, B> model(options);
    test::load_weights(model, ctx, f, name + ".");
    const std::string p = name + ".eval.";
    const auto x = test::tensor_from(ctx, f, p + "x");
    const auto buffers0 = ctx.to_host(model.arena().buffer_values());
    expect_close_model(ctx, model.forward(ctx, x), f, p + "y");

    ctx.training = true;
    model.module().use_running_stats(true);
    expect_close_model(ctx, model.forward(ctx, x), f, p + "y");
    model.zero_grad(ctx);
    expect_close_model(ctx, model.backward(ctx, test::tensor_from(ctx, f, p + "dy")), f, p + "dx");
    for (auto& e : model.arena().params()) expect_close_model(ctx, e.param->grad, f, p + "grad." + e.name);
    CHECK(ctx.to_host(model.arena().buffer_values()) == buffers0);
    for (auto& e : model.arena().counters()) CHECK(e.counter->value == 0);
}
}  // namespace

TEST_CASE("ResNet1D50 and ResNet1D18 have MERL's parameter counts, output shapes and names") {
    Model<ResNet1D50, Cpu<float>> r50;
    CHECK(r50.parameter_count(true) == 15959168);
    CHECK(r50.parameter_count() == 15959168);
    CHECK(r50.module().out_channels() == 2048);
    CHECK(r50.module().output_length(5000) == 313);
    CHECK(r50.arena().counters().size() == 53);  // one num_batches_tracked per BatchNorm1d
    CHECK(r50.arena().buffer_values().numel() == 53120);

    // MERL's state_dict order within the stem and a projected bottleneck.
    const auto names = param_names(r50);
    CHECK(std::vector<std::string>(names.begin(), names.begin() + 13) ==
          std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight",
                                   "layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.0.conv2.weight",
                                   "layer1.0.bn2.weight", "layer1.0.bn2.bias", "layer1.0.conv3.weight",
                                   "layer1.0.bn3.weight", "layer1.0.bn3.bias", "layer1.0.shortcut.0.weight"});
    CHECK(names.back() == "layer4.2.bn3.bias");
    CHECK(r50.parameter("layer2.0.conv2.weight").shape == Shape{128, 128, 3});
    CHECK(r50.parameter("layer4.0.shortcut.0.weight").shape == Shape{2048, 1024, 1});
    CHECK(r50.buffer("layer3.5.bn2.running_var").shape == Shape{256});
    CHECK(std::count_if(names.begin(), names.end(), [](auto& n) { return n.find("shortcut") != std::string::npos; }) ==
          4 * 3);  // one projection per stage: conv weight, BN weight and bias

    Model<ResNet1D18, Cpu<float>> r18;
    CHECK(r18.parameter_count(true) == 3848832);
    CHECK(r18.module().out_channels() == 512);
    CHECK(r18.module().output_length(5000) == 313);
    CHECK(r18.parameter("layer2.0.conv1.weight").shape == Shape{128, 64, 3});
    CHECK(r18.parameter("layer2.0.shortcut.0.weight").shape == Shape{128, 64, 1});
    CHECK_THROWS_AS(r18.parameter("layer1.0.shortcut.0.weight"), Error);  // layer1 keeps its shape: identity

    CHECK(Model<ResNet1D34, Cpu<float>>().parameter_count() == 7223168);
    CHECK(Model<ResNet1D101, Cpu<float>>().parameter_count() == 28266624);
}

TEST_CASE("ResNet1D50 maps (N, 12, 5000) to (N, 2048, 313); leads and length are run-time") {
    Context<Cpu<float>> ctx;
    Model<ResNet1D50, Cpu<float>> r50;
    auto y = r50.forward(ctx, random_tensor(ctx, Shape{1, 12, 5000}, 1));
    CHECK(y.shape() == Shape{1, 2048, 313});
    CHECK(std::all_of(y.host().begin(), y.host().end(), [](float v) { return std::isfinite(v); }));

    Model<ResNet1D18, Cpu<float>> r18({.leads = 1, .base_width = 8, .input_length = 1000});
    CHECK(r18.forward(ctx, random_tensor(ctx, Shape{2, 1, 1000}, 2)).shape() == Shape{2, 64, 63});
    CHECK(r18.forward(ctx, random_tensor(ctx, Shape{2, 1, 7}, 3)).shape() == Shape{2, 64, 1});
    CHECK(r18.module().output_length(1000) == 63);

    const auto shapes = r50.module().activation_shapes(16, 5000);
    REQUIRE(shapes.size() == 6);
    CHECK(shapes[1].second == Shape{16, 64, 2500});
    CHECK(shapes[2].second == Shape{16, 256, 2500});
    CHECK(shapes[5].second == Shape{16, 2048, 313});
}

TEST_CASE("the stage counts, widths and shortcut name are options") {
    Model<ResNet1D50, Cpu<float>> custom(
        {.leads = 2, .base_width = 4, .stages = {1, 2}, .shortcut_name = "downsample"});
    CHECK(custom.module().layers.size() == 2);
    CHECK(custom.module().out_channels() == 32);
    CHECK(custom.module().output_length(100) == 25);
    const auto names = param_names(custom);
    CHECK(std::find(names.begin(), names.end(), "layer1.0.downsample.0.weight") != names.end());
    CHECK(std::find(names.begin(), names.end(), "layer2.0.downsample.1.bias") != names.end());
    CHECK(names.back() == "layer2.1.bn3.bias");
}

TEST_CASE_TEMPLATE("a tiny Bottleneck ResNet1D matches PyTorch in training mode", T, float, double) {
    check_training_pass<TinyBottleneck, Cpu<T>>("r50", tiny_bottleneck);
}
TEST_CASE_TEMPLATE("a tiny Bottleneck ResNet1D matches PyTorch in evaluation mode", T, float, double) {
    check_evaluation_pass<TinyBottleneck, Cpu<T>>("r50", tiny_bottleneck);
}
TEST_CASE_TEMPLATE("a tiny BasicBlock ResNet1D matches PyTorch in training mode", T, float, double) {
    check_training_pass<TinyBasic, Cpu<T>>("r18", tiny_basic);
}
TEST_CASE_TEMPLATE("a tiny BasicBlock ResNet1D matches PyTorch in evaluation mode", T, float, double) {
    check_evaluation_pass<TinyBasic, Cpu<T>>("r18", tiny_basic);
}

TEST_CASE_TEMPLATE("the full-size ResNet1D50 matches PyTorch on one short input", T, float, double) {
    using B = Cpu<T>;
    auto f = test::fixture("resnet1d.safetensors");
    Context<B> ctx;
    Model<ResNet1D50, B> model;
    fill_deterministic(model);
    const auto u = uniform_stream(name_hash("full50.x"), 2 * 12 * 256);
    std::vector<T> xs(u.size());
    for (std::size_t i = 0; i < u.size(); ++i) xs[i] = static_cast<T>(1.7 * u[i]);
    const auto x = ctx.from_host(Shape{2, 12, 256}, xs);
    for (const std::string mode : {"eval", "train"}) {
        INFO(mode, " mode");
        ctx.training = mode == "train";
        const Tensor<B> y = model.forward(ctx, x);
        REQUIRE(y.shape() == Shape{2, 2048, 16});
        // The fixture keeps the mean over the length of every channel, and the first 64 channels as they are.
        Tensor<B> mean = ctx.empty(Shape{2, 2048}), first = ctx.empty(Shape{2, 64, 16});
        ops::mean_last(ctx, 2 * 2048, 16, y.data(), mean.data());
        for (std::int64_t n = 0; n < 2; ++n) std::copy_n(y.data() + n * 2048 * 16, 64 * 16, first.data() + n * 64 * 16);
        for (auto [got, name] : {std::pair{mean, "y_mean"}, std::pair{first, "y_first64"}}) {
            const std::string key = "full50." + mode + "." + name;
            if constexpr (std::is_same_v<T, double>) {
                expect_close_model(ctx, got, f, key);
            } else {
                // 53 BatchNorms, in training mode over 32 values per channel at the end: float rounding is amplified
                // near each batch mean (PyTorch's own float32 pass differs from its float64 one by 7e-5 of the
                // largest output), so float is held to 1e-4 of the largest magnitude rather than per element.
                const auto want = f.get<double>(key);
                const auto have = ctx.to_host(got);
                double largest = 0, worst = 0;
                for (std::size_t i = 0; i < want.size(); ++i) {
                    largest = std::max(largest, std::abs(want[i]));
                    worst = std::max(worst, std::abs(double(have[i]) - want[i]));
                }
                INFO(key, ": largest |y| ", largest, ", largest difference ", worst);
                CHECK(worst <= 1e-4 * largest);
            }
        }
    }
}

TEST_CASE("ResNet1D passes the gradient check with batch and with running statistics") {
    using B = Cpu<double>;
    for (bool running : {false, true}) {
        INFO(std::string(running ? "running statistics" : "batch statistics"));
        Context<B> ctx;
        ctx.training = true;
        Model<TinyBottleneck, B> bottleneck(tiny_bottleneck, 3);
        randomise_batchnorm(bottleneck, 4);
        const auto x = random_tensor(ctx, Shape{2, 3, 13}, 5);
        calibrate_batchnorm(bottleneck, ctx, x, 4);
        bottleneck.module().use_running_stats(running);
        // eps 1e-6: a smaller step crosses fewer ReLU kinks, whose one-sided slopes spoil central differences.
        auto result = testing::gradcheck(bottleneck, ctx, x, {.eps = 1e-6, .max_checks_per_tensor = 24});
        INFO("Bottleneck: ", result.report());
        CHECK(result.ok);

        Model<TinyBasic, B> basic(tiny_basic, 6);
        randomise_batchnorm(basic, 7);
        const auto x_basic = random_tensor(ctx, Shape{2, 2, 18}, 8);
        calibrate_batchnorm(basic, ctx, x_basic, 7);
        basic.module().use_running_stats(running);
        result = testing::gradcheck(basic, ctx, x_basic, {.eps = 1e-6, .max_checks_per_tensor = 24});
        INFO("BasicBlock: ", result.report());
        CHECK(result.ok);
    }
}

TEST_CASE("a frozen ResNet1D trains nothing, keeps its statistics and still passes gradients to its input") {
    using B = Cpu<double>;
    Context<B> ctx;
    ctx.training = true;
    Model<TinyBottleneck, B> model(tiny_bottleneck, 9);
    randomise_batchnorm(model, 10);
    model.module().freeze();
    CHECK(model.parameter_count(true) == 0);
    const auto buffers0 = ctx.to_host(model.arena().buffer_values());
    // The checker verifies that frozen gradients stay untouched and that the input gradient is right with the
    // running statistics.
    auto result = testing::gradcheck(model, ctx, random_tensor(ctx, Shape{2, 3, 11}, 11), {.max_checks_per_tensor = 8});
    INFO(result.report());
    CHECK(result.ok);
    model.forward(ctx, random_tensor(ctx, Shape{2, 3, 11}, 12));
    CHECK(ctx.to_host(model.arena().buffer_values()) == buffers0);

    model.module().freeze(false);
    CHECK(model.parameter_count(true) == model.parameter_count());
    model.forward(ctx, random_tensor(ctx, Shape{2, 3, 11}, 12));
    CHECK(ctx.to_host(model.arena().buffer_values()) != buffers0);  // batch statistics again
}

TEST_CASE_TEMPLATE("the BatchNorm-folded ResNet1D gives the evaluation-mode output", T, float, double) {
    using B = Cpu<T>;
    // Within 1e-5 of the largest output magnitude in float (1e-12 in double): folding changes the rounding only.
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
    Context<B> ctx;
    SUBCASE("the tiny fixture network") {
        auto f = test::fixture("resnet1d.safetensors");
        Model<TinyBottleneck, B> trained(tiny_bottleneck);
        test::load_weights(trained, ctx, f, "r50.");
        auto folded = fold_batchnorm(ctx, trained);
        const auto x = test::tensor_from(ctx, f, "r50.eval.x");
        const auto a = ctx.to_host(trained.forward(ctx, x)), b = ctx.to_host(folded.forward(ctx, x));
        double scale = 0, worst = 0;
        for (auto v : a) scale = std::max(scale, std::abs(double(v)));
        for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
        CHECK(worst <= tol * scale);
        expect_close_model(ctx, folded.forward(ctx, x), f, "r50.eval.y");
        // Names: biased convolutions, no BatchNorm.
        CHECK(folded.arena().buffers().empty());
        CHECK(folded.arena().counters().empty());
        const auto names = param_names(folded);
        CHECK(std::vector<std::string>(names.begin(), names.begin() + 4) ==
              std::vector<std::string>{"conv1.weight", "conv1.bias", "layer1.0.conv1.weight", "layer1.0.conv1.bias"});
        CHECK(std::none_of(names.begin(), names.end(), [](auto& n) { return n.find("bn") != std::string::npos; }));
        CHECK(std::find(names.begin(), names.end(), "layer1.0.shortcut.0.bias") != names.end());
    }
    SUBCASE("the full-size ResNet1D50") {
        Model<ResNet1D50, B> trained;
        fill_deterministic(trained);
        auto folded = fold_batchnorm(ctx, trained);
        CHECK(folded.parameter_count() == 15959168 - 2 * 26560 + 26560);  // BN's 2C parameters become C biases
        const auto x = random_tensor(ctx, Shape{2, 12, 300}, 13);
        const auto a = ctx.to_host(trained.forward(ctx, x)), b = ctx.to_host(folded.forward(ctx, x));
        double scale = 0, worst = 0, worst_relative = 0;
        for (auto v : a) scale = std::max(scale, std::abs(double(v)));
        for (std::size_t i = 0; i < a.size(); ++i) {
            const double d = std::abs(double(a[i]) - double(b[i]));
            worst = std::max(worst, d);
            worst_relative = std::max(worst_relative, d / (std::abs(double(a[i])) + 1e-3 * scale));
        }
        INFO("largest |output| ", scale, ", largest difference ", worst, ", relative ", worst_relative);
        CHECK(worst <= tol * scale);  // measured: 2e-6 in float, 3e-15 in double
        if constexpr (std::is_same_v<T, double>) CHECK(worst_relative <= 1e-10);  // per element: 2e-12
    }
}

TEST_CASE("pooled_features is the evaluation-mode feature map averaged over its length") {
    using B = Cpu<double>;
    auto f = test::fixture("resnet1d.safetensors");
    Context<B> ctx;
    ctx.training = true;
    Model<TinyBottleneck, B> model(tiny_bottleneck);
    test::load_weights(model, ctx, f, "r50.");
    const auto x = test::tensor_from(ctx, f, "r50.eval.x");
    const auto pooled = model.module().pooled_features(ctx, x);
    CHECK(ctx.training);  // restored
    CHECK(pooled.shape() == Shape{4, 32});
    const auto y = f.get<double>("r50.eval.y");
    const std::int64_t L = f.shape("r50.eval.y")[2];
    for (std::int64_t r = 0; r < 4 * 32; ++r) {
        double mean = 0;
        for (std::int64_t l = 0; l < L; ++l) mean += y[static_cast<std::size_t>(r * L + l)] / double(L);
        CHECK(pooled.data()[r] == doctest::Approx(mean).epsilon(1e-12));
    }
    for (auto& e : model.arena().counters()) CHECK(e.counter->value == 0);  // no statistics were updated
    CHECK_THROWS_WITH_AS(model.backward(ctx, ctx.zeros(Shape{4, 32, 6})),
                         doctest::Contains("backward needs a forward pass in training mode first"), Error);
}

TEST_CASE("ResNet1D errors name the module and say what was expected") {
    Context<Cpu<float>> ctx;
    Model<ResNet1D18, Cpu<float>> model({.leads = 12, .base_width = 2}, 0, "ecg.ecg_encoder");
    CHECK_THROWS_WITH_AS(
        model.forward(ctx, ctx.zeros(Shape{2, 8, 100})),
        doctest::Contains("fgclep: ecg.ecg_encoder (ResNet1D): expected input of shape (*, 12, *), got "
                          "(2, 8, 100)"),
        Error);
    CHECK_THROWS_WITH_AS(model.forward(ctx, ctx.zeros(Shape{12, 100})),
                         doctest::Contains("expected input of shape (*, 12, *), got (12, 100)"), Error);
    CHECK_THROWS_WITH_AS(model.backward(ctx, ctx.zeros(Shape{2, 16, 7})),
                         doctest::Contains("fgclep: ecg.ecg_encoder (ResNet1D): backward needs a forward pass"), Error);
    ctx.training = true;
    // One sample of length 1 leaves BatchNorm a single value per channel: the stem's BN says so, by path.
    CHECK_THROWS_WITH_AS(model.forward(ctx, ctx.zeros(Shape{1, 12, 1})),
                         doctest::Contains("fgclep: ecg.ecg_encoder.bn1 (BatchNorm1d): expected more than 1 value"),
                         Error);
    auto y = model.forward(ctx, ctx.zeros(Shape{2, 12, 100}));
    CHECK(y.shape() == Shape{2, 16, 7});
    CHECK_THROWS_WITH_AS(model.backward(ctx, ctx.zeros(Shape{2, 16, 6})),
                         doctest::Contains("fgclep: ecg.ecg_encoder.layer4.1 (BasicBlock): expected an output gradient "
                                           "of shape (2, 16, 7), got (2, 16, 6)"),
                         Error);

    CHECK_THROWS_WITH_AS((Model<ResNet1D50, Cpu<float>>({.stages = {3, 0, 2}})),
                         doctest::Contains("ResNet1D needs at least one block per stage, got stages [3, 0, 2]"), Error);
    CHECK_THROWS_WITH_AS((Model<ResNet1D50, Cpu<float>>({.leads = 0})),
                         doctest::Contains("ResNet1D needs positive leads, base_width and input_length"), Error);
}

TEST_CASE("module_summary lists the modules with their parameter counts") {
    Model<ResNet1D50, Cpu<float>> model;
    model.freeze("layer1");
    const auto rows = module_rows(model, 2);
    REQUIRE(!rows.empty());
    CHECK(rows[0].path.empty());
    CHECK(rows[0].type == "ResNet1D");
    CHECK(rows[0].parameters == 15959168);
    std::int64_t stages = 0, layer1 = 0, layer1_trainable = -1;
    std::set<std::string> paths;
    for (auto& r : rows) {
        paths.insert(r.path);
        if (r.depth == 1 && r.path.starts_with("layer")) stages += r.parameters;
        if (r.path == "layer1") layer1 = r.parameters, layer1_trainable = r.trainable;
    }
    // Rows for conv1/bn1 (the stem unit is transparent), the stages and their blocks; not for the blocks' units.
    CHECK(paths.count("conv1"));
    CHECK(paths.count("bn1"));
    CHECK(paths.count("layer3.5"));
    CHECK(!paths.count("layer3.5.conv1"));
    CHECK(stages + 64 * 12 * 7 + 2 * 64 == 15959168);
    CHECK(layer1_trainable == 0);
    CHECK(layer1 > 0);
    const auto text = module_summary(model, 1);
    CHECK(text.find("layer4") != std::string::npos);
    CHECK(text.find("Repeat") != std::string::npos);
    CHECK(text.find("15959168") != std::string::npos);
}
