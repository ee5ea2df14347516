#pragma once
// ECG heads: from the backbone's feature map (N, C, L) to the shared embedding (N, P).
//
//   GlobalAvgPoolHead    mean over L, then proj Linear(C -> P)                 (the simple alternative)
//   AttentionPoolHead    downconv Conv1d(C -> E, k1, bias), then att_pool_head AttentionPool1d (MERL's head)
//   AttentionPool1d      attention pooling with a learned CLS query, as MERL's AttentionPool2d, with learned
//                        positions resized to any input length (as F.interpolate, linear)
// State_dict names are MERL's (downconv.*, att_pool_head.{positional_embedding, cls_token, mhsa.in_proj_weight,
// mhsa.in_proj_bias, mhsa.out_proj.*, c_proj.*}). The step-by-step computation, and why the CLS token carries
// pos[0] twice (as in MERL): docs/encoders.md.
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/concepts.hpp"
#include "fgclep/core/param.hpp"
#include "fgclep/core/saved.hpp"
#include "fgclep/nn/attention.hpp"
#include "fgclep/nn/conv1d.hpp"
#include "fgclep/nn/linear.hpp"
#include "fgclep/nn/pool.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace fgclep {

// The (L, R) matrix that linearly resizes R reference positions to L, as F.interpolate(mode="linear",
// align_corners=False): row i has weight 1 - f at floor(c) and f at floor(c) + 1 for c = (i + 0.5) R / L - 0.5
// clamped at 0 (and the upper index clamped at R - 1). Row-major, in double.
inline std::vector<double> linear_resize_matrix(std::int64_t L, std::int64_t R) {
    std::vector<double> m(static_cast<std::size_t>(L * R), 0.0);
    const double scale = static_cast<double>(R) / static_cast<double>(L);
    for (std::int64_t i = 0; i < L; ++i) {
        const double c = std::max(0.0, (static_cast<double>(i) + 0.5) * scale - 0.5);
        const auto lo = std::min(static_cast<std::int64_t>(c), R - 1);
        const std::int64_t hi = std::min(lo + 1, R - 1);
        const double f = c - static_cast<double>(lo);
        m[static_cast<std::size_t>(i * R + lo)] += 1.0 - f;
        m[static_cast<std::size_t>(i * R + hi)] += f;
    }
    return m;
}

// torch.nn.MultiheadAttention's parameters as it stores them: the packed q/k/v projection in_proj_weight (3E, E),
// in_proj_bias (3E) and out_proj. Parameters only: AttentionPool1d computes with them (its single CLS query).
struct PackedAttentionProjections {
    struct Options {
        std::int64_t embed_dim = 0;
    };
    static constexpr std::string_view name = "MultiheadAttention";
    template <Backend B>
    struct impl : Module {
        Param<B> in_proj_weight, in_proj_bias;
        Linear::impl<B> out_proj;
        explicit impl(const Options& o)
            : Module(PackedAttentionProjections::name),
              // torch: xavier_uniform_ on the packed (3E, E) weight, zero biases.
              in_proj_weight("in_proj_weight", {3 * o.embed_dim, o.embed_dim}, Decay::yes,
                             Init::uniform(std::sqrt(6.0 / double(4 * o.embed_dim)))),
              in_proj_bias("in_proj_bias", {3 * o.embed_dim}, Decay::no, Init::zeros()),
              out_proj(Linear::Options{o.embed_dim, o.embed_dim}) {
            out_proj.bias.init = Init::zeros();
        }
        template <class V>
        void visit(V& v) {
            v.param(in_proj_weight);
            v.param(in_proj_bias);
            v.module("out_proj", out_proj);
        }
    };
};

struct AttentionPool1d {
    struct Options {
        std::int64_t embed_dim = 256;
        std::int64_t num_heads = 4;
        std::int64_t output_dim = 256;
        std::int64_t reference_length = 313;  // R: the sequence length the learned positions are sized for
    };
    static constexpr std::string_view name = "AttentionPool1d";
    template <Backend B>
    struct impl;
};

template <Backend B>
struct AttentionPool1d::impl : Module {
    using T = typename B::value_type;

    Options options;
    Param<B> positional_embedding, cls_token;
    typename PackedAttentionProjections::template impl<B> mhsa;
    Linear::impl<B> c_proj;
    ScaledDotProductAttention<B> attention;

    explicit impl(const Options& o)
        : Module(AttentionPool1d::name),
          options(checked(o)),
          // MERL: randn / embed_dim and randn.
          positional_embedding("positional_embedding", {1, o.reference_length + 1, o.embed_dim}, Decay::no,
                               Init::normal(1.0 / double(o.embed_dim))),
          cls_token("cls_token", {1, 1, o.embed_dim}, Decay::no, Init::normal(1.0)),
          mhsa({o.embed_dim}),
          c_proj(Linear::Options{o.embed_dim, o.output_dim}) {}

    template <class V>
    void visit(V& v) {
        v.param(positional_embedding);
        v.param(cls_token);
        v.module("mhsa", mhsa);
        v.module("c_proj", c_proj);
    }

    // x (N, E, L) -> (N, output_dim).
    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
        expect_shape(x.shape(), {-1, options.embed_dim, -1}, "input");
        const std::int64_t N = x.size(0), E = options.embed_dim, L = x.size(2), S = L + 1, H = options.num_heads;
        if (L < 1) fail("expected at least one position, got input {}", x.shape());
        if (N < 1) fail("expected at least one sample, got input {}", x.shape());

        // tokens (N, S, E) = [cls_token; x^T] + [2 pos[0]; positions(L)]
        Tensor<B> tokens = ctx.empty(Shape{N, S, E});
        for (std::int64_t n = 0; n < N; ++n) {
            B::copy(ctx.state, tokens.data() + n * S * E, cls_token.value.data(), static_cast<std::size_t>(E));
            ops::transpose_middle(ctx, x.data() + n * E * L, 1, E, L, 1, tokens.data() + n * S * E + E);
        }
        const Tensor<B> pos = positions(ctx, L);
        ops::add_bias_rows(ctx, N, S * E, pos.data(), tokens.data());

        // q from the CLS tokens only (rows n*S of tokens), k and v from every token.
        const T* w = mhsa.in_proj_weight.value.data();
        const T* b = mhsa.in_proj_bias.value.data();
        Tensor<B> q = ctx.empty(Shape{N, 1, E});
        ops::gemm(ctx, false, true, N, E, E, T(1), tokens.data(), S * E, w, E, T(0), q.data(), E);
        ops::add_bias_rows(ctx, N, E, b, q.data());
        Tensor<B> k = ctx.empty(Shape{N, S, E}), v = ctx.empty(Shape{N, S, E});
        ops::gemm(ctx, false, true, N * S, E, E, T(1), tokens.data(), E, w + E * E, E, T(0), k.data(), E);
        ops::add_bias_rows(ctx, N * S, E, b + E, k.data());
        ops::gemm(ctx, false, true, N * S, E, E, T(1), tokens.data(), E, w + 2 * E * E, E, T(0), v.data(), E);
        ops::add_bias_rows(ctx, N * S, E, b + 2 * E, v.data());

        const Tensor<B> context =
            attention.forward(ctx, split_heads(ctx, q, H), split_heads(ctx, k, H), split_heads(ctx, v, H), nullptr);
        const Tensor<B> pooled = mhsa.out_proj.forward(ctx, merge_heads(ctx, context).reshape(Shape{N, E}));
        Tensor<B> y = c_proj.forward(ctx, pooled);
        saved_tokens.keep(ctx, tokens);
        return y;
    }

    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
        expect_output_gradient(*this, dy.shape(), Shape{saved_tokens.peek(*this).size(0), options.output_dim});
        const Tensor<B> tokens = saved_tokens.take(*this);
        const std::int64_t N = tokens.size(0), S = tokens.size(1), L = S - 1, E = options.embed_dim;
        const std::int64_t H = options.num_heads;

        const Tensor<B> dpooled = mhsa.out_proj.backward(ctx, c_proj.backward(ctx, dy));
        const auto g = attention.backward(ctx, split_heads(ctx, dpooled.reshape(Shape{N, 1, E}), H));
        const Tensor<B> dq = merge_heads(ctx, g.dq), dk = merge_heads(ctx, g.dk), dv = merge_heads(ctx, g.dv);

        const T* w = mhsa.in_proj_weight.value.data();
        if (mhsa.in_proj_weight.trainable) {
            T* dw = mhsa.in_proj_weight.grad.data();
            ops::gemm(ctx, true, false, E, E, N, T(1), dq.data(), E, tokens.data(), S * E, T(1), dw, E);
            ops::gemm(ctx, true, false, E, E, N * S, T(1), dk.data(), E, tokens.data(), E, T(1), dw + E * E, E);
            ops::gemm(ctx, true, false, E, E, N * S, T(1), dv.data(), E, tokens.data(), E, T(1), dw + 2 * E * E, E);
        }
        if (mhsa.in_proj_bias.trainable) {
            T* db = mhsa.in_proj_bias.grad.data();
            ops::sum_rows(ctx, N, E, dq.data(), T(1), db);
            ops::sum_rows(ctx, N * S, E, dk.data(), T(1), db + E);
            ops::sum_rows(ctx, N * S, E, dv.data(), T(1), db + 2 * E);
        }
        // dtokens = dk Wk + dv Wv, and the CLS rows also dq Wq.
        Tensor<B> dtokens = ctx.empty(tokens.shape());
        ops::gemm(ctx, false, false, N * S, E, E, T(1), dk.data(), E, w + E * E, E, T(0), dtokens.data(), E);
        ops::gemm(ctx, false, false, N * S, E, E, T(1), dv.data(), E, w + 2 * E * E, E, T(1), dtokens.data(), E);
        ops::gemm(ctx, false, false, N, E, E, T(1), dq.data(), E, w, E, T(1), dtokens.data(), S * E);

        // The positions and the CLS token are shared by every sample: their gradient is the sum over the batch.
        if (positional_embedding.trainable || cls_token.trainable) {
            Tensor<B> dpos = ctx.empty(Shape{S, E});
            ops::sum_rows(ctx, N, S * E, dtokens.data(), T(0), dpos.data());
            if (cls_token.trainable) ops::axpy(ctx, E, T(1), dpos.data(), cls_token.grad.data());
            if (positional_embedding.trainable) {
                const std::int64_t R = options.reference_length;
                T* dref = positional_embedding.grad.data();
                ops::axpy(ctx, E, T(2), dpos.data(), dref);  // pos[0] entered the CLS token twice
                if (L == R)
                    ops::axpy(ctx, L * E, T(1), dpos.data() + E, dref + E);
                else  // the adjoint of the resize: dref[1:] += M^T dpos[1:]
                    ops::gemm(ctx, true, false, R, E, L, T(1), resize_matrix(ctx, L).data(), R, dpos.data() + E, E,
                              T(1), dref + E, E);
            }
        }
        Tensor<B> dx = ctx.empty(Shape{N, E, L});
        for (std::int64_t n = 0; n < N; ++n)
            ops::transpose_middle(ctx, dtokens.data() + n * S * E + E, 1, L, E, 1, dx.data() + n * E * L);
        return dx;
    }

    // The positions added to the L + 1 tokens of an input of length L: (L + 1, E), row 0 = 2 pos[0] (see the
    // header comment), rows 1..L = pos[1..R] resized to L.
    Tensor<B> positions(Context<B>& ctx, std::int64_t L) {
        const std::int64_t E = options.embed_dim, R = options.reference_length;
        const T* ref = positional_embedding.value.data();
        Tensor<B> pos = ctx.empty(Shape{L + 1, E});
        ops::scale(ctx, E, T(2), ref, pos.data());
        if (L == R)
            B::copy(ctx.state, pos.data() + E, ref + E, static_cast<std::size_t>(L * E));
        else
            ops::gemm(ctx, false, false, L, E, R, T(1), resize_matrix(ctx, L).data(), R, ref + E, E, T(0),
                      pos.data() + E, E);
        return pos;
    }

private:
    static const Options& checked(const Options& o) {
        if (o.embed_dim <= 0 || o.num_heads <= 0 || o.output_dim <= 0 || o.reference_length <= 0)
            fgclep::fail(
                "AttentionPool1d needs positive embed_dim, num_heads, output_dim and reference_length, got "
                "{}, {}, {} and {}",
                o.embed_dim, o.num_heads, o.output_dim, o.reference_length);
        if (o.embed_dim % o.num_heads != 0)
            fgclep::fail("AttentionPool1d: embed_dim {} is not divisible by num_heads {}", o.embed_dim, o.num_heads);
        return o;
    }
    // The resize matrix for length L, made on the host once per length and kept.
    const Tensor<B>& resize_matrix(Context<B>& ctx, std::int64_t L) {
        if (resize_length != L) {
            const std::vector<double> m = linear_resize_matrix(L, options.reference_length);
            resize = ctx.from_host(Shape{L, options.reference_length}, std::vector<T>(m.begin(), m.end()));
            resize_length = L;
        }
        return resize;
    }

    Saved<B> saved_tokens;
    Tensor<B> resize;
    std::int64_t resize_length = -1;
};

// MERL's ECG head: downconv Conv1d(in_channels -> embed_dim, k1, bias), then att_pool_head. The zeros are filled
// in by EcgEncoder from its backbone (in_channels = out_channels(), reference_length = output_length(input_length));
// on its own, give them.
struct AttentionPoolHead {
    struct Options {
        std::int64_t in_channels = 0;
        std::int64_t embed_dim = 256;
        std::int64_t num_heads = 4;
        std::int64_t output_dim = 256;
        std::int64_t reference_length = 0;
    };
    static constexpr std::string_view name = "AttentionPoolHead";
    template <Backend B>
    struct impl : Module {
        Options options;
        Conv1d::impl<B> downconv;
        AttentionPool1d::impl<B> att_pool_head;

        explicit impl(const Options& o)
            : Module(AttentionPoolHead::name),
              options(checked(o)),
              downconv(Conv1d::Options{.in_channels = o.in_channels, .out_channels = o.embed_dim, .kernel_size = 1}),
              att_pool_head({o.embed_dim, o.num_heads, o.output_dim, o.reference_length}) {}

        template <class V>
        void visit(V& v) {
            v.module("downconv", downconv);
            v.module("att_pool_head", att_pool_head);
        }
        // Feature map (N, in_channels, L) -> (N, output_dim).
        Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
            expect_shape(x.shape(), {-1, options.in_channels, -1}, "input");
            return att_pool_head.forward(ctx, downconv.forward(ctx, x));
        }
        Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
            return downconv.backward(ctx, att_pool_head.backward(ctx, dy));
        }

    private:
        static const Options& checked(const Options& o) {
            if (o.in_channels <= 0 || o.reference_length <= 0)
                fgclep::fail(
                    "AttentionPoolHead needs positive in_channels and reference_length, got {} and {} (0 "
                    "means 'from the backbone', which only EcgEncoder fills in)",
                    o.in_channels, o.reference_length);
            return o;
        }
    };
};

// The simple head: the mean over the length, then proj Linear(in_channels -> output_dim). in_channels = 0 is
// filled in by EcgEncoder from its backbone.
struct GlobalAvgPoolHead {
    struct Options {
        std::int64_t in_channels = 0;
        std::int64_t output_dim = 256;
    };
    static constexpr std::string_view name = "GlobalAvgPoolHead";
    template <Backend B>
    struct impl : Module {
        Options options;
        GlobalAvgPool1d::impl<B> pool;
        Linear::impl<B> proj;

        explicit impl(const Options& o)
            : Module(GlobalAvgPoolHead::name),
              options(checked(o)),
              proj(Linear::Options{o.in_channels, o.output_dim}) {}

        template <class V>
        void visit(V& v) {
            v.module("pool", pool);  // no state: only gives it a path for its messages
            v.module("proj", proj);
        }
        // Feature map (N, in_channels, L) -> (N, output_dim).
        Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
            expect_shape(x.shape(), {-1, options.in_channels, -1}, "input");
            return proj.forward(ctx, pool.forward(ctx, x));
        }
        Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) { return pool.backward(ctx, proj.backward(ctx, dy)); }

    private:
        static const Options& checked(const Options& o) {
            if (o.in_channels <= 0)
                fgclep::fail(
                    "GlobalAvgPoolHead needs a positive in_channels, got {} (0 means 'from the backbone', "
                    "which only EcgEncoder fills in)",
                    o.in_channels);
            return o;
        }
    };
};

}  // namespace fgclep
