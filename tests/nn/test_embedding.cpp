// Embedding: PyTorch parity (forward and the weight gradient with repeated ids), gradient check with int32 ids,
// initialisation, freezing, out-of-range ids and other errors.
#include "fixture.hpp"

#include "fgclep/nn/embedding.hpp"
#include "fgclep/testing/gradcheck.hpp"

#include <cmath>

using namespace fgclep;

TEST_CASE_TEMPLATE("Embedding matches torch.nn.Embedding, adding the gradients of repeated ids", T, float, double) {
    using B = Cpu<T>;
    constexpr bool is_float = std::is_same_v<T, float>;
    const double rtol = is_float ? 1e-4 : 1e-12, atol = is_float ? 1e-5 : 1e-12;
    auto f = test::fixture("transformer_layers.safetensors");
    Context<B> ctx;
    ctx.training = true;
    Model<Embedding, B> model(Embedding::Options{10, 4});
    static_assert(std::is_same_v<typename Model<Embedding, B>::input_type, Tensor<B, std::int32_t>>);
    test::load_weights(model, ctx, f, "embedding.");
    auto ids = test::tensor_from<B, std::int32_t>(ctx, f, "embedding.ids");
    auto y = model.forward(ctx, ids);
    CHECK(y.shape() == Shape{2, 5, 4});
    test::check_close(ctx, y, f, "embedding.y", rtol, atol);
    model.zero_grad(ctx);
    static_assert(std::is_void_v<decltype(model.backward(ctx, y))>, "ids are not differentiable");
    model.backward(ctx, test::tensor_from(ctx, f, "embedding.dy"));
    test::check_close(ctx, model.parameter("weight").grad, f, "embedding.grad.weight", rtol, atol);
    // id 3 appears three times, id 1 three times, ids 4, 5, 6 and 8 never: their rows get no gradient.
    auto g = model.parameter("weight").grad.host();
    for (int row : {4, 5, 6, 8})
        for (int d = 0; d < 4; ++d) CHECK(g[row * 4 + d] == T(0));
}

TEST_CASE("Embedding passes the gradient check in double (ids are not checked: they are not differentiable)") {
    using B = Cpu<double>;
    Context<B> ctx;
    ctx.training = true;
    Model<Embedding, B> model(Embedding::Options{6, 3}, 2);
    auto ids = ctx.from_host(Shape{2, 4}, std::vector<std::int32_t>{0, 5, 5, 2, 2, 2, 1, 0});
    testing::GradcheckOptions options;
    options.check_input = false;
    auto result = testing::gradcheck(model, ctx, ids, options);
    INFO(result.report());
    CHECK(result.ok);
    CHECK(result.checked == 18);
}

TEST_CASE("Embedding gives (*ids.shape, dim) for ids of any rank and starts from N(0, 1), decayed") {
    using B = Cpu<double>;
    Context<B> ctx;
    Model<Embedding, B> model(Embedding::Options{1000, 20}, 3);
    CHECK(model.parameter("weight").decay == Decay::yes);
    double mean = 0, sq = 0;
    auto w = model.parameter("weight").value.host();
    for (double v : w) mean += v / double(w.size());
    for (double v : w) sq += (v - mean) * (v - mean) / double(w.size());
    CHECK(std::abs(mean) < 0.02);  // 20000 samples: the standard error is 0.007
    CHECK(std::abs(std::sqrt(sq) - 1) < 0.02);

    auto one = model.forward(ctx, ctx.from_host(Shape{3}, std::vector<std::int32_t>{7, 0, 999}));
    CHECK(one.shape() == Shape{3, 20});
    for (int d = 0; d < 20; ++d) CHECK(one[2 * 20 + d] == w[999 * 20 + d]);
    auto three = model.forward(ctx, ctx.from_host(Shape{1, 2, 2}, std::vector<std::int32_t>{1, 2, 3, 4}));
    CHECK(three.shape() == Shape{1, 2, 2, 20});
    CHECK(three[3 * 20 + 5] == w[4 * 20 + 5]);
}

TEST_CASE("a frozen Embedding leaves its gradient alone") {
    using B = Cpu<double>;
    Context<B> ctx;
    ctx.training = true;
    Model<Embedding, B> model(Embedding::Options{5, 2}, 0, "text.embeddings.word_embeddings");
    model.freeze("text.embeddings.word_embeddings");
    auto ids = ctx.from_host(Shape{3}, std::vector<std::int32_t>{1, 1, 4});
    testing::GradcheckOptions options;
    options.check_input = false;
    auto result = testing::gradcheck(model, ctx, ids, options);
    INFO(result.report());
    CHECK(result.ok);
    model.zero_grad(ctx);
    model.forward(ctx, ids);
    model.backward(ctx, ctx.full(Shape{3, 2}, 1.0));
    for (double g : model.arena().grads().host()) CHECK(g == 0);
}

TEST_CASE("Embedding reports out-of-range ids and wrong shapes with its module path") {
    using B = Cpu<float>;
    Context<B> ctx;
    Model<Embedding, B> model(Embedding::Options{10, 4}, 0, "text.embeddings.word_embeddings");
    auto bad = ctx.from_host(Shape{2, 3}, std::vector<std::int32_t>{0, -1, 9, 10, 3, 12});
    CHECK_THROWS_WITH_AS(model.forward(ctx, bad),
                         "fgclep: text.embeddings.word_embeddings (Embedding): 3 of 6 token ids are out of range; "
                         "valid ids are 0 to 9",
                         Error);
    CHECK_THROWS_WITH_AS(model.backward(ctx, ctx.zeros(Shape{2, 3, 4})),
                         "fgclep: text.embeddings.word_embeddings (Embedding): backward needs a forward pass in "
                         "training mode first",
                         Error);
    ctx.training = true;
    model.forward(ctx, ctx.from_host(Shape{2}, std::vector<std::int32_t>{0, 9}));
    CHECK_THROWS_WITH_AS(model.backward(ctx, ctx.zeros(Shape{2, 5})),
                         "fgclep: text.embeddings.word_embeddings (Embedding): expected an output gradient of shape "
                         "(2, 4), got (2, 5)",
                         Error);
    CHECK_THROWS_WITH_AS(([] {
                             Model<Embedding, B> m(Embedding::Options{10, 0});
                         }()),
                         "fgclep: Embedding needs positive num_embeddings and embedding_dim, got 10 and 0", Error);
}
