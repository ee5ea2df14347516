#pragma once
// WordPiece tokenization identical to Hugging Face's BertTokenizer (transformers/models/bert/tokenization_bert.py):
//   1. special tokens ([CLS], [SEP], [PAD], [UNK], [MASK]) found verbatim in the text are kept whole (HF's
//      added-token split before BasicTokenizer);
//   2. BasicTokenizer: clean (drop NUL, U+FFFD and control characters Cc/Cf/Cn/Co/Cs; whitespace -> ' '), CJK
//      ideographs surrounded by spaces, Unicode NFC, whitespace split, optional lower-casing + accent stripping
//      (NFD, drop Mn), split off every punctuation character (ASCII 33-47, 58-64, 91-96, 123-126, or category P*);
//   3. WordpieceTokenizer: greedy longest-match-first pieces with "##" continuations; a word longer than 100
//      characters, or one with a part that matches nothing, becomes [UNK].
// Input is UTF-8. Invalid bytes are replaced by U+FFFD, which step 2 then drops: the result is what HF gives for the
// same bytes decoded with Python's errors="replace".
//
// Unicode data (general categories, lower-case mapping, canonical decomposition) comes from utf8proc, a small,
// well-kept C library (used by Julia, PostgreSQL) that answers each of these per code point without allocating -
// ICU's normalizer works on UTF-16 strings, and hand-written tables would go stale with each Unicode version.
// fgclep::fgclep links it (Debian: libutf8proc-dev).
#include "fgclep/core/backend.hpp"
#include "fgclep/core/context.hpp"
#include "fgclep/core/error.hpp"
#include "fgclep/core/shape.hpp"
#include "fgclep/core/tensor.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace fgclep::text {

namespace unicode {

// HF's _is_whitespace: ASCII space, \t, \n, \r, or category Zs.
inline bool is_whitespace(char32_t c) {
    if (c == U' ' || c == U'\t' || c == U'\n' || c == U'\r') return true;
    if (c < 0x80) return false;
    return utf8proc_category(static_cast<utf8proc_int32_t>(c)) == UTF8PROC_CATEGORY_ZS;
}

// HF's _is_control: any category C* (Cc, Cf, Cn, Co, Cs), except \t, \n, \r, which count as whitespace.
inline bool is_control(char32_t c) {
    if (c == U'\t' || c == U'\n' || c == U'\r') return false;
    if (c < 0x80) return c < 0x20 || c == 0x7F;
    switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
        case UTF8PROC_CATEGORY_CC:
        case UTF8PROC_CATEGORY_CF:
        case UTF8PROC_CATEGORY_CN:
        case UTF8PROC_CATEGORY_CO:
        case UTF8PROC_CATEGORY_CS:
            return true;
        default:
            return false;
    }
}

// HF's _is_punctuation: all non-alphanumeric printable ASCII (so "$", "+", "^", "`" too), or category P*.
inline bool is_punctuation(char32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
    if (c < 0x80) return false;
    auto category = utf8proc_category(static_cast<utf8proc_int32_t>(c));
    return category >= UTF8PROC_CATEGORY_PC && category <= UTF8PROC_CATEGORY_PO;
}

// HF's _is_chinese_char: the CJK Unified Ideographs blocks (not Hangul, Hiragana or Katakana).
inline bool is_cjk(char32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Where Python's str.split() splits once cleaning has turned the ASCII whitespace into ' ': Zs, plus the line and
// paragraph separators (Zl, Zp), which HF's cleaning keeps but str.split() still treats as whitespace.
inline bool is_split_space(char32_t c) {
    if (c < 0x80) return c == U' ';
    auto category = utf8proc_category(static_cast<utf8proc_int32_t>(c));
    return category == UTF8PROC_CATEGORY_ZS || category == UTF8PROC_CATEGORY_ZL || category == UTF8PROC_CATEGORY_ZP;
}

// Decodes UTF-8 into code points, appending to out; each invalid byte becomes U+FFFD.
inline void decode_utf8(std::string_view text, std::vector<char32_t>& out) {
    const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
    auto n = static_cast<utf8proc_ssize_t>(text.size());
    for (utf8proc_ssize_t i = 0; i < n;) {
        if (bytes[i] < 0x80) {  // ASCII fast path
            out.push_back(bytes[i]);
            ++i;
            continue;
        }
        utf8proc_int32_t cp = 0;
        auto len = utf8proc_iterate(bytes + i, n - i, &cp);
        if (len <= 0) {
            out.push_back(0xFFFD);
            ++i;
        } else {
            out.push_back(static_cast<char32_t>(cp));
            i += len;
        }
    }
}

inline void append_utf8(char32_t c, std::string& out) {
    if (c < 0x80) {
        out.push_back(static_cast<char>(c));
        return;
    }
    utf8proc_uint8_t buffer[4];
    auto len = utf8proc_encode_char(static_cast<utf8proc_int32_t>(c), buffer);
    out.append(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(len));
}

// Unicode NFC of chars, in place (HF normalizes to NFC after cleaning, before the whitespace split). Code points
// below U+0300 are all NFC-stable, so text of only those is left alone without calling utf8proc.
inline void to_nfc(std::vector<char32_t>& chars) {
    if (std::all_of(chars.begin(), chars.end(), [](char32_t c) { return c < 0x300; })) return;
    std::string utf8;
    for (char32_t c : chars) append_utf8(c, utf8);
    const auto options = static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    std::vector<utf8proc_int32_t> buffer(chars.size() + 8);
    utf8proc_ssize_t n = 0;
    for (;;) {  // decomposed and canonically ordered; retried when the decomposition is longer than the buffer
        n = utf8proc_decompose(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()),
                               static_cast<utf8proc_ssize_t>(utf8.size()), buffer.data(),
                               static_cast<utf8proc_ssize_t>(buffer.size()), options);
        if (n < 0) return;  // cannot happen for valid code points; keep the text as it is
        if (static_cast<std::size_t>(n) <= buffer.size()) break;
        buffer.resize(static_cast<std::size_t>(n));
    }
    n = utf8proc_normalize_utf32(buffer.data(), n, options);  // composes
    if (n < 0) return;
    chars.assign(buffer.begin(), buffer.begin() + n);
}

// Appends c lower-cased (if asked) and with its nonspacing marks removed after canonical decomposition (if asked),
// HF's token.lower() then _run_strip_accents.
inline void append_normalized(char32_t c, bool lower_case, bool strip_accents, std::vector<char32_t>& out) {
    if (c < 0x80) {
        out.push_back(lower_case && c >= U'A' && c <= U'Z' ? c + 32 : c);
        return;
    }
    auto cp = static_cast<utf8proc_int32_t>(c);
    if (lower_case) cp = utf8proc_tolower(cp);
    if (!strip_accents) {
        out.push_back(static_cast<char32_t>(cp));
        return;
    }
    std::array<utf8proc_int32_t, 32> parts{};
    int boundclass = 0;
    auto count = utf8proc_decompose_char(cp, parts.data(), static_cast<utf8proc_ssize_t>(parts.size()),
                                         UTF8PROC_DECOMPOSE, &boundclass);
    if (count <= 0 || count > static_cast<utf8proc_ssize_t>(parts.size())) {
        out.push_back(static_cast<char32_t>(cp));
        return;
    }
    for (utf8proc_ssize_t i = 0; i < count; ++i)
        if (utf8proc_category(parts[static_cast<std::size_t>(i)]) != UTF8PROC_CATEGORY_MN)
            out.push_back(static_cast<char32_t>(parts[static_cast<std::size_t>(i)]));
}

}  // namespace unicode

struct WordPieceOptions {
    // HF's do_lower_case: lower-case, and (unless strip_accents says otherwise) strip accents. True for
    // bert-base-uncased, false for cased vocabularies such as Bio_ClinicalBERT's.
    bool lower_case = true;
    // HF's strip_accents: unset (-1) follows lower_case, 0 never strips, 1 always strips.
    int strip_accents = -1;
    // HF's tokenize_chinese_chars.
    bool tokenize_cjk = true;
    // HF's max_input_chars_per_word: a longer word (in code points) becomes [UNK].
    std::size_t max_chars_per_word = 100;
};

// How encode_for_model / encode_batch pad: not at all, to max_length, or to the longest sequence of the batch.
enum class Padding { none, max_length, longest };

// One sequence for the model: ids with [CLS] ... [SEP], and attention mask 1 for real tokens, 0 for padding.
struct Encoding {
    std::vector<std::int32_t> ids;
    std::vector<std::int32_t> mask;
};

// A batch for the model: ids (N, L) int32 and mask (N, L) int32, nonzero for real tokens (the key padding mask of
// nn::MultiheadAttention; ids index nn::Embedding).
template <Backend B>
struct BatchEncoding {
    Tensor<B, std::int32_t> ids;
    Tensor<B, std::int32_t> mask;
};

class WordPiece {
public:
    static constexpr std::string_view unk_token = "[UNK]", cls_token = "[CLS]", sep_token = "[SEP]",
                                      pad_token = "[PAD]", mask_token = "[MASK]";

    // tokens[i] has id i. source names the vocabulary in error messages.
    WordPiece(std::vector<std::string> tokens, WordPieceOptions options = {}, std::string source = "<memory>")
        : tokens_(std::move(tokens)), options_(options), source_(std::move(source)) {
        words_.reserve(tokens_.size());
        for (std::size_t i = 0; i < tokens_.size(); ++i) {
            std::string_view token = tokens_[i];
            auto& table = token.starts_with("##") ? continuations_ : words_;
            auto key = token.starts_with("##") ? token.substr(2) : token;
            if (!table.emplace(key, static_cast<std::int32_t>(i)).second)
                fail("vocabulary {}: token '{}' on line {} appears twice", source_, token, i + 1);
        }
        unk_ = require_special(unk_token);
        cls_ = require_special(cls_token);
        sep_ = require_special(sep_token);
        pad_ = require_special(pad_token);
        if (auto it = words_.find(mask_token); it != words_.end()) mask_ = it->second;
        // HF's never_split: every special token the vocabulary has.
        for (auto special : {unk_token, cls_token, sep_token, pad_token, mask_token})
            if (words_.contains(special)) specials_.emplace_back(special);
    }

    // vocab.txt: one token per line, id = line number (from 0). A trailing '\r' is dropped (HF strips lines too).
    static WordPiece from_file(const std::string& path, WordPieceOptions options = {}) {
        std::ifstream in(path, std::ios::binary);
        if (!in) fail("cannot open vocabulary file {}", path);
        std::vector<std::string> tokens;
        std::string line;
        while (std::getline(in, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            tokens.push_back(std::move(line));
        }
        if (in.bad()) fail("error reading vocabulary file {}", path);
        return WordPiece(std::move(tokens), options, path);
    }

    std::size_t size() const { return tokens_.size(); }
    const WordPieceOptions& options() const { return options_; }
    std::int32_t unk_id() const { return unk_; }
    std::int32_t cls_id() const { return cls_; }
    std::int32_t sep_id() const { return sep_; }
    std::int32_t pad_id() const { return pad_; }
    std::int32_t mask_id() const { return mask_; }  // -1 when the vocabulary has no [MASK]

    // The id of a whole vocabulary entry ("##ing" included), or -1.
    std::int32_t token_to_id(std::string_view token) const {
        const auto& table = token.starts_with("##") ? continuations_ : words_;
        auto it = table.find(token.starts_with("##") ? token.substr(2) : token);
        return it == table.end() ? -1 : it->second;
    }
    const std::string& id_to_token(std::int32_t id) const {
        if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size())
            fail("token id {} is outside vocabulary {} of {} tokens", id, source_, tokens_.size());
        return tokens_[static_cast<std::size_t>(id)];
    }

    // HF's tokenizer.encode(text, add_special_tokens=False).
    std::vector<std::int32_t> encode(std::string_view text) const {
        std::vector<std::int32_t> ids;
        for_each_piece(text, [&](std::int32_t id) { ids.push_back(id); });
        return ids;
    }

    // HF's tokenizer.tokenize(text): the pieces as strings.
    std::vector<std::string> tokenize(std::string_view text) const {
        std::vector<std::string> pieces;
        for_each_piece(text, [&](std::int32_t id) { pieces.push_back(tokens_[static_cast<std::size_t>(id)]); });
        return pieces;
    }

    // HF's tokenizer(text, max_length=max_length, truncation=True, padding=...): [CLS] ids [SEP], the ids cut so
    // that the whole fits max_length (>= 2), then padded with [PAD] (mask 0) when padding is max_length.
    // Padding::longest pads nothing for one sequence.
    Encoding encode_for_model(std::string_view text, std::size_t max_length, Padding padding = Padding::none) const {
        if (max_length < 2) fail("max_length must leave room for [CLS] and [SEP], got {}", max_length);
        Encoding e;
        e.ids.reserve(padding == Padding::max_length ? max_length : 16);
        e.ids.push_back(cls_);
        for_each_piece(text, [&](std::int32_t id) {
            if (e.ids.size() + 1 < max_length) e.ids.push_back(id);
        });
        e.ids.push_back(sep_);
        e.mask.assign(e.ids.size(), 1);
        if (padding == Padding::max_length) pad_to(e, max_length);
        return e;
    }

    // Encodes every text for the model, padded to max_length (Padding::max_length) or to the longest encoded
    // sequence (Padding::longest; Padding::none means the same here: a tensor needs one length).
    template <class Texts>
    std::vector<Encoding> encode_for_model_all(const Texts& texts, std::size_t max_length, Padding padding) const {
        std::vector<Encoding> all;
        all.reserve(std::size(texts));
        std::size_t longest = 0;
        for (const auto& text : texts) {
            all.push_back(encode_for_model(std::string_view(text), max_length, Padding::none));
            longest = std::max(longest, all.back().ids.size());
        }
        std::size_t length = padding == Padding::max_length ? max_length : longest;
        for (auto& e : all) pad_to(e, length);
        return all;
    }

    // A batch of texts as (N, L) ids and mask tensors on the context's backend.
    template <Backend B, class Texts>
    BatchEncoding<B> encode_batch(Context<B>& ctx, const Texts& texts, std::size_t max_length,
                                  Padding padding = Padding::longest) const {
        auto all = encode_for_model_all(texts, max_length, padding);
        std::size_t length = all.empty() ? (padding == Padding::max_length ? max_length : 0) : all.front().ids.size();
        std::vector<std::int32_t> ids, mask;
        ids.reserve(all.size() * length);
        mask.reserve(all.size() * length);
        for (const auto& e : all) {
            ids.insert(ids.end(), e.ids.begin(), e.ids.end());
            mask.insert(mask.end(), e.mask.begin(), e.mask.end());
        }
        Shape shape{static_cast<std::int64_t>(all.size()), static_cast<std::int64_t>(length)};
        return {ctx.from_host(shape, ids), ctx.from_host(shape, mask)};
    }

    // For debugging: the tokens joined with spaces, "##" pieces glued to the previous one (HF's
    // convert_tokens_to_string). Special tokens ([UNK] included, as HF's skip_special_tokens) are kept unless
    // skip_special.
    std::string decode(std::span<const std::int32_t> ids, bool skip_special = false) const {
        std::string out;
        for (auto id : ids) {
            const auto& token = id_to_token(id);
            if (skip_special && (id == cls_ || id == sep_ || id == pad_ || id == mask_ || id == unk_)) continue;
            if (token.starts_with("##") && !out.empty()) {
                out.append(token, 2);
            } else {
                if (!out.empty()) out.push_back(' ');
                out += token;
            }
        }
        return out;
    }

private:
    // Heterogeneous lookup: find(string_view) without building a std::string.
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    using Table = std::unordered_map<std::string, std::int32_t, Hash, std::equal_to<>>;

    std::int32_t require_special(std::string_view token) const {
        auto it = words_.find(token);
        if (it == words_.end()) fail("vocabulary {} has no {} token", source_, token);
        return it->second;
    }

    void pad_to(Encoding& e, std::size_t length) const {
        if (e.ids.size() >= length) return;
        e.ids.resize(length, pad_);
        e.mask.resize(length, 0);
    }

    // Calls emit(id) for every WordPiece id of text, in order.
    template <class Emit>
    void for_each_piece(std::string_view text, Emit&& emit) const {
        // Special tokens are cut out of the raw text first, as HF's added-token trie does.
        while (!text.empty()) {
            std::size_t at = std::string_view::npos, length = 0;
            std::int32_t special_id = -1;
            for (const auto& special : specials_) {
                auto found = text.find(special);
                if (found < at) {
                    at = found;
                    length = special.size();
                    special_id = words_.find(special)->second;
                }
            }
            basic_pieces(text.substr(0, at), emit);
            if (at == std::string_view::npos) break;
            emit(special_id);
            text.remove_prefix(at + length);
        }
    }

    // BasicTokenizer then WordpieceTokenizer on text free of special tokens.
    template <class Emit>
    void basic_pieces(std::string_view text, Emit& emit) const {
        if (text.empty()) return;
        bool lower = options_.lower_case;
        bool strip = options_.strip_accents < 0 ? lower : options_.strip_accents > 0;
        std::vector<char32_t> chars, cleaned, word;
        std::string piece;
        chars.reserve(text.size());
        unicode::decode_utf8(text, chars);
        // Clean: drop what HF drops, whitespace -> ' ', CJK ideographs -> words of their own.
        cleaned.reserve(chars.size() + 8);
        for (char32_t c : chars) {
            if (c == 0 || c == 0xFFFD || unicode::is_control(c)) continue;
            if (unicode::is_whitespace(c))
                cleaned.push_back(U' ');
            else if (options_.tokenize_cjk && unicode::is_cjk(c))
                cleaned.insert(cleaned.end(), {U' ', c, U' '});
            else
                cleaned.push_back(c);
        }
        unicode::to_nfc(cleaned);
        split_words(cleaned, lower, strip, word, piece, emit);
    }

    // Whitespace split, normalization, punctuation split, WordPiece.
    template <class Emit>
    void split_words(const std::vector<char32_t>& chars, bool lower, bool strip, std::vector<char32_t>& word,
                     std::string& piece, Emit& emit) const {
        std::size_t i = 0, n = chars.size();
        while (i < n) {
            while (i < n && unicode::is_split_space(chars[i])) ++i;
            if (i == n) break;
            word.clear();
            for (; i < n && !unicode::is_split_space(chars[i]); ++i) {
                if (lower || strip)
                    unicode::append_normalized(chars[i], lower, strip, word);
                else
                    word.push_back(chars[i]);
            }
            // Punctuation split: each punctuation character is a word of its own.
            std::size_t start = 0;
            for (std::size_t j = 0; j < word.size(); ++j) {
                if (!unicode::is_punctuation(word[j])) continue;
                if (j > start) wordpiece(std::span(word).subspan(start, j - start), piece, emit);
                wordpiece(std::span(word).subspan(j, 1), piece, emit);
                start = j + 1;
            }
            if (start < word.size()) wordpiece(std::span(word).subspan(start), piece, emit);
        }
    }

    // Greedy longest-match-first over one word (code points); [UNK] for the whole word when a part matches nothing.
    template <class Emit>
    void wordpiece(std::span<const char32_t> word, std::string& utf8, Emit& emit) const {
        if (word.size() > options_.max_chars_per_word) {
            emit(unk_);
            return;
        }
        // UTF-8 of the word and the byte offset of every code point (offsets[k] = start of char k).
        utf8.clear();
        std::array<std::uint32_t, 128> offsets_store;
        std::vector<std::uint32_t> offsets_heap;
        std::uint32_t* offsets = offsets_store.data();
        if (word.size() + 1 > offsets_store.size()) {
            offsets_heap.resize(word.size() + 1);
            offsets = offsets_heap.data();
        }
        for (std::size_t k = 0; k < word.size(); ++k) {
            offsets[k] = static_cast<std::uint32_t>(utf8.size());
            unicode::append_utf8(word[k], utf8);
        }
        offsets[word.size()] = static_cast<std::uint32_t>(utf8.size());
        std::string_view all = utf8;
        // Pieces are buffered so that a failure part-way turns the whole word into one [UNK].
        std::array<std::int32_t, 128> found_store;
        std::size_t found = 0;
        std::vector<std::int32_t> found_heap;
        std::size_t start = 0;
        while (start < word.size()) {
            const Table& table = start == 0 ? words_ : continuations_;
            std::int32_t id = -1;
            std::size_t end = word.size();
            for (; end > start; --end) {
                auto it = table.find(all.substr(offsets[start], offsets[end] - offsets[start]));
                if (it != table.end()) {
                    id = it->second;
                    break;
                }
            }
            if (id < 0) {
                emit(unk_);
                return;
            }
            if (found < found_store.size())
                found_store[found] = id;
            else
                found_heap.push_back(id);
            ++found;
            start = end;
        }
        for (std::size_t k = 0; k < found; ++k)
            emit(k < found_store.size() ? found_store[k] : found_heap[k - found_store.size()]);
    }

    std::vector<std::string> tokens_;
    WordPieceOptions options_;
    std::string source_;
    Table words_;          // word-initial pieces and whole tokens
    Table continuations_;  // "##" pieces, keyed without the "##"
    std::vector<std::string> specials_;
    std::int32_t unk_ = -1, cls_ = -1, sep_ = -1, pad_ = -1, mask_ = -1;
};

}  // namespace fgclep::text
