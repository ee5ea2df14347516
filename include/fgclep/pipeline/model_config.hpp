#pragma once
// The two model configurations of the pipeline, their preprocessing and their tokenizer.
//
//   ModelSize::tiny  FgClep<ResNet1D18, Bert, SigmoidLoss, FnmLoss> at a size a 2-core CPU trains in minutes:
//                    ResNet1D18-style backbone (width 16, one BasicBlock per stage), a 2-layer BERT of width 64,
//                    64-dimensional embeddings; ECGs resampled to 100 Hz (1000 samples per lead), which keeps
//                    everything the synthetic features need (intervals to 10 ms, f waves up to 9 Hz). Trained from
//                    scratch, it uses FNM at weight 0.1 with S detached (see tiny_options: 0.5 collapses it).
//   ModelSize::full  the paper's FgClep<ResNet1D50, BertBase, SigmoidLoss, FnmLoss> (Bio_ClinicalBERT's config,
//                    256-dimensional embeddings) on the benchmark's input: 500 Hz, 5000 samples, min-max per record.
//
// Both use Bio_ClinicalBERT's WordPiece vocabulary (28,996 cased tokens); the pipeline's reports are lower-cased
// by the MIMIC-IV-ECG cleaning, as the references feed them. find_vocab() says where it is looked for.
//
// Either size can start its text encoder from a pretrained Hugging Face BERT (the paper starts from
// Bio_ClinicalBERT): with_pretrained_text puts the directory's architecture (config.json) into the options,
// load_pretrained_text its weights into the model, make_tokenizer(size, dir) its tokenizer.
#include "fgclep/core/error.hpp"
#include "fgclep/data/preprocess.hpp"
#include "fgclep/io/hf_checkpoint.hpp"
#include "fgclep/loss/fnm.hpp"
#include "fgclep/loss/sigmoid.hpp"
#include "fgclep/models/bert.hpp"
#include "fgclep/models/fgclep.hpp"
#include "fgclep/models/resnet1d.hpp"
#include "fgclep/text/hf_vocab.hpp"
#include "fgclep/text/report_tokenizer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

namespace fgclep::pipeline {

enum class ModelSize { tiny, full };

inline std::string_view to_string(ModelSize s) { return s == ModelSize::tiny ? "tiny" : "full"; }
inline ModelSize model_size_from_string(std::string_view s) {
    if (s == "tiny") return ModelSize::tiny;
    if (s == "full") return ModelSize::full;
    fail("model size must be 'tiny' or 'full', got '{}'", s);
}

template <class B = Cpu<float>>
using TinyModel = FgClep<ResNet1D18, Bert, SigmoidLoss, FnmLoss, B>;
template <class B = Cpu<float>>
using FullModel = FgClep<ResNet1D50, BertBase, SigmoidLoss, FnmLoss, B>;

// Samples per lead and sampling rate of each size's input.
inline double sampling_rate(ModelSize s) { return s == ModelSize::tiny ? 100.0 : 500.0; }
inline std::int64_t input_length(ModelSize s) { return s == ModelSize::tiny ? 1000 : 5000; }
// Tokens per report: the synthetic reports need < 80; MERL cuts at 256.
inline std::size_t max_tokens(ModelSize s) { return s == ModelSize::tiny ? 96 : 256; }

// The benchmark's preprocessing (data::PreprocessOptions defaults), resampled and cropped to the size's input.
inline data::PreprocessOptions preprocess_options(ModelSize s) {
    data::PreprocessOptions o;
    o.target_fs = sampling_rate(s);
    o.crop.keep = input_length(s);
    o.crop.length = input_length(s);
    return o;
}

template <class B = Cpu<float>>
typename TinyModel<B>::Options tiny_options(std::int64_t vocab_size) {
    typename TinyModel<B>::Options o;
    o.ecg.backbone = {
        .leads = 12, .base_width = 16, .stages = {1, 1, 1, 1}, .input_length = input_length(ModelSize::tiny)};
    o.ecg.head = {.in_channels = 0, .embed_dim = 64, .num_heads = 4, .output_dim = 64, .reference_length = 0};
    o.text.bert = {.vocab_size = vocab_size,
                   .hidden_size = 64,
                   .num_hidden_layers = 2,
                   .num_attention_heads = 4,
                   .intermediate_size = 128,
                   .max_position_embeddings = static_cast<std::int64_t>(max_tokens(ModelSize::tiny))};
    o.text.head = {0, 64, 64};
    // A model trained from scratch for minutes: start sharper than the paper's log 10 (as train_clep_tiny does).
    o.template loss<SigmoidLoss>().logit_scale = std::log(30.0);
    // FNM pulls cos(e_i, t_j) towards the reports' own similarity S_ij. With a pretrained BERT (the paper) S is
    // informative from the start; with a text encoder trained from scratch every report starts alike (S ~ 1), and
    // at the paper's weight 0.5 the model collapsed (every embedding alike: the sigmoid loss stalled at log B + 1
    // and zero-shot macro AUC fell below 50 on the synthetic corpus). Measured on 1024 synthetic pairs, 48 steps:
    // weight 0.5 gave AUC 52/48 (diagnosis/feature), 0.1 detached 60/62, 0.05 detached 61/61. So: 0.1, with S
    // detached (S is a target, not something to move).
    o.template loss<FnmLoss>().weight = 0.1;
    o.template loss<FnmLoss>().detach = true;
    return o;
}

template <class B = Cpu<float>>
typename FullModel<B>::Options full_options(std::int64_t vocab_size) {
    typename FullModel<B>::Options o;  // ResNet1D50 + attention pooling, BERT-base, 256-d: the paper's
    o.text.bert.vocab_size = vocab_size;
    return o;
}

// Where an installed program finds the data installed with it: <prefix>/share/fgclep next to <prefix>/bin (the
// running program's directory, from /proc/self/exe, then ../share/fgclep). Empty where that cannot be known.
inline std::filesystem::path installed_data_dir() {
    std::error_code ec;
    const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec || exe.empty()) return {};
    return exe.parent_path().parent_path() / "share" / "fgclep";
}
// The vocabulary `cmake --install` puts there: Bio_ClinicalBERT's (bert-base-cased's) vocab.txt.
inline std::filesystem::path installed_vocab() {
    const std::filesystem::path dir = installed_data_dir();
    return dir.empty() ? dir : dir / "bert-base-cased-vocab.txt";
}

// Where the vocabulary file is: `given` if not empty, else $FGCLEP_VOCAB, else the copy installed with the program
// (installed_vocab()), else the program's `fallback` (the example programs pass the copy in the source tree they
// were built from, for a build that is not installed). docs/user-guide.md#the-tokenizers-vocabulary.
inline std::filesystem::path find_vocab(const std::filesystem::path& given = {},
                                        const std::filesystem::path& fallback = {}) {
    if (!given.empty()) {
        if (!std::filesystem::is_regular_file(given)) fail("vocabulary file '{}' does not exist", given.string());
        return given;
    }
    if (const char* env = std::getenv("FGCLEP_VOCAB"); env && *env) {
        if (!std::filesystem::is_regular_file(env)) fail("FGCLEP_VOCAB names '{}', which does not exist", env);
        return env;
    }
    if (const auto installed = installed_vocab(); !installed.empty() && std::filesystem::is_regular_file(installed))
        return installed;
    if (!fallback.empty() && std::filesystem::is_regular_file(fallback)) return fallback;
    fail(
        "no vocabulary file: pass --vocab <Bio_ClinicalBERT vocab.txt>, set FGCLEP_VOCAB, or install fgclep "
        "(cmake --install puts one in <prefix>/share/fgclep; the source tree has one at "
        "tests/fixtures/bert/bert-base-cased-vocab.txt)");
}

// Bio_ClinicalBERT's vocabulary as a cased WordPiece (the pipeline's reports are lower-cased by their cleaning),
// reports cut at max_tokens(size). With a checkpoint directory, make_tokenizer(size, dir) below.
inline ReportTokenizer make_tokenizer(ModelSize size, const std::filesystem::path& vocab = {},
                                      const std::filesystem::path& fallback = {}) {
    return ReportTokenizer::from_file(find_vocab(vocab, fallback).string(), {.lower_case = false}, max_tokens(size));
}

// The tokenizer of a pretrained text encoder's directory: its vocab.txt with the options of its
// tokenizer_config.json, reports cut at max_tokens(size) or the checkpoint's own limit, whichever is shorter.
inline ReportTokenizer make_tokenizer(ModelSize size, const io::HfBertDirectory& pretrained) {
    const text::HfTokenizerSettings settings = text::hf_tokenizer_settings(pretrained);
    return ReportTokenizer(text::hf_wordpiece(pretrained, settings.options),
                           std::min(max_tokens(size), settings.max_length));
}

// Model options whose text encoder has the architecture of `pretrained` (its config.json): hidden size, layers,
// heads, vocabulary, positions and dropout are the checkpoint's, whatever the model size says.
template <class Options>
Options with_pretrained_text(Options options, const io::HfBertDirectory& pretrained) {
    options.text.bert = pretrained.options;
    return options;
}

// Loads the weights of `pretrained` into the BERT of an FgClep model's text encoder (state_dict prefix "lm_model",
// MERL's name); the projection head keeps its initialisation. What the file held that the model does not use
// (the pre-training heads) is in the result: io::describe_unused says it in words.
template <class FgClepModel, class B>
io::LoadResult load_pretrained_text(FgClepModel& model, Context<B>& ctx, const io::HfBertDirectory& pretrained) {
    return io::load_bert_weights(model.arena(), ctx.state, pretrained, "lm_model");
}

}  // namespace fgclep::pipeline
