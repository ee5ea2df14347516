// Conv1d: PyTorch parity (forward, input, weight and bias gradients) over the configurations ResNet1D uses,
// gradient checks, frozen parameters, thread-count independence, errors.
#include "fixture.hpp"

#include "fgclep/nn/conv1d.hpp"
#include "fgclep/testing/gradcheck.hpp"

using namespace fgclep;
using test::expect_close;
using test::random_tensor;

namespace {
struct ConvCase {
    const char* name;
    Conv1d::Options options;
};
// The configurations of tests/fixtures/make_conv_norm_pool.py.
const ConvCase conv_cases[] = {
    {"conv_stem", {3, 5, 7, 2, 3, 1, false}},    // ResNet stem: k7 s2 p3, no bias
    {"conv_k3s2p1", {4, 6, 3, 2, 1, 1, true}},   // downsampling 3-tap conv
    {"conv_k1", {5, 7, 1, 1, 0, 1, true}},       // 1x1 fast path (no im2col)
    {"conv_k1s2", {5, 4, 1, 2, 0, 1, true}},     // strided 1x1 (projection shortcut): im2col path
    {"conv_dilated", {3, 4, 3, 1, 2, 2, true}},  // dilation 2
    {"conv_nobias", {4, 3, 3, 1, 1, 1, false}},
};

}  // namespace

TEST_CASE_TEMPLATE("Conv1d matches torch.nn.Conv1d: forward, input, weight and bias gradients", T, float, double) {
    using B = Cpu<T>;
    auto f = test::fixture("conv_norm_pool.safetensors");
    for (const auto& c : conv_cases) {
        const std::string p = std::string(c.name) + ".";
        INFO("case ", c.name);
        Context<B> ctx;
        ctx.training = true;
        Model<Conv1d, B> model(c.options);
        CHECK(model.arena().params().size() == (c.options.bias ? 2u : 1u));
        test::load_weights(model, ctx, f, p);
        auto y = model.forward(ctx, test::tensor_from(ctx, f, p + "x"));
        expect_close(ctx, y, f, p + "y");
        model.zero_grad(ctx);
        auto dx = model.backward(ctx, test::tensor_from(ctx, f, p + "dy"));
        expect_close(ctx, dx, f, p + "dx");
        expect_close(ctx, model.parameter("weight").grad, f, p + "grad.weight");
        if (c.options.bias) expect_close(ctx, model.parameter("bias").grad, f, p + "grad.bias");

        // Evaluation mode computes the same output and keeps nothing for backward.
        ctx.training = false;
        expect_close(ctx, model.forward(ctx, test::tensor_from(ctx, f, p + "x")), f, p + "y");
        CHECK_THROWS_WITH_AS(model.backward(ctx, test::tensor_from(ctx, f, p + "dy")),
                             doctest::Contains("backward needs a forward pass in training mode first"), Error);
    }
}

TEST_CASE("Conv1d passes the gradient check in every configuration") {
    using B = Cpu<double>;
    const Conv1d::Options configs[] = {
        {3, 5, 7, 2, 3, 1, false}, {4, 6, 3, 2, 1, 1, true},  {5, 7, 1, 1, 0, 1, true}, {5, 4, 1, 2, 0, 1, true},
        {3, 4, 3, 1, 2, 2, true},  {4, 3, 3, 1, 1, 1, false}, {2, 3, 4, 3, 0, 1, true},  // even kernel, stride 3
        {2, 2, 1, 1, 1, 1, true},  // k=1 with padding: not the fast path
    };
    std::uint64_t seed = 1;
    for (const auto& o : configs) {
        INFO("Conv1d(", o.in_channels, ", ", o.out_channels, ", k=", o.kernel_size, ", s=", o.stride, ", p=", o.padding,
             ", d=", o.dilation, ", bias=", o.bias, ")");
        Context<B> ctx;
        ctx.training = true;
        Model<Conv1d, B> model(o, seed);
        auto result = testing::gradcheck(model, ctx, random_tensor(ctx, Shape{3, o.in_channels, 13}, ++seed));
        INFO(result.report());
        CHECK(result.ok);
        // Every input element, every weight and bias element is checked (all are below the sampling limit).
        CHECK(result.checked ==
              3 * o.in_channels * 13 + o.out_channels * o.in_channels * o.kernel_size + (o.bias ? o.out_channels : 0));
    }
}

TEST_CASE("a frozen Conv1d leaves its gradients alone but passes the input gradient back") {
    using B = Cpu<double>;
    for (const char* frozen : {"weight", "bias"}) {
        for (std::int64_t k : {1, 3}) {  // the fast path and the im2col path
            INFO("frozen ", frozen, ", kernel ", k);
            Context<B> ctx;
            ctx.training = true;
            Model<Conv1d, B> model(Conv1d::Options{3, 4, k, 1, 0, 1, true}, 4);
            CHECK(model.freeze(frozen) == 1);
            auto result = testing::gradcheck(model, ctx, random_tensor(ctx, Shape{2, 3, 8}, 5));
            INFO(result.report());
            CHECK(result.ok);
        }
    }
}

TEST_CASE("Conv1d gives the same results on one thread and on several") {
    using B = Cpu<double>;
    for (std::int64_t k : {1, 3}) {
        std::vector<std::vector<double>> outputs;
        for (int threads : {1, 2, 4}) {
            Context<B> ctx;
            ctx.state.threads = threads;
            ctx.training = true;
            Model<Conv1d, B> model(Conv1d::Options{6, 8, k, 1, k / 2, 1, true}, 7);
            auto x = random_tensor(ctx, Shape{5, 6, 40}, 8);
            auto y = model.forward(ctx, x);
            auto dx = model.backward(ctx, random_tensor(ctx, y.shape(), 9));
            auto all = ctx.to_host(y);
            for (auto v : ctx.to_host(dx)) all.push_back(v);
            for (auto v : ctx.to_host(model.arena().grads())) all.push_back(v);
            outputs.push_back(all);
        }
        for (std::size_t i = 1; i < outputs.size(); ++i) {
            REQUIRE(outputs[i].size() == outputs[0].size());
            for (std::size_t j = 0; j < outputs[0].size(); ++j)
                CHECK(outputs[i][j] == doctest::Approx(outputs[0][j]).epsilon(1e-12));
        }
    }
}

TEST_CASE("Conv1d initialises like PyTorch: U(-1/sqrt(in*k), 1/sqrt(in*k)), weight decayed, bias not") {
    using B = Cpu<double>;
    Model<Conv1d, B> model(Conv1d::Options{8, 16, 3}, 3);
    const double bound = 1.0 / std::sqrt(24.0);
    for (const char* name : {"weight", "bias"}) {
        double lo = 1, hi = -1;
        for (double v : model.parameter(name).value.host()) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
        CHECK(lo >= -bound);
        CHECK(hi <= bound);
        CHECK(hi - lo > bound);  // spread over the interval, not constant
    }
    CHECK(model.parameter("weight").shape == Shape{16, 8, 3});
    CHECK(model.parameter("weight").decay == Decay::yes);
    CHECK(model.parameter("bias").decay == Decay::no);
}

TEST_CASE("Conv1d reports wrong shapes and options with its module path") {
    using B = Cpu<float>;
    Context<B> ctx;
    Model<Conv1d, B> model(Conv1d::Options{12, 64, 7, 2, 3, 1, false}, 0, "ecg.conv1");
    CHECK_THROWS_WITH_AS(model.forward(ctx, ctx.zeros(Shape{2, 3, 100})),
                         "fgclep: ecg.conv1 (Conv1d): expected input of shape (*, 12, *), got (2, 3, 100)", Error);
    CHECK_THROWS_WITH_AS(model.forward(ctx, ctx.zeros(Shape{12, 100})),
                         "fgclep: ecg.conv1 (Conv1d): expected input of shape (*, 12, *), got (12, 100)", Error);
    // Length 1 still fits (1 + 6 >= 7); no length fits a dilated kernel wider than the padded input.
    CHECK(model.forward(ctx, ctx.zeros(Shape{1, 12, 1})).shape() == Shape{1, 64, 1});
    Model<Conv1d, B> dilated(Conv1d::Options{2, 2, 3, 1, 0, 4}, 0, "tcn.0");
    CHECK_THROWS_WITH_AS(dilated.forward(ctx, ctx.zeros(Shape{1, 2, 8})),
                         doctest::Contains("fgclep: tcn.0 (Conv1d): input length 8 is too short"), Error);
    CHECK(dilated.forward(ctx, ctx.zeros(Shape{1, 2, 9})).shape() == Shape{1, 2, 1});

    ctx.training = true;
    auto y = model.forward(ctx, ctx.zeros(Shape{2, 12, 20}));
    CHECK(y.shape() == Shape{2, 64, 10});
    CHECK_THROWS_WITH_AS(model.backward(ctx, ctx.zeros(Shape{2, 64, 11})),
                         "fgclep: ecg.conv1 (Conv1d): expected an output gradient of shape (2, 64, 10), got "
                         "(2, 64, 11)",
                         Error);
    CHECK_THROWS_AS(([] { Model<Conv1d, B> m(Conv1d::Options{0, 3, 3}); }()), Error);
    CHECK_THROWS_AS(([] { Model<Conv1d, B> m(Conv1d::Options{3, 3, 3, 0}); }()), Error);
    CHECK_THROWS_AS(([] { Model<Conv1d, B> m(Conv1d::Options{3, 3, 3, 1, -1}); }()), Error);
}
