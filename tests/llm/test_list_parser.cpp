// LLM answers read as Python lists (include/fgclep/llm/list_parser.hpp): good answers in the shapes models write,
// malformed ones reported with what and where, and random input never crashing.
#include "fgclep/llm/list_parser.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

using fgclep::llm::ListParseOptions;
using fgclep::llm::normalize_feature;
using fgclep::llm::parse_feature_list;
using Items = std::vector<std::string>;

TEST_CASE("normalize_feature trims, lower-cases, collapses whitespace and strips trailing periods") {
    CHECK(normalize_feature("  ST-Segment   Elevation.  ") == "st-segment elevation");
    CHECK(normalize_feature("Prolonged\n\tPR interval ..") == "prolonged pr interval");
    CHECK(normalize_feature("QRS > 120 ms") == "qrs > 120 ms");
    CHECK(normalize_feature(" . ").empty());
    CHECK(normalize_feature("").empty());
}

TEST_CASE("well-formed and sloppy lists parse to normalised, unique items") {
    struct Case {
        const char* answer;
        Items items;
    };
    const std::vector<Case> cases = {
        {"['ST elevation', 'Q waves']", {"st elevation", "q waves"}},
        {"[\"ST elevation\", \"Q waves\"]", {"st elevation", "q waves"}},
        {"['it\\'s wide', \"say \\\"hi\\\"\", 'back\\\\slash']", {"it's wide", "say \"hi\"", "back\\slash"}},
        {"Here are the features: ['A', 'B'] I hope this helps.", {"a", "b"}},
        {"Sure!\n```python\nfeatures = [\n    'ST elevation',\n    'T wave inversion',\n]\n```\nThese are typical.",
         {"st elevation", "t wave inversion"}},
        {"```\n['x']\n```", {"x"}},
        {"[example] is not it:\n```python\n['real one']\n```", {"real one"}},  // the fenced list wins
        {"['a', 'b',]", {"a", "b"}},
        {"[ 'a' ,, , 'b' , ]", {"a", "b"}},
        {"['Left axis deviation.', 'left  AXIS deviation', 'LEFT axis deviation']", {"left axis deviation"}},
        {"[ST elevation, T wave inversion,  Q waves ]", {"st elevation", "t wave inversion", "q waves"}},
        {"[['a', 'b'], 'c', ['a']]", {"a", "b", "c"}},
        {"[]", {}},
        {"['', '  ', '.']", {}},
        {"['contains, comma', 'and ] bracket']", {"contains, comma", "and ] bracket"}},
        {"['line\\nbreak']", {"line break"}},
        {"[\n  \"P wave absent\"\n  ,\n  \"irregular RR intervals\"\n]", {"p wave absent", "irregular rr intervals"}},
    };
    for (const Case& c : cases) {
        CAPTURE(c.answer);
        const auto r = parse_feature_list(c.answer);
        CHECK(r.ok);
        CHECK(r.error.empty());
        CHECK(r.items == c.items);
    }
}

TEST_CASE("malformed answers are reported with what is wrong and where, never thrown") {
    struct Case {
        const char* answer;
        const char* error;  // a substring of the expected message
    };
    const std::vector<Case> cases = {
        {"", "the answer is empty"},
        {"The ECG would show ST elevation and Q waves.", "no Python list in the answer (no '[')"},
        {"['ST elevation', 'Q waves'", "the list opened at offset 0 is never closed"},
        {"xx ['ST elevation", "the string starting at offset 4 is never closed (no matching ')"},
        {"[\"a\" \"b\"]", "expected ',' or ']' after the item at offset 1, found '\"' at offset 5"},
        {"['a' (common), 'b']", "expected ',' or ']' after the item at offset 1, found '(' at offset 5"},
        {"[a [b]]", "unexpected '[' inside the item at offset 1"},
        {"```python\n['a', 'b'\n```", "the list opened at offset 10 is never closed"},
        {"[[[[[[[[[['deep']]]]]]]]]]", "nested deeper than 8 levels"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.answer);
        const auto r = parse_feature_list(c.answer);
        CHECK_FALSE(r.ok);
        CHECK_FALSE(static_cast<bool>(r));
        CHECK(r.items.empty());
        CHECK(r.error.find(c.error) != std::string::npos);
        CAPTURE(r.error);
    }
    // Options: unquoted items rejected on request; runaway answers bounded.
    ListParseOptions strict;
    strict.allow_unquoted = false;
    const auto r = parse_feature_list("['ok', ST elevation]", strict);
    CHECK_FALSE(r.ok);
    CHECK(r.error == "unquoted item 'st elevation' at offset 7 (quoted strings expected)");
    ListParseOptions small;
    small.max_items = 3;
    CHECK(parse_feature_list("['a','b','c']", small).ok);
    CHECK(parse_feature_list("['a','b','c','d']", small).error == "more than 3 items");
    small.max_item_length = 5;
    CHECK(parse_feature_list("['abcdef']", small).error.find("6 characters long (more than 5)") != std::string::npos);
}

namespace {
bool normalised(const std::string& s) {
    if (s.empty() || s.front() == ' ' || s.back() == ' ' || s.back() == '.') return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] >= 'A' && s[i] <= 'Z') return false;
        if (s[i] == '\n' || s[i] == '\t' || (s[i] == ' ' && i > 0 && s[i - 1] == ' ')) return false;
    }
    return true;
}
}  // namespace

TEST_CASE("fuzz: random and truncated answers never crash, and whatever parses is normalised and unique") {
    std::mt19937 rng(20240521);
    const std::string alphabet = "[]'\"\\,` \n\tabcXYZ.pq-_(){}";
    std::size_t ok = 0, bad = 0;
    for (int round = 0; round < 20000; ++round) {
        std::string s;
        const int n = static_cast<int>(rng() % 60);
        for (int i = 0; i < n; ++i) {
            const unsigned pick = rng() % 100;
            if (pick < 3)
                s += "```python\n";
            else if (pick < 5)
                s.push_back(static_cast<char>(rng() % 256));  // any byte, NUL and UTF-8 fragments too
            else
                s.push_back(alphabet[rng() % alphabet.size()]);
        }
        const auto r = parse_feature_list(s);
        if (r.ok) {
            ++ok;
            CHECK(r.error.empty());
            for (std::size_t i = 0; i < r.items.size(); ++i) {
                CHECK(normalised(r.items[i]));
                for (std::size_t j = 0; j < i; ++j) CHECK(r.items[i] != r.items[j]);
            }
        } else {
            ++bad;
            CHECK_FALSE(r.error.empty());
            CHECK(r.items.empty());
        }
    }
    CHECK(ok > 100);  // the alphabet makes both outcomes common
    CHECK(bad > 100);

    // Every prefix of a good answer: ok exactly when the closing ']' made it in.
    const std::string good = "Features: ['ST elevation', \"T wave inversion\", 'Q waves',] Done.";
    const std::size_t close = good.find(']');
    for (std::size_t len = 0; len <= good.size(); ++len) {
        CAPTURE(len);
        const auto r = parse_feature_list(good.substr(0, len));
        CHECK(r.ok == (len > close));
        if (r.ok) CHECK(r.items == Items{"st elevation", "t wave inversion", "q waves"});
    }
}
