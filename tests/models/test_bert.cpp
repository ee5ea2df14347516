// Bert and TextEncoder: parity with two PyTorch references of tests/fixtures/make_bert.py (hidden states, pooler
// output, every parameter gradient, token types): a hand-written plain-PyTorch copy of Hugging Face's BertModel
// (transformers is not installable here), and, independent of that copy, PyTorch's own nn.TransformerEncoderLayer
// stack with the BERT weights mapped onto it; gradient checks with padding and dropout, padding isolation, freezing
// the bottom (frozen grads untouched, early stop), config.json parsing and its errors, BERT-base's parameter count,
// shape and length errors.
#include "fixture.hpp"

#include "fgclep/io/bert_config.hpp"
#include "fgclep/models/bert.hpp"
#include "fgclep/models/text_encoder.hpp"
#include "fgclep/testing/gradcheck.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

using namespace fgclep;
using test::expect_close_model;
using test::random_tensor;

namespace {
// Gradient of parameter `name` against the fixture's reference `prefix` ("" for the hand-written copy of HF's
// BertModel, "torch_layers." for the nn.TransformerEncoderLayer stack). A key bias's exact gradient is zero (softmax
// ignores a shift shared by all keys): the fixture names it "zero_grad.<name>", and its rounding noise is measured
// against the scale of the key weight's gradient.
template <class B, class S>
void expect_grad_close(Context<B>& ctx, Model<S, B>&, const Tensor<B>& got, const io::SafetensorsFile& f,
                       const std::string& name, const std::string& prefix = "") {
    using T = typename B::value_type;
    if (name.ends_with("attention.self.key.bias")) {
        double largest = 0;
        for (double v : f.get<double>(prefix + "grad." + name.substr(0, name.size() - 4) + "weight"))
            largest = std::max(largest, std::abs(v));
        test::check_close(ctx, got, f, prefix + "zero_grad." + name, test::model_rtol<T>,
                          10 * test::model_atol<T> * largest);
        return;
    }
    expect_close_model(ctx, got, f, prefix + "grad." + name);
}

// The fixture's model: vocab 50, hidden 16, 2 layers, 2 heads, FFN 32, 16 positions, dropout 0.
Bert::Options tiny() {
    Bert::Options o;
    o.vocab_size = 50, o.hidden_size = 16, o.num_hidden_layers = 2, o.num_attention_heads = 2;
    o.intermediate_size = 32, o.max_position_embeddings = 16, o.hidden_dropout_prob = 0;
    o.attention_probs_dropout_prob = 0;
    return o;
}

// Smaller still, for gradient checks. pad_token_id -1: HF's frozen pad row is not a true gradient.
Bert::Options micro(double dropout = 0) {
    Bert::Options o;
    o.vocab_size = 11, o.hidden_size = 8, o.num_hidden_layers = 2, o.num_attention_heads = 2;
    o.intermediate_size = 12, o.max_position_embeddings = 8, o.hidden_dropout_prob = dropout;
    o.attention_probs_dropout_prob = dropout, o.pad_token_id = -1, o.initializer_range = 0.5;
    return o;
}

template <class B>
BertInput<B> fixture_input(Context<B>& ctx, const io::SafetensorsFile& f, bool typed = false) {
    BertInput<B> in{test::tensor_from<B, std::int32_t>(ctx, f, "input_ids"),
                    test::tensor_from<B, std::int32_t>(ctx, f, "attention_mask"),
                    {}};
    if (typed) in.token_type_ids = test::tensor_from<B, std::int32_t>(ctx, f, "token_type_ids");
    return in;
}

// (2, 5) ids with the second sequence padded after 3 tokens.
template <class B>
BertInput<B> micro_input(Context<B>& ctx) {
    return {ctx.from_host(Shape{2, 5}, std::vector<std::int32_t>{1, 4, 7, 2, 9, 3, 10, 5, 0, 0}),
            ctx.from_host(Shape{2, 5}, std::vector<std::int32_t>{1, 1, 1, 1, 1, 1, 1, 1, 0, 0}),
            ctx.from_host(Shape{2, 5}, std::vector<std::int32_t>{0, 0, 1, 1, 1, 0, 1, 0, 0, 0})};
}

struct ParamCounter : Visitor<ParamCounter> {
    std::int64_t count = 0;
    template <class P>
    void param(P& p) {
        count += p.shape.numel();
    }
};

std::string write_temp(const std::string& name, const std::string& text) {
    const auto path = std::filesystem::temp_directory_path() / ("fgclep_test_bert_" + name + ".json");
    std::ofstream(path) << text;
    return path.string();
}
}  // namespace

TEST_CASE_TEMPLATE(
    "Bert matches a hand-written PyTorch copy of Hugging Face's BertModel: outputs and every parameter "
    "gradient",
    T, float, double) {
    using B = Cpu<T>;
    const auto f = test::fixture("bert.safetensors");
    Context<B> ctx;
    ctx.training = true;
    Model<Bert, B> bert(tiny(), 1);
    test::load_weights(bert, ctx, f, "");
    CHECK(bert.arena().params().front().name == "embeddings.word_embeddings.weight");
    CHECK(bert.arena().params().back().name == "pooler.dense.bias");
    CHECK(bert.arena().params().size() == 5 + 16 * 2 + 2);

    const Tensor<B> hidden = bert.forward(ctx, fixture_input(ctx, f));
    expect_close_model(ctx, hidden, f, "last_hidden_state");
    expect_close_model(ctx, bert.module().pooler_output(), f, "pooler_output");

    bert.module().backward(ctx, test::tensor_from<B>(ctx, f, "d_hidden"), test::tensor_from<B>(ctx, f, "d_pooled"));
    for (auto& e : bert.arena().params()) {
        INFO(e.name);
        expect_grad_close(ctx, bert, e.param->grad, f, e.name);
    }
    // The pad row (id 0) has no gradient, as with HF's padding_idx, though padded positions use it.
    const auto word_grad = ctx.to_host(bert.parameter("embeddings.word_embeddings.weight").grad);
    for (int i = 0; i < 16; ++i) CHECK(word_grad[static_cast<std::size_t>(i)] == 0);

    SUBCASE("token types, in evaluation mode") {
        ctx.training = false;
        const Tensor<B> h = bert.forward(ctx, fixture_input(ctx, f, true));
        expect_close_model(ctx, h, f, "typed.last_hidden_state");
        expect_close_model(ctx, bert.module().pooler_output(), f, "typed.pooler_output");
    }
    SUBCASE("gradients of one output only") {
        bert.zero_grad(ctx);
        bert.forward(ctx, fixture_input(ctx, f));
        bert.module().backward(ctx, Tensor<B>(), test::tensor_from<B>(ctx, f, "d_pooled"));
        bert.forward(ctx, fixture_input(ctx, f));
        bert.backward(ctx, test::tensor_from<B>(ctx, f, "d_hidden"));  // the Layer interface: hidden states
        for (auto& e : bert.arena().params()) expect_grad_close(ctx, bert, e.param->grad, f, e.name);
    }
}

// The second reference shares no code with the first: PyTorch's nn.TransformerEncoderLayer (post-norm, exact GELU,
// eps 1e-12, padding as src_key_padding_mask) under nn.Embedding/nn.LayerNorm embeddings and an nn.Linear + tanh
// pooler, with the same weights mapped onto it (in_proj = query, key, value; out_proj = attention.output.dense;
// linear1/linear2 = intermediate/output.dense; norm1/norm2 = the two LayerNorms). make_bert.py asserts the two
// references agree to 1e-10 in float64; this test holds fgclep to the independent one directly.
TEST_CASE_TEMPLATE(
    "Bert matches PyTorch's nn.TransformerEncoderLayer stack with the BERT weights mapped: outputs and "
    "every parameter gradient",
    T, float, double) {
    using B = Cpu<T>;
    const auto f = test::fixture("bert.safetensors");
    Context<B> ctx;
    ctx.training = true;
    Model<Bert, B> bert(tiny(), 1);
    test::load_weights(bert, ctx, f, "");
    const Tensor<B> hidden = bert.forward(ctx, fixture_input(ctx, f));
    expect_close_model(ctx, hidden, f, "torch_layers.last_hidden_state");
    expect_close_model(ctx, bert.module().pooler_output(), f, "torch_layers.pooler_output");
    bert.zero_grad(ctx);
    bert.module().backward(ctx, test::tensor_from<B>(ctx, f, "d_hidden"), test::tensor_from<B>(ctx, f, "d_pooled"));
    for (auto& e : bert.arena().params()) {  // all 39, as the test above counts
        INFO(e.name);
        expect_grad_close(ctx, bert, e.param->grad, f, e.name, "torch_layers.");
    }

    ctx.training = false;  // token types, in evaluation mode
    const Tensor<B> h = bert.forward(ctx, fixture_input(ctx, f, true));
    expect_close_model(ctx, h, f, "torch_layers.typed.last_hidden_state");
    expect_close_model(ctx, bert.module().pooler_output(), f, "torch_layers.typed.pooler_output");
}

TEST_CASE_TEMPLATE("Bert: frozen embeddings and bottom layers keep their gradients; the rest still match", T, float,
                   double) {
    using B = Cpu<T>;
    const auto f = test::fixture("bert.safetensors");
    for (const bool by_prefix : {true, false}) {
        CAPTURE(by_prefix);
        Context<B> ctx;
        ctx.training = true;
        Model<Bert, B> bert(tiny(), 1);
        test::load_weights(bert, ctx, f, "");
        auto& m = bert.module();
        CHECK(m.lowest_trained_layer() == 0);
        if (by_prefix) {
            CHECK(bert.freeze("embeddings") == 5);
            CHECK(m.lowest_trained_layer() == 0);  // embeddings frozen, but layer 0 still trains
            bert.freeze("encoder.layer.0");
        } else {
            m.freeze_bottom(1);
        }
        CHECK(m.lowest_trained_layer() == 1);

        B::fill(ctx.state, bert.arena().grads().data(), static_cast<std::size_t>(bert.arena().grads().numel()), T(7));
        bert.forward(ctx, fixture_input(ctx, f));
        m.backward(ctx, test::tensor_from<B>(ctx, f, "d_hidden"), test::tensor_from<B>(ctx, f, "d_pooled"));
        // The frozen layer's backward never ran: its saved state is still there.
        CHECK(m.layer(0).attention.self.attention.has_saved());
        CHECK(!m.layer(1).attention.self.attention.has_saved());
        int frozen = 0;
        for (auto& e : bert.arena().params()) {
            INFO(e.name);
            const bool bottom = e.name.starts_with("embeddings.") || e.name.starts_with("encoder.layer.0.");
            CHECK(e.param->trainable == !bottom);
            if (bottom) {
                ++frozen;
                const auto g = ctx.to_host(e.param->grad);
                CHECK(g == std::vector<T>(g.size(), T(7)));
            } else {  // grad = 7 + reference
                Tensor<B> g = ctx.clone(e.param->grad);
                for (std::int64_t i = 0; i < g.numel(); ++i) g.data()[i] -= T(7);
                expect_grad_close(ctx, bert, g, f, e.name);
            }
        }
        CHECK(frozen == 5 + 16);

        // Everything frozen: only the pooler trains, and backward stops at once.
        m.freeze_bottom(2);
        CHECK(m.lowest_trained_layer() == 2);
        bert.zero_grad(ctx);
        bert.forward(ctx, fixture_input(ctx, f));
        m.backward(ctx, Tensor<B>(), test::tensor_from<B>(ctx, f, "d_pooled"));
        CHECK(m.layer(1).attention.self.attention.has_saved());
        const auto g = ctx.to_host(bert.parameter("encoder.layer.1.output.dense.weight").grad);
        CHECK(g == std::vector<T>(g.size(), T(0)));
        CHECK(ctx.to_host(bert.parameter("pooler.dense.bias").grad) != std::vector<T>(16, T(0)));
        m.freeze_bottom(2, false);
        CHECK(m.lowest_trained_layer() == 0);
    }
}

namespace {
// gradcheck_scalar on f = <hidden, R1> + <pooled, R2> with fixed random R1, R2: both outputs are probed, so the
// pooler's gradient is checked as well as the encoder's (gradcheck alone would probe the hidden states only).
testing::GradcheckResult gradcheck_both_outputs(Model<Bert, Cpu<double>>& bert, Context<Cpu<double>>& ctx,
                                                const testing::GradcheckOptions& opts) {
    using B = Cpu<double>;
    const BertInput<B> input = micro_input(ctx);
    const Tensor<B> r_hidden = test::random_tensor(ctx, Shape{2, 5, 8}, 91),
                    r_pooled = test::random_tensor(ctx, Shape{2, 8}, 92);
    auto add_dot = [](testing::ProbeValue& f, const Tensor<B>& a, const Tensor<B>& b) {
        REQUIRE(a.shape() == b.shape());
        for (std::int64_t i = 0; i < a.numel(); ++i) {
            f.value += a.data()[i] * b.data()[i];
            f.magnitude += std::abs(a.data()[i] * b.data()[i]);  // the sum's terms cancel: say how large they are
        }
    };
    auto evaluate = [&](bool backward) {
        testing::ProbeValue f;
        add_dot(f, bert.forward(ctx, input), r_hidden);
        add_dot(f, bert.module().pooler_output(), r_pooled);
        if (backward) bert.module().backward(ctx, r_hidden, r_pooled);
        return f;
    };
    return testing::gradcheck_scalar(bert.arena(), ctx, evaluate, {}, opts);
}
}  // namespace

TEST_CASE("Bert: gradient checks with padding, token types and dropout") {
    using B = Cpu<double>;
    testing::GradcheckOptions opts;
    opts.check_input = false;
    opts.tolerance = 1e-6;
    // The key bias adds q.b to every score of a query alike, which softmax ignores: zero by design.
    opts.expect_zero_gradient = {"key.bias"};
    SUBCASE("training, dropout 0") {
        Context<B> ctx;
        ctx.training = true;
        Model<Bert, B> bert(micro(), 3);
        const auto r = gradcheck_both_outputs(bert, ctx, opts);
        INFO(fmt::format("{}", fmt::join(r.failures, "\n")));
        CHECK(r.ok);
        CHECK(r.checked > 300);
    }
    SUBCASE("training, dropout 0.2 (the checker rewinds the random stream)") {
        Context<B> ctx;
        ctx.training = true;
        Model<Bert, B> bert(micro(0.2), 4);
        const auto r = gradcheck_both_outputs(bert, ctx, opts);
        INFO(fmt::format("{}", fmt::join(r.failures, "\n")));
        CHECK(r.ok);
        // Dropout really acts: two passes in training differ from one in evaluation.
        const Tensor<B> train = ctx.clone(bert.forward(ctx, micro_input(ctx)));
        ctx.training = false;
        const Tensor<B> eval = bert.forward(ctx, micro_input(ctx));
        CHECK(ctx.to_host(train) != ctx.to_host(eval));
    }
    SUBCASE("a frozen bottom: frozen gradients untouched, the rest exact") {
        Context<B> ctx;
        ctx.training = true;
        Model<Bert, B> bert(micro(), 5);
        bert.module().freeze_bottom(1);
        const auto r = gradcheck_both_outputs(bert, ctx, opts);
        INFO(fmt::format("{}", fmt::join(r.failures, "\n")));
        CHECK(r.ok);
    }
}

TEST_CASE("TextEncoder: gradient checks for each pooling, and the projection head's names") {
    using B = Cpu<double>;
    for (TextPooling pooling : {TextPooling::cls, TextPooling::pooler, TextPooling::mean}) {
        CAPTURE(static_cast<int>(pooling));
        testing::GradcheckOptions opts;
        opts.check_input = false;
        opts.expect_zero_gradient = {"key.bias"};  // softmax ignores it (above)
        // Only the pooler pooling reads BERT's pooler; the others must leave its gradient at zero.
        if (pooling != TextPooling::pooler)
            opts.expect_zero_gradient.insert(opts.expect_zero_gradient.end(),
                                             {"pooler.dense.weight", "pooler.dense.bias"});
        Context<B> ctx;
        ctx.training = true;
        TextEncoder::Options o{micro(0.1), pooling, {0, 6, 4}};
        Model<TextEncoder, B> text(o, 6, "text");
        CHECK(text.module().head.options.in_features == 8);
        const auto r = testing::gradcheck(text, ctx, micro_input(ctx), opts);
        INFO(fmt::format("{}", fmt::join(r.failures, "\n")));
        CHECK(r.ok);
        const Tensor<B> y = text.forward(ctx, micro_input(ctx));
        CHECK(y.shape() == Shape{2, 4});
    }
    Model<TextEncoder, B> text({micro(), TextPooling::mean, {0, 6, 4}}, 6, "text");
    CHECK(text.arena().params().front().name == "text.lm_model.embeddings.word_embeddings.weight");
    CHECK(text.arena().params()[text.arena().params().size() - 4].name == "text.proj_t.0.weight");
    CHECK(text.arena().params().back().name == "text.proj_t.2.bias");
    CHECK_THROWS_WITH_AS((Model<TextEncoder, B>({micro(), TextPooling::cls, {9, 6, 4}})),
                         doctest::Contains("head expects 9 input features but BERT's hidden_size is 8"), Error);

    SUBCASE("mean pooling is the mean over real tokens only; CLS is the first token") {
        Context<B> ctx;
        for (TextPooling pooling : {TextPooling::cls, TextPooling::mean}) {
            Model<TextEncoder, B> t({micro(), pooling, {0, 6, 4}}, 6);
            const auto in = micro_input(ctx);
            const auto pooled = ctx.to_host(t.module().pooled_features(ctx, in));
            const auto h = ctx.to_host(t.module().bert.forward(ctx, in));
            for (int n = 0; n < 2; ++n)
                for (int d = 0; d < 8; ++d) {
                    const int real = n == 0 ? 5 : 3;
                    double expected = h[static_cast<std::size_t>(n * 40 + d)];
                    if (pooling == TextPooling::mean) {
                        expected = 0;
                        for (int l = 0; l < real; ++l)
                            expected += h[static_cast<std::size_t>(n * 40 + l * 8 + d)] / real;
                    }
                    CHECK(pooled[static_cast<std::size_t>(n * 8 + d)] == doctest::Approx(expected).epsilon(1e-12));
                }
        }
    }
}

TEST_CASE("Bert: ids at padded positions change nothing at real positions, outputs or gradients") {
    using B = Cpu<double>;
    const auto f = test::fixture("bert.safetensors");
    Context<B> ctx;
    ctx.training = true;
    Model<Bert, B> bert(tiny(), 1);
    test::load_weights(bert, ctx, f, "");
    const auto in = fixture_input(ctx, f);
    const auto mask = ctx.to_host(in.attention_mask);
    // The upstream gradient is zero at padded positions (their outputs are meaningless).
    Tensor<B> dh = test::tensor_from<B>(ctx, f, "d_hidden");
    for (std::size_t i = 0; i < mask.size(); ++i)
        if (mask[i] == 0)
            for (int d = 0; d < 16; ++d) dh.data()[i * 16 + d] = 0;
    const Tensor<B> dp = test::tensor_from<B>(ctx, f, "d_pooled");

    auto run = [&](const BertInput<B>& x) {
        bert.zero_grad(ctx);
        std::vector<double> h = ctx.to_host(bert.forward(ctx, x));
        std::vector<double> p = ctx.to_host(bert.module().pooler_output());
        bert.module().backward(ctx, dh, dp);
        return std::tuple{h, p, ctx.to_host(bert.arena().grads())};
    };
    const auto [h0, p0, g0] = run(in);

    BertInput<B> changed{ctx.clone(in.input_ids), in.attention_mask, {}};
    std::set<std::int32_t> touched{0};
    int replaced = 0;
    for (std::size_t i = 0; i < mask.size(); ++i)
        if (mask[i] == 0) {
            changed.input_ids.data()[i] = static_cast<std::int32_t>(10 + i % 30);
            touched.insert(static_cast<std::int32_t>(10 + i % 30));
            ++replaced;
        }
    REQUIRE(replaced == 6);
    const auto [h1, p1, g1] = run(changed);

    int differing_padded = 0;
    for (std::size_t i = 0; i < mask.size(); ++i)
        for (int d = 0; d < 16; ++d) {
            const std::size_t at = i * 16 + d;
            if (mask[i])
                REQUIRE(h1[at] == doctest::Approx(h0[at]).epsilon(1e-12));
            else
                differing_padded += h1[at] != h0[at];
        }
    CHECK(differing_padded > 0);  // the change was real
    for (std::size_t i = 0; i < p0.size(); ++i) REQUIRE(p1[i] == doctest::Approx(p0[i]).epsilon(1e-12));
    const auto& word = bert.arena().params().front();
    REQUIRE(word.name == "embeddings.word_embeddings.weight");
    for (std::size_t i = 0; i < g0.size(); ++i) {
        const auto local = static_cast<std::int64_t>(i) - word.offset;
        if (local >= 0 && local < word.numel() && touched.count(static_cast<std::int32_t>(local / 16))) continue;
        INFO("gradient element ", i);
        REQUIRE(g1[i] == doctest::Approx(g0[i]).epsilon(1e-10).scale(1e-10));
    }
}

TEST_CASE("Bert: config.json parsing and its errors") {
    const Bert::Options o = read_bert_config(std::string(FGCLEP_FIXTURES) + "/bert_tiny/config.json");
    CHECK(o.vocab_size == 50);
    CHECK(o.hidden_size == 16);
    CHECK(o.num_hidden_layers == 2);
    CHECK(o.num_attention_heads == 2);
    CHECK(o.intermediate_size == 32);
    CHECK(o.max_position_embeddings == 16);
    CHECK(o.type_vocab_size == 2);
    CHECK(o.layer_norm_eps == 1e-12);
    CHECK(o.hidden_dropout_prob == 0);
    CHECK(o.attention_probs_dropout_prob == 0);
    CHECK(o.pad_token_id == 0);

    // Optional keys take HF's defaults.
    const auto minimal = write_temp("minimal", R"({"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 1,
        "num_attention_heads": 4, "intermediate_size": 64, "pad_token_id": null})");
    const Bert::Options m = read_bert_config(minimal);
    CHECK(m.max_position_embeddings == 512);
    CHECK(m.hidden_dropout_prob == 0.1);
    CHECK(m.pad_token_id == -1);

    const auto missing = write_temp("missing", R"({"vocab_size": 100, "num_hidden_layers": 1})");
    CHECK_THROWS_WITH_AS(read_bert_config(missing),
                         doctest::Contains((missing + ": key 'hidden_size' is missing").c_str()), Error);
    const auto wrong = write_temp("wrong", R"({"vocab_size": "many", "hidden_size": 32})");
    CHECK_THROWS_WITH_AS(read_bert_config(wrong), doctest::Contains("key 'vocab_size' must be an integer"), Error);
    const auto eps = write_temp("eps", R"({"vocab_size": 1, "hidden_size": 2, "num_hidden_layers": 1,
        "num_attention_heads": 1, "intermediate_size": 2, "layer_norm_eps": "small"})");
    CHECK_THROWS_WITH_AS(read_bert_config(eps),
                         doctest::Contains((eps + ": key 'layer_norm_eps' must be a number").c_str()), Error);
    const auto act = write_temp("act", R"({"vocab_size": 1, "hidden_size": 2, "num_hidden_layers": 1,
        "num_attention_heads": 1, "intermediate_size": 2, "hidden_act": "relu"})");
    CHECK_THROWS_WITH_AS(read_bert_config(act), doctest::Contains("key 'hidden_act' is \"relu\""), Error);
    const auto broken = write_temp("broken", "{\"vocab_size\": ");
    CHECK_THROWS_WITH_AS(read_bert_config(broken), doctest::Contains((broken + ": not valid JSON").c_str()), Error);
    CHECK_THROWS_WITH_AS(read_bert_config("/nonexistent/config.json"),
                         doctest::Contains("/nonexistent/config.json: cannot open"), Error);
}

TEST_CASE("BertBase is Bio_ClinicalBERT: 108,310,272 parameters with the pooler") {
    // Counted on the module tree without binding an arena (no 430 MB allocation).
    Bert::impl<Cpu<float>> base(Bert::Options{});
    ParamCounter c;
    c.walk(base);
    CHECK(c.count == 108310272);
    CHECK(base.num_layers() == 12);
    static_assert(std::is_same_v<BertBase, Bert>);
}

TEST_CASE("Bert: length, shape and option errors name the module") {
    using B = Cpu<double>;
    Context<B> ctx;
    Model<Bert, B> bert(micro(), 1, "text");
    const auto ids = [&](std::int64_t N, std::int64_t L) {
        return ctx.from_host(Shape{N, L}, std::vector<std::int32_t>(static_cast<std::size_t>(N * L), 1));
    };
    CHECK_THROWS_WITH_AS(bert.forward(ctx, {ids(2, 9), ids(2, 9), {}}),
                         doctest::Contains("text (BertModel): the sequence length 9 exceeds max_position_embeddings 8"),
                         Error);
    CHECK_THROWS_WITH_AS(bert.forward(ctx, {ids(2, 5), ids(2, 4), {}}), doctest::Contains("attention_mask"), Error);
    CHECK_THROWS_WITH_AS(bert.forward(ctx, {ids(2, 5), {}, ids(1, 5)}), doctest::Contains("token_type_ids"), Error);
    CHECK_THROWS_WITH_AS(bert.forward(ctx, {ctx.from_host(Shape{5}, std::vector<std::int32_t>(5, 1)), {}, {}}),
                         doctest::Contains("expected input_ids (N, L)"), Error);
    CHECK_THROWS_WITH_AS(bert.forward(ctx, {ctx.from_host(Shape{1, 2}, std::vector<std::int32_t>{1, 11}), {}, {}}),
                         doctest::Contains("text.embeddings.word_embeddings (Embedding)"), Error);
    CHECK_THROWS_WITH_AS(bert.module().backward(ctx, ctx.zeros(Shape{2, 5, 8})),
                         doctest::Contains("backward needs a forward pass in training mode"), Error);
    ctx.training = true;
    bert.forward(ctx, {ids(2, 5), {}, {}});
    CHECK_THROWS_WITH_AS(bert.module().backward(ctx, ctx.zeros(Shape{2, 4, 8})),
                         doctest::Contains("expected a last_hidden_state gradient of shape"), Error);
    auto bad = micro();
    bad.num_attention_heads = 3;
    CHECK_THROWS_WITH_AS((Model<Bert, B>(bad)),
                         doctest::Contains("hidden_size 8 is not divisible by num_attention_heads 3"), Error);
}
