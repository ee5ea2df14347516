// MultiHeadSelfAttention: parity with torch.nn.MultiheadAttention(batch_first=True) with a key padding mask
// (output, input gradient and every parameter gradient), gradient checks with a mask and with attention dropout,
// padding isolation, fully padded sequences, composition, errors.
#include "fixture.hpp"

#include "fgclep/nn/attention.hpp"
#include "fgclep/nn/layernorm.hpp"
#include "fgclep/nn/residual.hpp"
#include "fgclep/nn/sequential.hpp"
#include "fgclep/testing/gradcheck.hpp"

#include <cmath>

using namespace fgclep;
using test::random_tensor;

static_assert(Layer<MultiHeadSelfAttention::impl<Cpu<float>>, Cpu<float>>);

namespace {
// (N, L) mask with the first lengths[n] tokens of sequence n real.
template <class B>
Tensor<B, std::int32_t> padding_mask(Context<B>& ctx, std::int64_t L, const std::vector<std::int64_t>& lengths) {
    std::vector<std::int32_t> m;
    for (auto len : lengths)
        for (std::int64_t l = 0; l < L; ++l) m.push_back(l < len ? 1 : 0);
    return ctx.from_host(Shape{static_cast<std::int64_t>(lengths.size()), L}, m);
}

// Attention with a fixed key padding mask, so that the unary forward the gradient checker calls uses it.
struct MaskedAttention {
    using Options = MultiHeadSelfAttention::Options;
    static constexpr std::string_view name = "MaskedAttention";
    template <Backend B>
    struct impl : MultiHeadSelfAttention::impl<B> {
        using MultiHeadSelfAttention::impl<B>::impl;
        using MultiHeadSelfAttention::impl<B>::forward;
        Tensor<B, std::int32_t> mask;
        Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) { return this->forward(ctx, x, &mask); }
    };
};

const char* const parameter_names[] = {"query.weight", "query.bias", "key.weight", "key.bias",
                                       "value.weight", "value.bias", "out.weight", "out.bias"};
}  // namespace

TEST_CASE_TEMPLATE("MultiHeadSelfAttention matches torch.nn.MultiheadAttention with a key padding mask", T, float,
                   double) {
    using B = Cpu<T>;
    constexpr bool is_float = std::is_same_v<T, float>;
    const double rtol = is_float ? 1e-4 : 1e-9, atol = is_float ? 1e-5 : 1e-11;
    auto f = test::fixture("transformer_layers.safetensors");
    Context<B> ctx;
    ctx.training = true;
    Model<MultiHeadSelfAttention, B> model(MultiHeadSelfAttention::Options{8, 2});
    test::load_weights(model, ctx, f, "attention.");
    auto mask = test::tensor_from<B, std::int32_t>(ctx, f, "attention.mask");
    REQUIRE(ctx.to_host(mask) == std::vector<std::int32_t>{1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0});
    auto y = model.module().forward(ctx, test::tensor_from(ctx, f, "attention.x"), &mask);
    test::check_close(ctx, y, f, "attention.y", rtol, atol);
    model.zero_grad(ctx);
    auto dx = model.backward(ctx, test::tensor_from(ctx, f, "attention.dy"));
    test::check_close(ctx, dx, f, "attention.dx", rtol, atol);
    // The key bias's exact gradient is zero (softmax ignores a shift shared by all keys): the fixture names it so.
    for (std::string name : parameter_names)
        test::check_close(ctx, model.parameter(name).grad, f,
                          (name == "key.bias" ? "attention.zero_grad." : "attention.grad.") + name, rtol, atol);
}

TEST_CASE_TEMPLATE("MultiHeadSelfAttention without bias and without a mask matches torch", T, float, double) {
    using B = Cpu<T>;
    constexpr bool is_float = std::is_same_v<T, float>;
    const double rtol = is_float ? 1e-4 : 1e-9, atol = is_float ? 1e-5 : 1e-11;
    auto f = test::fixture("transformer_layers.safetensors");
    Context<B> ctx;
    ctx.training = true;
    Model<MultiHeadSelfAttention, B> model(MultiHeadSelfAttention::Options{12, 4, 0.0, false});
    CHECK(model.arena().params().size() == 4);
    test::load_weights(model, ctx, f, "attention_nobias.");
    auto x = test::tensor_from(ctx, f, "attention_nobias.x");
    auto y = model.forward(ctx, x);  // the unary forward: no padding
    test::check_close(ctx, y, f, "attention_nobias.y", rtol, atol);
    model.zero_grad(ctx);
    auto dx = model.backward(ctx, test::tensor_from(ctx, f, "attention_nobias.dy"));
    test::check_close(ctx, dx, f, "attention_nobias.dx", rtol, atol);
    for (auto name : {"query.weight", "key.weight", "value.weight", "out.weight"})
        test::check_close(ctx, model.parameter(name).grad, f, std::string("attention_nobias.grad.") + name, rtol, atol);
    // A mask of all ones is the same as none.
    auto ones = padding_mask(ctx, 4, {4, 4});
    CHECK(ctx.to_host(model.module().forward(ctx, x, &ones)) == ctx.to_host(y));
}

TEST_CASE("MultiHeadSelfAttention names its parameters query, key, value, out under its path") {
    Model<MultiHeadSelfAttention, Cpu<float>> model(MultiHeadSelfAttention::Options{8, 2}, 0, "blocks.0.attn");
    std::vector<std::string> names;
    for (auto& e : model.arena().params()) names.push_back(e.name);
    std::vector<std::string> expected;
    for (auto n : parameter_names) expected.push_back(std::string("blocks.0.attn.") + n);
    CHECK(names == expected);
    CHECK(model.module().out->path() == "blocks.0.attn.out");
    CHECK(model.parameter("blocks.0.attn.query.weight").decay == Decay::yes);
    CHECK(model.parameter("blocks.0.attn.query.bias").decay == Decay::no);
}

// The key bias adds q.b to every score of a query alike, which softmax ignores: its gradient is zero by design.
const testing::GradcheckOptions attention_check{.expect_zero_gradient = {"key.bias"}};

TEST_CASE("MultiHeadSelfAttention passes the gradient check in double, with and without a padding mask") {
    using B = Cpu<double>;
    Context<B> ctx;
    ctx.training = true;
    Model<MaskedAttention, B> masked(MultiHeadSelfAttention::Options{6, 2}, 4);
    masked.module().mask = padding_mask(ctx, 4, {4, 2, 3});
    auto result = testing::gradcheck(masked, ctx, random_tensor(ctx, Shape{3, 4, 6}, 1), attention_check);
    INFO(result.report());
    CHECK(result.ok);
    CHECK(result.checked == 72 + 4 * (36 + 6));

    Model<MultiHeadSelfAttention, B> plain(MultiHeadSelfAttention::Options{6, 3, 0.0, false}, 5);
    result = testing::gradcheck(plain, ctx, random_tensor(ctx, Shape{2, 3, 6}, 2));
    INFO(result.report());
    CHECK(result.ok);
}

TEST_CASE("MultiHeadSelfAttention with attention dropout passes the gradient check in train mode") {
    using B = Cpu<double>;
    Context<B> ctx;
    ctx.training = true;
    Model<MaskedAttention, B> model(MultiHeadSelfAttention::Options{4, 2, 0.4}, 6);
    model.module().mask = padding_mask(ctx, 5, {5, 3});
    auto x = random_tensor(ctx, Shape{2, 5, 4}, 3);
    auto result = testing::gradcheck(model, ctx, x, attention_check);
    INFO(result.report());
    CHECK(result.ok);
    // Dropout did act: the training output differs from eval, which is deterministic and uses no random numbers.
    const auto offset = ctx.offset;
    auto y_train = ctx.to_host(model.forward(ctx, x));
    CHECK(ctx.offset == offset + 2 * 2 * 5 * 5);
    ctx.training = false;
    auto y_eval = ctx.to_host(model.forward(ctx, x));
    CHECK(ctx.offset == offset + 2 * 2 * 5 * 5);
    CHECK(y_train != y_eval);
    CHECK(ctx.to_host(model.forward(ctx, x)) == y_eval);
}

TEST_CASE_TEMPLATE("padded positions of x do not change the outputs or gradients of real positions", T, float, double) {
    using B = Cpu<T>;
    const std::int64_t N = 3, L = 6, D = 8;
    const std::vector<std::int64_t> lengths = {6, 2, 4};
    Context<B> ctx;
    ctx.training = true;
    Model<MultiHeadSelfAttention, B> model(MultiHeadSelfAttention::Options{D, 2}, 9);
    auto mask = padding_mask(ctx, L, lengths);
    auto x = random_tensor(ctx, Shape{N, L, D}, 4);
    auto x2 = ctx.clone(x);
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t l = lengths[n]; l < L; ++l)
            for (std::int64_t d = 0; d < D; ++d) x2[(n * L + l) * D + d] = T(100) * x2[(n * L + l) * D + d] + T(7);
    // The output gradient is zero at padded positions, as a loss that ignores padding gives.
    auto dy = random_tensor(ctx, Shape{N, L, D}, 5);
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t l = lengths[n]; l < L; ++l)
            for (std::int64_t d = 0; d < D; ++d) dy[(n * L + l) * D + d] = T(0);

    auto run = [&](const Tensor<B>& input) {
        model.zero_grad(ctx);
        auto y = ctx.to_host(model.module().forward(ctx, input, &mask));
        auto dx = ctx.to_host(model.backward(ctx, dy));
        return std::make_tuple(y, dx, ctx.to_host(model.arena().grads()));
    };
    auto [y1, dx1, g1] = run(x);
    auto [y2, dx2, g2] = run(x2);
    int compared = 0;
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t l = 0; l < L; ++l)
            for (std::int64_t d = 0; d < D; ++d) {
                const auto i = static_cast<std::size_t>((n * L + l) * D + d);
                if (l < lengths[n]) {
                    // Padded keys get probability exactly 0, so real positions see bit-identical results.
                    CHECK(y1[i] == y2[i]);
                    CHECK(dx1[i] == dx2[i]);
                    ++compared;
                } else {
                    CHECK(y1[i] != y2[i]);  // padded queries still attend (to real keys), as in torch
                    CHECK(dx1[i] == T(0));  // nothing flows back into padding
                }
            }
    CHECK(compared == 12 * D);
    CHECK(g1 == g2);
}

TEST_CASE("a fully padded sequence gets zero context (torch gives NaN): output = out.bias, finite gradients") {
    using B = Cpu<double>;
    Context<B> ctx;
    ctx.training = true;
    Model<MaskedAttention, B> model(MultiHeadSelfAttention::Options{4, 2}, 8);
    model.module().mask = padding_mask(ctx, 3, {3, 0});
    auto x = random_tensor(ctx, Shape{2, 3, 4}, 6);
    auto y = model.forward(ctx, x);
    auto bias = model.parameter("out.bias").value;
    for (std::int64_t l = 0; l < 3; ++l)
        for (std::int64_t d = 0; d < 4; ++d) CHECK(y[(3 + l) * 4 + d] == bias[d]);
    auto dx = model.backward(ctx, random_tensor(ctx, y.shape(), 7));
    for (std::int64_t i = 0; i < dx.numel(); ++i) CHECK(std::isfinite(dx[i]));
    for (std::int64_t i = 12; i < 24; ++i) CHECK(dx[i] == 0.0);  // the padded sequence's outputs do not depend on x
    auto result = testing::gradcheck(model, ctx, x, attention_check);
    INFO(result.report());
    CHECK(result.ok);
}

TEST_CASE("MultiHeadSelfAttention composes: a post-norm residual block passes the gradient check") {
    using Block = Sequential<Residual<MultiHeadSelfAttention>, LayerNorm>;
    using B = Cpu<double>;
    Context<B> ctx;
    ctx.training = true;
    Model<Block, B> block({{{6, 3}, {}}, {6}}, 2, "encoder.layer.0");
    CHECK(block.arena().params().front().name == "encoder.layer.0.0.0.query.weight");
    auto result = testing::gradcheck(block, ctx, random_tensor(ctx, Shape{2, 4, 6}, 8), attention_check);
    INFO(result.report());
    CHECK(result.ok);
}

TEST_CASE("MultiHeadSelfAttention in eval mode keeps nothing and matches training mode without dropout") {
    using B = Cpu<float>;
    Context<B> ctx;
    Model<MultiHeadSelfAttention, B> model(MultiHeadSelfAttention::Options{8, 4}, 3, "attn");
    auto x = random_tensor(ctx, Shape{2, 3, 8}, 1);
    auto y_eval = ctx.to_host(model.forward(ctx, x));
    CHECK_THROWS_WITH_AS(model.backward(ctx, ctx.zeros(Shape{2, 3, 8})),
                         "fgclep: attn (MultiHeadSelfAttention): backward needs a forward pass in training mode first",
                         Error);
    ctx.training = true;
    CHECK(ctx.to_host(model.forward(ctx, x)) == y_eval);
}

TEST_CASE("MultiHeadSelfAttention reports bad options and shapes, naming itself") {
    using B = Cpu<float>;
    CHECK_THROWS_WITH_AS(([] {
                             Model<MultiHeadSelfAttention, B> m(MultiHeadSelfAttention::Options{10, 3});
                         }()),
                         "fgclep: MultiHeadSelfAttention: embed_dim 10 is not divisible by num_heads 3", Error);
    CHECK_THROWS_WITH_AS(([] {
                             Model<MultiHeadSelfAttention, B> m(MultiHeadSelfAttention::Options{0, 1});
                         }()),
                         "fgclep: MultiHeadSelfAttention needs positive embed_dim and num_heads, got 0 and 1", Error);
    CHECK_THROWS_WITH_AS(([] {
                             Model<MultiHeadSelfAttention, B> m(MultiHeadSelfAttention::Options{8, 2, 1.0});
                         }()),
                         "fgclep: MultiHeadSelfAttention needs dropout in [0, 1), got 1", Error);

    Context<B> ctx;
    ctx.training = true;
    Model<MultiHeadSelfAttention, B> model(MultiHeadSelfAttention::Options{8, 2}, 0, "text.attn");
    CHECK_THROWS_WITH_AS(model.forward(ctx, ctx.zeros(Shape{2, 5, 6})),
                         "fgclep: text.attn (MultiHeadSelfAttention): expected input of shape (*, *, 8), got (2, 5, 6)",
                         Error);
    CHECK_THROWS_WITH_AS(model.forward(ctx, ctx.zeros(Shape{10, 8})),
                         "fgclep: text.attn (MultiHeadSelfAttention): expected input of shape (*, *, 8), got (10, 8)",
                         Error);
    auto mask = padding_mask(ctx, 4, {4, 2});
    CHECK_THROWS_WITH_AS(model.module().forward(ctx, ctx.zeros(Shape{2, 5, 8}), &mask),
                         "fgclep: text.attn (MultiHeadSelfAttention): expected key padding mask of shape (2, 5), got "
                         "(2, 4)",
                         Error);
    model.module().forward(ctx, ctx.zeros(Shape{2, 4, 8}), &mask);
    CHECK_THROWS_WITH_AS(model.backward(ctx, ctx.zeros(Shape{2, 5, 8})),
                         "fgclep: text.attn (MultiHeadSelfAttention): expected an output gradient of shape (2, 4, 8), "
                         "got (2, 5, 8)",
                         Error);
}

TEST_CASE("MultiHeadSelfAttention initialises as torch.nn.MultiheadAttention does") {
    Model<MultiHeadSelfAttention, Cpu<double>> m({.embed_dim = 64, .num_heads = 4});
    const double xavier = std::sqrt(6.0 / (64 + 3 * 64)), kaiming = 1.0 / std::sqrt(64.0);
    for (auto name : {"query", "key", "value"}) {
        double top = 0;
        for (double v : m.parameter(std::string(name) + ".weight").value.host()) top = std::max(top, std::abs(v));
        CHECK(top <= xavier);
        CHECK(top > kaiming);  // wider than Linear's default: the xavier bound is in force
    }
    for (auto name : {"query.bias", "key.bias", "value.bias", "out.bias"})
        for (double v : m.parameter(name).value.host()) CHECK(v == 0);
    double top = 0;
    for (double v : m.parameter("out.weight").value.host()) top = std::max(top, std::abs(v));
    CHECK(top <= kaiming);
}

TEST_CASE("NaN scores propagate through the masked softmax; only a fully masked row is zeros") {
    Context<Cpu<float>> ctx;
    const float nan = std::nanf("");
    std::vector<float> x{nan, nan, 1, 2}, y(4);
    std::vector<std::int32_t> mask{1, 1, 1, 1};  // (batch 2, keys 2)
    ops::masked_softmax_forward(ctx, x.data(), 2, 1, 2, mask.data(), 1.0f, y.data());
    CHECK(std::isnan(y[0]));
    CHECK(std::isnan(y[1]));
    CHECK(y[2] + y[3] == doctest::Approx(1));
    std::vector<std::int32_t> none{0, 0};
    ops::masked_softmax_forward(ctx, x.data(), 1, 1, 2, none.data(), 1.0f, y.data());
    CHECK(y[0] == 0);
    CHECK(y[1] == 0);
}
