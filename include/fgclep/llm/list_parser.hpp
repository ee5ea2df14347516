#pragma once
// An LLM's answer read as a Python list of waveform features, robustly and without ever throwing: a malformed
// answer gives ok = false and an error that says what and where.
//
//   ParseResult r = parse_feature_list("Sure! ```python\n['ST elevation', \"Q waves\",]\n```");
//   r.items;  // {"st elevation", "q waves"}
//
// The first list in the answer is used; surrounding text, code fences, trailing commas, nested lists and (unless
// allow_unquoted = false) unquoted items are accepted, and items are normalised (lower case, trimmed, duplicates
// dropped). Accepted and malformed forms: docs/llm.md.
#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

namespace fgclep::llm {

struct ListParseOptions {
    bool allow_unquoted = true;         // accept [a, b] as well as ['a', 'b']
    std::size_t max_items = 256;        // more items than this: malformed (a runaway answer)
    std::size_t max_item_length = 300;  // longer items (after normalisation): malformed
};

struct ParseResult {
    bool ok = false;
    std::vector<std::string> items;  // normalised, unique, in answer order
    std::string error;               // empty when ok: what was wrong and at which byte offset of the answer
    explicit operator bool() const { return ok; }
};

// Whitespace runs -> one space, trimmed, ASCII lower-case, trailing periods (and the spaces before them) removed.
inline std::string normalize_feature(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    bool space = false;
    for (const char c : text) {
        if (std::isspace(static_cast<unsigned char>(c))) {
            space = !out.empty();
            continue;
        }
        if (space) out.push_back(' ');
        space = false;
        out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    while (!out.empty() && (out.back() == '.' || out.back() == ' ')) out.pop_back();
    return out;
}

namespace list_parser_detail {

inline bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// The part of the answer to parse: the first fenced block that contains '[', else the whole answer. Returns the
// offset of the part in the answer so errors can name positions in the original text.
inline std::string_view pick_region(std::string_view answer, std::size_t& offset) {
    offset = 0;
    std::size_t pos = 0;
    while (true) {
        const std::size_t open = answer.find("```", pos);
        if (open == std::string_view::npos) break;
        std::size_t body = answer.find('\n', open + 3);  // skip the info string ("python")
        if (body == std::string_view::npos) break;
        ++body;
        std::size_t close = answer.find("```", body);
        const bool closed = close != std::string_view::npos;
        if (!closed) close = answer.size();
        const std::string_view block = answer.substr(body, close - body);
        if (block.find('[') != std::string_view::npos) {
            offset = body;
            return block;
        }
        if (!closed) break;
        pos = close + 3;
    }
    return answer;
}

struct Parser {
    std::string_view text;
    std::size_t base = 0;  // offset of text in the answer
    const ListParseOptions& options;
    std::size_t pos = 0;
    std::vector<std::string> raw;
    std::string error;

    bool fail(std::string message) {
        if (error.empty()) error = std::move(message);
        return false;
    }
    std::size_t where() const { return base + pos; }
    void skip_space() {
        while (pos < text.size() && is_space(text[pos])) ++pos;
    }

    bool quoted() {
        const char quote = text[pos];
        const std::size_t start = where();
        ++pos;
        std::string item;
        while (pos < text.size() && text[pos] != quote) {
            char c = text[pos++];
            if (c == '\\' && pos < text.size()) {
                c = text[pos++];
                if (c == 'n')
                    c = '\n';
                else if (c == 't')
                    c = '\t';
            }
            item.push_back(c);
        }
        if (pos >= text.size())
            return fail(fmt::format("the string starting at offset {} is never closed (no matching {})", start, quote));
        ++pos;
        raw.push_back(std::move(item));
        return true;
    }

    bool unquoted() {
        const std::size_t start = where();
        const std::size_t begin = pos;
        while (pos < text.size() && text[pos] != ',' && text[pos] != ']' && text[pos] != '[') ++pos;
        if (!options.allow_unquoted)
            return fail(fmt::format("unquoted item '{}' at offset {} (quoted strings expected)",
                                    normalize_feature(text.substr(begin, pos - begin)), start));
        if (pos < text.size() && text[pos] == '[')
            return fail(fmt::format("unexpected '[' inside the item at offset {}", start));
        raw.emplace_back(text.substr(begin, pos - begin));
        return true;
    }

    // At a '['; parses through its matching ']'.
    bool list(int depth) {
        const std::size_t open = where();
        if (depth > 8) return fail(fmt::format("lists nested deeper than 8 levels at offset {}", open));
        ++pos;
        while (true) {
            skip_space();
            if (pos >= text.size())
                return fail(fmt::format("the list opened at offset {} is never closed (no ']')", open));
            const char c = text[pos];
            if (c == ']') {
                ++pos;
                return true;
            }
            if (c == ',') {  // empty slot or trailing comma
                ++pos;
                continue;
            }
            const std::size_t item_start = where();
            if (c == '\'' || c == '"') {
                if (!quoted()) return false;
            } else if (c == '[') {
                if (!list(depth + 1)) return false;
            } else if (!unquoted()) {
                return false;
            }
            skip_space();
            if (pos >= text.size())
                return fail(fmt::format("the list opened at offset {} is never closed (no ']')", open));
            if (text[pos] != ',' && text[pos] != ']')
                return fail(fmt::format("expected ',' or ']' after the item at offset {}, found '{}' at offset {}",
                                        item_start, text[pos], where()));
            if (raw.size() > options.max_items) return fail(fmt::format("more than {} items", options.max_items));
        }
    }
};

}  // namespace list_parser_detail

inline ParseResult parse_feature_list(std::string_view answer, const ListParseOptions& options = {}) {
    ParseResult result;
    std::size_t base = 0;
    const std::string_view region = list_parser_detail::pick_region(answer, base);
    const std::size_t open = region.find('[');
    if (open == std::string_view::npos) {
        result.error = answer.empty() ? "the answer is empty" : "no Python list in the answer (no '[')";
        return result;
    }
    list_parser_detail::Parser parser{region, base, options, open, {}, {}};
    if (!parser.list(0)) {
        result.error = std::move(parser.error);
        return result;
    }
    std::unordered_set<std::string> seen;
    for (const std::string& item : parser.raw) {
        std::string feature = normalize_feature(item);
        if (feature.empty()) continue;
        if (feature.size() > options.max_item_length) {
            result.error = fmt::format("an item is {} characters long (more than {}): '{}...'", feature.size(),
                                       options.max_item_length, feature.substr(0, 40));
            return result;
        }
        if (seen.insert(feature).second) result.items.push_back(std::move(feature));
    }
    result.ok = true;
    return result;
}

}  // namespace fgclep::llm
