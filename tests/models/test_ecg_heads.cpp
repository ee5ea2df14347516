// ECG heads and EcgEncoder: PyTorch parity of MERL's attention pooling (positions as they are and resized to
// other lengths) and of whole encoders with either head, MERL's names and prefixed loading, the frozen backbone
// (head-only training, skipped backbone backward), the BatchNorm-folded encoder, gradient checks, errors.
#include "fixture.hpp"

#include "fgclep/models/ecg_encoder.hpp"
#include "fgclep/testing/gradcheck.hpp"

#include <cmath>

using namespace fgclep;
using test::expect_close_model;
using test::random_tensor;

namespace {
// The fixture's encoders (make_resnet1d.py): MERL's head on a two-stage Bottleneck backbone, and the average
// pooling head on a two-stage BasicBlock backbone.
using TinyAttentionEncoder = EcgEncoder<ResNet1D<Bottleneck, 1, 1>, AttentionPoolHead>;
const TinyAttentionEncoder::Options tiny_attention{.backbone = {.leads = 2, .base_width = 2, .input_length = 40},
                                                   .head = {.embed_dim = 8, .num_heads = 2, .output_dim = 6}};
using TinyGapEncoder = EcgEncoder<ResNet1D<BasicBlock, 1, 1>, GlobalAvgPoolHead>;
const TinyGapEncoder::Options tiny_gap{.backbone = {.leads = 2, .base_width = 4}, .head = {.output_dim = 5}};
const AttentionPool1d::Options tiny_pool{.embed_dim = 8, .num_heads = 2, .output_dim = 6, .reference_length = 5};

// One training pass of `model` against fixture case `c`, comparing the output, the input gradient and the gradients
// of every parameter the fixture has (all of them unless frozen).
template <class S, class B>
void check_pass(Context<B>& ctx, Model<S, B>& model, const io::SafetensorsFile& f, const std::string& c,
                bool check_dx = true) {
    auto y = model.forward(ctx, test::tensor_from(ctx, f, c + ".x"));
    expect_close_model(ctx, y, f, c + ".y");
    model.zero_grad(ctx);
    auto dx = model.backward(ctx, test::tensor_from(ctx, f, c + ".dy"));
    if (check_dx) expect_close_model(ctx, dx, f, c + ".dx");
    for (auto& e : model.arena().params()) {
        if (!e.param->trainable) continue;
        expect_close_model(ctx, e.param->grad, f, c + ".grad." + e.name);
    }
}
}  // namespace

TEST_CASE("linear_resize_matrix resizes as F.interpolate(mode='linear', align_corners=False)") {
    const auto same = linear_resize_matrix(4, 4);
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) CHECK(same[static_cast<std::size_t>(i * 4 + j)] == (i == j ? 1.0 : 0.0));
    // 2 -> 4: coordinates -0.25 (clamped to 0), 0.25, 0.75, 1.25 (upper index clamped).
    const auto up = linear_resize_matrix(4, 2);
    CHECK(up == std::vector<double>{1, 0, 0.75, 0.25, 0.25, 0.75, 0, 1});
    for (std::int64_t L : {1, 3, 7, 313, 400}) {
        const auto m = linear_resize_matrix(L, 313);
        for (std::int64_t i = 0; i < L; ++i) {
            double sum = 0;
            for (std::int64_t j = 0; j < 313; ++j) sum += m[static_cast<std::size_t>(i * 313 + j)];
            CHECK(sum == doctest::Approx(1.0));
        }
    }
}

TEST_CASE_TEMPLATE("AttentionPool1d matches MERL's attention pooling, positions resized to the input length", T, float,
                   double) {
    using B = Cpu<T>;
    auto f = test::fixture("resnet1d.safetensors");
    Context<B> ctx;
    ctx.training = true;
    Model<AttentionPool1d, B> pool(tiny_pool);
    const auto loaded = io::load_state(pool.arena(), ctx.state, f, {"attn.", false});
    CHECK(loaded.loaded == std::vector<std::string>{"positional_embedding", "cls_token", "mhsa.in_proj_weight",
                                                    "mhsa.in_proj_bias", "mhsa.out_proj.weight", "mhsa.out_proj.bias",
                                                    "c_proj.weight", "c_proj.bias"});
    CHECK(pool.parameter("positional_embedding").shape == Shape{1, 6, 8});
    for (int length : {5, 9, 3, 1}) {
        INFO("input length ", length, " (reference length 5)");
        check_pass(ctx, pool, f, "attn.len" + std::to_string(length));
    }
}

TEST_CASE("AttentionPool1d passes the gradient check at, above and below its reference length") {
    using B = Cpu<double>;
    for (int length : {5, 8, 2}) {
        INFO("input length ", length);
        Context<B> ctx;
        ctx.training = true;
        Model<AttentionPool1d, B> pool(tiny_pool, 3);
        HostRng rng(4);  // non-zero biases, which torch's initialisation zeroes
        for (auto& v : pool.parameter("mhsa.in_proj_bias").value.host()) v = 0.3 * rng.normal();
        auto result = testing::gradcheck(pool, ctx, random_tensor(ctx, Shape{3, 8, length}, 5));
        INFO(result.report());
        CHECK(result.ok);
    }
}

TEST_CASE_TEMPLATE("EcgEncoder with MERL's head matches PyTorch, loaded by MERL's names", T, float, double) {
    using B = Cpu<T>;
    auto f = test::fixture("resnet1d.safetensors");
    Context<B> ctx;
    ctx.training = true;
    Model<TinyAttentionEncoder, B> enc(tiny_attention);
    CHECK(enc.module().options.head.in_channels == 16);
    CHECK(enc.module().options.head.reference_length == 10);  // the backbone's output length for 40 samples
    const auto loaded = io::load_state(enc.arena(), ctx.state, f, {"enc.", false});
    CHECK(loaded.missing.empty());
    CHECK(loaded.loaded.front() == "ecg_encoder.conv1.weight");
    CHECK(std::find(loaded.loaded.begin(), loaded.loaded.end(), "downconv.bias") != loaded.loaded.end());
    CHECK(std::find(loaded.loaded.begin(), loaded.loaded.end(), "att_pool_head.mhsa.out_proj.weight") !=
          loaded.loaded.end());
    const auto initial = ctx.to_host(enc.arena().buffer_values());
    SUBCASE("an input of the reference length") { check_pass(ctx, enc, f, "enc.len40"); }
    SUBCASE("a longer input: positions resized") { check_pass(ctx, enc, f, "enc.len52"); }
    CHECK(ctx.to_host(enc.arena().buffer_values()) != initial);  // batch statistics updated the running ones
}

TEST_CASE_TEMPLATE("a frozen backbone: the head trains, the backbone's backward is skipped", T, float, double) {
    using B = Cpu<T>;
    auto f = test::fixture("resnet1d.safetensors");
    Context<B> ctx;
    ctx.training = true;
    Model<TinyAttentionEncoder, B> enc(tiny_attention);
    test::load_weights(enc, ctx, f, "enc.");
    enc.module().freeze_backbone();
    CHECK(enc.module().backbone_frozen());
    std::int64_t backbone_parameters = 0;
    for (auto& e : enc.arena().params())
        if (e.name.starts_with("ecg_encoder.")) backbone_parameters += e.numel();
    CHECK(enc.parameter_count(true) == enc.parameter_count() - backbone_parameters);
    const auto buffers0 = ctx.to_host(enc.arena().buffer_values());

    auto y = enc.forward(ctx, test::tensor_from(ctx, f, "enc.frozen.x"));
    expect_close_model(ctx, y, f, "enc.frozen.y");
    enc.zero_grad(ctx);
    const auto dx = enc.backward(ctx, test::tensor_from(ctx, f, "enc.frozen.dy"));
    CHECK(!dx.defined());  // stopped at the backbone
    for (auto& e : enc.arena().params()) {
        if (e.name.starts_with("ecg_encoder.")) {
            CHECK(!e.param->trainable);
            const auto g = ctx.to_host(e.param->grad);
            CHECK(std::all_of(g.begin(), g.end(), [](T v) { return v == T(0); }));
        } else {
            expect_close_model(ctx, e.param->grad, f, "enc.frozen.grad." + e.name);
        }
    }
    // The backbone ran as inference: it kept nothing for a backward pass and updated no statistics.
    CHECK_THROWS_WITH_AS(enc.module().backbone.backward(ctx, ctx.zeros(Shape{3, 16, 10})),
                         doctest::Contains("fgclep: ecg_encoder (ResNet1D): backward needs a forward pass"), Error);
    CHECK(ctx.to_host(enc.arena().buffer_values()) == buffers0);
    for (auto& e : enc.arena().counters()) CHECK(e.counter->value == 0);

    // input_gradient: the backbone's backward runs (with running statistics), and only the input gradient comes out.
    enc.module().input_gradient = true;
    check_pass(ctx, enc, f, "enc.frozen");
    CHECK(ctx.to_host(enc.arena().buffer_values()) == buffers0);

    // Linear-probe features: the pooled backbone output in evaluation mode.
    expect_close_model(ctx, enc.module().pooled_features(ctx, test::tensor_from(ctx, f, "enc.frozen.x")), f,
                       "enc.frozen.pooled");

    enc.module().freeze_backbone(false);
    CHECK(enc.parameter_count(true) == enc.parameter_count());
}

TEST_CASE_TEMPLATE("EcgEncoder with the average-pooling head matches PyTorch", T, float, double) {
    using B = Cpu<T>;
    auto f = test::fixture("resnet1d.safetensors");
    Context<B> ctx;
    ctx.training = true;
    Model<TinyGapEncoder, B> enc(tiny_gap);
    CHECK(enc.module().options.head.in_channels == 8);
    test::load_weights(enc, ctx, f, "gap.");
    CHECK(enc.arena().params().back().name == "proj.bias");
    check_pass(ctx, enc, f, "gap");
    for (auto& e : enc.arena().buffers()) expect_close_model(ctx, e.buffer->value, f, "gap.after." + e.name);
}

TEST_CASE("a backbone or a head loads from a whole checkpoint with a file prefix") {
    using B = Cpu<double>;
    auto f = test::fixture("resnet1d.safetensors");
    Context<B> ctx;
    Model<ResNet1D<Bottleneck, 1, 1>, B> backbone(tiny_attention.backbone);
    const auto r = io::load_state(backbone.arena(), ctx.state, f, {"enc.ecg_encoder.", false});
    CHECK(r.missing.empty());
    CHECK(r.loaded.size() ==
          backbone.arena().params().size() + backbone.arena().buffers().size() + backbone.arena().counters().size());
    CHECK(backbone.parameter("layer2.0.conv2.weight").value.host()[0] ==
          f.get<double>("enc.ecg_encoder.layer2.0.conv2.weight").at(0));

    Model<AttentionPoolHead, B> head(
        {.in_channels = 16, .embed_dim = 8, .num_heads = 2, .output_dim = 6, .reference_length = 10});
    CHECK(io::load_state(head.arena(), ctx.state, f, {"enc.", false}).missing.empty());
    CHECK(head.parameter("att_pool_head.cls_token").value.host()[3] ==
          f.get<double>("enc.att_pool_head.cls_token").at(3));
}

TEST_CASE("whole encoders pass the gradient check in double") {
    using B = Cpu<double>;
    SUBCASE("ResNet1D + attention pooling, training mode, input shorter than the reference") {
        Context<B> ctx;
        ctx.training = true;
        Model<TinyAttentionEncoder, B> enc(tiny_attention, 21);
        auto result =
            testing::gradcheck(enc, ctx, random_tensor(ctx, Shape{2, 2, 30}, 22), {.max_checks_per_tensor = 20});
        INFO(result.report());
        CHECK(result.ok);
    }
    SUBCASE("ResNet1D + average pooling, training mode") {
        Context<B> ctx;
        ctx.training = true;
        Model<TinyGapEncoder, B> enc(tiny_gap, 23);
        auto result =
            testing::gradcheck(enc, ctx, random_tensor(ctx, Shape{3, 2, 21}, 24), {.max_checks_per_tensor = 20});
        INFO(result.report());
        CHECK(result.ok);
    }
    SUBCASE("frozen backbone: head gradients only, backbone gradients untouched") {
        Context<B> ctx;
        ctx.training = true;
        Model<TinyAttentionEncoder, B> enc(tiny_attention, 25);
        enc.module().freeze_backbone();
        auto result = testing::gradcheck(enc, ctx, random_tensor(ctx, Shape{2, 2, 40}, 26),
                                         {.max_checks_per_tensor = 20, .check_input = false});
        INFO(result.report());
        CHECK(result.ok);
        enc.module().input_gradient = true;
        result = testing::gradcheck(enc, ctx, random_tensor(ctx, Shape{2, 2, 40}, 27), {.max_checks_per_tensor = 20});
        INFO("with input gradient: ", result.report());
        CHECK(result.ok);
    }
}

TEST_CASE_TEMPLATE("the BatchNorm-folded encoder gives the evaluation-mode embeddings", T, float, double) {
    using B = Cpu<T>;
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
    Context<B> ctx;
    Model<TinyAttentionEncoder, B> enc(tiny_attention, 28, "ecg");  // under a prefix, as in the full model
    HostRng rng(29);  // BatchNorm parameters and statistics far from the identity
    for (auto& e : enc.arena().params())
        if (e.name.find(".bn") != std::string::npos || e.name.find("shortcut.1") != std::string::npos)
            for (auto& v : e.param->value.host())
                v = static_cast<T>(e.name.ends_with("weight") ? rng.uniform(0.5, 1.5) : rng.normal());
    for (auto& e : enc.arena().buffers())
        for (auto& v : e.buffer->value.host())
            v = static_cast<T>(e.name.ends_with("running_var") ? rng.uniform(0.5, 2.0) : 0.5 * rng.normal());
    auto folded = fold_batchnorm(ctx, enc);
    CHECK(folded.module().path() == "ecg");
    CHECK(folded.arena().params().front().name == "ecg.ecg_encoder.conv1.weight");
    CHECK(folded.arena().params()[1].name == "ecg.ecg_encoder.conv1.bias");
    CHECK(folded.arena().buffers().empty());
    for (int length : {40, 57}) {
        INFO("input length ", length);
        const auto x = random_tensor(ctx, Shape{4, 2, length}, 30 + length);
        const auto a = ctx.to_host(enc.forward(ctx, x)), b = ctx.to_host(folded.forward(ctx, x));
        double scale = 0, worst = 0;
        for (auto v : a) scale = std::max(scale, std::abs(double(v)));
        for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
        INFO("largest |embedding| ", scale, ", largest difference ", worst);
        CHECK(worst <= tol * scale);
    }
}

TEST_CASE("encoder and head errors say where and what") {
    Context<Cpu<float>> ctx;
    CHECK_THROWS_WITH_AS((Model<TinyAttentionEncoder, Cpu<float>>(
                             {.backbone = {.leads = 2, .base_width = 2}, .head = {.in_channels = 32}})),
                         doctest::Contains("EcgEncoder: the head expects 32 input channels but the backbone gives 16"),
                         Error);
    CHECK_THROWS_WITH_AS((Model<AttentionPoolHead, Cpu<float>>()),
                         doctest::Contains("AttentionPoolHead needs positive in_channels and reference_length"), Error);
    CHECK_THROWS_WITH_AS((Model<GlobalAvgPoolHead, Cpu<float>>()),
                         doctest::Contains("GlobalAvgPoolHead needs a positive in_channels"), Error);
    CHECK_THROWS_WITH_AS((Model<AttentionPool1d, Cpu<float>>({.embed_dim = 10, .num_heads = 4})),
                         doctest::Contains("AttentionPool1d: embed_dim 10 is not divisible by num_heads 4"), Error);

    Model<TinyAttentionEncoder, Cpu<float>> enc(tiny_attention, 0, "ecg");
    CHECK_THROWS_WITH_AS(enc.forward(ctx, ctx.zeros(Shape{2, 3, 40})),
                         doctest::Contains("fgclep: ecg.ecg_encoder (ResNet1D): expected input of shape (*, 2, *), got "
                                           "(2, 3, 40)"),
                         Error);
    CHECK_THROWS_WITH_AS(enc.module().head.forward(ctx, ctx.zeros(Shape{2, 12, 10})),
                         doctest::Contains("fgclep: ecg (AttentionPoolHead): expected input of shape (*, 16, *), got "
                                           "(2, 12, 10)"),
                         Error);
    CHECK_THROWS_WITH_AS(
        enc.module().head.att_pool_head.forward(ctx, ctx.zeros(Shape{2, 16, 10})),
        doctest::Contains("fgclep: ecg.att_pool_head (AttentionPool1d): expected input of shape (*, 8, "
                          "*), got (2, 16, 10)"),
        Error);
    ctx.training = true;
    enc.forward(ctx, ctx.zeros(Shape{2, 2, 40}));
    CHECK_THROWS_WITH_AS(
        enc.backward(ctx, ctx.zeros(Shape{2, 5})),
        doctest::Contains("fgclep: ecg.att_pool_head (AttentionPool1d): expected an output gradient of "
                          "shape (2, 6), got (2, 5)"),
        Error);
}
