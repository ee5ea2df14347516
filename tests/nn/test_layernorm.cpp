// LayerNorm: PyTorch parity (eps 1e-5 and BERT's 1e-12, float and double), gradient check, freezing, errors.
#include "fixture.hpp"

#include "fgclep/nn/layernorm.hpp"
#include "fgclep/testing/gradcheck.hpp"

using namespace fgclep;
using test::random_tensor;

TEST_CASE_TEMPLATE("LayerNorm matches torch.nn.LayerNorm, with eps 1e-5 and BERT's 1e-12", T, float, double) {
    using B = Cpu<T>;
    constexpr bool is_float = std::is_same_v<T, float>;
    const double rtol = is_float ? 1e-4 : 1e-9, atol = is_float ? 1e-5 : 1e-10;
    auto f = test::fixture("transformer_layers.safetensors");
    struct Case {
        const char* name;
        std::int64_t D;
        double eps;
    };
    for (Case c : {Case{"layernorm", 6, 1e-5}, Case{"layernorm_bert", 8, 1e-12}}) {
        INFO("case ", c.name);
        const std::string p = std::string(c.name) + ".";
        Context<B> ctx;
        ctx.training = true;
        Model<LayerNorm, B> model(LayerNorm::Options{c.D, c.eps});
        test::load_weights(model, ctx, f, p);
        auto y = model.forward(ctx, test::tensor_from(ctx, f, p + "x"));
        test::check_close(ctx, y, f, p + "y", rtol, atol);
        model.zero_grad(ctx);
        auto dx = model.backward(ctx, test::tensor_from(ctx, f, p + "dy"));
        test::check_close(ctx, dx, f, p + "dx", rtol, atol);
        test::check_close(ctx, model.parameter("weight").grad, f, p + "grad.weight", rtol, atol);
        test::check_close(ctx, model.parameter("bias").grad, f, p + "grad.bias", rtol, atol);
    }
}

TEST_CASE("LayerNorm starts as weight 1, bias 0, neither decayed") {
    Model<LayerNorm, Cpu<float>> model(LayerNorm::Options{5});
    for (float w : model.parameter("weight").value.host()) CHECK(w == 1.0f);
    for (float b : model.parameter("bias").value.host()) CHECK(b == 0.0f);
    CHECK(model.parameter("weight").decay == Decay::no);
    CHECK(model.parameter("bias").decay == Decay::no);
    CHECK(model.arena().params()[0].name == "weight");
    CHECK(model.arena().params()[1].name == "bias");
    // With unit weight and zero bias each row comes out with mean 0 and (biased) variance 1.
    Context<Cpu<float>> ctx;
    auto y = ctx.to_host(model.forward(ctx, random_tensor(ctx, Shape{3, 5}, 4, 2.0, 7.0)));
    for (int r = 0; r < 3; ++r) {
        double mean = 0, var = 0;
        for (int d = 0; d < 5; ++d) mean += y[r * 5 + d] / 5.0;
        for (int d = 0; d < 5; ++d) var += (y[r * 5 + d] - mean) * (y[r * 5 + d] - mean) / 5.0;
        CHECK(mean == doctest::Approx(0).epsilon(1e-5));
        CHECK(var == doctest::Approx(1).epsilon(1e-4));
    }
}

TEST_CASE("LayerNorm passes the gradient check in double, with eps 1e-5 and 1e-12") {
    using B = Cpu<double>;
    for (double eps : {1e-5, 1e-12}) {
        INFO("eps ", eps);
        Context<B> ctx;
        ctx.training = true;
        Model<LayerNorm, B> model(LayerNorm::Options{7, eps}, 3);
        // Weight and bias away from their initial 1 and 0 so their gradients are not special cases.
        auto w = random_tensor(ctx, Shape{7}, 11, 0.5, 1.0), b = random_tensor(ctx, Shape{7}, 12, 0.5);
        ctx.copy(model.parameter("weight").value, w);
        ctx.copy(model.parameter("bias").value, b);
        auto result = testing::gradcheck(model, ctx, random_tensor(ctx, Shape{2, 3, 7}, 5, 3.0, 1.0));
        INFO(result.report());
        CHECK(result.ok);
        CHECK(result.checked == 42 + 7 + 7);
    }
}

TEST_CASE("a LayerNorm with a frozen weight leaves its gradient alone and still trains its bias") {
    using B = Cpu<double>;
    Context<B> ctx;
    ctx.training = true;
    Model<LayerNorm, B> model(LayerNorm::Options{4}, 1, "text.embeddings.LayerNorm");
    CHECK(model.freeze("text.embeddings.LayerNorm.weight") == 1);
    auto result = testing::gradcheck(model, ctx, random_tensor(ctx, Shape{3, 4}, 6));
    INFO(result.report());
    CHECK(result.ok);
}

TEST_CASE("LayerNorm reports wrong shapes and misuse with its module path") {
    using B = Cpu<float>;
    Context<B> ctx;
    Model<LayerNorm, B> model(LayerNorm::Options{8, 1e-12}, 0, "text.encoder.layer.0.output.LayerNorm");
    CHECK_THROWS_WITH_AS(model.forward(ctx, ctx.zeros(Shape{2, 4})),
                         "fgclep: text.encoder.layer.0.output.LayerNorm (LayerNorm): expected input (*, 8), got (2, 4)",
                         Error);
    CHECK_THROWS_WITH_AS(model.backward(ctx, ctx.zeros(Shape{2, 8})),
                         "fgclep: text.encoder.layer.0.output.LayerNorm (LayerNorm): backward needs a forward pass in "
                         "training mode first",
                         Error);
    ctx.training = true;
    model.forward(ctx, ctx.zeros(Shape{2, 8}));
    CHECK_THROWS_WITH_AS(model.backward(ctx, ctx.zeros(Shape{3, 8})),
                         "fgclep: text.encoder.layer.0.output.LayerNorm (LayerNorm): expected an output gradient of "
                         "shape (2, 8), got (3, 8)",
                         Error);
    CHECK_THROWS_WITH_AS(([] { Model<LayerNorm, B> m(LayerNorm::Options{0}); }()),
                         "fgclep: LayerNorm needs a positive normalized_shape, got 0", Error);
    CHECK_THROWS_WITH_AS(([] {
                             Model<LayerNorm, B> m(LayerNorm::Options{4, -1.0});
                         }()),
                         "fgclep: LayerNorm needs a positive eps, got -1", Error);
}

TEST_CASE("LayerNorm in eval mode keeps nothing for backward") {
    using B = Cpu<float>;
    Context<B> ctx;
    Model<LayerNorm, B> model(LayerNorm::Options{3});
    auto x = random_tensor(ctx, Shape{2, 3}, 1);
    ctx.training = true;
    auto y_train = ctx.to_host(model.forward(ctx, x));
    ctx.training = false;
    auto y_eval = ctx.to_host(model.forward(ctx, x));
    CHECK(y_train == y_eval);
    CHECK_THROWS_AS(model.backward(ctx, ctx.zeros(Shape{2, 3})), Error);
}

TEST_CASE("LayerNorm's parameter gradients are bitwise the same for any thread count") {
    using B = Cpu<float>;
    HostRng rng(3);
    std::vector<float> xs(1000 * 48), dys(1000 * 48);
    for (auto& v : xs) v = static_cast<float>(rng.normal());
    for (auto& v : dys) v = static_cast<float>(rng.normal());
    auto grads = [&](int threads) {
        Context<B> ctx(B::State{threads});
        ctx.training = true;
        Model<LayerNorm, B> ln({48});
        ln.forward(ctx, ctx.from_host(Shape{1000, 48}, xs));
        ln.zero_grad(ctx);
        ln.backward(ctx, ctx.from_host(Shape{1000, 48}, dys));
        return ctx.to_host(ln.arena().grads());
    };
    const auto one = grads(1);
    CHECK(grads(2) == one);
    CHECK(grads(3) == one);
    CHECK(grads(2) == grads(2));
}
