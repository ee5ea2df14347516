#pragma once
// Bert: the BERT text encoder, Hugging Face's BertModel (absolute positions, post-LayerNorm layers, erf GELU,
// tanh pooler) with its state_dict names, so HF checkpoints map 1:1.
//
//   // read_bert_config: io/bert_config.hpp
//   fgclep::Model<fgclep::BertBase, fgclep::Cpu<float>> bert(fgclep::read_bert_config("config.json"));
//   Tensor<B> hidden = bert.forward(ctx, BertInput<B>{ids, attention_mask});  // last_hidden_state (N, L, H)
//   Tensor<B> pooled = bert.module().pooler_output();    // tanh(dense(hidden[:, 0])), from the same forward
//   bert.module().backward(ctx, d_hidden, d_pooled);     // either gradient may be an undefined Tensor
//
// Its parts are specs with HF's names: embeddings (BertEmbeddings), encoder.layer.i (BertLayer: attention.self,
// a MultiHeadSelfAttention without output projection; attention.output, intermediate, output), pooler.
// freeze_bottom(k) freezes the embeddings and the first k layers, and backward then stops below the lowest layer
// that trains. Structure, names and equations: docs/bert.md.
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/concepts.hpp"
#include "fgclep/core/param.hpp"
#include "fgclep/core/saved.hpp"
#include "fgclep/core/trainable.hpp"
#include "fgclep/nn/activation.hpp"
#include "fgclep/nn/attention.hpp"
#include "fgclep/nn/dropout.hpp"
#include "fgclep/nn/embedding.hpp"
#include "fgclep/nn/layernorm.hpp"
#include "fgclep/nn/linear.hpp"
#include "fgclep/nn/repeat.hpp"

#include <algorithm>
#include <cstdint>
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

// Hugging Face BertConfig's fields; the defaults are Bio_ClinicalBERT's (bert-base-cased). io/bert_config.hpp
// reads one from a config.json.
struct BertConfig {
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
    std::int64_t pad_token_id = 0;    // its word embedding row gets no gradient (HF's padding_idx); -1: none
    double initializer_range = 0.02;  // HF's init: N(0, initializer_range) weights, zero biases
};

struct Bert {
    using Options = BertConfig;
    static constexpr std::string_view name = "BertModel";
    template <Backend B>
    struct impl;
};

// BERT-base as Bio_ClinicalBERT: the spec with its default Options (108,310,272 parameters with the pooler).
using BertBase = Bert;

namespace detail {
inline Linear::Options bert_linear(std::int64_t in, std::int64_t out) { return {in, out, true}; }

// HF's _init_weights: Linear weights N(0, range), biases 0.
template <Backend B>
void bert_init(Linear::impl<B>& l, double range) {
    l.weight.init = Init::normal(range);
    l.bias.init = Init::zeros();
}
}  // namespace detail

// The parts of a BertModel, each a spec like any layer, with Hugging Face's module names. Their Options are the
// whole BertConfig: each part takes the sizes it needs from it.

// embeddings: dropout(LayerNorm(word[ids] + position[0..L-1] + token_type[types])). Takes ids, not a tensor.
struct BertEmbeddings {
    using Options = BertConfig;
    static constexpr std::string_view name = "BertEmbeddings";
    template <Backend B>
    struct impl;
};

// attention.output (BertSelfOutput) and output (BertOutput): LayerNorm(dropout(dense(x)) + residual), with dense
// from hidden_size (after attention) or from intermediate_size (after the feed-forward layer).
template <bool AfterIntermediate>
struct BertAddNorm {
    using Options = BertConfig;
    static constexpr std::string_view name = AfterIntermediate ? "BertOutput" : "BertSelfOutput";
    template <Backend B>
    struct impl;
};
using BertSelfOutput = BertAddNorm<false>;
using BertOutput = BertAddNorm<true>;

// attention: self (MultiHeadSelfAttention with HF's query/key/value and no output projection; the projection is
// output.dense) and output.
struct BertAttention {
    using Options = BertConfig;
    static constexpr std::string_view name = "BertAttention";
    template <Backend B>
    struct impl;
};

// intermediate: gelu(dense(x)), hidden_size -> intermediate_size.
struct BertIntermediate {
    using Options = BertConfig;
    static constexpr std::string_view name = "BertIntermediate";
    template <Backend B>
    struct impl;
};

// encoder.layer.i: one post-LN transformer layer.
struct BertLayer {
    using Options = BertConfig;
    static constexpr std::string_view name = "BertLayer";
    template <Backend B>
    struct impl;
};

// encoder: layer.0 .. layer.{num_hidden_layers - 1}, a Repeat<BertLayer>.
struct BertEncoder {
    using Options = BertConfig;
    static constexpr std::string_view name = "BertEncoder";
    template <Backend B>
    struct impl;
};

// pooler: tanh(dense(h[:, 0])).
struct BertPooler {
    using Options = BertConfig;
    static constexpr std::string_view name = "BertPooler";
    template <Backend B>
    struct impl;
};

template <Backend B>
struct BertEmbeddings::impl : Module {
    using T = typename B::value_type;
    Options options;
    Embedding::impl<B> word_embeddings, position_embeddings, token_type_embeddings;
    LayerNorm::impl<B> norm;
    Dropout::impl<B> dropout;

    explicit impl(const Options& o)
        : Module(BertEmbeddings::name),
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

template <bool AfterIntermediate>
template <Backend B>
struct BertAddNorm<AfterIntermediate>::impl : Module {
    Linear::impl<B> dense;
    LayerNorm::impl<B> norm;
    Dropout::impl<B> dropout;

    explicit impl(const Options& o)
        : Module(BertAddNorm::name),
          dense(detail::bert_linear(AfterIntermediate ? o.intermediate_size : o.hidden_size, o.hidden_size)),
          norm(LayerNorm::Options{o.hidden_size, o.layer_norm_eps}),
          dropout(Dropout::Options{o.hidden_dropout_prob}) {
        detail::bert_init(dense, o.initializer_range);
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
struct BertAttention::impl : Module {
    MultiHeadSelfAttention::impl<B> self;
    BertSelfOutput::impl<B> output;

    explicit impl(const Options& o)
        : Module(BertAttention::name),
          self(MultiHeadSelfAttention::Options{.embed_dim = o.hidden_size,
                                               .num_heads = o.num_attention_heads,
                                               .dropout = o.attention_probs_dropout_prob,
                                               .output_projection = false}),
          output(o) {
        for (auto* l : {&self.query, &self.key, &self.value}) detail::bert_init(*l, o.initializer_range);
    }
    template <class V>
    void visit(V& v) {
        v.module("self", self);
        v.module("output", output);
    }
    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& h, const Tensor<B, std::int32_t>* mask) {
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
struct BertIntermediate::impl : Module {
    Linear::impl<B> dense;
    GELU::impl<B> act;

    explicit impl(const Options& o)
        : Module(BertIntermediate::name), dense(detail::bert_linear(o.hidden_size, o.intermediate_size)) {
        detail::bert_init(dense, o.initializer_range);
    }
    template <class V>
    void visit(V& v) {
        v.module("dense", dense);
    }
    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) { return act.forward(ctx, dense.forward(ctx, x)); }
    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) { return dense.backward(ctx, act.backward(ctx, dy)); }
};

template <Backend B>
struct BertLayer::impl : Module {
    BertAttention::impl<B> attention;
    BertIntermediate::impl<B> intermediate;
    BertOutput::impl<B> output;

    explicit impl(const Options& o) : Module(BertLayer::name), attention(o), intermediate(o), output(o) {}
    template <class V>
    void visit(V& v) {
        v.module("attention", attention);
        v.module("intermediate", intermediate);
        v.module("output", output);
    }
    // h (N, L, H); mask (N, L), nonzero for real tokens, or null when nothing is padded.
    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& h, const Tensor<B, std::int32_t>* mask) {
        const Tensor<B> a = attention.forward(ctx, h, mask);
        return output.forward(ctx, intermediate.forward(ctx, a), a);
    }
    // Without a mask, so that the layer composes like any other.
    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& h) { return forward(ctx, h, nullptr); }
    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
        using T = typename B::value_type;
        const auto g = output.backward(ctx, dy);
        Tensor<B> da = intermediate.backward(ctx, g.dx);
        ops::axpy(ctx, da.numel(), T(1), g.dresidual.data(), da.data());
        return attention.backward(ctx, da);
    }
};

template <Backend B>
struct BertEncoder::impl : Module {
    typename Repeat<BertLayer>::template impl<B> layer;
    explicit impl(const Options& o)
        : Module(BertEncoder::name),
          layer(Repeat<BertLayer>::Options::times(
              static_cast<std::size_t>(std::max<std::int64_t>(o.num_hidden_layers, 0)), o)) {}
    template <class V>
    void visit(V& v) {
        v.module("layer", layer);
    }
};

template <Backend B>
struct BertPooler::impl : Module {
    Linear::impl<B> dense;
    Tanh::impl<B> act;
    explicit impl(const Options& o)
        : Module(BertPooler::name), dense(detail::bert_linear(o.hidden_size, o.hidden_size)) {
        detail::bert_init(dense, o.initializer_range);
    }
    template <class V>
    void visit(V& v) {
        v.module("dense", dense);
    }
};

template <Backend B>
struct Bert::impl : Module {
    using T = typename B::value_type;
    using input_type = BertInput<B>;
    Options options;
    BertEmbeddings::impl<B> embeddings;
    BertEncoder::impl<B> encoder;
    BertPooler::impl<B> pooler;

    explicit impl(const Options& o) : Module(Bert::name), options(checked(o)), embeddings(o), encoder(o), pooler(o) {}

    template <class V>
    void visit(V& v) {
        v.module("embeddings", embeddings);
        v.module("encoder", encoder);
        v.module("pooler", pooler);
    }

    std::int64_t num_layers() const { return static_cast<std::int64_t>(encoder.layer.size()); }
    BertLayer::impl<B>& layer(std::int64_t i) { return *encoder.layer.blocks.at(static_cast<std::size_t>(i)); }

    // -> last_hidden_state (N, L, hidden_size); pooler_output() then holds the pooled output (N, hidden_size).
    Tensor<B> forward(Context<B>& ctx, const input_type& in) {
        const Tensor<B, std::int32_t>& ids = in.input_ids;
        if (!ids.defined() || ids.rank() != 2)
            fail("expected input_ids (N, L), got {}", ids.defined() ? ids.shape() : Shape{});
        const std::int64_t N = ids.size(0), L = ids.size(1), H = options.hidden_size;
        if (N < 1 || L < 1) fail("expected at least one sequence of at least one token, got input_ids {}", ids.shape());
        if (L > options.max_position_embeddings)
            fail("the sequence length {} exceeds max_position_embeddings {}", L, options.max_position_embeddings);
        if (in.attention_mask.defined()) expect_shape(in.attention_mask.shape(), {N, L}, "attention_mask");
        if (in.token_type_ids.defined()) expect_shape(in.token_type_ids.shape(), {N, L}, "token_type_ids");
        const Tensor<B, std::int32_t>* mask = in.attention_mask.defined() ? &in.attention_mask : nullptr;

        Tensor<B> h = embeddings.forward(ctx, ids, in.token_type_ids);
        for (auto& l : encoder.layer.blocks) h = l->forward(ctx, h, mask);

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
        require_forward_pass(*this, saved_shape.rank() == 3);
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
            for (std::int64_t n = 0; n < N; ++n) ops::axpy(ctx, H, T(1), dfirst.data() + n * H, g.data() + n * L * H);
        }
        const std::int64_t lowest = lowest_trained_layer();
        for (std::int64_t i = num_layers() - 1; i >= lowest; --i) g = layer(i).backward(ctx, g);
        if (lowest == 0 && any_trainable(embeddings)) embeddings.backward(ctx, g);
    }

    // Freezes (or unfreezes) the embeddings and the first k layers; the reference freezes 9 (FG-CLEP) or 6 (MERL).
    void freeze_bottom(std::int64_t k, bool frozen = true) {
        if (k < 0 || k > num_layers()) fail("freeze_bottom: k must be in [0, {}], got {}", num_layers(), k);
        set_trainable(embeddings, !frozen);
        for (std::int64_t i = 0; i < k; ++i) set_trainable(layer(i), !frozen);
    }

    // The lowest layer that backward must run: 0 while the embeddings train, else the first layer with a trainable
    // parameter (num_layers() when none has one).
    std::int64_t lowest_trained_layer() {
        if (any_trainable(embeddings)) return 0;
        for (std::int64_t i = 0; i < num_layers(); ++i)
            if (any_trainable(layer(i))) return i;
        return num_layers();
    }

private:
    static const Options& checked(const Options& o) {
        if (o.vocab_size <= 0 || o.hidden_size <= 0 || o.num_hidden_layers < 0 || o.num_attention_heads <= 0 ||
            o.intermediate_size <= 0 || o.max_position_embeddings <= 0 || o.type_vocab_size <= 0)
            fgclep::fail(
                "Bert needs positive vocab_size, hidden_size, num_attention_heads, intermediate_size, "
                "max_position_embeddings and type_vocab_size and num_hidden_layers >= 0, got {}, {}, {}, "
                "{}, {}, {} and {}",
                o.vocab_size, o.hidden_size, o.num_attention_heads, o.intermediate_size, o.max_position_embeddings,
                o.type_vocab_size, o.num_hidden_layers);
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
