// WordPiece: every llama.cpp test vector of HF's bert-base-uncased tokenizer, hand-checked cased
// (Bio_ClinicalBERT) cases, edge cases (empty, whitespace, long words, invalid UTF-8, special tokens), model
// encoding (truncation, padding, masks, batch tensors), decoding and the vocabulary file errors.
#include "fgclep/backend/cpu.hpp"
#include "fgclep/text/wordpiece.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace fgclep;
using text::Padding;
using text::WordPiece;
using Ids = std::vector<std::int32_t>;
using Pieces = std::vector<std::string>;

namespace {

std::string fixture_path(const std::string& name) { return std::string(FGCLEP_FIXTURES) + "/bert/" + name; }

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open ", path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

const WordPiece& uncased() {
    static const WordPiece tokenizer = WordPiece::from_file(fixture_path("bert-base-uncased-vocab.txt"), {});
    return tokenizer;
}

const WordPiece& cased() {
    static const WordPiece tokenizer =
        WordPiece::from_file(fixture_path("bert-base-cased-vocab.txt"), {.lower_case = false});
    return tokenizer;
}

std::vector<std::string> pieces(const WordPiece& t, std::string_view s) { return t.tokenize(s); }

std::string temp_vocab(const std::string& name, const std::string& contents) {
    std::string path = (std::filesystem::temp_directory_path() / name).string();
    std::ofstream(path, std::ios::binary) << contents;
    return path;
}

}  // namespace

TEST_CASE("WordPiece reproduces every llama.cpp test vector of HF's bert-base-uncased tokenizer") {
    std::string inputs = read_all(fixture_path("ggml-vocab-bert-bge.gguf.inp"));
    std::string outputs = read_all(fixture_path("ggml-vocab-bert-bge.gguf.out"));
    const std::string separator = "\n__ggml_vocab_test__\n";
    std::vector<std::string> texts;
    for (std::size_t at = 0; at < inputs.size();) {
        auto next = inputs.find(separator, at);
        REQUIRE(next != std::string::npos);
        texts.push_back(inputs.substr(at, next - at));
        at = next + separator.size();
    }
    std::vector<Ids> expected;
    std::istringstream lines(outputs);
    for (std::string line; std::getline(lines, line);) {
        Ids ids;
        std::istringstream numbers(line);
        for (std::int32_t id; numbers >> id;) ids.push_back(id);
        expected.push_back(ids);
    }
    REQUIRE(texts.size() == 46);
    REQUIRE(expected.size() == texts.size());
    for (std::size_t i = 0; i < texts.size(); ++i) {
        CAPTURE(i);
        CAPTURE(texts[i]);
        CHECK(uncased().encode(texts[i]) == expected[i]);
    }
}

TEST_CASE("uncased: lower-casing, accent stripping, punctuation and CJK splitting") {
    const auto& t = uncased();
    CHECK(pieces(t, "Sinus Rhythm. LVH!") == Pieces{"sin", "##us", "rhythm", ".", "l", "##v", "##h", "!"});
    CHECK(t.encode("Führer") == t.encode("fuhrer"));
    CHECK(t.encode("CAFÉ") == t.encode("cafe"));
    CHECK(pieces(t, "a$b^c`d") == Pieces{"a", "$", "b", "^", "c", "`", "d"});  // ASCII punctuation
    CHECK(pieces(t, "QRS(T)") == Pieces{"q", "##rs", "(", "t", ")"});
    CHECK(pieces(t, "x\xe4\xb8\xad\xe6\x96\x87y") == Pieces{"x", "中", "文", "y"});
    // Controls dropped, tabs/newlines/NBSP-like Zs are separators.
    CHECK(t.encode("sin\x01us") == t.encode("sinus"));
    CHECK(t.encode(std::string("sin\0us", 6)) == t.encode("sinus"));  // NUL dropped too
    CHECK(t.encode("sin\xe2\x80\x8bus") == t.encode("sinus"));        // U+200B (Cf) dropped
    CHECK(t.encode("sinus\t\r\nrhythm\xc2\xa0normal") == t.encode("sinus rhythm normal"));
    CHECK(t.encode("sinus\xe2\x80\xa8rhythm") == t.encode("sinus rhythm"));  // U+2028: str.split() splits there
}

TEST_CASE("cased (Bio_ClinicalBERT): case and accents are preserved") {
    const auto& t = cased();
    CHECK(t.size() == 28996);
    CHECK(t.unk_id() == 100);
    CHECK(t.cls_id() == 101);
    CHECK(t.sep_id() == 102);
    CHECK(t.pad_id() == 0);
    CHECK(pieces(t, "Sinus rhythm. Left ventricular hypertrophy.") == Pieces{"Sin", "##us", "rhythm", ".", "Left",
                                                                             "vent", "##ric", "##ular", "h", "##yper",
                                                                             "##tro", "##phy", "."});
    CHECK(pieces(t, "Inferior myocardial damage cannot be ruled out") ==
          Pieces{"In", "##fer", "##ior", "my", "##oc", "##ard", "##ial", "damage", "cannot", "be", "ruled", "out"});
    CHECK(pieces(t, "Possible Wolff-Parkinson-White (WPW) syndrome, type B.") ==
          Pieces{"Po", "##ssi", "##ble", "Wolff", "-", "Parkinson", "-", "White", "(", "W", "##P", "##W", ")",
                 "syndrome", ",", "type", "B", "."});
    CHECK(t.encode("Sinus") != t.encode("sinus"));
    CHECK(pieces(t, "café") == Pieces{"café"});
    CHECK(pieces(t, "Café") == Pieces{"Café"});
    CHECK(pieces(t, "CAFÉ") == Pieces{"CA", "##F", "##É"});
    CHECK(pieces(t, "naïve") == Pieces{"na", "##ï", "##ve"});
    CHECK(t.encode("café") != t.encode("cafe"));
    // HF normalizes to NFC before splitting: a decomposed é and the Angstrom sign give the composed letters.
    CHECK(pieces(t, "cafe\xcc\x81") == Pieces{"café"});
    CHECK(t.encode("\xe2\x84\xab") == t.encode("\xc3\x85"));  // U+212B -> U+00C5
}

TEST_CASE("edge cases: empty, whitespace only, long words, invalid UTF-8, special tokens") {
    const auto& t = uncased();
    CHECK(t.encode("").empty());
    CHECK(t.encode(" \t\n\r  \xc2\xa0").empty());
    std::string word100(100, 'a'), word101(101, 'a');
    CHECK(t.encode(word100) != Ids{t.unk_id()});
    CHECK(t.encode(word101) == Ids{t.unk_id()});
    // The limit counts characters, not bytes: 60 two-byte characters (120 bytes) are not too long.
    std::string accented;
    for (int i = 0; i < 60; ++i) accented += "\xc3\xa9";  // é, stripped to e
    CHECK(t.encode(accented) == t.encode(std::string(60, 'e')));
    CHECK(t.encode("normal " + word101 + " rhythm") ==
          Ids{t.token_to_id("normal"), t.unk_id(), t.token_to_id("rhythm")});
    // A word with an unmatchable part is one [UNK], not pieces + [UNK].
    CHECK(t.encode("ab\xf0\x9f\xa6\x99") == Ids{t.unk_id()});
    // Invalid UTF-8: each bad byte becomes U+FFFD, which cleaning drops (as HF does after errors="replace").
    CHECK(t.encode("sin\xffus") == t.encode("sinus"));
    CHECK(t.encode("sinus \xc3") == t.encode("sinus"));
    CHECK(t.encode("\xed\xa0\x80 rhythm") == t.encode("rhythm"));  // an encoded surrogate is invalid
    CHECK(t.encode("a\xc0\xaf"
                   "b") == t.encode("ab"));  // an overlong '/' is not punctuation
    CHECK(t.encode("\x80\xbf") == Ids{});
    // Special tokens are kept whole, even glued to other text; lower-casing does not touch them.
    CHECK(t.encode("[CLS] normal[SEP]rhythm [MASK]") ==
          Ids{101, t.token_to_id("normal"), 102, t.token_to_id("rhythm"), 103});
    CHECK(t.encode("[cls]") == t.encode("[ cls ]"));  // not a special token: split on punctuation
}

TEST_CASE("encode_for_model: [CLS] ... [SEP], truncation keeps [SEP], padding and mask") {
    const auto& t = uncased();
    Ids body = t.encode("normal heart rate left");
    REQUIRE(body.size() == 4);
    auto e = t.encode_for_model("normal heart rate left", 16);
    CHECK(e.ids == Ids{101, body[0], body[1], body[2], body[3], 102});
    CHECK(e.mask == Ids(6, 1));
    auto cut = t.encode_for_model("normal heart rate left", 4);
    CHECK(cut.ids == Ids{101, body[0], body[1], 102});
    CHECK(cut.mask == Ids{1, 1, 1, 1});
    auto padded = t.encode_for_model("normal heart", 6, Padding::max_length);
    CHECK(padded.ids == Ids{101, body[0], body[1], 102, 0, 0});
    CHECK(padded.mask == Ids{1, 1, 1, 1, 0, 0});
    CHECK(t.encode_for_model("", 4, Padding::max_length).ids == Ids{101, 102, 0, 0});
    CHECK(t.encode_for_model("sinus", 2).ids == Ids{101, 102});
    CHECK_THROWS_WITH_AS(t.encode_for_model("sinus", 1),
                         "fgclep: max_length must leave room for [CLS] and [SEP], got 1", Error);
}

TEST_CASE("encode_batch: (N, L) int32 ids and masks padded to the longest or to max_length") {
    const auto& t = uncased();
    Context<Cpu<float>> ctx;
    std::vector<std::string> texts{"normal rhythm", "normal rhythm. heart rate", ""};
    auto batch = t.encode_batch(ctx, texts, 8, Padding::longest);
    static_assert(std::is_same_v<decltype(batch.ids), Tensor<Cpu<float>, std::int32_t>>);
    CHECK(batch.ids.shape() == Shape{3, 7});
    CHECK(batch.mask.shape() == Shape{3, 7});
    auto ids = ctx.to_host(batch.ids), mask = ctx.to_host(batch.mask);
    auto second = t.encode_for_model(texts[1], 8).ids;
    REQUIRE(second.size() == 7);
    CHECK(Ids(ids.begin() + 7, ids.begin() + 14) == second);
    CHECK(Ids(ids.begin(), ids.begin() + 7) == Ids{101, second[1], second[2], 102, 0, 0, 0});
    CHECK(Ids(ids.begin() + 14, ids.end()) == Ids{101, 102, 0, 0, 0, 0, 0});
    CHECK(mask == Ids{1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0});
    auto fixed = t.encode_batch(ctx, texts, 5, Padding::max_length);
    CHECK(fixed.ids.shape() == Shape{3, 5});
    auto fixed_ids = ctx.to_host(fixed.ids);
    CHECK(Ids(fixed_ids.begin() + 5, fixed_ids.begin() + 10) == Ids{101, second[1], second[2], second[3], 102});
}

TEST_CASE("decode joins tokens and glues ## pieces") {
    const auto& t = uncased();
    auto e = t.encode_for_model("Sinus rhythm, LVH", 16, Padding::max_length);
    CHECK(t.decode(e.ids, true) == "sinus rhythm , lvh");
    CHECK(t.decode(t.encode_for_model("ok", 8).ids) == "[CLS] ok [SEP]");
    CHECK(t.decode(t.encode("ok \xf0\x9f\xa6\x99 ecg")) == "ok [UNK] ecg");
    CHECK(t.decode(t.encode("ok \xf0\x9f\xa6\x99 ecg"), true) == "ok ecg");
    CHECK(t.decode(Ids{t.token_to_id("##us"), t.token_to_id("ok")}) == "##us ok");  // as HF: nothing to glue to
    CHECK(t.decode(Ids{}).empty());
    CHECK_THROWS_WITH_AS(t.decode(Ids{30522}), doctest::Contains("token id 30522 is outside vocabulary"), Error);
}

TEST_CASE("vocabulary errors name the file") {
    CHECK_THROWS_WITH_AS(WordPiece::from_file("/nonexistent/vocab.txt"),
                         "fgclep: cannot open vocabulary file /nonexistent/vocab.txt", Error);
    auto duplicate = temp_vocab("wordpiece_duplicate.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nab\n##c\nab\n");
    CHECK_THROWS_WITH_AS(WordPiece::from_file(duplicate),
                         ("fgclep: vocabulary " + duplicate + ": token 'ab' on line 7 appears twice").c_str(), Error);
    auto no_unk = temp_vocab("wordpiece_no_unk.txt", "[PAD]\n[CLS]\n[SEP]\nab\n");
    CHECK_THROWS_WITH_AS(WordPiece::from_file(no_unk), ("fgclep: vocabulary " + no_unk + " has no [UNK] token").c_str(),
                         Error);
    // A small vocabulary with CRLF line ends works; [MASK] is optional.
    auto tiny = temp_vocab("wordpiece_tiny.txt", "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nsin\r\n##us\r\n");
    auto t = WordPiece::from_file(tiny, {.lower_case = false});
    CHECK(t.mask_id() == -1);
    CHECK(t.encode("sinus Sinus") == Ids{4, 5, 1});
    CHECK(t.encode("[MASK]") == Ids{1, 1, 1});  // not special here: '[', 'MASK', ']' are all unknown
}
