#pragma once
// Zero-shot classification: each class is scored by the cosine similarity of the ECG's embedding to the class
// prompt's embedding; macro AUC over classes.
//
//   EncodedSplit test = encode_ecgs(model, ctx, stream);          // once per split: embeddings + labels
//   ClassPrompts prompts = class_prompts(test_set.class_names, load_prompt_file("CKEPE_prompt.json"));
//   ZeroShotResult plain = zero_shot(model, ctx, tokenizer, test, prompts);
//   ZeroShotResult ens = zero_shot(model, ctx, tokenizer, test, prompts, {.ensemble = true});
//   plain.auc.macro    // percent
//
// The model is any type with encode_ecg(ctx, ecg) and encode_text(ctx, tokenizer, texts) returning L2-normalised
// embeddings (fgclep::FgClep). Scores are cosines. With the lead ensemble (prompts.hpp: the class text and
// "<text> in lead <x>" for 12 leads), a class's score is the maximum of its 13 cosines. The paper takes the
// "highest probability"; FG-CLEP's probability sigmoid(exp(t') cos + b) is increasing in cos, so the maximum is
// reached by the same text and every AUC is identical.
#include "fgclep/core/context.hpp"
#include "fgclep/core/error.hpp"
#include "fgclep/eval/metrics.hpp"
#include "fgclep/eval/prompts.hpp"
#include "fgclep/loss/pair_batch.hpp"
#include "fgclep/text/report_tokenizer.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

namespace fgclep::eval {

// ECG embeddings of a split with their labels, in the order of the records encoded.
struct EncodedSplit {
    HostMatrix embeddings;  // (N, P), L2-normalised
    HostMatrix features;    // (N, D): the backbone's pooled features, when asked for (linear probing); else empty
    HostMatrix labels;      // (N, C), 0/1; (N, 0) when the batches carry no labels
    std::vector<std::int64_t> indices;  // source index of each row (records skipped by the stream are absent)
    std::int64_t size() const { return static_cast<std::int64_t>(indices.size()); }
};

struct EncodeOptions {
    bool embeddings = true;        // the projected, normalised embedding (zero-shot, retrieval, t-SNE)
    bool pooled_features = false;  // the backbone's global-average-pooled features (linear probing)
};

namespace detail {
template <Backend B>
HostMatrix host_rows(Context<B>& ctx, const Tensor<B>& t) {
    const auto v = ctx.to_host(t);
    HostMatrix m(t.size(0), t.numel() / std::max<std::int64_t>(1, t.size(0)));
    for (std::size_t i = 0; i < v.size(); ++i) m.data()[i] = static_cast<double>(v[i]);
    return m;
}
inline void append_rows(HostMatrix& all, const HostMatrix& more) {
    if (all.size() == 0 && all.rows() == 0) {
        all = more;
        return;
    }
    HostMatrix joined(all.rows() + more.rows(), all.cols());
    joined << all, more;
    all.swap(joined);
}

// Calls fn(batch) for every batch of `batches`: a BatchStream (all its records, in index order), or any range of
// batches.
template <class Batches, class Fn>
void for_each_batch(Batches&& batches, Fn&& fn) {
    if constexpr (requires {
                      batches.over(std::vector<std::int64_t>{});
                      batches.size();
                  }) {
        std::vector<std::int64_t> order(static_cast<std::size_t>(batches.size()));
        std::iota(order.begin(), order.end(), std::int64_t{0});
        for (const auto& b : batches.over(std::move(order))) fn(b);
    } else {
        for (const auto& b : batches) fn(b);
    }
}
}  // namespace detail

// Encodes every ECG of `batches`: a BatchStream (all its records, in index order), or any range of batches with
// ecg_shape, ecg, indices, classes and labels (data::Batch). Inference passes only.
template <class Model, Backend B, class Batches>
EncodedSplit encode_ecgs(Model& model, Context<B>& ctx, Batches&& batches, const EncodeOptions& options = {}) {
    using T = typename B::value_type;
    EncodedSplit out;
    std::vector<HostMatrix> emb, feat, lab;
    std::int64_t classes = -1;
    auto one = [&](const auto& b) {
        if (b.size() == 0) return;
        const std::vector<T> host(b.ecg.begin(), b.ecg.end());
        const Tensor<B> x = ctx.from_host(b.ecg_shape, host);
        if (options.embeddings) emb.push_back(detail::host_rows(ctx, model.encode_ecg(ctx, x)));
        if (options.pooled_features) {
            if constexpr (requires { model.ecg_encoder().pooled_features(ctx, x); })
                feat.push_back(detail::host_rows(ctx, model.ecg_encoder().pooled_features(ctx, x)));
            else
                fail("encode_ecgs: this model's ECG encoder does not expose pooled_features(ctx, x)");
        }
        if (classes < 0) classes = b.classes;
        if (b.classes != classes) fail("encode_ecgs: batches with {} and {} labels per record", classes, b.classes);
        HostMatrix y(b.size(), b.classes);
        for (std::size_t i = 0; i < b.labels.size(); ++i) y.data()[i] = b.labels[i];
        lab.push_back(std::move(y));
        out.indices.insert(out.indices.end(), b.indices.begin(), b.indices.end());
    };
    detail::for_each_batch(batches, one);
    auto join = [](std::vector<HostMatrix>& parts) {
        HostMatrix m;
        std::int64_t rows = 0;
        for (auto& p : parts) rows += p.rows();
        if (parts.empty()) return m;
        m.resize(rows, parts.front().cols());
        std::int64_t at = 0;
        for (auto& p : parts) {
            m.middleRows(at, p.rows()) = p;
            at += p.rows();
        }
        return m;
    };
    out.embeddings = join(emb);
    out.features = join(feat);
    out.labels = join(lab);
    return out;
}

// L2-normalised text embeddings (M, P) of texts, encoded `chunk` at a time.
template <class Model, Backend B>
HostMatrix encode_texts(Model& model, Context<B>& ctx, const ReportTokenizer& tokenizer,
                        const std::vector<std::string>& texts, std::size_t chunk = 128) {
    HostMatrix out;
    for (std::size_t start = 0; start < texts.size(); start += chunk) {
        const std::size_t end = std::min(texts.size(), start + chunk);
        const std::vector<std::string> part(texts.begin() + static_cast<std::ptrdiff_t>(start),
                                            texts.begin() + static_cast<std::ptrdiff_t>(end));
        detail::append_rows(out, detail::host_rows(ctx, model.encode_text(ctx, tokenizer, part)));
    }
    return out;
}

// Scores (N, C): score(i, c) = max over the texts t of class c (groups[c] = their rows of text_embeddings) of
// cos(e_i, t). Embeddings must be normalised.
inline HostMatrix class_scores(const HostMatrix& ecg_embeddings, const HostMatrix& text_embeddings,
                               const std::vector<std::vector<std::int64_t>>& groups) {
    if (ecg_embeddings.cols() != text_embeddings.cols())
        fail("class_scores: ECG embeddings have {} dimensions but text embeddings {}", ecg_embeddings.cols(),
             text_embeddings.cols());
    const HostMatrix cos = ecg_embeddings * text_embeddings.transpose();
    HostMatrix s(ecg_embeddings.rows(), static_cast<Eigen::Index>(groups.size()));
    for (std::size_t c = 0; c < groups.size(); ++c) {
        if (groups[c].empty()) fail("class_scores: class {} has no text", c);
        for (Eigen::Index i = 0; i < s.rows(); ++i) {
            double best = -std::numeric_limits<double>::infinity();
            for (auto t : groups[c]) best = std::max(best, cos(i, t));
            s(i, static_cast<Eigen::Index>(c)) = best;
        }
    }
    return s;
}

struct ZeroShotOptions {
    bool ensemble = false;   // the 12-lead ensemble (13 texts per class, max)
    bool lower_case = true;  // of the ensemble's lead texts
    std::size_t text_chunk = 128;
};

struct ZeroShotResult {
    HostMatrix scores;                              // (N, C) cosines (max over the ensemble)
    MacroAuc auc;                                   // macro in percent
    std::vector<std::string> texts;                 // every text encoded
    std::vector<std::vector<std::int64_t>> groups;  // texts of each class
    bool ensemble = false;
};

// The texts of each class: the prompt alone, or the 13 of the lead ensemble.
inline void prompt_texts(const ClassPrompts& prompts, bool ensemble, bool lower_case, std::vector<std::string>& texts,
                         std::vector<std::vector<std::int64_t>>& groups) {
    for (const auto& t : prompts.texts) {
        std::vector<std::int64_t> g;
        for (auto& s : ensemble ? lead_ensemble(t, lower_case) : std::vector<std::string>{t}) {
            g.push_back(static_cast<std::int64_t>(texts.size()));
            texts.push_back(std::move(s));
        }
        groups.push_back(std::move(g));
    }
}

template <class Model, Backend B>
ZeroShotResult zero_shot(Model& model, Context<B>& ctx, const ReportTokenizer& tokenizer, const EncodedSplit& split,
                         const ClassPrompts& prompts, const ZeroShotOptions& options = {}) {
    if (static_cast<Eigen::Index>(prompts.texts.size()) != split.labels.cols())
        fail("zero_shot: {} class prompts but the split has {} label columns", prompts.texts.size(),
             split.labels.cols());
    ZeroShotResult out;
    out.ensemble = options.ensemble;
    prompt_texts(prompts, options.ensemble, options.lower_case, out.texts, out.groups);
    const HostMatrix text = encode_texts(model, ctx, tokenizer, out.texts, options.text_chunk);
    out.scores = class_scores(split.embeddings, text, out.groups);
    out.auc = macro_auc(out.scores, split.labels, prompts.class_names);
    return out;
}

}  // namespace fgclep::eval
