// tokenize: BERT WordPiece ids for each line of stdin, as Hugging Face's BertTokenizer gives them.
//
//   tokenize --vocab PATH [--lower|--cased] [--max-length N] [--specials]  < reports.txt
//
// --lower (the default) lower-cases and strips accents (bert-base-uncased); --cased keeps both (Bio_ClinicalBERT).
// --specials adds [CLS] ... [SEP]; --max-length N (with --specials: the whole, at least 2) truncates each line.
// Writes one line of space-separated ids per input line.
#include "fgclep/text/wordpiece.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

namespace {

constexpr const char* usage =
    "usage: tokenize --vocab PATH [--lower|--cased] [--max-length N] [--specials]\n"
    "  reads one text per line from stdin, writes its WordPiece ids (space-separated) per line to stdout\n"
    "  --vocab PATH      vocab.txt, one token per line (id = line number)\n"
    "  --lower           lower-case and strip accents (default; bert-base-uncased)\n"
    "  --cased           keep case and accents (cased vocabularies such as Bio_ClinicalBERT)\n"
    "  --max-length N    keep at most N ids per line ([CLS] and [SEP] included with --specials)\n"
    "  --specials        add [CLS] at the start and [SEP] at the end\n";

int usage_error(const std::string& message) {
    fmt::print(stderr, "tokenize: {}\n{}", message, usage);
    return 2;
}

}  // namespace

int main(int argc, char** argv) try {
    std::string vocab;
    bool lower = true, specials = false;
    std::size_t max_length = 0;  // 0: no limit
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const bool has_value = i + 1 < argc;
        if (arg == "--vocab") {
            if (!has_value) return usage_error("--vocab needs a path");
            vocab = argv[++i];
        } else if (arg == "--max-length") {
            if (!has_value) return usage_error("--max-length needs a number");
            std::string_view value = argv[++i];
            auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), max_length);
            if (error != std::errc{} || end != value.data() + value.size() || max_length == 0)
                return usage_error(fmt::format("--max-length needs a positive whole number, got '{}'", value));
        } else if (arg == "--lower") {
            lower = true;
        } else if (arg == "--cased") {
            lower = false;
        } else if (arg == "--specials") {
            specials = true;
        } else if (arg == "--help" || arg == "-h") {
            fmt::print("{}", usage);
            return 0;
        } else {
            return usage_error(fmt::format("unknown argument '{}'", arg));
        }
    }
    if (vocab.empty()) return usage_error("--vocab PATH is required");
    if (specials && max_length == 1) return usage_error("--max-length must be at least 2 with --specials");

    const auto tokenizer = fgclep::text::WordPiece::from_file(vocab, {.lower_case = lower});
    std::ios::sync_with_stdio(false);
    std::string line, out;
    std::vector<std::int32_t> ids;
    while (std::getline(std::cin, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (specials) {
            ids = tokenizer.encode_for_model(line, max_length ? max_length : SIZE_MAX).ids;
        } else {
            ids = tokenizer.encode(line);
            if (max_length && ids.size() > max_length) ids.resize(max_length);
        }
        out.clear();
        for (std::size_t k = 0; k < ids.size(); ++k) {
            if (k) out.push_back(' ');
            fmt::format_to(std::back_inserter(out), "{}", ids[k]);
        }
        out.push_back('\n');
        std::cout << out;
    }
    return 0;
} catch (const std::exception& e) {
    fmt::print(stderr, "tokenize: {}\n", e.what());
    return 1;
}
