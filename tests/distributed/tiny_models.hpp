#pragma once
// What test_distributed and test_nccl share: an ECG encoder without BatchNorm, a tiny BERT without dropout (ranks
// draw their own dropout streams, so an exact comparison with one process needs none) and its tokenizer.
#include "fgclep/models/fgclep.hpp"
#include "fgclep/nn/activation.hpp"
#include "fgclep/nn/conv1d.hpp"
#include "fgclep/nn/linear.hpp"
#include "fgclep/nn/pool.hpp"
#include "fgclep/nn/sequential.hpp"
#include "fgclep/text/report_tokenizer.hpp"

#include <string>
#include <vector>

namespace fgclep::testing_distributed {

// (N, leads, L) -> (N, 6): a convolution, global average pooling and a linear layer.
using PlainEcg = Sequential<Conv1d, ReLU, GlobalAvgPool1d, Linear>;
inline PlainEcg::Options plain_ecg(std::int64_t leads) {
    return {Conv1d::Options{leads, 5, 3, 1, 1}, {}, {}, Linear::Options{5, 6}};
}

// A one-layer BERT of width 8 over 16 tokens, embedding into 6 dimensions, without dropout.
template <class Options>
Options tiny_text(Options o) {
    o.text.bert.vocab_size = 16;
    o.text.bert.hidden_size = 8;
    o.text.bert.num_hidden_layers = 1;
    o.text.bert.num_attention_heads = 2;
    o.text.bert.intermediate_size = 16;
    o.text.bert.max_position_embeddings = 16;
    o.text.bert.hidden_dropout_prob = 0;
    o.text.bert.attention_probs_dropout_prob = 0;
    o.text.head = {0, 8, 6};
    return o;
}

inline ReportTokenizer tiny_tokenizer() {
    std::vector<std::string> vocab{"[PAD]", "[UNK]",  "[CLS]",        "[SEP]", "[MASK]", "sinus", "rhythm", "normal",
                                   "ecg",   "atrial", "fibrillation", "block", "left",   "right", "bundle", "."};
    return ReportTokenizer(text::WordPiece(vocab, {.lower_case = true}), 10);
}

}  // namespace fgclep::testing_distributed
