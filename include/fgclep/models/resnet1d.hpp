#pragma once
// ResNet1D: the ECG backbone of MERL and FG-CLEP (MERL's utils/resnet1d.py), as one template over the block type.
//
//   stem     conv1  Conv1d(leads -> w, k7, s2, p3, no bias), bn1, ReLU       (no max-pool)
//   layer1   blocks of width w,   stride 1        w = base_width (64)
//   layer2   blocks of width 2w,  first stride 2
//   layer3   blocks of width 4w,  first stride 2
//   layer4   blocks of width 8w,  first stride 2
// BasicBlock: conv1 (k3, stride s) bn1 ReLU conv2 (k3) bn2; Bottleneck: conv1 (k1) bn1 ReLU conv2 (k3, stride s) bn2
// ReLU conv3 (k1, 4x width) bn3 - the stride sits on the 3-tap conv. Every block adds its shortcut (the input, or
// shortcut.0 Conv1d(k1, stride s, no bias) + shortcut.1 BatchNorm1d when the shape changes) and ends with a ReLU.
// All convolutions are bias-free. Output: the feature map (N, out_channels(), output_length(L)), e.g.
// ResNet1D50: (N, 12, 5000) -> (N, 2048, 313) with 15,959,168 trainable parameters; ResNet1D18: 3,848,832.
//
// State_dict names are MERL's, so a ResNet1D trained with MERL's code loads directly (its "ecg_encoder." prefix
// goes in io::LoadOptions::file_prefix): conv1.weight, bn1.{weight,bias,running_mean,running_var,
// num_batches_tracked}, layer1.0.conv1.weight, layer1.0.bn1.*, ..., layer1.0.shortcut.0.weight, layer1.0.shortcut.1.*.
// torchvision calls the shortcut "downsample": ResNet1DOptions::shortcut_name selects it.
//
// Why hand-written blocks rather than Residual<Named<"", Sequential<...>>, Named<"shortcut", ...>> + ReLU: whether a
// block has a projection shortcut is decided at run time (first block of a stage), the BN-folded inference variant
// drops every BatchNorm1d at run time, and the ReLUs run in place on the BatchNorm outputs and keep only their
// outputs for backward (relu(x) > 0 exactly where x > 0), which a composed ReLU layer cannot do. The pieces are
// still the library's layers (Conv1d, BatchNorm1d, Repeat for the run-time number of blocks per stage).
#include "fgclep/backend/functors.hpp"
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/concepts.hpp"
#include "fgclep/core/model.hpp"
#include "fgclep/core/param.hpp"
#include "fgclep/nn/batchnorm1d.hpp"
#include "fgclep/nn/conv1d.hpp"
#include "fgclep/nn/repeat.hpp"

#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fgclep {

namespace detail {

// y = max(x, 0) in place (the tensor is fresh, so no caller sees it change).
template <Backend B>
void relu_in_place(Context<B>& ctx, const Tensor<B>& x) {
    ops::unary(ctx, fn::Relu{}, x.numel(), x.data(), x.data());
}

// dx = dy where the ReLU's output y is positive, else 0 (y > 0 exactly where its input was).
template <Backend B>
Tensor<B> relu_backward(Context<B>& ctx, const Tensor<B>& y, const Tensor<B>& dy) {
    Tensor<B> dx = ctx.empty(dy.shape());
    ops::unary_backward(ctx, fn::Relu{}, dy.numel(), y.data(), y.data(), dy.data(), dx.data());
    return dx;
}

// A convolution followed by BatchNorm1d, the unit ResNet layers are made of. Its children get the names the
// parent gives ("conv1"/"bn1" visited transparently, or "0"/"1" under "shortcut"). Folded: no BatchNorm1d, and
// the convolution has a bias that holds the folded normalisation (see fold_from).
template <Backend B>
struct ConvBn : Module {
    using T = typename B::value_type;
    Conv1d::impl<B> conv;
    std::optional<BatchNorm1d::impl<B>> bn;
    std::string conv_name, bn_name;

    ConvBn(Conv1d::Options conv_options, bool folded, std::string conv_name, std::string bn_name)
        : Module("ConvBn"), conv(with_bias(conv_options, folded)), conv_name(std::move(conv_name)),
          bn_name(std::move(bn_name)) {
        if (!folded) bn.emplace(BatchNorm1d::Options{conv_options.out_channels});
    }

    template <class V>
    void visit(V& v) {
        v.module(conv_name, conv);
        if (bn) v.module(bn_name, *bn);
    }

    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
        Tensor<B> y = conv.forward(ctx, x);
        return bn ? bn->forward(ctx, y) : y;
    }
    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
        return conv.backward(ctx, bn ? bn->backward(ctx, dy) : dy);
    }

    // Frozen statistics: BatchNorm normalises with its running statistics even in a training pass.
    void use_running_stats(bool running) {
        if (bn) bn->use_running_stats = running;
    }

    // Writes into this (folded) unit the convolution that equals `trained`'s conv + BN in evaluation mode:
    // w' = w * gamma / sqrt(var + eps), b' = beta + (b - mean) * gamma / sqrt(var + eps), per output channel.
    // Computed on the host in double (it runs once per model).
    void fold_from(Context<B>& ctx, ConvBn& trained) {
        if (bn) fail("fold_from needs a folded unit to write into");
        const std::int64_t out = conv.options.out_channels;
        const std::int64_t per_channel = conv.weight.shape.numel() / out;
        const std::vector<T> w = ctx.to_host(trained.conv.weight.value);
        std::vector<T> folded_w(w.size()), folded_b(static_cast<std::size_t>(out));
        std::vector<T> b(static_cast<std::size_t>(out), T(0));
        if (trained.conv.options.bias) b = ctx.to_host(trained.conv.bias.value);
        if (!trained.bn) {  // already folded: a copy
            folded_w = w;
            folded_b = b;
        } else {
            const auto gamma = ctx.to_host(trained.bn->weight.value), beta = ctx.to_host(trained.bn->bias.value);
            const auto mean = ctx.to_host(trained.bn->running_mean.value);
            const auto var = ctx.to_host(trained.bn->running_var.value);
            for (std::int64_t o = 0; o < out; ++o) {
                const auto i = static_cast<std::size_t>(o);
                const double s = double(gamma[i]) / std::sqrt(double(var[i]) + trained.bn->options.eps);
                for (std::int64_t j = 0; j < per_channel; ++j) {
                    const auto at = static_cast<std::size_t>(o * per_channel + j);
                    folded_w[at] = static_cast<T>(double(w[at]) * s);
                }
                folded_b[i] = static_cast<T>(double(beta[i]) + (double(b[i]) - double(mean[i])) * s);
            }
        }
        B::upload(ctx.state, conv.weight.value.data(), folded_w.data(), folded_w.size());
        B::upload(ctx.state, conv.bias.value.data(), folded_b.data(), folded_b.size());
    }

private:
    static Conv1d::Options with_bias(Conv1d::Options o, bool folded) {
        o.bias = o.bias || folded;
        return o;
    }
};

// Sets `trainable` on every parameter of a module tree: freezing by module rather than by arena prefix (the same
// flag ParameterArena::freeze sets; the arena reads it).
struct TrainableSetter : Visitor<TrainableSetter> {
    bool trainable = true;
    template <class P>
    void param(P& p) {
        p.trainable = trainable;
    }
};

}  // namespace detail

// Options of one residual block (BasicBlock or Bottleneck). ResNet1D fills them in.
struct ResNetBlockOptions {
    std::int64_t in_channels = 0;
    std::int64_t width = 0;   // channels of the 3-tap convolutions; the block outputs width * expansion
    std::int64_t stride = 1;  // on the first (BasicBlock) or middle (Bottleneck) 3-tap convolution
    bool folded = false;      // BatchNorm folded into biased convolutions (inference)
    std::string shortcut_name = "shortcut";
};

namespace detail {

// The residual block shared by BasicBlock and Bottleneck, which differ only in their list of conv + BN units
// (Kind::units): y = relu(main(x) + shortcut(x)), with a ReLU after every unit of main but the last.
template <class Kind, Backend B>
struct ResidualBlock : Module {
    using T = typename B::value_type;
    using Options = ResNetBlockOptions;
    Options options;
    std::vector<std::unique_ptr<ConvBn<B>>> units;  // conv1/bn1, conv2/bn2[, conv3/bn3]
    std::unique_ptr<ConvBn<B>> shortcut;            // shortcut.0/shortcut.1; null for the identity

    explicit ResidualBlock(const Options& o) : Module(Kind::name), options(o) {
        if (o.in_channels <= 0 || o.width <= 0 || o.stride <= 0)
            fgclep::fail("{} needs positive in_channels, width and stride, got {}, {} and {}", Kind::name,
                         o.in_channels, o.width, o.stride);
        int i = 0;
        for (const Conv1d::Options& c : Kind::units(o)) {
            ++i;
            units.push_back(std::make_unique<ConvBn<B>>(c, o.folded, "conv" + std::to_string(i), "bn" + std::to_string(i)));
        }
        if (o.stride != 1 || o.in_channels != out_channels())
            shortcut = std::make_unique<ConvBn<B>>(
                Conv1d::Options{.in_channels = o.in_channels, .out_channels = out_channels(), .kernel_size = 1,
                                .stride = o.stride, .bias = false},
                o.folded, "0", "1");
    }

    std::int64_t out_channels() const { return options.width * Kind::expansion; }

    template <class V>
    void visit(V& v) {
        for (auto& u : units) v.module("", *u);
        if (shortcut) v.module(options.shortcut_name, *shortcut);
    }

    template <class F>
    void for_each_unit(F&& f) {
        for (auto& u : units) f(*u);
        if (shortcut) f(*shortcut);
    }

    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
        expect_shape(x.shape(), {-1, options.in_channels, -1}, "input");
        std::vector<Tensor<B>> hidden;  // the ReLU outputs inside main, for backward
        Tensor<B> h = x;
        for (std::size_t i = 0; i < units.size(); ++i) {
            h = units[i]->forward(ctx, h);
            if (i + 1 < units.size()) {
                relu_in_place(ctx, h);
                hidden.push_back(h);
            }
        }
        const Tensor<B> s = shortcut ? shortcut->forward(ctx, x) : x;
        if (!(s.shape() == h.shape()))  // cannot happen with consistent options; a clear message if it does
            fail("the main branch gives {} but the shortcut gives {}", h.shape(), s.shape());
        ops::add(ctx, h.numel(), h.data(), s.data(), h.data());
        relu_in_place(ctx, h);
        if (ctx.training) {
            saved_hidden = std::move(hidden);
            saved_output = h;
        } else {
            saved_hidden.clear();
            saved_output = Tensor<B>();
        }
        return h;
    }

    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
        if (!saved_output.defined()) fail("backward needs a forward pass in training mode first");
        if (!(dy.shape() == saved_output.shape()))
            fail("expected an output gradient of shape {}, got {}", saved_output.shape(), dy.shape());
        const Tensor<B> g = relu_backward(ctx, saved_output, dy);
        saved_output = Tensor<B>();
        Tensor<B> d = g;
        for (std::size_t i = units.size(); i-- > 0;) {
            if (i + 1 < units.size()) d = relu_backward(ctx, saved_hidden[i], d);
            d = units[i]->backward(ctx, d);
        }
        saved_hidden.clear();
        // d is a fresh tensor from Conv1d::backward, so the shortcut's gradient can be added into it.
        if (shortcut) {
            const Tensor<B> ds = shortcut->backward(ctx, g);
            ops::axpy(ctx, d.numel(), T(1), ds.data(), d.data());
        } else {
            ops::axpy(ctx, d.numel(), T(1), g.data(), d.data());
        }
        return d;
    }

private:
    std::vector<Tensor<B>> saved_hidden;
    Tensor<B> saved_output;
};

}  // namespace detail

// torchvision/MERL BasicBlock: two 3-tap convolutions, expansion 1 (ResNet1D18, ResNet1D34).
struct BasicBlock {
    using Options = ResNetBlockOptions;
    static constexpr std::string_view name = "BasicBlock";
    static constexpr std::int64_t expansion = 1;
    static std::vector<Conv1d::Options> units(const Options& o) {
        return {{.in_channels = o.in_channels, .out_channels = o.width, .kernel_size = 3, .stride = o.stride,
                 .padding = 1, .bias = false},
                {.in_channels = o.width, .out_channels = o.width, .kernel_size = 3, .padding = 1, .bias = false}};
    }
    template <Backend B>
    using impl = detail::ResidualBlock<BasicBlock, B>;
};

// torchvision/MERL Bottleneck: 1x1 reduce, 3-tap (strided), 1x1 expand by 4 (ResNet1D50, ResNet1D101).
struct Bottleneck {
    using Options = ResNetBlockOptions;
    static constexpr std::string_view name = "Bottleneck";
    static constexpr std::int64_t expansion = 4;
    static std::vector<Conv1d::Options> units(const Options& o) {
        return {{.in_channels = o.in_channels, .out_channels = o.width, .kernel_size = 1, .bias = false},
                {.in_channels = o.width, .out_channels = o.width, .kernel_size = 3, .stride = o.stride, .padding = 1,
                 .bias = false},
                {.in_channels = o.width, .out_channels = o.width * expansion, .kernel_size = 1, .bias = false}};
    }
    template <Backend B>
    using impl = detail::ResidualBlock<Bottleneck, B>;
};

struct ResNet1DOptions {
    std::int64_t leads = 12;        // input channels
    std::int64_t base_width = 64;   // layer1's width; layer i has base_width * 2^(i-1)
    std::vector<std::int64_t> stages{};  // blocks per stage; empty: the alias's ([3, 4, 6, 3] for ResNet1D50)
    // Samples per lead the model is meant for. Used only for shape reports and as the length the attention head's
    // learned positions are sized for (output_length(5000) = 313, as MERL); any input length runs.
    std::int64_t input_length = 5000;
    bool folded = false;  // BatchNorm folded into biased convolutions: the inference model fold_batchnorm makes
    std::string shortcut_name = "shortcut";  // MERL's; "downsample" for torchvision-style checkpoints
};

namespace detail {

// The network itself, shared by every ResNet1D<Block, ...> alias with the same block type.
template <class Block, Backend B>
struct ResNet1DNet : Module {
    using T = typename B::value_type;
    using Stage = typename Repeat<Block>::template impl<B>;
    ResNet1DOptions options;
    std::unique_ptr<ConvBn<B>> stem;                 // conv1 / bn1
    std::vector<std::unique_ptr<Stage>> layers;      // layer1 .. layerK

    ResNet1DNet(const ResNet1DOptions& o, std::vector<std::int64_t> default_stages)
        : Module("ResNet1D"), options(o) {
        if (options.stages.empty()) options.stages = std::move(default_stages);
        if (o.leads <= 0 || o.base_width <= 0 || o.input_length <= 0)
            fgclep::fail("ResNet1D needs positive leads, base_width and input_length, got {}, {} and {}", o.leads,
                         o.base_width, o.input_length);
        if (options.stages.empty()) fgclep::fail("ResNet1D needs at least one stage");
        for (auto n : options.stages)
            if (n <= 0) fgclep::fail("ResNet1D needs at least one block per stage, got stages {}", stages_text());
        stem = std::make_unique<ConvBn<B>>(
            Conv1d::Options{.in_channels = o.leads, .out_channels = o.base_width, .kernel_size = 7, .stride = 2,
                            .padding = 3, .bias = false},
            o.folded, "conv1", "bn1");
        std::int64_t channels = o.base_width;
        for (std::size_t i = 0; i < options.stages.size(); ++i) {
            typename Repeat<Block>::Options stage;
            const std::int64_t width = o.base_width << i;
            for (std::int64_t j = 0; j < options.stages[i]; ++j) {
                stage.blocks.push_back({.in_channels = channels, .width = width, .stride = (i > 0 && j == 0) ? 2 : 1,
                                        .folded = o.folded, .shortcut_name = o.shortcut_name});
                channels = width * Block::expansion;
            }
            layers.push_back(std::make_unique<Stage>(stage));
        }
    }

    // Channels of the output feature map: 2048 for ResNet1D50, 512 for ResNet1D18.
    std::int64_t out_channels() const {
        return (options.base_width << (options.stages.size() - 1)) * Block::expansion;
    }
    // Length of the output feature map for an input of `length` samples: the stem and every later stage halve it
    // (rounding up), 5000 -> 2500 -> 2500 -> 1250 -> 625 -> 313.
    std::int64_t output_length(std::int64_t length) const {
        std::int64_t L = halve(length);
        for (std::size_t i = 1; i < options.stages.size(); ++i) L = halve(L);
        return L;
    }
    // The activation shape after the stem and after each stage, for an input (batch, leads, length).
    std::vector<std::pair<std::string, Shape>> activation_shapes(std::int64_t batch, std::int64_t length) const {
        std::vector<std::pair<std::string, Shape>> shapes{{"input", Shape{batch, options.leads, length}}};
        std::int64_t L = halve(length);
        shapes.push_back({"stem (conv1, bn1, relu)", Shape{batch, options.base_width, L}});
        for (std::size_t i = 0; i < layers.size(); ++i) {
            if (i > 0) L = halve(L);
            shapes.push_back({"layer" + std::to_string(i + 1),
                              Shape{batch, (options.base_width << i) * Block::expansion, L}});
        }
        return shapes;
    }

    template <class V>
    void visit(V& v) {
        v.module("", *stem);
        for (std::size_t i = 0; i < layers.size(); ++i) v.module("layer" + std::to_string(i + 1), *layers[i]);
    }

    // Every conv + BN unit in a fixed order (stem, then each block's units and shortcut): the pairing that
    // fold_batchnorm walks in two models of the same options.
    template <class F>
    void for_each_unit(F&& f) {
        f(*stem);
        for (auto& stage : layers)
            for (std::size_t j = 0; j < stage->size(); ++j) (*stage)[j].for_each_unit(f);
    }

    // x (N, leads, L) -> feature map (N, out_channels(), output_length(L)).
    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
        expect_shape(x.shape(), {-1, options.leads, -1}, "input");
        Tensor<B> h = stem->forward(ctx, x);
        relu_in_place(ctx, h);
        saved_stem = ctx.training ? h : Tensor<B>();
        for (auto& stage : layers) h = stage->forward(ctx, h);
        return h;
    }

    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
        if (!saved_stem.defined()) fail("backward needs a forward pass in training mode first");
        Tensor<B> g = dy;
        for (auto it = layers.rbegin(); it != layers.rend(); ++it) g = (*it)->backward(ctx, g);
        g = relu_backward(ctx, saved_stem, g);
        saved_stem = Tensor<B>();
        return stem->backward(ctx, g);
    }

    // The pooled features (N, out_channels()): the mean of the feature map over its length, as MERL's linear
    // probe uses them. An inference pass: BatchNorm uses its running statistics and nothing is kept for backward,
    // whatever ctx.training says.
    Tensor<B> pooled_features(Context<B>& ctx, const Tensor<B>& x) {
        TrainingScope<B> inference(ctx, false);
        const Tensor<B> f = forward(ctx, x);
        Tensor<B> pooled = ctx.empty(Shape{f.size(0), f.size(1)});
        ops::mean_last(ctx, f.size(0) * f.size(1), f.size(2), f.data(), pooled.data());
        return pooled;
    }

    // Frozen: every parameter stops training (as ParameterArena::freeze on this module's prefix) and BatchNorm
    // normalises with its running statistics in training passes too (PyTorch's backbone.eval() +
    // requires_grad_(False)). Unfreezing restores both.
    void freeze(bool frozen = true) {
        TrainableSetter setter;
        setter.trainable = !frozen;
        setter.walk(*this, path());
        use_running_stats(frozen);
    }
    // BatchNorm with running statistics in training passes (PyTorch's eval mode, with gradients).
    void use_running_stats(bool running) {
        for_each_unit([&](ConvBn<B>& u) { u.use_running_stats(running); });
    }

private:
    static std::int64_t halve(std::int64_t L) { return L < 1 ? 0 : (L - 1) / 2 + 1; }
    std::string stages_text() const {
        std::string s = "[";
        for (std::size_t i = 0; i < options.stages.size(); ++i) s += (i ? ", " : "") + std::to_string(options.stages[i]);
        return s + "]";
    }
    Tensor<B> saved_stem;  // the stem's ReLU output
};

}  // namespace detail

// ResNet1D<Block, DefaultStages...>: the layer spec. The stage counts are the default of Options::stages, so one
// network type serves every depth; ResNet1D50 and ResNet1D101 share their code.
template <class Block, std::int64_t... DefaultStages>
struct ResNet1D {
    static_assert(sizeof...(DefaultStages) > 0, "fgclep: ResNet1D<Block, stages...> needs at least one stage");
    using Options = ResNet1DOptions;
    using block_type = Block;
    static constexpr std::string_view name = "ResNet1D";
    template <Backend B>
    struct impl : detail::ResNet1DNet<Block, B> {
        explicit impl(const Options& o = {}) : detail::ResNet1DNet<Block, B>(o, {DefaultStages...}) {}
    };
};

using ResNet1D18 = ResNet1D<BasicBlock, 2, 2, 2, 2>;
using ResNet1D34 = ResNet1D<BasicBlock, 3, 4, 6, 3>;
using ResNet1D50 = ResNet1D<Bottleneck, 3, 4, 6, 3>;
using ResNet1D101 = ResNet1D<Bottleneck, 3, 4, 23, 3>;

namespace detail {
// Folds every conv + BN unit of `trained` into the matching unit of `folded` (same options but folded).
template <class Block, Backend B>
void fold_backbone(Context<B>& ctx, ResNet1DNet<Block, B>& trained, ResNet1DNet<Block, B>& folded) {
    std::vector<ConvBn<B>*> from, to;
    trained.for_each_unit([&](ConvBn<B>& u) { from.push_back(&u); });
    folded.for_each_unit([&](ConvBn<B>& u) { to.push_back(&u); });
    if (from.size() != to.size()) fgclep::fail("fold_batchnorm: the two networks have different structures");
    for (std::size_t i = 0; i < from.size(); ++i) to[i]->fold_from(ctx, *from[i]);
}
}  // namespace detail

// The inference model of a trained ResNet1D: every conv + BatchNorm pair becomes one convolution with a bias
// (BatchNorm's evaluation-mode affine map folded into it), so forward skips the normalisation passes. It computes
// what `trained` computes with ctx.training = false, up to rounding; names: conv1.weight, conv1.bias,
// layer1.0.conv1.{weight,bias}, ..., no bn*. The trained model is unchanged.
template <class Block, std::int64_t... S, Backend B>
Model<ResNet1D<Block, S...>, B> fold_batchnorm(Context<B>& ctx, Model<ResNet1D<Block, S...>, B>& trained) {
    ResNet1DOptions options = trained.module().options;
    options.folded = true;
    Model<ResNet1D<Block, S...>, B> folded(options, 0, trained.module().path());
    detail::fold_backbone<Block, B>(ctx, trained.module(), folded.module());
    return folded;
}

}  // namespace fgclep
