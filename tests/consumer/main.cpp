// A downstream program: builds a small MLP through the umbrella header, runs a training step's forward and
// backward, and checks the results. Exits non-zero (with a message) on any failure.
#include <fgclep/fgclep.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace {
int failures = 0;
void check(bool ok, const std::string& what) {
    if (!ok) {
        std::fprintf(stderr, "consumer check failed: %s\n", what.c_str());
        ++failures;
    }
}
}  // namespace

int main() {
    using B = fgclep::Cpu<float>;
    using Mlp = fgclep::Sequential<fgclep::Linear, fgclep::ReLU, fgclep::Linear>;
    fgclep::Model<Mlp, B> model({{4, 8}, {}, {8, 2}}, /*seed=*/7);
    fgclep::Context<B> ctx;
    ctx.training = true;

    check(model.parameter_count() == 4 * 8 + 8 + 8 * 2 + 2, "parameter count of Linear(4, 8) + Linear(8, 2)");

    std::vector<float> input(3 * 4);
    for (std::size_t i = 0; i < input.size(); ++i) input[i] = std::sin(0.7f * float(i) + 0.3f);
    auto x = ctx.from_host(fgclep::Shape{3, 4}, input);
    auto y = model.forward(ctx, x);
    check(y.shape() == fgclep::Shape{3, 2}, "output shape (3, 2), got " + y.shape().str());

    // d(sum y)/dy = 1: the bias gradient of the last layer is then exactly the batch size.
    model.zero_grad(ctx);
    auto dx = model.backward(ctx, ctx.full(y.shape(), 1.0f));
    check(dx.shape() == x.shape(), "input gradient shape (3, 4), got " + dx.shape().str());
    for (float g : ctx.to_host(model.parameter("2.bias").grad))
        check(std::abs(g - 3.0f) < 1e-6f, "2.bias gradient is 3 (the batch size), got " + std::to_string(g));
    float norm = 0;
    for (float g : ctx.to_host(model.parameter("0.weight").grad)) {
        check(std::isfinite(g), "0.weight gradient is finite");
        norm += g * g;
    }
    check(norm > 0, "0.weight gradient is non-zero");

    // Errors name the module path, through fmt (a dependency the package must bring along).
    try {
        model.forward(ctx, ctx.zeros(fgclep::Shape{3, 5}));
        check(false, "a (3, 5) input is refused");
    } catch (const fgclep::Error& e) {
        check(std::string(e.what()).find("0 (Linear): expected input (*, 4), got (3, 5)") != std::string::npos,
              std::string("error wording, got: ") + e.what());
    }

    if (failures == 0) std::printf("fgclep consumer OK: output %s\n", y.shape().str().c_str());
    return failures == 0 ? 0 : 1;
}
