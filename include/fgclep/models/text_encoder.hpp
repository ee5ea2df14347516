#pragma once
// The text side of the model: BERT, a pooling of its outputs into one vector per report, and the projection head
// into the shared embedding space (method.md section 2).
//
//   TextProjectionHead   Linear(768, 256) - GELU - Linear(256, 256), children "0" and "2" (MERL's nn.Sequential)
//   TextPooling          cls:    h[:, 0], the last hidden state of the first ([CLS]) token
//                        pooler: BERT's pooler output tanh(dense(h[:, 0])) (what MERL projects)
//                        mean:   the mean of h over the real tokens (attention_mask nonzero)
//   TextEncoder          BertInput -> (N, output_dim); names are MERL's: lm_model.* (the BertModel) and proj_t.*
//
//   fgclep::Model<fgclep::TextEncoder, fgclep::Cpu<float>> text({}, seed, "text");
//   io::load_bert_weights(arena, state, dir, "lm_model") puts a Hugging Face BERT checkpoint under lm_model (FgClep).
//
// Freezing: freeze_bottom(k) freezes BERT's embeddings and first k layers; BERT's backward then stops early.
#include "fgclep/core/concepts.hpp"
#include "fgclep/models/bert.hpp"
#include "fgclep/nn/activation.hpp"
#include "fgclep/nn/linear.hpp"
#include "fgclep/nn/sequential.hpp"

#include <cstdint>
#include <vector>

namespace fgclep {

// MERL's proj_t: nn.Sequential(Linear, GELU, Linear), so its children are "0" and "2".
struct TextProjectionHead {
    struct Options {
        std::int64_t in_features = 768;  // 0 inside TextEncoder: BERT's hidden_size
        std::int64_t hidden_features = 256;
        std::int64_t out_features = 256;
    };
    static constexpr std::string_view name = "TextProjectionHead";
    using network = Sequential<Linear, GELU, Linear>;
    template <Backend B>
    struct impl : network::impl<B> {
        Options options;
        // (N, in_features) -> (N, out_features).
        explicit impl(const Options& o)
            : network::impl<B>({{o.in_features, o.hidden_features}, {}, {o.hidden_features, o.out_features}},
                               TextProjectionHead::name),
              options(o) {}
    };
};

enum class TextPooling { cls, pooler, mean };

struct TextEncoder {
    struct Options {
        Bert::Options bert{};
        TextPooling pooling = TextPooling::pooler;
        TextProjectionHead::Options head{0, 256, 256};
    };
    static constexpr std::string_view name = "TextEncoder";
    template <Backend B>
    struct impl;
};

template <Backend B>
struct TextEncoder::impl : Module {
    using T = typename B::value_type;
    using input_type = BertInput<B>;
    Options options;
    Bert::impl<B> bert;
    TextProjectionHead::impl<B> head;

    explicit impl(const Options& o)
        : Module(TextEncoder::name), options(resolve(o)), bert(o.bert), head(options.head) {}

    template <class V>
    void visit(V& v) {
        v.module("lm_model", bert);
        v.module("proj_t", head);
    }

    // -> the projected text embedding (N, out_features) (not normalised; the loss normalises).
    Tensor<B> forward(Context<B>& ctx, const input_type& in) {
        pooled_ = pooled_features(ctx, in, true);
        return head.forward(ctx, pooled_);
    }

    // The pooled features (N, hidden_size) of the last forward, before the projection (FnmLoss's source =
    // features reads them).
    const Tensor<B>& last_pooled_features() const { return pooled_; }

    // dy: the gradient wrt the projected embedding; dpooled_extra (optional): a gradient wrt the pooled features
    // that did not come through the projection head (FnmLoss with source = features).
    void backward(Context<B>& ctx, const Tensor<B>& dy, const Tensor<B>& dpooled_extra = {}) {
        Tensor<B> dpooled = head.backward(ctx, dy);  // fresh: the extra gradient is added into it
        if (dpooled_extra.defined()) {
            if (!(dpooled_extra.shape() == dpooled.shape()))
                fail("the extra gradient wrt the pooled features has shape {}, expected {}", dpooled_extra.shape(),
                     dpooled.shape());
            ops::axpy(ctx, dpooled.numel(), T(1), dpooled_extra.data(), dpooled.data());
        }
        if (options.pooling == TextPooling::pooler) {
            bert.backward(ctx, Tensor<B>(), dpooled);
            return;
        }
        // dh[n, l] = weights[n, l] * dpooled[n]
        const std::int64_t N = dpooled.size(0), H = dpooled.size(1), L = weights.size(1);
        Tensor<B> dh = ctx.empty(Shape{N, L, H});
        ops::gemm_strided_batched(ctx, true, false, L, H, 1, T(1), weights.data(), L, L, dpooled.data(), H, H, T(0),
                                  dh.data(), H, L * H, N);
        bert.backward(ctx, dh);
    }

    // The pooled text features (N, hidden_size) before the projection. As a public call (keep = false) it is an
    // inference-style helper the caller may also use in training; forward uses it with keep = true.
    Tensor<B> pooled_features(Context<B>& ctx, const input_type& in, bool keep = false) {
        const Tensor<B> h = bert.forward(ctx, in);
        if (options.pooling == TextPooling::pooler) return bert.pooler_output();
        const std::int64_t N = h.size(0), L = h.size(1), H = h.size(2);
        // pooled[n] = sum_l weights[n, l] h[n, l]: a one-hot first token (cls) or mask / count (mean).
        std::vector<T> w(static_cast<std::size_t>(N * L), T(0));
        if (options.pooling == TextPooling::cls) {
            for (std::int64_t n = 0; n < N; ++n) w[static_cast<std::size_t>(n * L)] = T(1);
        } else {
            std::vector<std::int32_t> mask(static_cast<std::size_t>(N * L), 1);
            if (in.attention_mask.defined()) mask = ctx.to_host(in.attention_mask);
            for (std::int64_t n = 0; n < N; ++n) {
                std::int64_t count = 0;
                for (std::int64_t l = 0; l < L; ++l) count += mask[static_cast<std::size_t>(n * L + l)] != 0;
                if (count == 0) fail("mean pooling: sequence {} has no real token (its attention_mask is all 0)", n);
                for (std::int64_t l = 0; l < L; ++l)
                    if (mask[static_cast<std::size_t>(n * L + l)] != 0)
                        w[static_cast<std::size_t>(n * L + l)] = T(1) / static_cast<T>(count);
            }
        }
        const Tensor<B> weight = ctx.from_host(Shape{N, L}, w);
        Tensor<B> pooled = ctx.empty(Shape{N, H});
        ops::gemm_strided_batched(ctx, false, false, 1, H, L, T(1), weight.data(), L, L, h.data(), H, L * H, T(0),
                                  pooled.data(), H, H, N);
        if (keep && ctx.training) weights = weight;
        return pooled;
    }

    void freeze_bottom(std::int64_t k, bool frozen = true) { bert.freeze_bottom(k, frozen); }

private:
    static Options resolve(Options o) {
        if (o.head.in_features == 0) o.head.in_features = o.bert.hidden_size;
        if (o.head.in_features != o.bert.hidden_size)
            fgclep::fail("TextEncoder: the head expects {} input features but BERT's hidden_size is {}",
                         o.head.in_features, o.bert.hidden_size);
        return o;
    }
    Tensor<B> weights;  // the pooling weights (N, L) of the last training forward (cls and mean)
    Tensor<B> pooled_;  // the pooled features of the last forward
};

}  // namespace fgclep
