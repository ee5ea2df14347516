#pragma once
// The WordPiece tokenizer of a Hugging Face BERT checkpoint directory (its vocab.txt). In the application part
// (fgclep/text needs utf8proc); the directory itself is read by the model library (io/hf_checkpoint.hpp).
#include "fgclep/core/error.hpp"
#include "fgclep/io/hf_checkpoint.hpp"
#include "fgclep/text/wordpiece.hpp"

#include <filesystem>

namespace fgclep::text {

// The checkpoint's WordPiece tokenizer (Bio_ClinicalBERT is cased: lower_case = false).
inline WordPiece hf_wordpiece(const io::HfBertDirectory& dir, WordPieceOptions options = {}) {
    if (!std::filesystem::exists(dir.vocab))
        fail("the Hugging Face checkpoint '{}' has no vocab.txt", dir.dir.string());
    return WordPiece::from_file(dir.vocab.string(), options);
}

}  // namespace fgclep::text
