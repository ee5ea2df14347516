#pragma once
// EcgEncoder<Backbone, Head>: the ECG side of the model, an ECG (N, leads, L) to its embedding (N, output_dim).
//
//   using Encoder = fgclep::EcgEncoder<fgclep::ResNet1D50, fgclep::AttentionPoolHead>;   // MERL's
//   fgclep::Model<Encoder, fgclep::Cpu<float>> ecg({}, seed, "ecg");
//
// Names: the backbone sits under "ecg_encoder" and the head's children at the encoder's own level, which is
// MERL's ECGCLIP layout (ecg_encoder.conv1.weight, ..., downconv.weight, att_pool_head.cls_token), so a MERL
// checkpoint loads with io::load_state(arena, state, file) directly (unexpected: its text side and linear1/2).
// The head's in_channels and reference_length left at 0 are taken from the backbone.
//
// Linear probing: pooled_features(ctx, x) gives the backbone's pooled features (N, out_channels) alone.
// Frozen backbone: freeze_backbone() stops every backbone parameter from training and runs its BatchNorm with
// the running statistics; then a training pass trains the head only, and the backbone's forward runs as
// inference (nothing kept) and its backward is skipped - backward returns an undefined tensor - unless
// input_gradient asks for the gradient wrt the ECG.
#include "fgclep/core/concepts.hpp"
#include "fgclep/core/model.hpp"
#include "fgclep/models/heads.hpp"
#include "fgclep/models/resnet1d.hpp"

#include <vector>

namespace fgclep {

template <class Backbone = ResNet1D50, class Head = AttentionPoolHead>
struct EcgEncoder {
    static_assert(require_layer_spec<Backbone>::value && require_layer_spec<Head>::value);
    struct Options {
        typename Backbone::Options backbone{};
        typename Head::Options head{};
    };
    static constexpr std::string_view name = "EcgEncoder";
    template <Backend B>
    struct impl;
};

template <class Backbone, class Head>
template <Backend B>
struct EcgEncoder<Backbone, Head>::impl : Module {
    using backbone_type = typename Backbone::template impl<B>;
    using head_type = typename Head::template impl<B>;

    Options options;  // with the head's zeros filled in
    backbone_type backbone;
    head_type head;
    // With a frozen backbone: still back-propagate to the input (the backbone's forward then keeps what its
    // backward needs). Without a frozen backbone backward always reaches the input.
    bool input_gradient = false;

    explicit impl(const Options& o)
        : Module(EcgEncoder::name), options(o), backbone(o.backbone), head(resolve(o.head, backbone)) {
        options.head = head.options;
    }

    template <class V>
    void visit(V& v) {
        v.module("ecg_encoder", backbone);
        v.module("", head);
    }

    // x (N, leads, L) -> (N, output_dim).
    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
        skipped_backbone = ctx.training && frozen && !input_gradient;
        Tensor<B> features;
        if (skipped_backbone) {
            detail::TrainingScope<B> inference(ctx, false);
            features = backbone.forward(ctx, x);
        } else {
            features = backbone.forward(ctx, x);
        }
        return head.forward(ctx, features);
    }

    // The gradient wrt x; undefined when the frozen backbone's backward was skipped (see input_gradient).
    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
        Tensor<B> dfeatures = head.backward(ctx, dy);
        if (skipped_backbone) return Tensor<B>();
        return backbone.backward(ctx, dfeatures);
    }

    // The backbone's pooled features (N, out_channels), for linear probing: an inference pass (BatchNorm with
    // running statistics, nothing kept for backward).
    Tensor<B> pooled_features(Context<B>& ctx, const Tensor<B>& x) { return backbone.pooled_features(ctx, x); }

    void freeze_backbone(bool freeze = true) {
        backbone.freeze(freeze);
        frozen = freeze;
    }
    bool backbone_frozen() const { return frozen; }

private:
    static typename Head::Options resolve(typename Head::Options h, const backbone_type& backbone) {
        if constexpr (requires { h.in_channels; }) {
            if (h.in_channels == 0) h.in_channels = backbone.out_channels();
            if (h.in_channels != backbone.out_channels())
                fgclep::fail("EcgEncoder: the head expects {} input channels but the backbone gives {}", h.in_channels,
                             backbone.out_channels());
        }
        if constexpr (requires { h.reference_length; })
            if (h.reference_length == 0) h.reference_length = backbone.output_length(backbone.options.input_length);
        return h;
    }

    bool frozen = false;
    bool skipped_backbone = false;
};

namespace detail {
template <Backend B>
struct ParamList : Visitor<ParamList<B>> {
    std::vector<Param<B>*> params;
    void param(Param<B>& p) { params.push_back(&p); }
};
}  // namespace detail

// The inference model of a trained encoder: the backbone's BatchNorm folded into its convolutions (see
// fold_batchnorm for ResNet1D), the head copied. Same names as the trained model, minus the bn entries.
template <class Block, std::int64_t... S, class Head, Backend B>
Model<EcgEncoder<ResNet1D<Block, S...>, Head>, B> fold_batchnorm(
    Context<B>& ctx, Model<EcgEncoder<ResNet1D<Block, S...>, Head>, B>& trained) {
    auto options = trained.module().options;
    options.backbone.folded = true;
    Model<EcgEncoder<ResNet1D<Block, S...>, Head>, B> folded(options, 0, trained.module().path());
    folded.module().backbone.fold_from(ctx, trained.module().backbone);
    // The heads have the same options, so their parameters come in the same order. (walk() gives every module its
    // path again: the head's own path keeps them where they were.)
    detail::ParamList<B> from, to;
    from.walk(trained.module().head, trained.module().head.path());
    to.walk(folded.module().head, folded.module().head.path());
    for (std::size_t i = 0; i < from.params.size(); ++i) ctx.copy(to.params[i]->value, from.params[i]->value);
    return folded;
}

}  // namespace fgclep
