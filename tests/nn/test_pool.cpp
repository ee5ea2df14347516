// MaxPool1d and GlobalAvgPool1d: PyTorch parity, gradient checks, errors; and a small ResNet-like stack
// (Conv1d, BatchNorm1d, ReLU, MaxPool1d, Conv1d, GlobalAvgPool1d) against torch and the gradient checker.
#include "fixture.hpp"

#include "fgclep/nn/activation.hpp"
#include "fgclep/nn/batchnorm1d.hpp"
#include "fgclep/nn/conv1d.hpp"
#include "fgclep/nn/pool.hpp"
#include "fgclep/nn/sequential.hpp"
#include "fgclep/testing/gradcheck.hpp"

using namespace fgclep;
using test::expect_close;
using test::random_tensor;

namespace {
// Forward and input gradient of a parameter-free layer against the fixture case `name`.
template <class S, class B>
void check_against_torch(Model<S, B>& model, const std::string& name) {
    auto f = test::fixture("conv_norm_pool.safetensors");
    Context<B> ctx;
    ctx.training = true;
    auto y = model.forward(ctx, test::tensor_from(ctx, f, name + ".x"));
    expect_close(ctx, y, f, name + ".y");
    expect_close(ctx, model.backward(ctx, test::tensor_from(ctx, f, name + ".dy")), f, name + ".dx");
    ctx.training = false;
    expect_close(ctx, model.forward(ctx, test::tensor_from(ctx, f, name + ".x")), f, name + ".y");
    CHECK_THROWS_WITH_AS(model.backward(ctx, test::tensor_from(ctx, f, name + ".dy")),
                         doctest::Contains("backward needs a forward pass in training mode first"), Error);
}
}  // namespace

TEST_CASE_TEMPLATE("MaxPool1d matches torch.nn.MaxPool1d", T, float, double) {
    using B = Cpu<T>;
    Model<MaxPool1d, B> padded(MaxPool1d::Options{3, 2, 1});
    check_against_torch(padded, "maxpool_k3s2p1");
    Model<MaxPool1d, B> plain(MaxPool1d::Options{2});  // stride 0: the kernel size, as PyTorch's stride=None
    CHECK(plain.module().options.stride == 2);
    check_against_torch(plain, "maxpool_k2");
}

TEST_CASE_TEMPLATE("GlobalAvgPool1d matches the mean over the length", T, float, double) {
    Model<GlobalAvgPool1d, Cpu<T>> model;
    check_against_torch(model, "gap");
}

TEST_CASE("MaxPool1d and GlobalAvgPool1d pass the gradient check") {
    using B = Cpu<double>;
    const MaxPool1d::Options configs[] = {{3, 2, 1}, {2, 0, 0}, {5, 1, 2}, {1, 1, 0}, {4, 3, 2}};
    std::uint64_t seed = 30;
    for (const auto& o : configs) {
        INFO("MaxPool1d(", o.kernel_size, ", ", o.stride, ", ", o.padding, ")");
        Context<B> ctx;
        ctx.training = true;
        Model<MaxPool1d, B> model(o);
        auto result = testing::gradcheck(model, ctx, random_tensor(ctx, Shape{2, 3, 12}, ++seed));
        INFO(result.report());
        CHECK(result.ok);
        CHECK(result.checked == 72);
    }
    Context<B> ctx;
    ctx.training = true;
    Model<GlobalAvgPool1d, B> gap;
    auto result = testing::gradcheck(gap, ctx, random_tensor(ctx, Shape{2, 3, 7}, 40));
    INFO(result.report());
    CHECK(result.ok);
    CHECK(result.checked == 42);
}

TEST_CASE("MaxPool1d sends each gradient to its window's maximum, padding never wins") {
    using B = Cpu<double>;
    Context<B> ctx;
    ctx.training = true;
    Model<MaxPool1d, B> model(MaxPool1d::Options{3, 2, 1});
    // All values negative: a padding treated as 0 instead of -inf would win every edge window.
    auto x = ctx.from_host(Shape{1, 1, 5}, std::vector<double>{-5, -1, -4, -2, -3});
    auto y = model.forward(ctx, x);
    CHECK(ctx.to_host(y) == std::vector<double>{-1, -1, -2});
    auto dx = model.backward(ctx, ctx.from_host(Shape{1, 1, 3}, std::vector<double>{1, 10, 100}));
    CHECK(ctx.to_host(dx) == std::vector<double>{0, 11, 0, 100, 0});
}

TEST_CASE("pools report wrong shapes and options with their module path") {
    using B = Cpu<float>;
    Context<B> ctx;
    Model<MaxPool1d, B> pool(MaxPool1d::Options{3, 2, 1}, 0, "ecg.maxpool");
    CHECK_THROWS_WITH_AS(pool.forward(ctx, ctx.zeros(Shape{2, 5})),
                         "fgclep: ecg.maxpool (MaxPool1d): expected input of shape (*, *, *), got (2, 5)", Error);
    Model<MaxPool1d, B> wide(MaxPool1d::Options{5}, 0, "pool");
    CHECK_THROWS_WITH_AS(wide.forward(ctx, ctx.zeros(Shape{1, 2, 4})),
                         doctest::Contains("fgclep: pool (MaxPool1d): input length 4 is too short"), Error);
    CHECK(wide.forward(ctx, ctx.zeros(Shape{1, 2, 5})).shape() == Shape{1, 2, 1});
    CHECK_THROWS_AS(([] { Model<MaxPool1d, B> m(MaxPool1d::Options{3, 1, 2}); }()), Error);  // padding > k/2
    CHECK_THROWS_AS(([] { Model<MaxPool1d, B> m(MaxPool1d::Options{0}); }()), Error);

    Model<GlobalAvgPool1d, B> gap({}, 0, "ecg.avgpool");
    CHECK_THROWS_WITH_AS(gap.forward(ctx, ctx.zeros(Shape{2, 5})),
                         "fgclep: ecg.avgpool (GlobalAvgPool1d): expected input of shape (*, *, *), got (2, 5)", Error);
    ctx.training = true;
    gap.forward(ctx, ctx.zeros(Shape{2, 5, 3}));
    CHECK_THROWS_WITH_AS(gap.backward(ctx, ctx.zeros(Shape{2, 4})),
                         "fgclep: ecg.avgpool (GlobalAvgPool1d): expected an output gradient of shape (2, 5), got "
                         "(2, 4)",
                         Error);
}

using Stack = Sequential<Conv1d, BatchNorm1d, ReLU, MaxPool1d, Conv1d, GlobalAvgPool1d>;
namespace {
Stack::Options stack_options() { return {{2, 4, 5, 2, 2, 1, false}, {4}, {}, {3, 2, 1}, {4, 3, 1}, {}}; }
}  // namespace

TEST_CASE_TEMPLATE("Conv1d-BatchNorm1d-ReLU-MaxPool1d-Conv1d-GlobalAvgPool1d matches torch in training mode", T, float,
                   double) {
    using B = Cpu<T>;
    auto f = test::fixture("conv_norm_pool.safetensors");
    Context<B> ctx;
    ctx.training = true;
    Model<Stack, B> model(stack_options());
    test::load_weights(model, ctx, f, "stack.");
    auto y = model.forward(ctx, test::tensor_from(ctx, f, "stack.x"));
    expect_close(ctx, y, f, "stack.y");
    model.zero_grad(ctx);
    expect_close(ctx, model.backward(ctx, test::tensor_from(ctx, f, "stack.dy")), f, "stack.dx");
    for (auto name : {"0.weight", "1.weight", "1.bias", "4.weight", "4.bias"})
        expect_close(ctx, model.parameter(name).grad, f, std::string("stack.grad.") + name);
    for (auto name : {"1.running_mean", "1.running_var"})
        expect_close(ctx, model.buffer(name).value, f, std::string("stack.after.") + name);
    CHECK(model.module().template get<1>().num_batches_tracked.value == 1);
}

TEST_CASE("Conv1d-BatchNorm1d-ReLU-MaxPool1d-Conv1d-GlobalAvgPool1d passes the gradient check in training mode") {
    using B = Cpu<double>;
    Context<B> ctx;
    ctx.training = true;
    Model<Stack, B> model(stack_options(), 12);
    HostRng rng(13);
    for (auto& v : model.parameter("1.weight").value.host()) v = rng.uniform(0.5, 1.5);
    for (auto& v : model.parameter("1.bias").value.host()) v = rng.normal() * 0.5;
    auto result = testing::gradcheck(model, ctx, random_tensor(ctx, Shape{3, 2, 16}, 14));
    INFO(result.report());
    CHECK(result.ok);
    CHECK(result.checked == 96 + 40 + 4 + 4 + 12 + 3);
    // A mistake in any layer's shape reaches the user with that layer's path.
    // (1, 2, 2) leaves the BatchNorm one value per channel.
    CHECK_THROWS_WITH_AS(model.forward(ctx, random_tensor(ctx, Shape{1, 2, 2}, 1)),
                         doctest::Contains("fgclep: 1 (BatchNorm1d): expected more than 1 value per channel"), Error);
}
