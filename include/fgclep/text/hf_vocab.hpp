#pragma once
// The WordPiece tokenizer of a Hugging Face BERT checkpoint directory: its vocab.txt, with the options its
// tokenizer_config.json sets. In the application part (fgclep/text needs utf8proc); the directory itself is read by
// the model library (io/hf_checkpoint.hpp).
//
//   auto dir = fgclep::io::HfBertDirectory::open("Bio_ClinicalBERT");
//   fgclep::text::HfTokenizerSettings s = fgclep::text::hf_tokenizer_settings(dir);
//   fgclep::ReportTokenizer tokenizer(fgclep::text::hf_wordpiece(dir), std::min<std::size_t>(256, s.max_length));
#include "fgclep/core/error.hpp"
#include "fgclep/io/hf_checkpoint.hpp"
#include "fgclep/io/json.hpp"
#include "fgclep/text/wordpiece.hpp"

#include <cstddef>
#include <filesystem>
#include <string>

namespace fgclep::text {

// What tokenizer_config.json decides, with Hugging Face's BertTokenizer defaults where a key (or the whole file) is
// absent: do_lower_case true, strip_accents following it, tokenize_chinese_chars true. A directory without
// tokenizer_config.json (Bio_ClinicalBERT's) therefore lower-cases, as AutoTokenizer does for it; the pipeline's
// MIMIC-IV-ECG reports are lower-cased by their cleaning anyway. max_length: model_max_length (or the older
// max_len), never more than config.json's max_position_embeddings (HF writes 1e30 for "no limit").
struct HfTokenizerSettings {
    WordPieceOptions options;
    std::size_t max_length = 512;
};

inline HfTokenizerSettings hf_tokenizer_settings(const io::HfBertDirectory& dir) {
    HfTokenizerSettings s;
    s.max_length = static_cast<std::size_t>(dir.options.max_position_embeddings);
    if (dir.tokenizer_config.empty()) return s;
    const std::string path = dir.tokenizer_config.string();
    const io::json::Value j = io::json::parse_object_file(path, "the tokenizer config");
    auto flag = [&](const char* key, bool& out) {
        if (const io::json::Value* v = j.find(key)) {
            if (!v->is_bool()) fail("{}: key '{}' must be true or false, got {}", path, key, v->dump());
            out = v->as_bool();
        }
    };
    flag("do_lower_case", s.options.lower_case);
    flag("tokenize_chinese_chars", s.options.tokenize_cjk);
    if (const io::json::Value* v = j.find("strip_accents"); v && !v->is_null()) {
        if (!v->is_bool()) fail("{}: key 'strip_accents' must be true, false or null, got {}", path, v->dump());
        s.options.strip_accents = v->as_bool() ? 1 : 0;
    }
    for (const char* key : {"model_max_length", "max_len"})
        if (const io::json::Value* v = j.find(key)) {
            if (!v->is_number() || !(v->as_number() >= 2))
                fail("{}: key '{}' must be a number of tokens >= 2, got {}", path, key, v->dump());
            if (v->as_number() < static_cast<double>(s.max_length))
                s.max_length = static_cast<std::size_t>(v->as_number());
            break;
        }
    return s;
}

// The checkpoint's WordPiece tokenizer, with the options of its tokenizer_config.json (hf_tokenizer_settings).
inline WordPiece hf_wordpiece(const io::HfBertDirectory& dir, WordPieceOptions options) {
    if (!std::filesystem::exists(dir.vocab))
        fail("the Hugging Face checkpoint '{}' has no vocab.txt", dir.dir.string());
    WordPiece w = WordPiece::from_file(dir.vocab.string(), options);
    if (static_cast<std::int64_t>(w.size()) > dir.options.vocab_size)
        fail("the Hugging Face checkpoint '{}': vocab.txt has {} tokens but config.json's vocab_size is {}",
             dir.dir.string(), w.size(), dir.options.vocab_size);
    return w;
}
inline WordPiece hf_wordpiece(const io::HfBertDirectory& dir) {
    return hf_wordpiece(dir, hf_tokenizer_settings(dir).options);
}

}  // namespace fgclep::text
