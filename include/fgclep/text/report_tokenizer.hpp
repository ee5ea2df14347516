#pragma once
// ReportTokenizer: turns report texts into the BertInput a text encoder takes: a WordPiece vocabulary, the
// longest sequence kept (MERL: 256 tokens) and the padding rule. Shared (not copied) by the trainer, the model's
// text helpers and stage 2, so one vocabulary is loaded once.
//
//   fgclep::ReportTokenizer tokenizer = fgclep::ReportTokenizer::from_file("vocab.txt", {.lower_case = false});
//   fgclep::BertInput<B> in = tokenizer.encode(ctx, reports);
#include "fgclep/models/bert.hpp"
#include "fgclep/text/wordpiece.hpp"

#include <memory>
#include <string>

namespace fgclep {

using text::Padding;
using text::WordPiece;
using text::WordPieceOptions;

class ReportTokenizer {
public:
    ReportTokenizer() = default;
    explicit ReportTokenizer(WordPiece vocabulary, std::size_t max_length = 256)
        : vocabulary_(std::make_shared<const WordPiece>(std::move(vocabulary))), max_length_(max_length) {
        if (max_length < 2) fail("ReportTokenizer: max_length must leave room for [CLS] and [SEP], got {}", max_length);
    }
    static ReportTokenizer from_file(const std::string& vocab_path, WordPieceOptions options = {},
                                     std::size_t max_length = 256) {
        return ReportTokenizer(WordPiece::from_file(vocab_path, options), max_length);
    }

    bool empty() const { return vocabulary_ == nullptr; }
    const WordPiece& vocabulary() const {
        if (!vocabulary_) fail("no tokenizer was given: construct a ReportTokenizer from a vocabulary file");
        return *vocabulary_;
    }
    std::size_t max_length() const { return max_length_; }

    // Ids and attention mask (N, L), padded to the batch's longest report (at most max_length tokens).
    template <Backend B, class Texts>
    BertInput<B> encode(Context<B>& ctx, const Texts& texts) const {
        auto e = vocabulary().encode_batch(ctx, texts, max_length_, Padding::longest);
        return BertInput<B>{e.ids, e.mask, {}};
    }

private:
    std::shared_ptr<const WordPiece> vocabulary_;
    std::size_t max_length_ = 256;
};

}  // namespace fgclep
