// tokenize: BERT WordPiece ids for each line of stdin, as Hugging Face's BertTokenizer gives them.
//
//   tokenize --vocab PATH [--lower|--cased] [--max-length N] [--specials]  < reports.txt
//
// --lower (the default) lower-cases and strips accents (bert-base-uncased); --cased keeps both (Bio_ClinicalBERT).
// --specials adds [CLS] ... [SEP]; --max-length N (with --specials: the whole, at least 2) truncates each line.
// Writes one line of space-separated ids per input line.
#include "cli.hpp"
#include "fgclep/text/wordpiece.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <iostream>
#include <iterator>
#include <string>

int main(int argc, char** argv) try {
    CLI::App app{
        "BERT WordPiece ids for each line of stdin, as Hugging Face's BertTokenizer gives them: writes one line of "
        "space-separated ids per input line to stdout.",
        "tokenize"};
    std::string vocab;
    bool lower_given = false, cased = false, specials = false;
    std::int64_t max_length = 0;  // 0: no limit
    app.add_option("--vocab", vocab, "vocab.txt, one token per line (id = line number)")->required();
    auto* lower_flag = app.add_flag("--lower", lower_given,
                                    "lower-case and strip accents (the default; uncased vocabularies such as "
                                    "bert-base-uncased)");
    app.add_flag("--cased", cased, "keep case and accents (cased vocabularies such as Bio_ClinicalBERT)")
        ->excludes(lower_flag);
    app.add_option("--max-length", max_length,
                   "keep at most N ids per line ([CLS] and [SEP] included with --specials; at least 2 then); "
                   "default: all")
        ->check(cli::positive);
    app.add_flag("--specials", specials, "add [CLS] at the start and [SEP] at the end");
    cli::parse(app, argc, argv);
    if (specials && max_length == 1) {
        app.exit(CLI::ValidationError("--max-length", "must be at least 2 with --specials"));
        return cli::usage_error;
    }
    const bool lower = !cased;

    const auto tokenizer = fgclep::text::WordPiece::from_file(vocab, {.lower_case = lower});
    std::ios::sync_with_stdio(false);
    std::string line, out;
    std::vector<std::int32_t> ids;
    while (std::getline(std::cin, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (specials) {
            ids = tokenizer.encode_for_model(line, max_length ? static_cast<std::size_t>(max_length) : SIZE_MAX).ids;
        } else {
            ids = tokenizer.encode(line);
            if (max_length && ids.size() > static_cast<std::size_t>(max_length))
                ids.resize(static_cast<std::size_t>(max_length));
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
