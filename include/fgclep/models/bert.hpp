#pragma once
// Bert: the BERT text encoder, Hugging Face's BertModel (absolute positions, post-LayerNorm layers, erf GELU,
// tanh pooler) with its state_dict names, so HF checkpoints map 1:1.
//
//   fgclep::Model<fgclep::BertBase, fgclep::Cpu<float>> bert(fgclep::read_bert_config("Bio_ClinicalBERT/config.json"));
//   fgclep::BertInput<B> in{ids, attention_mask};        // (N, L) int32 each; mask nonzero = token
//   Tensor<B> hidden = bert.forward(ctx, in);            // last_hidden_state (N, L, H)
//   Tensor<B> pooled = bert.module().pooler_output();    // tanh(dense(hidden[:, 0])) (N, H), from the same forward
//   bert.module().backward(ctx, d_hidden, d_pooled);     // either gradient may be an undefined Tensor
//
// Structure and names (i = 0 .. num_hidden_layers - 1):
//   embeddings.{word,position,token_type}_embeddings.weight, embeddings.LayerNorm.{weight,bias}
//     h = dropout(LayerNorm(word[ids] + position[0..L-1] + token_type[types, 0 when not given]))
//   encoder.layer.i.attention.self.{query,key,value}.{weight,bias}
//   encoder.layer.i.attention.output.{dense,LayerNorm}.*   a = LayerNorm(dropout(dense(attention(h))) + h)
//   encoder.layer.i.intermediate.dense.*                   m = gelu(dense(a))
//   encoder.layer.i.output.{dense,LayerNorm}.*             h = LayerNorm(dropout(dense(m)) + a)
//   pooler.dense.*                                         pooled = tanh(dense(h[:, 0]))
// Attention: no query attends to a padded key (the mask), and attention_probs_dropout_prob drops probabilities.
// As HF (nn.Embedding with padding_idx), the word embedding row pad_token_id receives no gradient.
//
// Freezing: freeze_bottom(k) (or the arena's freeze on "<prefix>embeddings" and "<prefix>encoder.layer.i") stops
// the embeddings and the first k layers from training. Backward then stops below the lowest layer that trains:
// the frozen bottom needs no backward at all (its forward still runs as in training, dropout included).
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/concepts.hpp"
#include "fgclep/core/param.hpp"
#include "fgclep/nn/activation.hpp"
#include "fgclep/nn/attention.hpp"
#include "fgclep/nn/dropout.hpp"
#include "fgclep/nn/embedding.hpp"
#include "fgclep/nn/layernorm.hpp"
#include "fgclep/nn/linear.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace fgclep {

// The inputs of a BERT forward pass: token ids (N, L), the attention mask (N, L), nonzero for real tokens and 0
// for padding (undefined: nothing is padded), and token type ids (N, L) (undefined: all 0).
template <Backend B>
struct BertInput {
    Tensor<B, std::int32_t> input_ids;
    Tensor<B, std::int32_t> attention_mask;
    Tensor<B, std::int32_t> token_type_ids;
};

struct Bert {
    // Hugging Face BertConfig's fields; the defaults are Bio_ClinicalBERT's (bert-base-cased).
    struct Options {
        std::int64_t vocab_size = 28996;
        std::int64_t hidden_size = 768;
        std::int64_t num_hidden_layers = 12;
        std::int64_t num_attention_heads = 12;
        std::int64_t intermediate_size = 3072;
        std::int64_t max_position_embeddings = 512;
        std::int64_t type_vocab_size = 2;
        double layer_norm_eps = 1e-12;
        double hidden_dropout_prob = 0.1;
        double attention_probs_dropout_prob = 0.1;
        std::int64_t pad_token_id = 0;     // its word embedding row gets no gradient (HF's padding_idx); -1: none
        double initializer_range = 0.02;   // HF's init: N(0, initializer_range) weights, zero biases
    };
    static constexpr std::string_view name = "BertModel";
    template <Backend B>
    struct impl;
};

// BERT-base as Bio_ClinicalBERT: the spec with its default Options (108,310,272 parameters with the pooler).
using BertBase = Bert;

// Reads a Hugging Face config.json into Bert::Options. vocab_size, hidden_size, num_hidden_layers,
// num_attention_heads and intermediate_size are required; the rest default as in HF's BertConfig. Errors name the
// file and the key.
inline Bert::Options read_bert_config(const std::string& path) {
    std::ifstream in(path);
    if (!in) fail("{}: cannot open the BERT config", path);
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        fail("{}: not valid JSON: {}", path, e.what());
    }
    if (!j.is_object()) fail("{}: expected a JSON object at the top level", path);
    Bert::Options o;
    auto integer = [&](const char* key, std::int64_t& out, bool required) {
        if (!j.contains(key)) {
            if (required) fail("{}: key '{}' is missing", path, key);
            return;
        }
        if (!j[key].is_number_integer()) fail("{}: key '{}' must be an integer, got {}", path, key, j[key].dump());
        out = j[key].get<std::int64_t>();
    };
    auto number = [&](const char* key, double& out) {
        if (!j.contains(key)) return;
        if (!j[key].is_number()) fail("{}: key '{}' must be a number, got {}", path, key, j[key].dump());
        out = j[key].get<double>();
    };
    auto text = [&](const char* key, std::string_view expected) {
        if (!j.contains(key)) return;
        if (!j[key].is_string() || j[key].get<std::string>() != expected)
            fail("{}: key '{}' is {}, but only \"{}\" is supported", path, key, j[key].dump(), expected);
    };
    integer("vocab_size", o.vocab_size, true);
    integer("hidden_size", o.hidden_size, true);
    integer("num_hidden_layers", o.num_hidden_layers, true);
    integer("num_attention_heads", o.num_attention_heads, true);
    integer("intermediate_size", o.intermediate_size, true);
    integer("max_position_embeddings", o.max_position_embeddings, false);
    integer("type_vocab_size", o.type_vocab_size, false);
    number("layer_norm_eps", o.layer_norm_eps);
    number("hidden_dropout_prob", o.hidden_dropout_prob);
    number("attention_probs_dropout_prob", o.attention_probs_dropout_prob);
    number("initializer_range", o.initializer_range);
    if (j.contains("pad_token_id")) {
        if (j["pad_token_id"].is_null())
            o.pad_token_id = -1;
        else
            integer("pad_token_id", o.pad_token_id, false);
    }
    text("hidden_act", "gelu");
    text("position_embedding_type", "absolute");
    return o;
}

namespace detail {

// Sets `trainable` on every parameter of a module tree (the flag the arena's freeze sets).
struct BertTrainableSetter : Visitor<BertTrainableSetter> {
    bool trainable = true;
    template <class P>
    void param(P& p) {
        p.trainable = trainable;
    }
};

// Whether any parameter of a module tree trains.
struct BertAnyTrainable : Visitor<BertAnyTrainable> {
    bool any = false;
    template <class P>
    void param(P& p) {
        any = any || p.trainable;
    }
};

template <class M>
bool any_trainable(M& module) {
    BertAnyTrainable v;
    v.walk(module, module.path());
    return v.any;
}

template <class M>
void set_trainable(M& module, bool trainable) {
    BertTrainableSetter v;
    v.trainable = trainable;
    v.walk(module, module.path());
}

inline Linear::Options bert_linear(std::int64_t in, std::int64_t out) { return {in, out, true}; }

// HF's _init_weights: Linear weights N(0, range), biases 0.
template <Backend B>
void bert_init(Linear::impl<B>& l, double range) {
    l.weight.init = Init::normal(range);
    l.bias.init = Init::zeros();
}

// attention.self: the q/k/v projections and the attention core; its output is the merged context (N, L, H).
template <Backend B>
struct BertSelfAttention : Module {
    Linear::impl<B> query, key, value;
    ScaledDotProductAttention<B> core;
    std::int64_t heads;

    explicit BertSelfAttention(const Bert::Options& o)
        : Module("BertSelfAttention"),
          query(bert_linear(o.hidden_size, o.hidden_size)),
          key(bert_linear(o.hidden_size, o.hidden_size)),
          value(bert_linear(o.hidden_size, o.hidden_size)),
          heads(o.num_attention_heads) {
        core.dropout = o.attention_probs_dropout_prob;
        for (auto* l : {&query, &key, &value}) bert_init(*l, o.initializer_range);
    }
    template <class V>
    void visit(V& v) {
        v.module("query", query);
        v.module("key", key);
        v.module("value", value);
    }
    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& h, const std::int32_t* mask) {
        const Tensor<B> q = split_heads(ctx, query.forward(ctx, h), heads);
        const Tensor<B> k = split_heads(ctx, key.forward(ctx, h), heads);
        const Tensor<B> v = split_heads(ctx, value.forward(ctx, h), heads);
        return merge_heads(ctx, core.forward(ctx, q, k, v, mask));
    }
    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dcontext) {
        using T = typename B::value_type;
        const auto g = core.backward(ctx, split_heads(ctx, dcontext, heads));
        Tensor<B> dh = query.backward(ctx, merge_heads(ctx, g.dq));
        const Tensor<B> dk = key.backward(ctx, merge_heads(ctx, g.dk));
        ops::axpy(ctx, dh.numel(), T(1), dk.data(), dh.data());
        const Tensor<B> dv = value.backward(ctx, merge_heads(ctx, g.dv));
        ops::axpy(ctx, dh.numel(), T(1), dv.data(), dh.data());
        return dh;
    }
};

// BertSelfOutput and BertOutput: LayerNorm(dropout(dense(x)) + residual).
template <Backend B>
struct BertAddNorm : Module {
    Linear::impl<B> dense;
    LayerNorm::impl<B> norm;
    Dropout::impl<B> dropout;

    BertAddNorm(std::string_view type, std::int64_t in, const Bert::Options& o)
        : Module(type),
          dense(bert_linear(in, o.hidden_size)),
          norm(LayerNorm::Options{o.hidden_size, o.layer_norm_eps}),
          dropout(Dropout::Options{o.hidden_dropout_prob}) {
        bert_init(dense, o.initializer_range);
    }
    template <class V>
    void visit(V& v) {
        v.module("dense", dense);
        v.module("LayerNorm", norm);
    }
    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x, const Tensor<B>& residual) {
        using T = typename B::value_type;
        Tensor<B> sum = ctx.clone(dropout.forward(ctx, dense.forward(ctx, x)));
        ops::axpy(ctx, sum.numel(), T(1), residual.data(), sum.data());
        return norm.forward(ctx, sum);
    }
    struct Gradients {
        Tensor<B> dx, dresidual;
    };
    Gradients backward(Context<B>& ctx, const Tensor<B>& dy) {
        Tensor<B> dsum = norm.backward(ctx, dy);
        return {dense.backward(ctx, dropout.backward(ctx, dsum)), dsum};
    }
};

template <Backend B>
struct BertAttention : Module {
    BertSelfAttention<B> self;
    BertAddNorm<B> output;

    explicit BertAttention(const Bert::Options& o)
        : Module("BertAttention"), self(o), output("BertSelfOutput", o.hidden_size, o) {}
    template <class V>
    void visit(V& v) {
        v.module("self", self);
        v.module("output", output);
    }
    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& h, const std::int32_t* mask) {
        return output.forward(ctx, self.forward(ctx, h, mask), h);
    }
    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
        using T = typename B::value_type;
        const auto g = output.backward(ctx, dy);
        Tensor<B> dh = self.backward(ctx, g.dx);
        ops::axpy(ctx, dh.numel(), T(1), g.dresidual.data(), dh.data());
        return dh;
    }
};

template <Backend B>
struct BertIntermediate : Module {
    Linear::impl<B> dense;
    GELU::impl<B> act;

    explicit BertIntermediate(const Bert::Options& o)
        : Module("BertIntermediate"), dense(bert_linear(o.hidden_size, o.intermediate_size)) {
        bert_init(dense, o.initializer_range);
    }
    template <class V>
    void visit(V& v) {
        v.module("dense", dense);
    }
    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) { return act.forward(ctx, dense.forward(ctx, x)); }
    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) { return dense.backward(ctx, act.backward(ctx, dy)); }
};

// One post-LN encoder layer (HF's BertLayer).
template <Backend B>
struct BertLayer : Module {
    BertAttention<B> attention;
    BertIntermediate<B> intermediate;
    BertAddNorm<B> output;

    explicit BertLayer(const Bert::Options& o)
        : Module("BertLayer"), attention(o), intermediate(o), output("BertOutput", o.intermediate_size, o) {}
    template <class V>
    void visit(V& v) {
        v.module("attention", attention);
        v.module("intermediate", intermediate);
        v.module("output", output);
    }
    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& h, const std::int32_t* mask) {
        const Tensor<B> a = attention.forward(ctx, h, mask);
        return output.forward(ctx, intermediate.forward(ctx, a), a);
    }
    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
        using T = typename B::value_type;
        const auto g = output.backward(ctx, dy);
        Tensor<B> da = intermediate.backward(ctx, g.dx);
        ops::axpy(ctx, da.numel(), T(1), g.dresidual.data(), da.data());
        return attention.backward(ctx, da);
    }
};

template <Backend B>
struct BertEmbeddings : Module {
    using T = typename B::value_type;
    Bert::Options options;
    Embedding::impl<B> word_embeddings, position_embeddings, token_type_embeddings;
    LayerNorm::impl<B> norm;
    Dropout::impl<B> dropout;

    explicit BertEmbeddings(const Bert::Options& o)
        : Module("BertEmbeddings"),
          options(o),
          word_embeddings(Embedding::Options{o.vocab_size, o.hidden_size}),
          position_embeddings(Embedding::Options{o.max_position_embeddings, o.hidden_size}),
          token_type_embeddings(Embedding::Options{o.type_vocab_size, o.hidden_size}),
          norm(LayerNorm::Options{o.hidden_size, o.layer_norm_eps}),
          dropout(Dropout::Options{o.hidden_dropout_prob}) {
        for (auto* e : {&word_embeddings, &position_embeddings, &token_type_embeddings})
            e->weight.init = Init::normal(o.initializer_range);
    }
    template <class V>
    void visit(V& v) {
        v.module("word_embeddings", word_embeddings);
        v.module("position_embeddings", position_embeddings);
        v.module("token_type_embeddings", token_type_embeddings);
        v.module("LayerNorm", norm);
    }

    // ids (N, L), types (N, L) or undefined -> (N, L, H). The positions are 0 .. L-1 for every sample.
    Tensor<B> forward(Context<B>& ctx, const Tensor<B, std::int32_t>& ids, const Tensor<B, std::int32_t>& types) {
        const std::int64_t N = ids.size(0), L = ids.size(1), H = options.hidden_size;
        Tensor<B> x = word_embeddings.forward(ctx, ids);  // a fresh tensor, summed into in place
        ops::add_bias_rows(ctx, N, L * H, position_embeddings.weight.value.data(), x.data());
        typed = types.defined();
        if (typed) {
            const Tensor<B> t = token_type_embeddings.forward(ctx, types);
            ops::axpy(ctx, x.numel(), T(1), t.data(), x.data());
        } else {
            ops::add_bias_rows(ctx, N * L, H, token_type_embeddings.weight.value.data(), x.data());
        }
        saved_shape = x.shape();
        return dropout.forward(ctx, norm.forward(ctx, x));
    }

    // Accumulates the gradients of the three tables and the LayerNorm; ids are not differentiable.
    void backward(Context<B>& ctx, const Tensor<B>& dy) {
        const Tensor<B> dx = norm.backward(ctx, dropout.backward(ctx, dy));
        const std::int64_t N = saved_shape[0], L = saved_shape[1], H = options.hidden_size;
        const std::int64_t pad = options.pad_token_id;
        if (word_embeddings.weight.trainable && pad >= 0 && pad < options.vocab_size) {
            // The pad row keeps its gradient (HF's padding_idx): saved around the scatter, then put back.
            T* row = word_embeddings.weight.grad.data() + pad * H;
            Tensor<B> kept = ctx.empty(Shape{H});
            B::copy(ctx.state, kept.data(), row, static_cast<std::size_t>(H));
            word_embeddings.backward(ctx, dx);
            B::copy(ctx.state, row, kept.data(), static_cast<std::size_t>(H));
        } else {
            word_embeddings.backward(ctx, dx);
        }
        if (position_embeddings.weight.trainable)  // rows 0 .. L-1, summed over the batch
            ops::sum_rows(ctx, N, L * H, dx.data(), T(1), position_embeddings.weight.grad.data());
        if (typed)
            token_type_embeddings.backward(ctx, dx);
        else if (token_type_embeddings.weight.trainable)  // every token used row 0
            ops::sum_rows(ctx, N * L, H, dx.data(), T(1), token_type_embeddings.weight.grad.data());
    }

private:
    bool typed = false;
    Shape saved_shape;
};

// encoder.layer.i: the layers as one runtime list.
template <Backend B>
struct BertLayerList : Module {
    std::vector<std::unique_ptr<BertLayer<B>>> layers;
    explicit BertLayerList(const Bert::Options& o) : Module("ModuleList") {
        for (std::int64_t i = 0; i < o.num_hidden_layers; ++i) layers.push_back(std::make_unique<BertLayer<B>>(o));
    }
    template <class V>
    void visit(V& v) {
        for (std::size_t i = 0; i < layers.size(); ++i) v.module(std::to_string(i), *layers[i]);
    }
};

template <Backend B>
struct BertEncoder : Module {
    BertLayerList<B> layer;
    explicit BertEncoder(const Bert::Options& o) : Module("BertEncoder"), layer(o) {}
    template <class V>
    void visit(V& v) {
        v.module("layer", layer);
    }
};

// pooler: tanh(dense(h[:, 0])).
template <Backend B>
struct BertPooler : Module {
    Linear::impl<B> dense;
    Tanh::impl<B> act;
    explicit BertPooler(const Bert::Options& o)
        : Module("BertPooler"), dense(bert_linear(o.hidden_size, o.hidden_size)) {
        bert_init(dense, o.initializer_range);
    }
    template <class V>
    void visit(V& v) {
        v.module("dense", dense);
    }
};

}  // namespace detail

template <Backend B>
struct Bert::impl : Module {
    using T = typename B::value_type;
    using input_type = BertInput<B>;
    Options options;
    detail::BertEmbeddings<B> embeddings;
    detail::BertEncoder<B> encoder;
    detail::BertPooler<B> pooler;

    explicit impl(const Options& o)
        : Module(Bert::name), options(checked(o)), embeddings(o), encoder(o), pooler(o) {}

    template <class V>
    void visit(V& v) {
        v.module("embeddings", embeddings);
        v.module("encoder", encoder);
        v.module("pooler", pooler);
    }

    std::int64_t num_layers() const { return static_cast<std::int64_t>(encoder.layer.layers.size()); }
    detail::BertLayer<B>& layer(std::int64_t i) { return *encoder.layer.layers.at(static_cast<std::size_t>(i)); }

    // -> last_hidden_state (N, L, hidden_size); pooler_output() then holds the pooled output (N, hidden_size).
    Tensor<B> forward(Context<B>& ctx, const input_type& in) {
        const Tensor<B, std::int32_t>& ids = in.input_ids;
        if (!ids.defined() || ids.rank() != 2) fail("expected input_ids (N, L), got {}", ids.defined() ? ids.shape() : Shape{});
        const std::int64_t N = ids.size(0), L = ids.size(1), H = options.hidden_size;
        if (N < 1 || L < 1) fail("expected at least one sequence of at least one token, got input_ids {}", ids.shape());
        if (L > options.max_position_embeddings)
            fail("the sequence length {} exceeds max_position_embeddings {}", L, options.max_position_embeddings);
        if (in.attention_mask.defined()) expect_shape(in.attention_mask.shape(), {N, L}, "attention_mask");
        if (in.token_type_ids.defined()) expect_shape(in.token_type_ids.shape(), {N, L}, "token_type_ids");
        const std::int32_t* mask = in.attention_mask.defined() ? in.attention_mask.data() : nullptr;

        Tensor<B> h = embeddings.forward(ctx, ids, in.token_type_ids);
        for (auto& l : encoder.layer.layers) h = l->forward(ctx, h, mask);

        Tensor<B> first = ctx.empty(Shape{N, H});
        for (std::int64_t n = 0; n < N; ++n)
            B::copy(ctx.state, first.data() + n * H, h.data() + n * L * H, static_cast<std::size_t>(H));
        pooled = pooler.act.forward(ctx, pooler.dense.forward(ctx, first));
        saved_shape = ctx.training ? h.shape() : Shape{};
        return h;
    }

    // The pooled output of the last forward (N, hidden_size).
    const Tensor<B>& pooler_output() const { return pooled; }

    void backward(Context<B>& ctx, const Tensor<B>& d_hidden) { backward(ctx, d_hidden, Tensor<B>()); }

    // Back-propagates gradients of the last hidden state and/or the pooled output (undefined = zero). Parameter
    // gradients accumulate; nothing is returned (ids are not differentiable).
    void backward(Context<B>& ctx, const Tensor<B>& d_hidden, const Tensor<B>& d_pooled) {
        if (saved_shape.rank() != 3) fail("backward needs a forward pass in training mode first");
        const Shape shape = saved_shape;
        saved_shape = Shape{};
        const std::int64_t N = shape[0], L = shape[1], H = options.hidden_size;
        if (!d_hidden.defined() && !d_pooled.defined()) fail("backward needs the gradient of at least one output");
        if (d_hidden.defined() && !(d_hidden.shape() == shape))
            fail("expected a last_hidden_state gradient of shape {}, got {}", shape, d_hidden.shape());
        if (d_pooled.defined() && !(d_pooled.shape() == Shape{N, H}))
            fail("expected a pooler_output gradient of shape {}, got {}", Shape{N, H}, d_pooled.shape());

        Tensor<B> g = d_hidden.defined() ? ctx.clone(d_hidden) : ctx.zeros(shape);
        if (d_pooled.defined()) {
            const Tensor<B> dfirst = pooler.dense.backward(ctx, pooler.act.backward(ctx, d_pooled));
            for (std::int64_t n = 0; n < N; ++n)
                ops::axpy(ctx, H, T(1), dfirst.data() + n * H, g.data() + n * L * H);
        }
        const std::int64_t lowest = lowest_trained_layer();
        for (std::int64_t i = num_layers() - 1; i >= lowest; --i) g = layer(i).backward(ctx, g);
        if (lowest == 0 && detail::any_trainable(embeddings)) embeddings.backward(ctx, g);
    }

    // Freezes (or unfreezes) the embeddings and the first k layers; the reference freezes 9 (FG-CLEP) or 6 (MERL).
    void freeze_bottom(std::int64_t k, bool frozen = true) {
        if (k < 0 || k > num_layers()) fail("freeze_bottom: k must be in [0, {}], got {}", num_layers(), k);
        detail::set_trainable(embeddings, !frozen);
        for (std::int64_t i = 0; i < k; ++i) detail::set_trainable(layer(i), !frozen);
    }

    // The lowest layer that backward must run: 0 while the embeddings train, else the first layer with a trainable
    // parameter (num_layers() when none has one).
    std::int64_t lowest_trained_layer() {
        if (detail::any_trainable(embeddings)) return 0;
        for (std::int64_t i = 0; i < num_layers(); ++i)
            if (detail::any_trainable(layer(i))) return i;
        return num_layers();
    }

private:
    static const Options& checked(const Options& o) {
        if (o.vocab_size <= 0 || o.hidden_size <= 0 || o.num_hidden_layers < 0 || o.num_attention_heads <= 0 ||
            o.intermediate_size <= 0 || o.max_position_embeddings <= 0 || o.type_vocab_size <= 0)
            fgclep::fail("Bert needs positive vocab_size, hidden_size, num_attention_heads, intermediate_size, "
                         "max_position_embeddings and type_vocab_size and num_hidden_layers >= 0, got {}, {}, {}, "
                         "{}, {}, {} and {}", o.vocab_size, o.hidden_size, o.num_attention_heads, o.intermediate_size,
                         o.max_position_embeddings, o.type_vocab_size, o.num_hidden_layers);
        if (o.hidden_size % o.num_attention_heads != 0)
            fgclep::fail("Bert: hidden_size {} is not divisible by num_attention_heads {}", o.hidden_size,
                         o.num_attention_heads);
        if (!(o.hidden_dropout_prob >= 0 && o.hidden_dropout_prob < 1) ||
            !(o.attention_probs_dropout_prob >= 0 && o.attention_probs_dropout_prob < 1))
            fgclep::fail("Bert needs hidden_dropout_prob and attention_probs_dropout_prob in [0, 1), got {} and {}",
                         o.hidden_dropout_prob, o.attention_probs_dropout_prob);
        return o;
    }
    Tensor<B> pooled;
    Shape saved_shape;
};

}  // namespace fgclep
