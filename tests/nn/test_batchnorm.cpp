// BatchNorm1d: PyTorch parity in training mode (three passes, running statistics and counter) and evaluation mode
// (non-trivial running statistics), (N, C) inputs, gradient checks in both modes, state_dict order, errors.
#include "fixture.hpp"

#include "fgclep/nn/batchnorm1d.hpp"
#include "fgclep/testing/gradcheck.hpp"

using namespace fgclep;
using test::expect_close;
using test::random_tensor;

namespace {
// Gives the affine parameters and running statistics values a layer could not get right by ignoring them.
template <class S>
void randomise(Model<S, Cpu<double>>& model, const std::string& prefix, std::uint64_t seed) {
    HostRng rng(seed);
    for (auto& v : model.parameter(prefix + "weight").value.host()) v = rng.uniform(0.5, 1.5);
    for (auto& v : model.parameter(prefix + "bias").value.host()) v = rng.normal();
    for (auto& v : model.buffer(prefix + "running_mean").value.host()) v = rng.normal();
    for (auto& v : model.buffer(prefix + "running_var").value.host()) v = rng.uniform(0.5, 2.0);
}

}  // namespace

TEST_CASE_TEMPLATE("BatchNorm1d matches torch in training mode, running statistics included", T, float, double) {
    using B = Cpu<T>;
    auto f = test::fixture("conv_norm_pool.safetensors");
    Context<B> ctx;
    ctx.training = true;
    Model<BatchNorm1d, B> model(BatchNorm1d::Options{4});
    test::load_weights(model, ctx, f, "bn_train.");
    for (int step = 0; step < 3; ++step) {
        const std::string p = "bn_train." + std::to_string(step) + ".";
        INFO("training pass ", step);
        auto y = model.forward(ctx, test::tensor_from(ctx, f, p + "x"));
        expect_close(ctx, y, f, p + "y");
        model.zero_grad(ctx);
        auto dx = model.backward(ctx, test::tensor_from(ctx, f, p + "dy"));
        expect_close(ctx, dx, f, p + "dx");
        expect_close(ctx, model.parameter("weight").grad, f, p + "grad.weight");
        expect_close(ctx, model.parameter("bias").grad, f, p + "grad.bias");
    }
    expect_close(ctx, model.buffer("running_mean").value, f, "bn_train.after.running_mean");
    expect_close(ctx, model.buffer("running_var").value, f, "bn_train.after.running_var");
    CHECK(model.module().num_batches_tracked.value == 3);
    CHECK(f.get<std::int64_t>("bn_train.after.num_batches_tracked").at(0) == 3);
}

TEST_CASE_TEMPLATE("BatchNorm1d on (N, C) input with other eps and momentum matches torch", T, float, double) {
    using B = Cpu<T>;
    auto f = test::fixture("conv_norm_pool.safetensors");
    Context<B> ctx;
    ctx.training = true;
    Model<BatchNorm1d, B> model(BatchNorm1d::Options{3, 1e-3, 0.3});
    test::load_weights(model, ctx, f, "bn_2d.");
    auto y = model.forward(ctx, test::tensor_from(ctx, f, "bn_2d.x"));
    expect_close(ctx, y, f, "bn_2d.y");
    model.zero_grad(ctx);
    expect_close(ctx, model.backward(ctx, test::tensor_from(ctx, f, "bn_2d.dy")), f, "bn_2d.dx");
    expect_close(ctx, model.parameter("weight").grad, f, "bn_2d.grad.weight");
    expect_close(ctx, model.parameter("bias").grad, f, "bn_2d.grad.bias");
    expect_close(ctx, model.buffer("running_mean").value, f, "bn_2d.after.running_mean");
    expect_close(ctx, model.buffer("running_var").value, f, "bn_2d.after.running_var");
    CHECK(model.module().num_batches_tracked.value == 1);
}

TEST_CASE_TEMPLATE("BatchNorm1d matches torch in evaluation mode with loaded running statistics", T, float, double) {
    using B = Cpu<T>;
    auto f = test::fixture("conv_norm_pool.safetensors");
    Context<B> ctx;
    Model<BatchNorm1d, B> model(BatchNorm1d::Options{4});
    auto loaded = io::load_state(model.arena(), ctx.state, f, {"bn_eval.", false});
    CHECK(loaded.missing.empty());
    CHECK(model.module().num_batches_tracked.value == 7);
    const auto mean0 = ctx.to_host(model.buffer("running_mean").value);
    const auto var0 = ctx.to_host(model.buffer("running_var").value);
    const auto x = test::tensor_from(ctx, f, "bn_eval.x");

    SUBCASE("ctx.training = false normalises with the running statistics and keeps nothing") {
        expect_close(ctx, model.forward(ctx, x), f, "bn_eval.y");
        CHECK_THROWS_WITH_AS(model.backward(ctx, test::tensor_from(ctx, f, "bn_eval.dy")),
                             doctest::Contains("backward needs a forward pass in training mode first"), Error);
    }
    SUBCASE("use_running_stats in a training pass: torch's bn.eval() with gradients") {
        ctx.training = true;
        model.module().use_running_stats = true;
        expect_close(ctx, model.forward(ctx, x), f, "bn_eval.y");
        model.zero_grad(ctx);
        expect_close(ctx, model.backward(ctx, test::tensor_from(ctx, f, "bn_eval.dy")), f, "bn_eval.dx");
        expect_close(ctx, model.parameter("weight").grad, f, "bn_eval.grad.weight");
        expect_close(ctx, model.parameter("bias").grad, f, "bn_eval.grad.bias");
    }
    // Neither way touches the statistics or the counter.
    CHECK(ctx.to_host(model.buffer("running_mean").value) == mean0);
    CHECK(ctx.to_host(model.buffer("running_var").value) == var0);
    CHECK(model.module().num_batches_tracked.value == 7);
}

TEST_CASE("BatchNorm1d passes the gradient check in training and evaluation modes") {
    using B = Cpu<double>;
    // A single sample of length 3: with length 2 the batch statistics map every pair to +-1 and the input gradient
    // is nearly zero (O(eps / var)), too small for the check to mean anything.
    const Shape shapes[] = {{3, 4, 5}, {6, 4}, {1, 4, 3}};  // (N, C, L), (N, C), and a single sample
    std::uint64_t seed = 10;
    for (const Shape& shape : shapes) {
        for (bool running : {false, true}) {
            INFO("input ", shape.str(), running ? ", running statistics" : ", batch statistics");
            Context<B> ctx;
            ctx.training = true;
            Model<BatchNorm1d, B> model(BatchNorm1d::Options{4}, seed);
            randomise(model, "", ++seed);
            model.module().use_running_stats = running;
            const auto buffers0 = ctx.to_host(model.arena().buffer_values());
            auto result = testing::gradcheck(model, ctx, random_tensor(ctx, shape, ++seed, 1.5, 0.5));
            INFO(result.report());
            CHECK(result.ok);
            CHECK(result.checked == shape.numel() + 8);
            // The checker restores statistics and counter after its passes.
            CHECK(ctx.to_host(model.arena().buffer_values()) == buffers0);
            CHECK(model.module().num_batches_tracked.value == 0);
        }
    }
}

TEST_CASE("a frozen BatchNorm1d leaves its gradients alone") {
    using B = Cpu<double>;
    for (const char* frozen : {"weight", "bias"}) {
        Context<B> ctx;
        ctx.training = true;
        Model<BatchNorm1d, B> model(BatchNorm1d::Options{3}, 2);
        randomise(model, "", 3);
        CHECK(model.freeze(frozen) == 1);
        auto result = testing::gradcheck(model, ctx, random_tensor(ctx, Shape{2, 3, 4}, 4));
        INFO(frozen, " frozen: ", result.report());
        CHECK(result.ok);
    }
}

TEST_CASE("BatchNorm1d declares its state in PyTorch's state_dict order, with PyTorch's initial values") {
    using B = Cpu<float>;
    Model<BatchNorm1d, B> model(BatchNorm1d::Options{5}, 0, "ecg.bn1");
    std::vector<std::string> names;
    for (auto& e : model.arena().params()) names.push_back(e.name);
    for (auto& e : model.arena().buffers()) names.push_back(e.name);
    for (auto& e : model.arena().counters()) names.push_back(e.name);
    CHECK(names == std::vector<std::string>{"ecg.bn1.weight", "ecg.bn1.bias", "ecg.bn1.running_mean",
                                            "ecg.bn1.running_var", "ecg.bn1.num_batches_tracked"});
    for (float v : model.parameter("ecg.bn1.weight").value.host()) CHECK(v == 1.0f);
    for (float v : model.parameter("ecg.bn1.bias").value.host()) CHECK(v == 0.0f);
    for (float v : model.buffer("ecg.bn1.running_mean").value.host()) CHECK(v == 0.0f);
    for (float v : model.buffer("ecg.bn1.running_var").value.host()) CHECK(v == 1.0f);
    CHECK(model.parameter("ecg.bn1.weight").decay == Decay::no);
    CHECK(model.parameter("ecg.bn1.bias").decay == Decay::no);
    CHECK(model.parameter_count() == 10);
}

TEST_CASE("BatchNorm1d reports wrong shapes, and one value per channel when training, with its module path") {
    using B = Cpu<float>;
    Context<B> ctx;
    Model<BatchNorm1d, B> model(BatchNorm1d::Options{4}, 0, "ecg.layer1.0.bn2");
    CHECK_THROWS_WITH_AS(model.forward(ctx, ctx.zeros(Shape{2, 3, 5})),
                         "fgclep: ecg.layer1.0.bn2 (BatchNorm1d): expected input of shape (*, 4) or (*, 4, *), got "
                         "(2, 3, 5)",
                         Error);
    CHECK_THROWS_WITH_AS(model.forward(ctx, ctx.zeros(Shape{4})), doctest::Contains("(BatchNorm1d): expected input"),
                         Error);
    CHECK_THROWS_WITH_AS(model.forward(ctx, ctx.zeros(Shape{1, 4, 2, 2})),
                         doctest::Contains("(BatchNorm1d): expected input"), Error);
    // One value per channel is fine in evaluation mode, refused in training mode (as PyTorch).
    CHECK(model.forward(ctx, ctx.zeros(Shape{1, 4})).shape() == Shape{1, 4});
    CHECK(model.forward(ctx, ctx.zeros(Shape{1, 4, 1})).shape() == Shape{1, 4, 1});
    ctx.training = true;
    CHECK_THROWS_WITH_AS(model.forward(ctx, ctx.zeros(Shape{1, 4})),
                         "fgclep: ecg.layer1.0.bn2 (BatchNorm1d): expected more than 1 value per channel when "
                         "training, got input (1, 4)",
                         Error);
    CHECK_THROWS_AS(model.forward(ctx, ctx.zeros(Shape{1, 4, 1})), Error);
    CHECK(model.module().num_batches_tracked.value == 0);  // a refused pass counts nothing
    CHECK(model.forward(ctx, ctx.zeros(Shape{2, 4})).shape() == Shape{2, 4});
    CHECK_THROWS_WITH_AS(model.backward(ctx, ctx.zeros(Shape{2, 4, 1})),
                         "fgclep: ecg.layer1.0.bn2 (BatchNorm1d): expected an output gradient of shape (2, 4), got "
                         "(2, 4, 1)",
                         Error);
    CHECK_THROWS_AS(([] { Model<BatchNorm1d, B> m(BatchNorm1d::Options{0}); }()), Error);
    CHECK_THROWS_AS(([] { Model<BatchNorm1d, B> m(BatchNorm1d::Options{4, 0.0}); }()), Error);
}
