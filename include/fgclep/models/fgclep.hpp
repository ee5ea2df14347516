#pragma once
// FgClep<Ecg, Text, Losses..., [Backend]>: the whole model of FG-CLEP, an ECG encoder and a text encoder mapping
// ECGs and reports into one embedding space, trained by a contrastive objective (method.md sections 2-3).
//
//   fgclep::FgClep<fgclep::ResNet1D50, fgclep::BertBase, fgclep::SigmoidLoss, fgclep::FnmLoss> model({}, seed);
//   fgclep::FgClep<fgclep::ResNet1D50, fgclep::BertBase, fgclep::SigmoidLoss, fgclep::FnmLoss, fgclep::Cuda<float>> gpu;
//
// Ecg: a ResNet1D backbone (wrapped with MERL's AttentionPoolHead), an EcgEncoder<Backbone, Head> or any layer
// spec (N, leads, L) -> (N, P); Text: Bert (wrapped as TextEncoder) or any spec to (N, P); Losses: one or more
// contrastive losses, summed with their weights; Backend: last and optional (Cpu<float>). The module tree lives in
// a Model (one arena); the state_dict is MERL's ECGCLIP layout plus each loss's parameters. docs/fgclep.md.
#include "fgclep/core/arena.hpp"
#include "fgclep/core/context.hpp"
#include "fgclep/core/model.hpp"
#include "fgclep/loss/objective.hpp"
#include "fgclep/models/ecg_encoder.hpp"
#include "fgclep/models/text_encoder.hpp"
#include "fgclep/optim/adamw.hpp"

#include <memory>
#include <type_traits>

namespace fgclep {

namespace detail {
template <class S>
struct is_ecg_backbone : std::false_type {};
template <class Block, std::int64_t... Stages>
struct is_ecg_backbone<ResNet1D<Block, Stages...>> : std::true_type {};

template <class S>
using ecg_encoder_for = std::conditional_t<is_ecg_backbone<S>::value, EcgEncoder<S>, S>;
template <class S>
using text_encoder_for = std::conditional_t<std::is_same_v<S, Bert>, TextEncoder, S>;

template <class... Ts>
struct type_list {};

// Splits FgClep's trailing arguments into the losses and the backend (the last argument, if it is one).
template <class Losses, class Bk, class... Rest>
struct split_losses;
template <class... L, class Bk>
struct split_losses<type_list<L...>, Bk> {
    using objective = ContrastiveObjective<L...>;
    using backend = Bk;
};
template <class... L, class Bk, class X, class... Rest>
struct split_losses<type_list<L...>, Bk, X, Rest...>
    : std::conditional_t<Backend<X>, split_losses<type_list<L...>, X>, split_losses<type_list<L..., X>, Bk, Rest...>> {
    static_assert(!Backend<X> || sizeof...(Rest) == 0,
                  "fgclep: the backend must be the last template argument of FgClep<Ecg, Text, Losses..., Backend>");
};
}  // namespace detail

// The parts of an FgClep whose gradients become complete one after another during compute_gradients.
enum class ModelPart { losses, ecg, text };

// A batch of N paired ECGs and reports, on the model's backend.
template <Backend B, class TextInput = BertInput<B>>
struct PairedBatch {
    Tensor<B> ecg;   // (N, leads, L)
    TextInput text;  // N reports (token ids and mask for BERT)
};

template <class Ecg, class Text, class... LossesAndBackend>
class FgClep {
    using split = detail::split_losses<detail::type_list<>, Cpu<float>, LossesAndBackend...>;

public:
    using backend_type = typename split::backend;
    using B = backend_type;
    using T = typename B::value_type;
    using ecg_spec = detail::ecg_encoder_for<Ecg>;
    using text_spec = detail::text_encoder_for<Text>;
    using objective_spec = typename split::objective;
    static_assert(require_layer_spec<ecg_spec>::value && require_layer_spec<text_spec>::value);

    struct Options {
        typename ecg_spec::Options ecg{};
        typename text_spec::Options text{};
        typename objective_spec::Options losses{};
        // The options of loss L, e.g. options.loss<FnmLoss>().weight = 0.5.
        template <class L>
        auto& loss() {
            return std::get<typename L::Options>(losses.losses);
        }
    };

    // The module tree: the two encoders and the objective, each visited transparently (their children's names
    // appear at the top level).
    struct Net {
        using Options = FgClep::Options;
        static constexpr std::string_view name = "FgClep";
        // The root of a model but not a layer: training goes through compute_gradients (a batch, the objective).
        static constexpr bool root_only = true;
        template <Backend BB>
        struct impl : Module {
            typename ecg_spec::template impl<BB> ecg;
            typename text_spec::template impl<BB> text;
            typename objective_spec::template impl<BB> objective;
            explicit impl(const Options& o) : Module(Net::name), ecg(o.ecg), text(o.text), objective(o.losses) {}
            template <class V>
            void visit(V& v) {
                v.module("", ecg);
                v.module("", text);
                v.module("", objective);
            }
        };
    };
    using module_type = typename Net::template impl<B>;
    using text_input_type = layer_input_t<typename text_spec::template impl<B>, B>;
    using batch_type = PairedBatch<B, text_input_type>;

    // Builds the model and initialises its parameters from `seed` (PyTorch's distributions; pretrained weights load
    // afterwards with io::load_state or load_bert_weights).
    explicit FgClep(const Options& options = {}, std::uint64_t seed = 0)
        : options_(checked(options)), model_(options, seed) {}

    // --- inference -------------------------------------------------------------------------------------------
    // L2-normalised ECG embeddings (N, P) of ECGs (N, leads, L), in an inference pass (BatchNorm running
    // statistics, no dropout, nothing kept), whatever ctx.training says.
    Tensor<B> encode_ecg(Context<B>& ctx, const Tensor<B>& ecg) {
        detail::TrainingScope<B> inference(ctx, false);
        return normalized(ctx, net().ecg.forward(ctx, ecg));
    }
    // L2-normalised text embeddings (N, P), in an inference pass.
    Tensor<B> encode_text(Context<B>& ctx, const text_input_type& text) {
        detail::TrainingScope<B> inference(ctx, false);
        return normalized(ctx, net().text.forward(ctx, text));
    }
    // The same from report strings, through a tokenizer such as ReportTokenizer (fgclep/text).
    template <class Tokenizer, class Texts>
    requires requires(const Tokenizer& t, Context<B>& c, const Texts& x) { t.encode(c, x); }
    Tensor<B> encode_text(Context<B>& ctx, const Tokenizer& tokenizer, const Texts& texts) {
        return encode_text(ctx, tokenizer.encode(ctx, texts));
    }

    // cos(e_i, t_j) (N, M) of normalised embeddings ecg (N, P) and text (M, P), on the host in double.
    HostMatrix similarity(Context<B>& ctx, const Tensor<B>& ecg_embeddings, const Tensor<B>& text_embeddings) {
        if (ecg_embeddings.shape().rank() != 2 || text_embeddings.shape().rank() != 2 ||
            ecg_embeddings.size(1) != text_embeddings.size(1))
            fail("similarity: expected embeddings (N, P) and (M, P), got {} and {}", ecg_embeddings.shape(),
                 text_embeddings.shape());
        return detail::download_matrix(ctx, ecg_embeddings) * detail::download_matrix(ctx, text_embeddings).transpose();
    }
    // The calibrated probability that ECG i shows text j: sigmoid(exp(t') cos(e_i, t_j) + b), with the (t', b) of
    // the first loss that calibrates (SigmoidLoss). Stage 2 keeps a waveform feature when this exceeds 0.95.
    HostMatrix probability(Context<B>& ctx, const Tensor<B>& ecg_embeddings, const Tensor<B>& text_embeddings) {
        const MatchCalibration c = net().objective.calibration(ctx);
        HostMatrix p = similarity(ctx, ecg_embeddings, text_embeddings);
        for (Eigen::Index i = 0; i < p.size(); ++i) p.data()[i] = c.probability(p.data()[i]);
        return p;
    }
    MatchCalibration calibration(Context<B>& ctx) { return net().objective.calibration(ctx); }

    // --- training --------------------------------------------------------------------------------------------
    // Forward and backward of one batch in training mode: *adds* scale times the gradient of the loss to the
    // gradient arena (scale = 1 / accumulation steps when accumulating) and returns the loss.
    // `ready(part)` is called as each part's gradients are complete (the losses', then the text encoder's, then the
    // ECG encoder's): a distributed Trainer starts reducing them while the rest of backward runs.
    template <class Ready = void (*)(ModelPart)>
    LossValue compute_gradients(
        Context<B>& ctx, const batch_type& batch, double scale = 1, Ready&& ready = [](ModelPart) {}) {
        check_batch(ctx, batch);
        detail::TrainingScope<B> training(ctx, true);
        const Tensor<B> e = net().ecg.forward(ctx, batch.ecg);
        const Tensor<B> t = net().text.forward(ctx, batch.text);
        const LossValue value = net().objective.forward(ctx, e, t, text_features());
        const EmbeddingGradients<B> g = net().objective.backward(ctx, scale);
        ready(ModelPart::losses);
        // The text encoder first: it has most of the parameters (BERT-base: 110 M of 125 M) and the ECG encoder most
        // of the computation, so a distributed Trainer averages the text gradients while the ECG backward runs.
        if constexpr (requires { net().text.backward(ctx, g.text, g.features); })
            net().text.backward(ctx, g.text, g.features);
        else
            net().text.backward(ctx, g.text);
        ready(ModelPart::text);
        net().ecg.backward(ctx, g.ecg);
        ready(ModelPart::ecg);
        return value;
    }

    // One optimizer step on one batch: zero the gradients, compute them, update at learning rate lr.
    LossValue train_step(Context<B>& ctx, const batch_type& batch, AdamW<B>& optimizer, double lr) {
        zero_grad(ctx);
        const LossValue value = compute_gradients(ctx, batch);
        optimizer.step(ctx, lr);
        return value;
    }

    // The loss of a batch in an inference pass (validation): nothing is kept, no gradient.
    LossValue evaluate_loss(Context<B>& ctx, const batch_type& batch) {
        check_batch(ctx, batch);
        detail::TrainingScope<B> inference(ctx, false);
        const Tensor<B> e = net().ecg.forward(ctx, batch.ecg);
        const Tensor<B> t = net().text.forward(ctx, batch.text);
        return net().objective.forward(ctx, e, t, text_features());
    }

    void zero_grad(Context<B>& ctx) { model_.zero_grad(ctx); }

    // --- parameters: those of the Model that holds the module tree ---------------------------------------------
    Model<Net, B>& model() { return model_; }
    ParameterArena<B>& arena() { return model_.arena(); }
    const ParameterArena<B>& arena() const { return model_.arena(); }
    Param<B>& parameter(std::string_view name) { return model_.parameter(name); }
    Buffer<B>& buffer(std::string_view name) { return model_.buffer(name); }
    std::int64_t parameter_count(bool trainable_only = false) const { return model_.parameter_count(trainable_only); }
    std::size_t freeze(std::string_view prefix) { return model_.freeze(prefix); }
    std::size_t unfreeze(std::string_view prefix) { return model_.unfreeze(prefix); }
    std::string summary() const { return model_.summary(); }

    const Options& options() const { return options_; }
    auto& ecg_encoder() { return model_.module().ecg; }
    auto& text_encoder() { return model_.module().text; }
    auto& objective() { return model_.module().objective; }
    module_type& module() { return model_.module(); }

private:
    // The two embeddings must have one size; checked before anything is built (a BERT-base takes seconds to make).
    static const Options& checked(const Options& o) {
        if constexpr (requires {
                          o.ecg.head.output_dim;
                          o.text.head.out_features;
                      })
            if (o.ecg.head.output_dim != o.text.head.out_features)
                fail(
                    "FgClep: the ECG encoder embeds into {} dimensions but the text encoder into {}; set "
                    "options.ecg.head.output_dim and options.text.head.out_features to the same size",
                    o.ecg.head.output_dim, o.text.head.out_features);
        return o;
    }
    Tensor<B> normalized(Context<B>& ctx, const Tensor<B>& x) {
        std::vector<double> norms;
        return detail::upload_matrix(ctx, detail::normalize_rows(detail::download_matrix(ctx, x), norms));
    }
    Tensor<B> text_features() {
        if (!net().objective.uses_text_features()) return {};
        if constexpr (requires { net().text.last_pooled_features(); })
            return net().text.last_pooled_features();
        else
            fail(
                "a loss uses the pooled text features (FnmLoss with source = features), but this text encoder does "
                "not expose them (it needs last_pooled_features() and backward(ctx, dy, dpooled))");
    }
    void check_batch(const Context<B>& ctx, const batch_type& batch) const {
        if (!batch.ecg.defined() || batch.ecg.shape().rank() != 3)
            fail("a batch needs ECGs of shape (N, leads, L), got {}",
                 batch.ecg.defined() ? batch.ecg.shape() : Shape{});
        if constexpr (requires { batch.text.input_ids; })
            if (!batch.text.input_ids.defined() || batch.text.input_ids.size(0) != batch.ecg.size(0))
                fail("a batch needs as many reports as ECGs: {} ECGs, {} reports", batch.ecg.size(0),
                     batch.text.input_ids.defined() ? batch.text.input_ids.size(0) : 0);
        // One pair has no negatives; in a distributed run the negatives are the other ranks' pairs too.
        if (batch.ecg.size(0) < (ctx.world_size() > 1 ? 1 : 2))
            fail("a contrastive batch needs at least 2 pairs (there are no negatives otherwise), got {}{}",
                 batch.ecg.size(0), ctx.world_size() > 1 ? fmt::format(" on rank {}", ctx.rank()) : std::string());
    }

    module_type& net() { return model_.module(); }

    Options options_;
    Model<Net, B> model_;
};

}  // namespace fgclep
