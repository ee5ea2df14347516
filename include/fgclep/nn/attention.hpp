#pragma once
// Multi-head self-attention with a key padding mask, as torch.nn.MultiheadAttention(batch_first=True) with its
// packed in_proj split into three Linear children ("query", "key", "value") and out_proj named "out".
//
// BERT's self-attention is this layer without its output projection (Options::output_projection = false): HF
// puts that projection in attention.output.dense. split_heads / merge_heads and ScaledDotProductAttention work on
// per-head (N, H, L, Dh) tensors, for heads that project differently (AttentionPool1d's single CLS query).
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/concepts.hpp"
#include "fgclep/core/saved.hpp"
#include "fgclep/nn/linear.hpp"

#include <cmath>
#include <cstdint>
#include <optional>

namespace fgclep {

// (N, L, H * Dh) -> (N, H, L, Dh): one contiguous (L, Dh) matrix per head, for the batched GEMMs.
template <Backend B>
Tensor<B> split_heads(Context<B>& ctx, const Tensor<B>& x, std::int64_t heads) {
    const std::int64_t N = x.size(0), L = x.size(1), Dh = x.size(2) / heads;
    Tensor<B> y = ctx.empty(Shape{N, heads, L, Dh});
    ops::transpose_middle(ctx, x.data(), N, L, heads, Dh, y.data());
    return y;
}

// (N, H, L, Dh) -> (N, L, H * Dh), the inverse of split_heads.
template <Backend B>
Tensor<B> merge_heads(Context<B>& ctx, const Tensor<B>& x) {
    const std::int64_t N = x.size(0), H = x.size(1), L = x.size(2), Dh = x.size(3);
    Tensor<B> y = ctx.empty(Shape{N, L, H * Dh});
    ops::transpose_middle(ctx, x.data(), N, H, L, Dh, y.data());
    return y;
}

// context = dropout(softmax(q k^T / sqrt(Dh) over unmasked keys)) v, per batch element and head.
//   q (N, H, Lq, Dh); k, v (N, H, Lk, Dh); key_mask (N, Lk), nonzero for real tokens, or null for no padding.
// A query whose keys are all masked gets a zero context (torch gives NaN there). Shapes are the caller's to check,
// since the caller knows its module path. In training, forward keeps q, k, v and the probabilities (not the
// dropout mask: backward re-draws it from the remembered Philox offset).
template <Backend B>
class ScaledDotProductAttention {
public:
    using T = typename B::value_type;
    double dropout = 0;  // on the attention probabilities, in training only (BERT's attention_probs_dropout_prob)

    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& q, const Tensor<B>& k, const Tensor<B>& v,
                      const std::int32_t* key_mask) {
        const std::int64_t N = q.size(0), H = q.size(1), Lq = q.size(2), Dh = q.size(3), Lk = k.size(2);
        const std::int64_t batch = N * H;
        Tensor<B> scores = ctx.empty(Shape{N, H, Lq, Lk});
        ops::gemm_strided_batched(ctx, false, true, Lq, Lk, Dh, T(1), q.data(), Dh, Lq * Dh, k.data(), Dh, Lk * Dh,
                                  T(0), scores.data(), Lk, Lq * Lk, batch);
        Tensor<B> probs = ctx.empty(scores.shape());
        ops::masked_softmax_forward(ctx, scores.data(), N, H * Lq, Lk, key_mask, scale(Dh), probs.data());

        Tensor<B> attended = probs;
        const bool drop = ctx.training && dropout > 0;
        if (drop) {
            seed = ctx.seed;
            offset = ctx.reserve_random(static_cast<std::uint64_t>(probs.numel()));
            attended = ctx.empty(probs.shape());
            ops::dropout(ctx, probs.numel(), T(dropout), seed, offset, probs.data(), attended.data());
        }
        Tensor<B> context = ctx.empty(Shape{N, H, Lq, Dh});
        ops::gemm_strided_batched(ctx, false, false, Lq, Dh, Lk, T(1), attended.data(), Lk, Lq * Lk, v.data(), Dh,
                                  Lk * Dh, T(0), context.data(), Dh, Lq * Dh, batch);
        if (ctx.training) {
            saved_q = q, saved_k = k, saved_v = v, saved_probs = probs;
            dropped = drop;
        } else {
            clear();
        }
        return context;
    }

    struct Gradients {
        Tensor<B> dq, dk, dv;
    };

    // dcontext (N, H, Lq, Dh) -> gradients wrt q, k and v (fresh tensors).
    Gradients backward(Context<B>& ctx, const Tensor<B>& dcontext) {
        if (!has_saved()) fgclep::fail("attention backward needs a forward pass in training mode first");
        const Tensor<B> q = saved_q, k = saved_k, v = saved_v, probs = saved_probs;
        clear();
        const std::int64_t N = q.size(0), H = q.size(1), Lq = q.size(2), Dh = q.size(3), Lk = k.size(2);
        const std::int64_t batch = N * H;

        Tensor<B> attended = probs;
        if (dropped) {  // the same mask as forward, from the same counters
            attended = ctx.empty(probs.shape());
            ops::dropout(ctx, probs.numel(), T(dropout), seed, offset, probs.data(), attended.data());
        }
        Gradients g{ctx.empty(q.shape()), ctx.empty(k.shape()), ctx.empty(v.shape())};
        // dv = attended^T dcontext
        ops::gemm_strided_batched(ctx, true, false, Lk, Dh, Lq, T(1), attended.data(), Lk, Lq * Lk, dcontext.data(), Dh,
                                  Lq * Dh, T(0), g.dv.data(), Dh, Lk * Dh, batch);
        // dprobs = dcontext v^T, through the dropout mask
        Tensor<B> dprobs = ctx.empty(probs.shape());
        ops::gemm_strided_batched(ctx, false, true, Lq, Lk, Dh, T(1), dcontext.data(), Dh, Lq * Dh, v.data(), Dh,
                                  Lk * Dh, T(0), dprobs.data(), Lk, Lq * Lk, batch);
        if (dropped) ops::dropout(ctx, dprobs.numel(), T(dropout), seed, offset, dprobs.data(), dprobs.data());
        // dscores, with the 1/sqrt(Dh) scale folded in; masked keys get 0 because their probability is 0
        Tensor<B> dscores = ctx.empty(probs.shape());
        ops::softmax_backward(ctx, probs.data(), dprobs.data(), batch * Lq, Lk, scale(Dh), dscores.data());
        // dq = dscores k, dk = dscores^T q
        ops::gemm_strided_batched(ctx, false, false, Lq, Dh, Lk, T(1), dscores.data(), Lk, Lq * Lk, k.data(), Dh,
                                  Lk * Dh, T(0), g.dq.data(), Dh, Lq * Dh, batch);
        ops::gemm_strided_batched(ctx, true, false, Lk, Dh, Lq, T(1), dscores.data(), Lk, Lq * Lk, q.data(), Dh,
                                  Lq * Dh, T(0), g.dk.data(), Dh, Lk * Dh, batch);
        return g;
    }

    bool has_saved() const { return saved_probs.defined(); }

private:
    static T scale(std::int64_t head_dim) { return static_cast<T>(1.0 / std::sqrt(static_cast<double>(head_dim))); }
    void clear() { saved_q = saved_k = saved_v = saved_probs = Tensor<B>(); }

    Tensor<B> saved_q, saved_k, saved_v, saved_probs;
    bool dropped = false;
    std::uint64_t seed = 0, offset = 0;
};

struct MultiHeadSelfAttention {
    struct Options {
        std::int64_t embed_dim = 0;
        std::int64_t num_heads = 1;
        double dropout = 0;  // on the attention probabilities, as BERT's attention_probs_dropout_prob
        bool bias = true;
        // The output projection "out". BERT has none here: its projection is attention.output.dense, which comes
        // with the residual and LayerNorm (BertSelfOutput).
        bool output_projection = true;
    };
    static constexpr std::string_view name = "MultiHeadSelfAttention";
    template <Backend B>
    struct impl;
};

template <Backend B>
struct MultiHeadSelfAttention::impl : Module {
    using T = typename B::value_type;
    Options options;
    Linear::impl<B> query, key, value;
    std::optional<Linear::impl<B>> out;  // absent without output_projection
    ScaledDotProductAttention<B> attention;

    explicit impl(const Options& o)
        : Module(MultiHeadSelfAttention::name),
          options(o),
          query(projection(o)),
          key(projection(o)),
          value(projection(o)) {
        if (o.output_projection) out.emplace(projection(o));
        attention.dropout = o.dropout;
        // torch.nn.MultiheadAttention's _reset_parameters: xavier_uniform on the packed (3E, E) in-projection
        // (bound sqrt(6 / (E + 3E))), zero in-projection and out-projection biases; out.weight keeps Linear's.
        const double xavier = std::sqrt(6.0 / double(4 * o.embed_dim));
        for (auto* p : {&query, &key, &value}) p->weight.init = Init::uniform(xavier);
        for (auto* p : {&query, &key, &value}) p->bias.init = Init::zeros();
        if (out) out->bias.init = Init::zeros();
    }

    template <class V>
    void visit(V& v) {
        v.module("query", query);
        v.module("key", key);
        v.module("value", value);
        if (out) v.module("out", *out);
    }

    // x (N, L, embed_dim) -> (N, L, embed_dim). key_padding_mask (N, L) int32: nonzero for real tokens, 0 for
    // padding that no query may attend to; null when nothing is padded.
    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x, const Tensor<B, std::int32_t>* key_padding_mask) {
        expect_shape(x.shape(), {-1, -1, options.embed_dim}, "input");
        const std::int64_t N = x.size(0), L = x.size(1), H = options.num_heads;
        if (key_padding_mask) expect_shape(key_padding_mask->shape(), {N, L}, "key padding mask");
        const Tensor<B> q = split_heads(ctx, query.forward(ctx, x), H);
        const Tensor<B> k = split_heads(ctx, key.forward(ctx, x), H);
        const Tensor<B> v = split_heads(ctx, value.forward(ctx, x), H);
        const Tensor<B> context =
            attention.forward(ctx, q, k, v, key_padding_mask ? key_padding_mask->data() : nullptr);
        Tensor<B> merged = merge_heads(ctx, context);
        Tensor<B> y = out ? out->forward(ctx, merged) : merged;
        saved_shape = ctx.training ? x.shape() : Shape{};
        return y;
    }

    // Without a mask, so that the layer composes like any other.
    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) { return forward(ctx, x, nullptr); }

    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
        require_forward_pass(*this, attention.has_saved());
        expect_output_gradient(*this, dy.shape(), saved_shape);
        const Tensor<B> dmerged = out ? out->backward(ctx, dy) : dy;
        const auto g = attention.backward(ctx, split_heads(ctx, dmerged, options.num_heads));
        Tensor<B> dx = query.backward(ctx, merge_heads(ctx, g.dq));
        const Tensor<B> dx_key = key.backward(ctx, merge_heads(ctx, g.dk));
        ops::axpy(ctx, dx.numel(), T(1), dx_key.data(), dx.data());
        const Tensor<B> dx_value = value.backward(ctx, merge_heads(ctx, g.dv));
        ops::axpy(ctx, dx.numel(), T(1), dx_value.data(), dx.data());
        return dx;
    }

private:
    // Checks the options (before the Linear children would, so the message is about attention).
    static Linear::Options projection(const Options& o) {
        if (o.embed_dim <= 0 || o.num_heads <= 0)
            fgclep::fail("MultiHeadSelfAttention needs positive embed_dim and num_heads, got {} and {}", o.embed_dim,
                         o.num_heads);
        if (o.embed_dim % o.num_heads != 0)
            fgclep::fail("MultiHeadSelfAttention: embed_dim {} is not divisible by num_heads {}", o.embed_dim,
                         o.num_heads);
        if (!(o.dropout >= 0 && o.dropout < 1))
            fgclep::fail("MultiHeadSelfAttention needs dropout in [0, 1), got {}", o.dropout);
        return {o.embed_dim, o.embed_dim, o.bias};
    }
    Shape saved_shape;
};

}  // namespace fgclep
