// io/json.hpp, the model library's JSON: parses what RFC 8259 allows (and what nlohmann-json parses the same way),
// refuses malformed text with the byte offset, and writes what nlohmann's dump() writes, so safetensors headers
// are byte-identical to those the library wrote with nlohmann-json before.
#include <doctest/doctest.h>

#include "fgclep/io/json.hpp"
#include "fgclep/io/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace fgclep;
namespace json = fgclep::io::json;

TEST_CASE("json parses every kind of value as nlohmann-json does") {
    const std::string text =
        R"( {"b": [true, false, null], "a": {"x": -12, "y": 2.5e-3, "z": 1E2, "big": 123456789012345678901234},
        "s": "tab\t quote\" slash\/ back\\ nl\n \u00e9 \ud83d\ude00 \u0001", "e": [], "o": {}, "n": 0, "neg0": -0.0} )";
    const json::Value v = json::parse(text);
    const nlohmann::json ref = nlohmann::json::parse(text);
    CHECK(v.dump() == ref.dump());
    REQUIRE(v.is_object());
    CHECK(v.find("a")->find("x")->as_integer() == -12);
    CHECK(v.find("a")->find("y")->as_number() == doctest::Approx(2.5e-3));
    CHECK(v.find("a")->find("big")->is_number());  // beyond 64 bits: a double, as nlohmann keeps it a float
    CHECK(!v.find("a")->find("big")->is_integer());
    CHECK(v.find("s")->as_string() == ref["s"].get<std::string>());  // the surrogate pair is one 4-byte character
    CHECK(v.find("b")->as_array().size() == 3);
    CHECK(v.find("b")->as_array()[2].is_null());
    CHECK(v.find("missing") == nullptr);
    CHECK(json::parse("[1,2]").find("a") == nullptr);  // find on a non-object
}

TEST_CASE("json writes what nlohmann's dump writes: sorted keys, escapes, no spaces") {
    json::Object o{{"zeta", json::Value(std::int64_t(-3))},
                   {"Alpha", json::Array{json::Value(std::uint64_t(18)), json::Value("x\x02y\"\\")}},
                   {"__metadata__", json::Object{{"format", "pt"}}},
                   {"mid", json::Value(true)}};
    nlohmann::json ref = {
        {"zeta", -3}, {"Alpha", {18u, "x\x02y\"\\"}}, {"__metadata__", {{"format", "pt"}}}, {"mid", true}};
    CHECK(json::Value(o).dump() == ref.dump());
    CHECK(json::parse(json::Value(o).dump()).dump() == ref.dump());  // round trip
}

TEST_CASE("json refuses malformed text with the byte where it went wrong") {
    const std::vector<std::pair<std::string, std::string>> bad{
        {"", "unexpected end of input at byte 0"},
        {"{\"a\": 1,}", "expected a string key at byte 8"},
        {"[1 2]", "expected ',' or ']' at byte 3"},
        {"{\"a\" 1}", "expected ':' at byte 5"},
        {"\"abc", "unterminated string"},
        {"\"a\tb\"", "control character in a string"},
        {"\"\\x\"", "invalid escape at byte 2"},
        {"\"\\ud83d\"", "unpaired surrogate"},
        {"\"\\u12zz\"", "invalid \\u escape"},
        {"\"\\u12", "truncated \\u escape"},
        {"01", "invalid number (leading zero)"},
        {"-", "invalid number"},
        {"1.", "invalid number"},
        {"tru", "unexpected character 't' at byte 0"},
        {"[1] x", "unexpected text after the value at byte 4"},
        {std::string(300, '[') + std::string(300, ']'), "nesting too deep"},
    };
    for (const auto& [text, message] : bad) {
        INFO(text);
        CHECK_THROWS_WITH_AS(json::parse(text), doctest::Contains(message.c_str()), Error);
    }
    CHECK_THROWS_WITH_AS(json::parse("[1]").as_object(), doctest::Contains("JSON: expected an object, got [1]"), Error);
}

TEST_CASE("a safetensors header written by the library's JSON is the one nlohmann-json wrote") {
    io::SafetensorsWriter writer;
    const std::vector<float> a{1, 2, 3, 4, 5, 6};
    const std::vector<double> b{0.5};
    writer.add<float>("layer.weight", Shape{2, 3}, a);
    writer.add<double>("a scalar", Shape{}, b);
    writer.metadata("format", "pt");
    const auto path = std::filesystem::temp_directory_path() / "fgclep_test_json_header.safetensors";
    writer.write(path);
    std::ifstream in(path, std::ios::binary);
    std::uint64_t length = 0;
    in.read(reinterpret_cast<char*>(&length), 8);
    std::string header(length, '\0');
    in.read(header.data(), static_cast<std::streamsize>(length));
    // What nlohmann-json wrote for the same tensors (the writer before the model library had its own JSON).
    nlohmann::json ref = nlohmann::json::object();
    ref["layer.weight"] = {{"dtype", "F32"}, {"shape", {2, 3}}, {"data_offsets", {0u, 24u}}};
    ref["a scalar"] = {{"dtype", "F64"}, {"shape", nlohmann::json::array()}, {"data_offsets", {24u, 32u}}};
    ref["__metadata__"] = {{"format", "pt"}};
    std::string expected = ref.dump();
    expected.append((8 - expected.size() % 8) % 8, ' ');
    CHECK(header == expected);
    const io::SafetensorsFile f = io::SafetensorsFile::read(path);
    CHECK(f.get<float>("layer.weight") == a);
    CHECK(f.metadata().at("format") == "pt");
    std::filesystem::remove(path);
}

TEST_CASE("json skips a byte-order mark and keeps integers of every type exact") {
    CHECK(json::parse("\xEF\xBB\xBF{\"a\": 1}").find("a")->as_integer() == 1);
    CHECK(json::Value(std::size_t(24)).dump() == "24");
    CHECK(json::Value(-5LL).dump() == "-5");
    CHECK(json::Value(std::uint64_t(9223372036854775807ULL)).as_integer() == 9223372036854775807LL);
    CHECK_THROWS_WITH_AS(json::Value(std::uint64_t(9223372036854775808ULL)),
                         doctest::Contains("does not fit in 64 signed bits"), Error);
}
