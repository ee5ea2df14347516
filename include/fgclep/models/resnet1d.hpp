#pragma once
// ResNet1D: the ECG backbone of MERL and FG-CLEP (MERL's utils/resnet1d.py), one spec over the block type:
// a stride-2 stem conv1/bn1/ReLU, then stages layer1..layerK of BasicBlock or Bottleneck blocks (the first block
// of every later stage strided), all convolutions bias-free. ResNet1D50: (N, 12, 5000) -> (N, 2048, 313), 15,959,168
// parameters. State_dict names are MERL's (conv1.weight, layer1.0.bn1.*, layer1.0.shortcut.0.weight, ...), so its
// checkpoints load directly. Structure, names and why the blocks are written by hand: docs/encoders.md.
#include "fgclep/backend/functors.hpp"
#include "fgclep/backend/ops.hpp"
#include "fgclep/core/concepts.hpp"
#include "fgclep/core/model.hpp"
#include "fgclep/core/param.hpp"
#include "fgclep/core/saved.hpp"
#include "fgclep/core/trainable.hpp"
#include "fgclep/nn/batchnorm1d.hpp"
#include "fgclep/nn/conv1d.hpp"
#include "fgclep/nn/repeat.hpp"

#include <fmt/ranges.h>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fgclep {

namespace detail {

// y = max(x, 0) in place, on a tensor the caller has just made (nobody else sees it change).
template <Backend B>
void relu_in_place(Context<B>& ctx, Tensor<B>& x) {
    ops::unary(ctx, fn::Relu{}, x.numel(), x.data(), x.data());
}

// dx = dy where the ReLU's output y is positive, else 0 (y > 0 exactly where its input was).
template <Backend B>
Tensor<B> relu_backward(Context<B>& ctx, const Tensor<B>& y, const Tensor<B>& dy) {
    Tensor<B> dx = ctx.empty(dy.shape());
    ops::unary_backward(ctx, fn::Relu{}, dy.numel(), y.data(), y.data(), dy.data(), dx.data());
    return dx;
}

}  // namespace detail

// A convolution followed by BatchNorm1d, the unit ResNet layers are made of. Its children get the names its
// options give ("conv1"/"bn1" inside a block, visited transparently, or "0"/"1" under "shortcut"). Folded: no
// BatchNorm1d, and the convolution has a bias that holds the folded normalisation (see fold_from).
struct ConvBn {
    struct Options {
        Conv1d::Options conv{};
        bool folded = false;
        std::string conv_name = "0";
        std::string bn_name = "1";
    };
    static constexpr std::string_view name = "ConvBn";
    template <Backend B>
    struct impl;
};

template <Backend B>
struct ConvBn::impl : Module {
    using T = typename B::value_type;
    Options options;
    Conv1d::impl<B> conv;
    std::optional<BatchNorm1d::impl<B>> bn;

    explicit impl(const Options& o) : Module(ConvBn::name), options(o), conv(with_bias(o.conv, o.folded)) {
        if (!o.folded) bn.emplace(BatchNorm1d::Options{o.conv.out_channels});
    }

    template <class V>
    void visit(V& v) {
        v.module(options.conv_name, conv);
        if (bn) v.module(options.bn_name, *bn);
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
    void fold_from(Context<B>& ctx, impl& trained) {
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

// Options of one residual block (BasicBlock or Bottleneck). ResNet1D fills them in.
struct ResNetBlockOptions {
    std::int64_t in_channels = 0;
    std::int64_t width = 0;   // channels of the 3-tap convolutions; the block outputs width * expansion
    std::int64_t stride = 1;  // on the first (BasicBlock) or middle (Bottleneck) 3-tap convolution
    bool folded = false;      // BatchNorm folded into biased convolutions (inference)
    std::string shortcut_name = "shortcut";
};

// The residual block of BasicBlock and Bottleneck, which differ only in their list of conv + BN units
// (Units::units): y = relu(main(x) + shortcut(x)), with a ReLU after every unit of main but the last.
template <class Units>
struct ResidualBlock {
    using Options = ResNetBlockOptions;
    static constexpr std::string_view name = Units::name;
    static constexpr std::int64_t expansion = Units::expansion;
    template <Backend B>
    struct impl;
};

template <class Units>
template <Backend B>
struct ResidualBlock<Units>::impl : Module {
    using T = typename B::value_type;
    using Unit = ConvBn::impl<B>;
    Options options;
    std::vector<std::unique_ptr<Unit>> units;  // conv1/bn1, conv2/bn2[, conv3/bn3]
    std::unique_ptr<Unit> shortcut;            // shortcut.0/shortcut.1; null for the identity

    explicit impl(const Options& o) : Module(ResidualBlock::name), options(o) {
        if (o.in_channels <= 0 || o.width <= 0 || o.stride <= 0)
            fgclep::fail("{} needs positive in_channels, width and stride, got {}, {} and {}", name, o.in_channels,
                         o.width, o.stride);
        int i = 0;
        for (const Conv1d::Options& c : Units::units(o)) {
            ++i;
            units.push_back(std::make_unique<Unit>(
                ConvBn::Options{c, o.folded, "conv" + std::to_string(i), "bn" + std::to_string(i)}));
        }
        if (o.stride != 1 || o.in_channels != out_channels())
            shortcut = std::make_unique<Unit>(ConvBn::Options{{.in_channels = o.in_channels,
                                                               .out_channels = out_channels(),
                                                               .kernel_size = 1,
                                                               .stride = o.stride,
                                                               .bias = false},
                                                              o.folded});
    }

    std::int64_t out_channels() const { return options.width * expansion; }

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
                detail::relu_in_place(ctx, h);
                hidden.push_back(h);
            }
        }
        const Tensor<B> s = shortcut ? shortcut->forward(ctx, x) : x;
        if (!(s.shape() == h.shape()))  // cannot happen with consistent options; a clear message if it does
            fail("the main branch gives {} but the shortcut gives {}", h.shape(), s.shape());
        ops::add(ctx, h.numel(), h.data(), s.data(), h.data());
        detail::relu_in_place(ctx, h);
        saved_hidden = ctx.training ? std::move(hidden) : std::vector<Tensor<B>>{};
        saved_output.keep(ctx, h);
        return h;
    }

    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
        const Tensor<B> g = detail::relu_backward(ctx, saved_output.take(*this, dy.shape()), dy);
        Tensor<B> d = g;
        for (std::size_t i = units.size(); i-- > 0;) {
            if (i + 1 < units.size()) d = detail::relu_backward(ctx, saved_hidden[i], d);
            d = units[i]->backward(ctx, d);
        }
        saved_hidden.clear();
        // d is a fresh tensor from Conv1d::backward, so the shortcut's gradient can be added into it.
        const Tensor<B> ds = shortcut ? shortcut->backward(ctx, g) : g;
        ops::axpy(ctx, d.numel(), T(1), ds.data(), d.data());
        return d;
    }

private:
    std::vector<Tensor<B>> saved_hidden;
    Saved<B> saved_output;  // the block's output: the final ReLU's backward reads it
};

// torchvision/MERL BasicBlock: two 3-tap convolutions, expansion 1 (ResNet1D18, ResNet1D34).
struct BasicBlockUnits {
    static constexpr std::string_view name = "BasicBlock";
    static constexpr std::int64_t expansion = 1;
    static std::vector<Conv1d::Options> units(const ResNetBlockOptions& o) {
        return {{.in_channels = o.in_channels,
                 .out_channels = o.width,
                 .kernel_size = 3,
                 .stride = o.stride,
                 .padding = 1,
                 .bias = false},
                {.in_channels = o.width, .out_channels = o.width, .kernel_size = 3, .padding = 1, .bias = false}};
    }
};
using BasicBlock = ResidualBlock<BasicBlockUnits>;

// torchvision/MERL Bottleneck: 1x1 reduce, 3-tap (strided), 1x1 expand by 4 (ResNet1D50, ResNet1D101).
struct BottleneckUnits {
    static constexpr std::string_view name = "Bottleneck";
    static constexpr std::int64_t expansion = 4;
    static std::vector<Conv1d::Options> units(const ResNetBlockOptions& o) {
        return {{.in_channels = o.in_channels, .out_channels = o.width, .kernel_size = 1, .bias = false},
                {.in_channels = o.width,
                 .out_channels = o.width,
                 .kernel_size = 3,
                 .stride = o.stride,
                 .padding = 1,
                 .bias = false},
                {.in_channels = o.width, .out_channels = o.width * expansion, .kernel_size = 1, .bias = false}};
    }
};
using Bottleneck = ResidualBlock<BottleneckUnits>;

struct ResNet1DOptions {
    std::int64_t leads = 12;             // input channels
    std::int64_t base_width = 64;        // layer1's width; layer i has base_width * 2^(i-1)
    std::vector<std::int64_t> stages{};  // blocks per stage; empty: the alias's ([3, 4, 6, 3] for ResNet1D50)
    // Samples per lead the model is meant for. Used only for shape reports and as the length the attention head's
    // learned positions are sized for (output_length(5000) = 313, as MERL); any input length runs.
    std::int64_t input_length = 5000;
    bool folded = false;  // BatchNorm folded into biased convolutions: the inference model fold_batchnorm makes
    std::string shortcut_name = "shortcut";  // MERL's; "downsample" for torchvision-style checkpoints
};

// ResNet1D<Block, DefaultStages...>: the layer spec. The stage counts are the default of Options::stages; any
// other count runs through Options::stages with the same code.
template <class Block, std::int64_t... DefaultStages>
struct ResNet1D {
    static_assert(sizeof...(DefaultStages) > 0, "fgclep: ResNet1D<Block, stages...> needs at least one stage");
    static_assert(require_layer_spec<Block>::value);
    using Options = ResNet1DOptions;
    using block_type = Block;
    static constexpr std::string_view name = "ResNet1D";
    template <Backend B>
    struct impl;
};

template <class Block, std::int64_t... DefaultStages>
template <Backend B>
struct ResNet1D<Block, DefaultStages...>::impl : Module {
    using T = typename B::value_type;
    using Stage = typename Repeat<Block>::template impl<B>;
    using Unit = ConvBn::impl<B>;
    ResNet1DOptions options;
    Unit stem;                                   // conv1 / bn1
    std::vector<std::unique_ptr<Stage>> layers;  // layer1 .. layerK

    explicit impl(const Options& o = {})
        : Module(ResNet1D::name),
          options(checked(o)),
          stem(ConvBn::Options{{.in_channels = o.leads,
                                .out_channels = o.base_width,
                                .kernel_size = 7,
                                .stride = 2,
                                .padding = 3,
                                .bias = false},
                               o.folded,
                               "conv1",
                               "bn1"}) {
        std::int64_t channels = o.base_width;
        for (std::size_t i = 0; i < options.stages.size(); ++i) {
            typename Repeat<Block>::Options stage;
            const std::int64_t width = o.base_width << i;
            for (std::int64_t j = 0; j < options.stages[i]; ++j) {
                stage.blocks.push_back({.in_channels = channels,
                                        .width = width,
                                        .stride = (i > 0 && j == 0) ? 2 : 1,
                                        .folded = o.folded,
                                        .shortcut_name = o.shortcut_name});
                channels = width * Block::expansion;
            }
            layers.push_back(std::make_unique<Stage>(stage));
        }
    }

    // Channels of the output feature map: 2048 for ResNet1D50, 512 for ResNet1D18.
    std::int64_t out_channels() const { return (options.base_width << (options.stages.size() - 1)) * Block::expansion; }
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
            shapes.push_back(
                {"layer" + std::to_string(i + 1), Shape{batch, (options.base_width << i) * Block::expansion, L}});
        }
        return shapes;
    }

    template <class V>
    void visit(V& v) {
        v.module("", stem);
        for (std::size_t i = 0; i < layers.size(); ++i) v.module("layer" + std::to_string(i + 1), *layers[i]);
    }

    // Every conv + BN unit in a fixed order (stem, then each block's units and shortcut): the pairing that
    // fold_batchnorm walks in two models of the same options.
    template <class F>
    void for_each_unit(F&& f) {
        f(stem);
        for (auto& stage : layers)
            for (std::size_t j = 0; j < stage->size(); ++j) (*stage)[j].for_each_unit(f);
    }

    // Writes into this folded network every conv + BN unit of `trained` (same options, not folded) folded into
    // one biased convolution: fold_batchnorm's work, paired unit by unit in for_each_unit's order.
    void fold_from(Context<B>& ctx, impl& trained) {
        std::vector<Unit*> from, to;
        trained.for_each_unit([&](Unit& u) { from.push_back(&u); });
        for_each_unit([&](Unit& u) { to.push_back(&u); });
        if (from.size() != to.size()) fail("fold_from: the two networks have different structures");
        for (std::size_t i = 0; i < from.size(); ++i) to[i]->fold_from(ctx, *from[i]);
    }

    // x (N, leads, L) -> feature map (N, out_channels(), output_length(L)).
    Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
        expect_shape(x.shape(), {-1, options.leads, -1}, "input");
        Tensor<B> h = stem.forward(ctx, x);
        detail::relu_in_place(ctx, h);
        saved_stem.keep(ctx, h);
        for (auto& stage : layers) h = stage->forward(ctx, h);
        return h;
    }

    Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
        saved_stem.peek(*this);  // before any stage releases its own state
        Tensor<B> g = dy;
        for (auto it = layers.rbegin(); it != layers.rend(); ++it) g = (*it)->backward(ctx, g);
        return stem.backward(ctx, detail::relu_backward(ctx, saved_stem.take(*this), g));
    }

    // The pooled features (N, out_channels()): the mean of the feature map over its length, as MERL's linear
    // probe uses them. An inference pass: BatchNorm uses its running statistics and nothing is kept for backward,
    // whatever ctx.training says.
    Tensor<B> pooled_features(Context<B>& ctx, const Tensor<B>& x) {
        detail::TrainingScope<B> inference(ctx, false);
        const Tensor<B> f = forward(ctx, x);
        Tensor<B> pooled = ctx.empty(Shape{f.size(0), f.size(1)});
        ops::mean_last(ctx, f.size(0) * f.size(1), f.size(2), f.data(), pooled.data());
        return pooled;
    }

    // Frozen: every parameter stops training (set_trainable, the flag the arena's freeze sets by name) and
    // BatchNorm normalises with its running statistics in training passes too (PyTorch's backbone.eval() +
    // requires_grad_(False)). Unfreezing restores both.
    void freeze(bool frozen = true) {
        set_trainable(*this, !frozen);
        use_running_stats(frozen);
    }
    // BatchNorm with running statistics in training passes (PyTorch's eval mode, with gradients).
    void use_running_stats(bool running) {
        for_each_unit([&](Unit& u) { u.use_running_stats(running); });
    }

private:
    static ResNet1DOptions checked(ResNet1DOptions o) {
        if (o.stages.empty()) o.stages = {DefaultStages...};
        if (o.leads <= 0 || o.base_width <= 0 || o.input_length <= 0)
            fgclep::fail("ResNet1D needs positive leads, base_width and input_length, got {}, {} and {}", o.leads,
                         o.base_width, o.input_length);
        for (auto n : o.stages)
            if (n <= 0)
                fgclep::fail("ResNet1D needs at least one block per stage, got stages [{}]", fmt::join(o.stages, ", "));
        return o;
    }
    static std::int64_t halve(std::int64_t L) { return L < 1 ? 0 : (L - 1) / 2 + 1; }
    Saved<B> saved_stem;  // the stem's ReLU output
};

using ResNet1D18 = ResNet1D<BasicBlock, 2, 2, 2, 2>;
using ResNet1D34 = ResNet1D<BasicBlock, 3, 4, 6, 3>;
using ResNet1D50 = ResNet1D<Bottleneck, 3, 4, 6, 3>;
using ResNet1D101 = ResNet1D<Bottleneck, 3, 4, 23, 3>;

// The inference model of a trained ResNet1D: every conv + BatchNorm pair becomes one convolution with a bias
// (BatchNorm's evaluation-mode affine map folded into it), so forward skips the normalisation passes. It computes
// what `trained` computes with ctx.training = false, up to rounding; names: conv1.weight, conv1.bias,
// layer1.0.conv1.{weight,bias}, ..., no bn*. The trained model is unchanged.
template <class Block, std::int64_t... S, Backend B>
Model<ResNet1D<Block, S...>, B> fold_batchnorm(Context<B>& ctx, Model<ResNet1D<Block, S...>, B>& trained) {
    ResNet1DOptions options = trained.module().options;
    options.folded = true;
    Model<ResNet1D<Block, S...>, B> folded(options, 0, trained.module().path());
    folded.module().fold_from(ctx, trained.module());
    return folded;
}

}  // namespace fgclep
