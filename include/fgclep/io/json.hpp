#pragma once
// A small JSON reader and writer for the model library's own files: safetensors headers and Hugging Face
// config.json. The application (fgclep/eval, train, llm, ...) uses nlohmann-json; the model library keeps to
// this so that a program using only models, layers and checkpoints needs no JSON package (RFC 8259: objects,
// arrays, strings with every escape, numbers, true/false/null, a UTF-8 byte-order mark skipped). Objects keep their
// keys sorted, as nlohmann's default object does, and integers and strings are written as its dump() writes them,
// so safetensors headers (which hold no floating-point numbers) are byte-identical to those nlohmann-json wrote.
// Integers are 64-bit signed; a larger integer reads as a double.
#include "fgclep/core/error.hpp"

#include <charconv>
#include <concepts>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace fgclep::io::json {

class Value;
using Array = std::vector<Value>;
using Object = std::map<std::string, Value, std::less<>>;

class Value {
public:
    Value() = default;  // null
    Value(std::nullptr_t) {}
    Value(bool b) : v_(b) {}
    // Any integer type (size_t, long, long long, ...), stored as int64; an unsigned value beyond it is refused.
    template <std::integral I>
    requires(!std::is_same_v<I, bool>) Value(I i) : v_(checked_integer(i)) {}
    Value(double d) : v_(d) {}
    Value(std::string s) : v_(std::move(s)) {}
    Value(const char* s) : v_(std::string(s)) {}
    Value(Array a) : v_(std::move(a)) {}
    Value(Object o) : v_(std::move(o)) {}

    bool is_null() const { return std::holds_alternative<std::monostate>(v_); }
    bool is_bool() const { return std::holds_alternative<bool>(v_); }
    bool is_integer() const { return std::holds_alternative<std::int64_t>(v_); }
    bool is_number() const { return is_integer() || std::holds_alternative<double>(v_); }
    bool is_string() const { return std::holds_alternative<std::string>(v_); }
    bool is_array() const { return std::holds_alternative<Array>(v_); }
    bool is_object() const { return std::holds_alternative<Object>(v_); }

    // Typed access; the caller checks the kind first (a wrong kind is an fgclep::Error naming both).
    bool as_bool() const { return get<bool>("a boolean"); }
    std::int64_t as_integer() const { return get<std::int64_t>("an integer"); }
    double as_number() const { return is_integer() ? double(as_integer()) : get<double>("a number"); }
    const std::string& as_string() const { return get<std::string>("a string"); }
    const Array& as_array() const { return get<Array>("an array"); }
    const Object& as_object() const { return get<Object>("an object"); }

    // The member `key` of an object, or null when absent (or when this is not an object).
    const Value* find(std::string_view key) const {
        if (!is_object()) return nullptr;
        auto& o = std::get<Object>(v_);
        auto it = o.find(key);
        return it == o.end() ? nullptr : &it->second;
    }

    // Compact text, as nlohmann's dump(): no spaces, keys in order, non-ASCII UTF-8 written as is.
    std::string dump() const {
        std::string out;
        dump_to(out);
        return out;
    }

private:
    template <class I>
    static std::int64_t checked_integer(I i) {
        if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(std::int64_t))
            if (i > static_cast<I>(std::numeric_limits<std::int64_t>::max()))
                fail("JSON: the integer {} does not fit in 64 signed bits", i);
        return static_cast<std::int64_t>(i);
    }
    template <class T>
    const T& get(const char* what) const {
        if (const T* p = std::get_if<T>(&v_)) return *p;
        const std::string text = dump();
        fail("JSON: expected {}, got {}", what, text.size() > 80 ? text.substr(0, 77) + "..." : text);
    }
    static void dump_string(std::string& out, const std::string& s) {
        out.push_back('"');
        for (unsigned char c : s) {
            switch (c) {
                case '"':
                    out += "\\\"";
                    break;
                case '\\':
                    out += "\\\\";
                    break;
                case '\b':
                    out += "\\b";
                    break;
                case '\f':
                    out += "\\f";
                    break;
                case '\n':
                    out += "\\n";
                    break;
                case '\r':
                    out += "\\r";
                    break;
                case '\t':
                    out += "\\t";
                    break;
                default:
                    if (c < 0x20)
                        out += fmt::format("\\u{:04x}", c);
                    else
                        out.push_back(static_cast<char>(c));
            }
        }
        out.push_back('"');
    }
    void dump_to(std::string& out) const {
        if (is_null())
            out += "null";
        else if (is_bool())
            out += std::get<bool>(v_) ? "true" : "false";
        else if (is_integer())
            out += std::to_string(std::get<std::int64_t>(v_));
        else if (auto* d = std::get_if<double>(&v_)) {
            const std::string text = fmt::format("{}", *d);  // shortest round-trip form
            out += text;
            if (text.find_first_of(".eE") == std::string::npos) out += ".0";  // as nlohmann: 100.0 stays a float
        } else if (is_string())
            dump_string(out, std::get<std::string>(v_));
        else if (is_array()) {
            out.push_back('[');
            bool first = true;
            for (auto& e : std::get<Array>(v_)) {
                if (!first) out.push_back(',');
                first = false;
                e.dump_to(out);
            }
            out.push_back(']');
        } else {
            out.push_back('{');
            bool first = true;
            for (auto& [k, e] : std::get<Object>(v_)) {
                if (!first) out.push_back(',');
                first = false;
                dump_string(out, k);
                out.push_back(':');
                e.dump_to(out);
            }
            out.push_back('}');
        }
    }

    std::variant<std::monostate, bool, std::int64_t, double, std::string, Array, Object> v_;
};

namespace detail {
class Parser {
public:
    explicit Parser(std::string_view text) : s_(text) {}

    Value document() {
        if (s_.substr(0, 3) == "\xEF\xBB\xBF") i_ = 3;  // a UTF-8 byte-order mark, as nlohmann skips it
        Value v = value(0);
        skip_space();
        if (i_ != s_.size()) error("unexpected text after the value");
        return v;
    }

private:
    static constexpr int max_depth = 256;  // nesting deeper than any real header: refused, not a stack overflow

    [[noreturn]] void error(std::string_view what) const { fail("{} at byte {}", what, i_); }
    void skip_space() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
    }
    bool consume(std::string_view word) {
        if (s_.substr(i_, word.size()) != word) return false;
        i_ += word.size();
        return true;
    }
    Value value(int depth) {
        if (depth > max_depth) error("nesting too deep");
        skip_space();
        if (i_ >= s_.size()) error("unexpected end of input");
        const char c = s_[i_];
        if (c == '{') return object(depth);
        if (c == '[') return array(depth);
        if (c == '"') return Value(string());
        if (consume("true")) return Value(true);
        if (consume("false")) return Value(false);
        if (consume("null")) return Value();
        if (c == '-' || (c >= '0' && c <= '9')) return number();
        error(fmt::format("unexpected character '{}'", c));
    }
    Value object(int depth) {
        ++i_;
        Object o;
        skip_space();
        if (i_ < s_.size() && s_[i_] == '}') return ++i_, Value(std::move(o));
        for (;;) {
            skip_space();
            if (i_ >= s_.size() || s_[i_] != '"') error("expected a string key");
            std::string key = string();
            skip_space();
            if (i_ >= s_.size() || s_[i_] != ':') error("expected ':'");
            ++i_;
            o.insert_or_assign(std::move(key), value(depth + 1));  // a repeated key keeps the last, as nlohmann
            skip_space();
            if (i_ < s_.size() && s_[i_] == ',') {
                ++i_;
                continue;
            }
            if (i_ < s_.size() && s_[i_] == '}') return ++i_, Value(std::move(o));
            error("expected ',' or '}'");
        }
    }
    Value array(int depth) {
        ++i_;
        Array a;
        skip_space();
        if (i_ < s_.size() && s_[i_] == ']') return ++i_, Value(std::move(a));
        for (;;) {
            a.push_back(value(depth + 1));
            skip_space();
            if (i_ < s_.size() && s_[i_] == ',') {
                ++i_;
                continue;
            }
            if (i_ < s_.size() && s_[i_] == ']') return ++i_, Value(std::move(a));
            error("expected ',' or ']'");
        }
    }
    unsigned hex4() {
        if (i_ + 4 > s_.size()) error("truncated \\u escape");
        unsigned v = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = s_[i_++];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= unsigned(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= unsigned(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= unsigned(c - 'A' + 10);
            else
                error("invalid \\u escape");
        }
        return v;
    }
    static void append_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80)
            out.push_back(char(cp));
        else if (cp < 0x800)
            out += {char(0xC0 | (cp >> 6)), char(0x80 | (cp & 0x3F))};
        else if (cp < 0x10000)
            out += {char(0xE0 | (cp >> 12)), char(0x80 | ((cp >> 6) & 0x3F)), char(0x80 | (cp & 0x3F))};
        else
            out += {char(0xF0 | (cp >> 18)), char(0x80 | ((cp >> 12) & 0x3F)), char(0x80 | ((cp >> 6) & 0x3F)),
                    char(0x80 | (cp & 0x3F))};
    }
    std::string string() {
        ++i_;  // the opening quote
        std::string out;
        for (;;) {
            if (i_ >= s_.size()) error("unterminated string");
            const char c = s_[i_++];
            if (c == '"') return out;
            if (static_cast<unsigned char>(c) < 0x20) error("control character in a string");
            if (c != '\\') {
                out.push_back(c);
                continue;
            }
            if (i_ >= s_.size()) error("unterminated string");
            switch (s_[i_++]) {
                case '"':
                    out.push_back('"');
                    break;
                case '\\':
                    out.push_back('\\');
                    break;
                case '/':
                    out.push_back('/');
                    break;
                case 'b':
                    out.push_back('\b');
                    break;
                case 'f':
                    out.push_back('\f');
                    break;
                case 'n':
                    out.push_back('\n');
                    break;
                case 'r':
                    out.push_back('\r');
                    break;
                case 't':
                    out.push_back('\t');
                    break;
                case 'u': {
                    unsigned cp = hex4();
                    if (cp >= 0xD800 && cp < 0xDC00) {  // a surrogate pair
                        if (!consume("\\u")) error("unpaired surrogate in \\u escape");
                        const unsigned low = hex4();
                        if (low < 0xDC00 || low >= 0xE000) error("unpaired surrogate in \\u escape");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    } else if (cp >= 0xDC00 && cp < 0xE000) {
                        error("unpaired surrogate in \\u escape");
                    }
                    append_utf8(out, cp);
                    break;
                }
                default:
                    --i_, error("invalid escape");
            }
        }
    }
    Value number() {
        const std::size_t start = i_;
        if (s_[i_] == '-') ++i_;
        auto digits = [&] {
            const std::size_t from = i_;
            while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
            return i_ - from;
        };
        const std::size_t int_start = i_;
        if (digits() == 0) error("invalid number");
        if (s_[int_start] == '0' && i_ - int_start > 1) error("invalid number (leading zero)");
        bool integral = true;
        if (i_ < s_.size() && s_[i_] == '.') {
            ++i_, integral = false;
            if (digits() == 0) error("invalid number");
        }
        if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
            ++i_, integral = false;
            if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
            if (digits() == 0) error("invalid number");
        }
        const char* first = s_.data() + start;
        const char* last = s_.data() + i_;
        if (integral) {
            std::int64_t v = 0;
            if (std::from_chars(first, last, v).ec == std::errc()) return Value(v);
            // beyond int64: read as a double (nlohmann keeps [2^63, 2^64) as unsigned; no header of ours has one)
        }
        double d = 0;
        if (std::from_chars(first, last, d).ec != std::errc()) error("number out of range");
        return Value(d);
    }

    std::string_view s_;
    std::size_t i_ = 0;
};
}  // namespace detail

// Parses one JSON document; a malformed one is an fgclep::Error "<what> at byte <offset>".
inline Value parse(std::string_view text) { return detail::Parser(text).document(); }

// The JSON object a file holds; errors name the file and say it should be `what` ("the BERT config").
inline Value parse_object_file(const std::string& path, std::string_view what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("{}: cannot open {}", path, what);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Value j;
    try {
        j = parse(text);
    } catch (const Error& e) {
        fail("{}: not valid JSON: {}", path, reason(e));
    }
    if (!j.is_object()) fail("{}: expected a JSON object at the top level", path);
    return j;
}

}  // namespace fgclep::io::json
