#pragma once
// Embedding: a lookup table (num_embeddings, embedding_dim) indexed by int32 token ids, as torch.nn.Embedding.
// The ids are not differentiable, so backward returns nothing; it accumulates the table's gradient, adding the
// output gradients of repeated ids.
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/concepts.hpp"
#include "fgclep/core/param.hpp"
#include "fgclep/core/saved.hpp"

#include <cstdint>

namespace fgclep {

struct Embedding {
    struct Options {
        std::int64_t num_embeddings = 0;
        std::int64_t embedding_dim = 0;
    };
    static constexpr std::string_view name = "Embedding";
    template <Backend B>
    struct impl;
};

template <Backend B>
struct Embedding::impl : Module {
    using T = typename B::value_type;
    using input_type = Tensor<B, std::int32_t>;
    Options options;
    Param<B> weight;

    explicit impl(const Options& o)
        : Module(Embedding::name),
          options(o),
          weight("weight", {o.num_embeddings, o.embedding_dim}, Decay::yes, Init::normal(1.0)) {
        if (o.num_embeddings <= 0 || o.embedding_dim <= 0)
            fgclep::fail("Embedding needs positive num_embeddings and embedding_dim, got {} and {}", o.num_embeddings,
                         o.embedding_dim);
    }

    template <class V>
    void visit(V& v) {
        v.param(weight);
    }

    // ids of any shape -> (*ids.shape, embedding_dim).
    Tensor<B> forward(Context<B>& ctx, const input_type& ids) {
        if (ids.rank() >= Shape::max_rank)
            fail("expected token ids of rank below {}, got {}", Shape::max_rank, ids.shape());
        Shape out_shape = ids.shape();
        out_shape.push_back(options.embedding_dim);
        Tensor<B> y = ctx.empty(out_shape);
        const std::int64_t bad = ops::embedding_gather(ctx, weight.value.data(), options.num_embeddings,
                                                       options.embedding_dim, ids.data(), ids.numel(), y.data());
        if (bad > 0)
            fail("{} of {} token ids are out of range; valid ids are 0 to {}", bad, ids.numel(),
                 options.num_embeddings - 1);
        saved_ids.keep(ctx, ids);
        return y;
    }

    void backward(Context<B>& ctx, const Tensor<B>& dy) {
        Shape expected = saved_ids.peek(*this).shape();
        expected.push_back(options.embedding_dim);
        expect_output_gradient(*this, dy.shape(), expected);
        const input_type ids = saved_ids.take(*this);
        if (weight.trainable)
            ops::embedding_scatter_add(ctx, dy.data(), ids.data(), ids.numel(), options.num_embeddings,
                                       options.embedding_dim, weight.grad.data());
    }

private:
    Saved<B, std::int32_t> saved_ids;
};

}  // namespace fgclep
