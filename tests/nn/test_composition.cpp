// Sequential, Residual, Repeat and Named: PyTorch parity, state_dict names, gradient checks.
#include "fixture.hpp"

#include "fgclep/nn/activation.hpp"
#include "fgclep/nn/linear.hpp"
#include "fgclep/nn/repeat.hpp"
#include "fgclep/nn/residual.hpp"
#include "fgclep/nn/sequential.hpp"
#include "fgclep/testing/gradcheck.hpp"

using namespace fgclep;
using test::random_tensor;

using Mlp = Sequential<Linear, ReLU, Linear, GELU, Linear, Tanh>;

TEST_CASE_TEMPLATE("Sequential of Linear/ReLU/GELU/Tanh matches torch.nn.Sequential", T, float, double) {
    using B = Cpu<T>;
    auto f = test::fixture("linear_composition.safetensors");
    Context<B> ctx;
    ctx.training = true;
    Model<Mlp, B> model({{5, 8}, {}, {8, 6}, {}, {6, 3}, {}});
    test::load_weights(model, ctx, f, "mlp.");
    auto y = model.forward(ctx, test::tensor_from(ctx, f, "mlp.x"));
    test::check_close(ctx, y, f, "mlp.y");
    model.zero_grad(ctx);
    auto dx = model.backward(ctx, test::tensor_from(ctx, f, "mlp.dy"));
    test::check_close(ctx, dx, f, "mlp.dx");
    for (auto name : {"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"})
        test::check_close(ctx, model.parameter(name).grad, f, std::string("mlp.grad.") + name);
}

TEST_CASE("Sequential passes the gradient check in double") {
    Context<Cpu<double>> ctx;
    ctx.training = true;
    Model<Mlp, Cpu<double>> model({{5, 8}, {}, {8, 6}, {}, {6, 3}, {}}, 11);
    auto result = testing::gradcheck(model, ctx, random_tensor(ctx, Shape{4, 5}, 2));
    INFO(result.report());
    CHECK(result.ok);
}

using Block = Residual<Named<"", Sequential<Named<"fc1", Linear>, Named<"act", GELU>, Named<"fc2", Linear>>>>;
using Projected = Residual<Sequential<Linear, Tanh>, Named<"downsample", Linear>>;

TEST_CASE("Residual and Named give torchvision-style names and pass the gradient check") {
    Context<Cpu<double>> ctx;
    ctx.training = true;
    Model<Block, Cpu<double>> block({{{4, 7}, {}, {7, 4}}, {}}, 5);
    std::vector<std::string> names;
    for (auto& e : block.arena().params()) names.push_back(e.name);
    CHECK(names == std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
    CHECK(block.module().main.get<2>().path() == "fc2");
    auto result = testing::gradcheck(block, ctx, random_tensor(ctx, Shape{3, 4}, 9));
    INFO(result.report());
    CHECK(result.ok);

    Model<Projected, Cpu<double>> projected({{{4, 6}, {}}, {4, 6}}, 5, "layer1.0");
    names.clear();
    for (auto& e : projected.arena().params()) names.push_back(e.name);
    CHECK(names == std::vector<std::string>{"layer1.0.0.0.weight", "layer1.0.0.0.bias", "layer1.0.downsample.weight",
                                            "layer1.0.downsample.bias"});
    result = testing::gradcheck(projected, ctx, random_tensor(ctx, Shape{2, 4}, 10));
    INFO(result.report());
    CHECK(result.ok);
}

TEST_CASE("Residual refuses branches of different shapes, naming itself") {
    Context<Cpu<float>> ctx;
    Model<Residual<Linear>, Cpu<float>> bad({{4, 6}, {}}, 0, "blocks.2");
    CHECK_THROWS_WITH_AS(
        bad.forward(ctx, ctx.zeros(Shape{1, 4})),
        doctest::Contains("fgclep: blocks.2 (Residual): the main branch gives (1, 6) but the shortcut gives (1, 4)"),
        Error);
}

TEST_CASE("Repeat runs a run-time number of blocks named 0..n-1") {
    using Stack = Repeat<Block>;
    Context<Cpu<double>> ctx;
    ctx.training = true;
    Model<Stack, Cpu<double>> stack(Stack::Options::times(3, {{{4, 5}, {}, {5, 4}}, {}}), 1, "encoder.layer");
    CHECK(stack.module().size() == 3);
    CHECK(stack.arena().params().back().name == "encoder.layer.2.fc2.bias");
    CHECK(stack.parameter_count() == 3 * (20 + 5 + 20 + 4));
    auto result = testing::gradcheck(stack, ctx, random_tensor(ctx, Shape{2, 4}, 4));
    INFO(result.report());
    CHECK(result.ok);
}
