#pragma once
// The pickle machine that reads a torch checkpoint's data.pkl (see io/torch_checkpoint.hpp). It knows only the
// opcodes and the handful of globals a state_dict uses; anything else is refused with the file, the opcode or global
// and the byte offset. Nothing is ever called: the allowed globals are recognised by name and interpreted here, and
// a tensor comes out as a PickleValue naming its storage, offset, shape and strides.
#include "fgclep/core/error.hpp"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fgclep::io {

namespace torch_detail {

// A value on the pickle machine's stack. Containers are shared: the memo and the stack see the same dict.
struct PickleValue;
using PickleRef = std::shared_ptr<PickleValue>;
struct PickleValue {
    enum class Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Storage, Tensor } kind = Kind::None;
    std::int64_t integer = 0;
    double real = 0;
    std::string text;              // String: the text; Global: "module.name"; Storage: the record key
    std::vector<PickleRef> items;  // Tuple, List
    std::vector<std::pair<PickleRef, PickleRef>> entries;  // Dict, in insertion order
    // Storage: dtype (safetensors name) and element count; Tensor: its storage, offset, shape and strides.
    std::string dtype;
    std::int64_t numel = 0, offset = 0;
    PickleRef storage;
    std::vector<std::int64_t> shape, strides;
};

inline const char* kind_name(PickleValue::Kind k) {
    constexpr const char* names[] = {"None", "bool", "int",    "float",   "str",   "tuple",
                                     "list", "dict", "global", "storage", "tensor"};
    return names[static_cast<int>(k)];
}

// The storage classes a state_dict refers to, and the dtype of their elements (safetensors names).
inline std::string_view storage_dtype(std::string_view global) {
    static const std::pair<std::string_view, std::string_view> table[] = {
        {"torch.FloatStorage", "F32"},     {"torch.DoubleStorage", "F64"}, {"torch.HalfStorage", "F16"},
        {"torch.BFloat16Storage", "BF16"}, {"torch.LongStorage", "I64"},   {"torch.IntStorage", "I32"},
        {"torch.ByteStorage", "U8"},       {"torch.BoolStorage", "BOOL"}};
    for (auto& [name, dtype] : table)
        if (name == global) return dtype;
    return {};
}

// Runs a state_dict pickle. Calls nothing: REDUCE on an allowed global is interpreted here.
class PickleMachine {
public:
    using Kind = PickleValue::Kind;
    PickleMachine(std::span<const char> code, std::string where) : code_(code), where_(std::move(where)) {}

    PickleRef run() {
        while (true) {
            op_at_ = pos_;
            const auto op = static_cast<std::uint8_t>(byte());
            switch (op) {
                case 0x80:
                    byte();
                    break;  // PROTO
                case 0x95:
                    bytes(8);
                    break;  // FRAME: a length hint
                case '}':
                    push(make(Kind::Dict));
                    break;  // EMPTY_DICT
                case ']':
                    push(make(Kind::List));
                    break;  // EMPTY_LIST
                case ')':
                    push(make(Kind::Tuple));
                    break;  // EMPTY_TUPLE
                case '(':
                    marks_.push_back(stack_.size());
                    break;  // MARK
                case 'X':
                    push(string(le<std::uint32_t>()));
                    break;  // BINUNICODE
                case 0x8c:
                    push(string(static_cast<std::uint8_t>(byte())));
                    break;  // SHORT_BINUNICODE
                case 0x8d:
                    push(string(le<std::uint64_t>()));
                    break;  // BINUNICODE8
                case 'J':
                    push(integer(le<std::int32_t>()));
                    break;  // BININT
                case 'K':
                    push(integer(static_cast<std::uint8_t>(byte())));
                    break;  // BININT1
                case 'M':
                    push(integer(le<std::uint16_t>()));
                    break;  // BININT2
                case 0x8a:
                    push(integer(long1()));
                    break;   // LONG1
                case 'G': {  // BINFLOAT: big-endian double
                    auto b = bytes(8);
                    std::uint64_t bits = 0;
                    for (char c : b) bits = (bits << 8) | static_cast<std::uint8_t>(c);
                    auto v = make(Kind::Float);
                    v->real = std::bit_cast<double>(bits);
                    push(v);
                    break;
                }
                case 0x89:
                case 0x88: {  // NEWFALSE, NEWTRUE
                    auto v = make(Kind::Bool);
                    v->integer = op == 0x88;
                    push(v);
                    break;
                }
                case 'N':
                    push(make(Kind::None));
                    break;   // NONE
                case 't': {  // TUPLE
                    auto v = make(Kind::Tuple);
                    v->items = pop_mark();
                    push(v);
                    break;
                }
                case 0x85:
                case 0x86:
                case 0x87: {  // TUPLE1, TUPLE2, TUPLE3
                    const std::size_t n = op - 0x84u;
                    need(n);
                    auto v = make(Kind::Tuple);
                    v->items.assign(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
                    stack_.resize(stack_.size() - n);
                    push(v);
                    break;
                }
                case 'c': {  // GLOBAL "module\nname\n"
                    std::string module = line(), name = line();
                    push(global(module + "." + name));
                    break;
                }
                case 0x93: {  // STACK_GLOBAL
                    auto name = pop(), module = pop();
                    if (module->kind != Kind::String || name->kind != Kind::String)
                        error("STACK_GLOBAL needs two strings");
                    push(global(module->text + "." + name->text));
                    break;
                }
                case 'R': {  // REDUCE
                    auto args = pop(), callable = pop();
                    push(reduce(callable, args));
                    break;
                }
                case 'Q':
                    push(persistent(pop()));
                    break;  // BINPERSID
                case 'q':
                    memo_[static_cast<std::uint8_t>(byte())] = top();
                    break;  // BINPUT
                case 'r':
                    memo_[le<std::uint32_t>()] = top();
                    break;  // LONG_BINPUT
                case 0x94:
                    memo_[static_cast<std::uint32_t>(memo_.size())] = top();
                    break;  // MEMOIZE
                case 'h':
                    push(recall(static_cast<std::uint8_t>(byte())));
                    break;  // BINGET
                case 'j':
                    push(recall(le<std::uint32_t>()));
                    break;   // LONG_BINGET
                case 's': {  // SETITEM
                    auto value = pop(), key = pop();
                    dict_of(top())->entries.emplace_back(key, value);
                    break;
                }
                case 'u': {  // SETITEMS
                    auto items = pop_mark();
                    if (items.size() % 2) error("SETITEMS needs key-value pairs, got {} items", items.size());
                    auto d = dict_of(top());
                    for (std::size_t i = 0; i < items.size(); i += 2) d->entries.emplace_back(items[i], items[i + 1]);
                    break;
                }
                case 'a': {  // APPEND
                    auto value = pop();
                    list_of(top())->items.push_back(value);
                    break;
                }
                case 'e': {  // APPENDS
                    auto items = pop_mark();
                    auto l = list_of(top());
                    l->items.insert(l->items.end(), items.begin(), items.end());
                    break;
                }
                case 'b': {  // BUILD: only an OrderedDict's attributes (a state_dict's _metadata), which we ignore
                    auto state = pop();
                    if (top()->kind != Kind::Dict)
                        error("BUILD is supported only on an OrderedDict (its _metadata), not on a {}",
                              kind_name(top()->kind));
                    (void)state;
                    break;
                }
                case '.':  // STOP
                    if (stack_.size() != 1 || !marks_.empty())
                        error("STOP with {} values on the stack instead of 1", stack_.size());
                    return stack_.back();
                default:
                    error("unsupported pickle opcode 0x{:02x}", op);
            }
        }
    }

private:
    std::span<const char> code_;
    std::string where_;
    std::size_t pos_ = 0, op_at_ = 0;
    std::vector<PickleRef> stack_;
    std::vector<std::size_t> marks_;
    std::map<std::uint32_t, PickleRef> memo_;

    template <class... Args>
    [[noreturn]] void error(fmt::format_string<Args...> format, Args&&... args) const {
        fail("{}: {} (at byte {} of the pickle)", where_, fmt::format(format, std::forward<Args>(args)...), op_at_);
    }
    char byte() {
        if (pos_ >= code_.size()) error("the pickle ends without STOP");
        return code_[pos_++];
    }
    std::span<const char> bytes(std::uint64_t n) {
        if (n > code_.size() - pos_) error("the pickle ends inside an argument of {} bytes", n);
        auto s = code_.subspan(pos_, n);
        pos_ += n;
        return s;
    }
    template <class U>
    U le() {
        auto b = bytes(sizeof(U));
        U v;
        std::memcpy(&v, b.data(), sizeof(U));
        return v;
    }
    std::int64_t long1() {
        const auto n = static_cast<std::uint8_t>(byte());
        if (n > 8) error("LONG1 integer of {} bytes does not fit in 64 bits", n);
        auto b = bytes(n);
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(b[i])) << (8 * i);
        if (n > 0 && n < 8 && (static_cast<std::uint8_t>(b[n - 1]) & 0x80)) v |= ~std::uint64_t{0} << (8 * n);  // sign
        return static_cast<std::int64_t>(v);
    }
    std::string line() {
        std::string s;
        for (char c = byte(); c != '\n'; c = byte()) {
            if (s.size() > 256) error("GLOBAL name longer than 256 characters");
            s += c;
        }
        return s;
    }
    static PickleRef make(Kind k) {
        auto v = std::make_shared<PickleValue>();
        v->kind = k;
        return v;
    }
    PickleRef string(std::uint64_t n) {
        auto b = bytes(n);
        auto v = make(Kind::String);
        v->text.assign(b.begin(), b.end());
        return v;
    }
    static PickleRef integer(std::int64_t i) {
        auto v = make(Kind::Int);
        v->integer = i;
        return v;
    }
    void push(PickleRef v) { stack_.push_back(std::move(v)); }
    void need(std::size_t n) {
        const std::size_t floor = marks_.empty() ? 0 : marks_.back();
        if (stack_.size() < floor + n) error("the stack has too few values");
    }
    PickleRef pop() {
        need(1);
        auto v = std::move(stack_.back());
        stack_.pop_back();
        return v;
    }
    PickleRef top() {
        need(1);
        return stack_.back();
    }
    std::vector<PickleRef> pop_mark() {
        if (marks_.empty()) error("no MARK to pop to");
        const std::size_t m = marks_.back();
        marks_.pop_back();
        std::vector<PickleRef> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
        stack_.resize(m);
        return items;
    }
    PickleRef recall(std::uint32_t key) {
        auto it = memo_.find(key);
        if (it == memo_.end()) error("memo entry {} was never stored", key);
        return it->second;
    }
    PickleRef dict_of(PickleRef v) {
        if (v->kind != Kind::Dict) error("expected a dict to set items on, got a {}", kind_name(v->kind));
        return v;
    }
    PickleRef list_of(PickleRef v) {
        if (v->kind != Kind::List) error("expected a list to append to, got a {}", kind_name(v->kind));
        return v;
    }
    PickleRef global(const std::string& name) {
        if (name != "collections.OrderedDict" && name != "torch._utils._rebuild_tensor_v2" &&
            name != "torch._utils._rebuild_parameter" && storage_dtype(name).empty())
            error(
                "refusing the global '{}': a state_dict pickle uses only OrderedDict, torch storages and "
                "torch._utils._rebuild_tensor_v2/_rebuild_parameter",
                name);
        auto v = make(Kind::Global);
        v->text = name;
        return v;
    }
    std::int64_t int_arg(const PickleRef& v, const char* what) {
        if (v->kind != Kind::Int) error("{} must be an int, got a {}", what, kind_name(v->kind));
        return v->integer;
    }
    std::vector<std::int64_t> ints(const PickleRef& v, const char* what) {
        if (v->kind != Kind::Tuple && v->kind != Kind::List)
            error("{} must be a tuple of ints, got a {}", what, kind_name(v->kind));
        std::vector<std::int64_t> out;
        for (auto& i : v->items) out.push_back(int_arg(i, what));
        return out;
    }
    PickleRef reduce(const PickleRef& callable, const PickleRef& args) {
        if (callable->kind != Kind::Global) error("REDUCE on a {}, not on a global", kind_name(callable->kind));
        if (args->kind != Kind::Tuple) error("REDUCE arguments must be a tuple, got a {}", kind_name(args->kind));
        const auto& a = args->items;
        if (callable->text == "collections.OrderedDict") {
            if (!a.empty()) error("OrderedDict with arguments is not supported");
            return make(Kind::Dict);
        }
        if (callable->text == "torch._utils._rebuild_tensor_v2") {
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            if (a.size() != 6 && a.size() != 7) error("_rebuild_tensor_v2 takes 6 or 7 arguments, got {}", a.size());
            if (a[0]->kind != Kind::Storage)
                error("_rebuild_tensor_v2 needs a storage, got a {}", kind_name(a[0]->kind));
            auto t = make(Kind::Tensor);
            t->storage = a[0];
            t->dtype = a[0]->dtype;
            t->offset = int_arg(a[1], "the storage offset");
            t->shape = ints(a[2], "the size");
            t->strides = ints(a[3], "the stride");
            if (t->shape.size() != t->strides.size())
                error("a tensor has {} sizes but {} strides", t->shape.size(), t->strides.size());
            return t;
        }
        if (callable->text == "torch._utils._rebuild_parameter") {  // (tensor, requires_grad, backward_hooks)
            if (a.size() != 3 || a[0]->kind != Kind::Tensor) error("_rebuild_parameter needs (tensor, bool, hooks)");
            return a[0];
        }
        error("the global '{}' cannot be called", callable->text);
    }
    PickleRef persistent(const PickleRef& pid) {
        // ('storage', storage_type, key, location, numel)
        if (pid->kind != Kind::Tuple || pid->items.size() != 5 || pid->items[0]->kind != Kind::String ||
            pid->items[0]->text != "storage" || pid->items[1]->kind != Kind::Global ||
            pid->items[2]->kind != Kind::String || pid->items[4]->kind != Kind::Int)
            error("a persistent id must be ('storage', storage_type, key, location, numel)");
        auto dtype = storage_dtype(pid->items[1]->text);
        if (dtype.empty()) error("'{}' is not a storage type", pid->items[1]->text);
        auto s = make(Kind::Storage);
        s->dtype = dtype;
        s->text = pid->items[2]->text;
        s->numel = pid->items[4]->integer;
        if (s->numel < 0) error("storage '{}' has a negative size {}", s->text, s->numel);
        return s;
    }
};

}  // namespace torch_detail

}  // namespace fgclep::io
