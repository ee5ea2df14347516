// WordPiece throughput on report-like text: the report column of a PTB-XL sample, repeated to --lines lines
// (200k by default), tokenized once with encode() and once with encode_for_model(max_length 128). Prints lines/s and
// the time a million reports would take, single-threaded.
//
//   bench_tokenizer --vocab tests/fixtures/bert/bert-base-uncased-vocab.txt
//                   --reports shared/data/benchmark/ptbxl_report_test.csv [--lines N] [--cased]
#include "fgclep/text/wordpiece.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

// The fields of one CSV record (RFC 4180 quoting; quoted fields may hold commas, quotes and newlines).
bool read_record(std::istream& in, std::vector<std::string>& fields) {
    fields.assign(1, "");
    bool quoted = false, any = false;
    for (char c; in.get(c);) {
        any = true;
        if (quoted) {
            if (c != '"')
                fields.back().push_back(c);
            else if (in.peek() == '"')
                fields.back().push_back(static_cast<char>(in.get()));
            else
                quoted = false;
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            fields.emplace_back();
        } else if (c == '\n') {
            return true;
        } else if (c != '\r') {
            fields.back().push_back(c);
        }
    }
    return any;
}

}  // namespace

int main(int argc, char** argv) try {
    std::string vocab, reports;
    long lines = 200000;
    bool cased = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--vocab" && i + 1 < argc)
            vocab = argv[++i];
        else if (arg == "--reports" && i + 1 < argc)
            reports = argv[++i];
        else if (arg == "--lines" && i + 1 < argc)
            lines = std::atol(argv[++i]);
        else if (arg == "--cased")
            cased = true;
        else {
            fmt::print(stderr, "usage: bench_tokenizer --vocab PATH --reports CSV [--lines N] [--cased]\n");
            return 2;
        }
    }
    if (vocab.empty() || reports.empty() || lines <= 0) {
        fmt::print(stderr, "usage: bench_tokenizer --vocab PATH --reports CSV [--lines N] [--cased]\n");
        return 2;
    }
    std::ifstream csv(reports, std::ios::binary);
    if (!csv) {
        fmt::print(stderr, "bench_tokenizer: cannot open {}\n", reports);
        return 1;
    }
    std::vector<std::string> fields, sample;
    read_record(csv, fields);
    std::size_t column = 0;
    while (column < fields.size() && fields[column] != "report") ++column;
    if (column == fields.size()) {
        fmt::print(stderr, "bench_tokenizer: {} has no 'report' column\n", reports);
        return 1;
    }
    while (read_record(csv, fields))
        if (fields.size() > column && !fields[column].empty()) sample.push_back(fields[column]);
    std::vector<std::string> texts;
    texts.reserve(static_cast<std::size_t>(lines));
    std::size_t bytes = 0;
    for (long i = 0; i < lines; ++i) {
        texts.push_back(sample[static_cast<std::size_t>(i) % sample.size()]);
        bytes += texts.back().size();
    }

    auto tokenizer = fgclep::text::WordPiece::from_file(vocab, {.lower_case = !cased});
    auto time = [&](const char* what, auto&& encode_one) {
        std::size_t tokens = 0;
        auto t0 = std::chrono::steady_clock::now();
        for (const auto& text : texts) tokens += encode_one(text);
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        double per_second = static_cast<double>(texts.size()) / seconds;
        fmt::print(
            "{:<28} {} lines ({:.1f} MB, {} tokens) in {:.3f} s: {:.0f} lines/s, {:.1f} MB/s; "
            "1M reports: {:.1f} s\n",
            what, texts.size(), static_cast<double>(bytes) / 1e6, tokens, seconds, per_second,
            static_cast<double>(bytes) / 1e6 / seconds, 1e6 / per_second);
    };
    fmt::print("{} distinct reports from {}, {} vocabulary, 1 thread\n", sample.size(), reports,
               cased ? "cased" : "uncased");
    time("encode", [&](const std::string& t) { return tokenizer.encode(t).size(); });
    time("encode_for_model(128)", [&](const std::string& t) { return tokenizer.encode_for_model(t, 128).ids.size(); });
    return 0;
} catch (const std::exception& e) {
    fmt::print(stderr, "bench_tokenizer: {}\n", e.what());
    return 1;
}
