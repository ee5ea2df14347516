#pragma once
// Reading PyTorch checkpoints written by torch.save(state_dict, path) in the zip format (the default since torch
// 1.6; Hugging Face's pytorch_model.bin), without Python or libtorch, and converting them to safetensors.
//
// The file is a ZIP archive of uncompressed ("stored") records under one top-level folder:
//   <archive>/data.pkl     the pickled state_dict, tensors pickled as torch._utils._rebuild_tensor_v2(...) calls
//                          whose storages are persistent ids ('storage', torch.FloatStorage, key, location, numel)
//   <archive>/data/<key>   each storage's raw bytes
//   <archive>/version, <archive>/byteorder ("little"; older torch versions write none: little)
// data.pkl is read by a small pickle machine that knows only the opcodes and the handful of globals a state_dict
// uses; anything else is refused with the file, the opcode or global and the byte offset. Nothing is ever called:
// the allowed globals are recognised by name and interpreted here. Deflated records are refused (torch never
// compresses, and supporting them would make this header-only library link zlib).
#include "fgclep/core/error.hpp"
#include "fgclep/core/shape.hpp"
#include "fgclep/io/crc32.hpp"
#include "fgclep/io/safetensors.hpp"

#include <fmt/ranges.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fgclep::io {

namespace torch_detail {

// Little-endian reads with bounds checks against the whole buffer.
struct Reader {
    const std::vector<char>& bytes;
    const std::string& source;
    template <class U>
    U at(std::uint64_t offset, std::string_view what) const {
        if (offset > bytes.size() || bytes.size() - offset < sizeof(U))
            fail("'{}' is truncated or not a zip file: {} at byte {} lies past its end ({} bytes)", source, what, offset,
                 bytes.size());
        U v;
        std::memcpy(&v, bytes.data() + offset, sizeof(U));
        return v;
    }
};

// float16 / bfloat16 bit patterns to float.
inline float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000) << 16;
    std::uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    if (exp == 0x1F) bits = sign | 0x7F800000u | (mant << 13);  // inf / nan
    else if (exp != 0) bits = sign | ((exp + 112) << 23) | (mant << 13);
    else if (mant == 0) bits = sign;
    else {  // subnormal: normalise
        int e = -1;
        do { ++e; mant <<= 1; } while (!(mant & 0x400));
        bits = sign | (static_cast<std::uint32_t>(112 - e) << 23) | ((mant & 0x3FF) << 13);
    }
    return std::bit_cast<float>(bits);
}
inline float bfloat16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

// A value on the pickle machine's stack. Containers are shared: the memo and the stack see the same dict.
struct PickleValue;
using PickleRef = std::shared_ptr<PickleValue>;
struct PickleValue {
    enum class Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Storage, Tensor } kind = Kind::None;
    std::int64_t integer = 0;
    double real = 0;
    std::string text;  // String: the text; Global: "module.name"; Storage: the record key
    std::vector<PickleRef> items;                         // Tuple, List
    std::vector<std::pair<PickleRef, PickleRef>> entries;  // Dict, in insertion order
    // Storage: dtype (safetensors name) and element count; Tensor: its storage, offset, shape and strides.
    std::string dtype;
    std::int64_t numel = 0, offset = 0;
    PickleRef storage;
    std::vector<std::int64_t> shape, strides;
};

inline const char* kind_name(PickleValue::Kind k) {
    constexpr const char* names[] = {"None", "bool", "int", "float", "str", "tuple", "list", "dict", "global", "storage",
                                     "tensor"};
    return names[static_cast<int>(k)];
}

// The storage classes a state_dict refers to, and the dtype of their elements (safetensors names).
inline std::string_view storage_dtype(std::string_view global) {
    static const std::pair<std::string_view, std::string_view> table[] = {
        {"torch.FloatStorage", "F32"}, {"torch.DoubleStorage", "F64"},   {"torch.HalfStorage", "F16"},
        {"torch.BFloat16Storage", "BF16"}, {"torch.LongStorage", "I64"}, {"torch.IntStorage", "I32"},
        {"torch.ByteStorage", "U8"},   {"torch.BoolStorage", "BOOL"}};
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
                case 0x80: byte(); break;                       // PROTO
                case 0x95: bytes(8); break;                     // FRAME: a length hint
                case '}': push(make(Kind::Dict)); break;        // EMPTY_DICT
                case ']': push(make(Kind::List)); break;        // EMPTY_LIST
                case ')': push(make(Kind::Tuple)); break;       // EMPTY_TUPLE
                case '(': marks_.push_back(stack_.size()); break;  // MARK
                case 'X': push(string(le<std::uint32_t>())); break;  // BINUNICODE
                case 0x8c: push(string(static_cast<std::uint8_t>(byte()))); break;  // SHORT_BINUNICODE
                case 0x8d: push(string(le<std::uint64_t>())); break;  // BINUNICODE8
                case 'J': push(integer(le<std::int32_t>())); break;   // BININT
                case 'K': push(integer(static_cast<std::uint8_t>(byte()))); break;  // BININT1
                case 'M': push(integer(le<std::uint16_t>())); break;  // BININT2
                case 0x8a: push(integer(long1())); break;             // LONG1
                case 'G': {                                           // BINFLOAT: big-endian double
                    auto b = bytes(8);
                    std::uint64_t bits = 0;
                    for (char c : b) bits = (bits << 8) | static_cast<std::uint8_t>(c);
                    auto v = make(Kind::Float);
                    v->real = std::bit_cast<double>(bits);
                    push(v);
                    break;
                }
                case 0x89: case 0x88: {  // NEWFALSE, NEWTRUE
                    auto v = make(Kind::Bool);
                    v->integer = op == 0x88;
                    push(v);
                    break;
                }
                case 'N': push(make(Kind::None)); break;  // NONE
                case 't': {                                // TUPLE
                    auto v = make(Kind::Tuple);
                    v->items = pop_mark();
                    push(v);
                    break;
                }
                case 0x85: case 0x86: case 0x87: {  // TUPLE1, TUPLE2, TUPLE3
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
                case 'Q': push(persistent(pop())); break;  // BINPERSID
                case 'q': memo_[static_cast<std::uint8_t>(byte())] = top(); break;  // BINPUT
                case 'r': memo_[le<std::uint32_t>()] = top(); break;               // LONG_BINPUT
                case 0x94: memo_[static_cast<std::uint32_t>(memo_.size())] = top(); break;  // MEMOIZE
                case 'h': push(recall(static_cast<std::uint8_t>(byte()))); break;  // BINGET
                case 'j': push(recall(le<std::uint32_t>())); break;                 // LONG_BINGET
                case 's': {                                                          // SETITEM
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
                default: error("unsupported pickle opcode 0x{:02x}", op);
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
            error("refusing the global '{}': a state_dict pickle uses only OrderedDict, torch storages and "
                  "torch._utils._rebuild_tensor_v2/_rebuild_parameter", name);
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
            if (a[0]->kind != Kind::Storage) error("_rebuild_tensor_v2 needs a storage, got a {}", kind_name(a[0]->kind));
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

// One tensor of a torch checkpoint: a strided view of a storage (PyTorch keeps views' layout when saving).
struct TorchTensor {
    std::string dtype;  // safetensors name: F32, F64, F16, BF16, I64, I32, U8, BOOL
    Shape shape;
    std::vector<std::int64_t> strides;
    std::int64_t storage_offset = 0;  // in elements
    std::string storage_key;          // the record <archive>/data/<key>
    std::span<const char> storage;    // the storage's raw little-endian bytes
};

// A torch.save'd state_dict: name -> tensor. Same interface as SafetensorsFile (contains/names/shape/get<E>/source),
// so io::load_state reads either.
class TorchCheckpoint {
public:
    static TorchCheckpoint read(const std::filesystem::path& path) {
        std::ifstream in(path, std::ios::binary);
        if (!in) fail("cannot open torch checkpoint '{}'", path.string());
        std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        return parse(std::move(bytes), path.string());
    }

    static TorchCheckpoint parse(std::vector<char> bytes, std::string source) {
        TorchCheckpoint c;
        c.source_ = std::move(source);
        c.bytes_ = std::make_shared<std::vector<char>>(std::move(bytes));
        c.load();
        return c;
    }

    const std::string& source() const { return source_; }
    bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
    std::vector<std::string> names() const {
        std::vector<std::string> n;
        for (auto& [k, v] : tensors_) n.push_back(k);
        return n;
    }
    const TorchTensor& tensor(const std::string& name) const {
        auto it = tensors_.find(name);
        if (it == tensors_.end()) fail("'{}' has no tensor named '{}'", source_, name);
        return it->second;
    }
    Shape shape(const std::string& name) const { return tensor(name).shape; }

    // A tensor's values in row-major order (views gathered through their strides), converted to E.
    template <class E>
    std::vector<E> get(const std::string& name) const {
        const TorchTensor& t = tensor(name);
        std::vector<E> out;
        out.reserve(static_cast<std::size_t>(t.shape.numel()));
        auto convert = [&](auto tag, auto to_e) {
            using S = decltype(tag);
            for_each_element(t, [&](std::int64_t i) {
                S s;
                std::memcpy(&s, t.storage.data() + i * static_cast<std::int64_t>(sizeof(S)), sizeof(S));
                out.push_back(to_e(s));
            });
        };
        auto cast = [](auto s) { return static_cast<E>(s); };
        if (t.dtype == "F64") convert(double{}, cast);
        else if (t.dtype == "F32") convert(float{}, cast);
        else if (t.dtype == "F16") convert(std::uint16_t{}, [](std::uint16_t h) { return static_cast<E>(torch_detail::half_to_float(h)); });
        else if (t.dtype == "BF16") convert(std::uint16_t{}, [](std::uint16_t h) { return static_cast<E>(torch_detail::bfloat16_to_float(h)); });
        else if (t.dtype == "I64") convert(std::int64_t{}, cast);
        else if (t.dtype == "I32") convert(std::int32_t{}, cast);
        else if (t.dtype == "U8" || t.dtype == "BOOL") convert(std::uint8_t{}, cast);
        else fail("'{}': tensor '{}' has dtype {}, which fgclep cannot convert", source_, name, t.dtype);
        return out;
    }

    // A tensor's elements, row-major and contiguous, as raw little-endian bytes of its own dtype.
    std::vector<char> contiguous_bytes(const std::string& name) const {
        const TorchTensor& t = tensor(name);
        const std::int64_t esize = static_cast<std::int64_t>(dtype_size(t.dtype));
        std::vector<char> out;
        out.reserve(static_cast<std::size_t>(t.shape.numel() * esize));
        for_each_element(t, [&](std::int64_t i) {
            out.insert(out.end(), t.storage.data() + i * esize, t.storage.data() + (i + 1) * esize);
        });
        return out;
    }

private:
    std::string source_;
    std::shared_ptr<std::vector<char>> bytes_;  // shared so that copies keep the storages' spans valid
    std::map<std::string, TorchTensor> tensors_;

    // Calls f(storage element index) for each element of t in row-major order.
    template <class F>
    static void for_each_element(const TorchTensor& t, F&& f) {
        const std::int64_t n = t.shape.numel();
        if (n == 0) return;
        const int rank = t.shape.rank();
        std::vector<std::int64_t> index(static_cast<std::size_t>(rank), 0);
        std::int64_t at = t.storage_offset;
        for (std::int64_t k = 0; k < n; ++k) {
            f(at);
            for (int d = rank; d-- > 0;) {  // odometer increment, last dimension fastest
                at += t.strides[d];
                if (++index[d] < t.shape[d]) break;
                at -= t.strides[d] * t.shape[d];
                index[d] = 0;
            }
        }
    }

    struct Record {
        std::uint64_t data_offset = 0, size = 0;
        std::uint32_t crc = 0;
        std::uint16_t method = 0;
    };

    // The central directory: record name -> where its bytes are. ZIP64 sizes and offsets are honoured.
    std::map<std::string, Record> read_zip() const {
        const auto& b = *bytes_;
        torch_detail::Reader r{b, source_};
        if (b.size() < 22) fail("'{}' is not a torch checkpoint: {} bytes is too short for a zip file", source_, b.size());
        // The end-of-central-directory record is in the last 22 + 65535 (comment) bytes.
        std::uint64_t eocd = b.size() - 22;
        const std::uint64_t lowest = b.size() > 22 + 65535 ? b.size() - 22 - 65535 : 0;
        while (r.at<std::uint32_t>(eocd, "the end of the central directory") != 0x06054b50u) {
            if (eocd == lowest)
                fail("'{}' is not a zip file (torch.save's format since torch 1.6) or is truncated: no end of central "
                     "directory record (a legacy torch.save file? re-save it with a current torch)", source_);
            --eocd;
        }
        std::uint64_t count = r.at<std::uint16_t>(eocd + 10, "the record count");
        std::uint64_t cd_size = r.at<std::uint32_t>(eocd + 12, "the central directory size");
        std::uint64_t cd_offset = r.at<std::uint32_t>(eocd + 16, "the central directory offset");
        if (count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_offset == 0xFFFFFFFFu) {
            // ZIP64: a locator just before the end record points at the ZIP64 end record.
            if (eocd < 20 || r.at<std::uint32_t>(eocd - 20, "the ZIP64 locator") != 0x07064b50u)
                fail("'{}' is corrupt: the zip end record asks for ZIP64 but there is no ZIP64 locator", source_);
            const auto z = r.at<std::uint64_t>(eocd - 20 + 8, "the ZIP64 end record offset");
            if (r.at<std::uint32_t>(z, "the ZIP64 end record") != 0x06064b50u)
                fail("'{}' is corrupt: no ZIP64 end of central directory record at byte {}", source_, z);
            count = r.at<std::uint64_t>(z + 32, "the ZIP64 record count");
            cd_size = r.at<std::uint64_t>(z + 40, "the ZIP64 central directory size");
            cd_offset = r.at<std::uint64_t>(z + 48, "the ZIP64 central directory offset");
        }
        if (cd_offset > b.size() || cd_size > b.size() - cd_offset)
            fail("'{}' is truncated or corrupt: its central directory spans bytes [{}, {}) of a {}-byte file", source_,
                 cd_offset, cd_offset + cd_size, b.size());
        std::map<std::string, Record> records;
        std::uint64_t p = cd_offset;
        for (std::uint64_t i = 0; i < count; ++i) {
            if (r.at<std::uint32_t>(p, "a central directory entry") != 0x02014b50u)
                fail("'{}' has a corrupt zip central directory: entry {} of {} at byte {} has a bad signature", source_,
                     i, count, p);
            Record rec;
            rec.method = r.at<std::uint16_t>(p + 10, "a compression method");
            rec.crc = r.at<std::uint32_t>(p + 16, "a CRC");
            std::uint64_t compressed = r.at<std::uint32_t>(p + 20, "a compressed size");
            rec.size = r.at<std::uint32_t>(p + 24, "a size");
            const std::uint16_t name_len = r.at<std::uint16_t>(p + 28, "a name length");
            const std::uint16_t extra_len = r.at<std::uint16_t>(p + 30, "an extra field length");
            const std::uint16_t comment_len = r.at<std::uint16_t>(p + 32, "a comment length");
            std::uint64_t local = r.at<std::uint32_t>(p + 42, "a local header offset");
            if (p + 46 + name_len > b.size()) fail("'{}' is truncated inside its zip central directory", source_);
            std::string name(b.data() + p + 46, name_len);
            // ZIP64 extra field (id 1): the 64-bit values of the fields that were saturated, in this order.
            std::uint64_t e = p + 46 + name_len;
            const std::uint64_t extra_end = e + extra_len;
            while (e + 4 <= extra_end) {
                const auto id = r.at<std::uint16_t>(e, "an extra field id");
                const auto len = r.at<std::uint16_t>(e + 2, "an extra field length");
                if (id == 1) {
                    std::uint64_t q = e + 4, q_end = e + 4 + len;
                    auto next = [&](std::uint64_t& field) {
                        if (q + 8 > q_end) fail("'{}': entry '{}' has a short ZIP64 extra field", source_, name);
                        field = r.at<std::uint64_t>(q, "a ZIP64 value");
                        q += 8;
                    };
                    if (rec.size == 0xFFFFFFFFu) next(rec.size);
                    if (compressed == 0xFFFFFFFFu) next(compressed);
                    if (local == 0xFFFFFFFFu) next(local);
                }
                e += 4 + len;
            }
            p = extra_end + comment_len;
            if (rec.method == 0 && compressed != rec.size)
                fail("'{}' is corrupt: stored entry '{}' has size {} but compressed size {}", source_, name, rec.size,
                     compressed);
            if (r.at<std::uint32_t>(local, "a local file header") != 0x04034b50u)
                fail("'{}' is corrupt: entry '{}' has no local file header at byte {}", source_, name, local);
            rec.data_offset = local + 30 + r.at<std::uint16_t>(local + 26, "a local name length") +
                              r.at<std::uint16_t>(local + 28, "a local extra length");
            if (rec.data_offset > b.size() || compressed > b.size() - rec.data_offset)
                fail("'{}' is truncated: entry '{}' spans bytes [{}, {}) of a {}-byte file", source_, name,
                     rec.data_offset, rec.data_offset + compressed, b.size());
            records[name] = rec;
        }
        return records;
    }

    std::span<const char> record(const std::map<std::string, Record>& records, const std::string& name) const {
        auto it = records.find(name);
        if (it == records.end()) fail("'{}' has no record '{}'", source_, name);
        const Record& rec = it->second;
        if (rec.method != 0)
            fail("'{}': record '{}' is compressed (zip method {}); only uncompressed records, as torch.save writes "
                 "them, are supported", source_, name, rec.method == 8 ? "8, deflate" : std::to_string(rec.method));
        std::span<const char> s(bytes_->data() + rec.data_offset, rec.size);
        if (crc32(s.data(), s.size()) != rec.crc)  // ZIP records carry the standard CRC-32
            fail("'{}' is corrupt: record '{}' fails its CRC check", source_, name);
        return s;
    }

    void load() {
        const auto records = read_zip();
        std::string archive;
        for (auto& [name, rec] : records) {
            const auto slash = name.find('/');
            if (slash != std::string::npos && name.substr(slash) == "/data.pkl") {
                archive = name.substr(0, slash);
                break;
            }
        }
        if (archive.empty())
            fail("'{}' is a zip file but not a torch checkpoint: it has no '<archive>/data.pkl' record", source_);
        if (records.count(archive + "/byteorder")) {
            auto order = record(records, archive + "/byteorder");
            if (std::string_view(order.data(), order.size()) != "little")
                fail("'{}' was saved on a big-endian machine (record '{}/byteorder' says '{}'); only little-endian "
                     "checkpoints are supported", source_, archive, std::string_view(order.data(), order.size()));
        }
        const std::string pkl = archive + "/data.pkl";
        auto root = torch_detail::PickleMachine(record(records, pkl), "'" + source_ + "' record '" + pkl + "'").run();
        using Kind = torch_detail::PickleValue::Kind;
        if (root->kind != Kind::Dict)
            fail("'{}': data.pkl holds a {}, not a state_dict (a dict of tensors)", source_, torch_detail::kind_name(root->kind));
        std::map<std::string, std::span<const char>> storages;
        for (auto& [key, value] : root->entries) {
            if (key->kind != Kind::String)
                fail("'{}': the state_dict has a {} key; only string names are supported", source_, torch_detail::kind_name(key->kind));
            const std::string& name = key->text;
            if (value->kind != Kind::Tensor)
                fail("'{}': state_dict entry '{}' is a {}, not a tensor (a nested checkpoint? save the state_dict "
                     "itself)", source_, name, torch_detail::kind_name(value->kind));
            TorchTensor t;
            t.dtype = value->dtype;
            try {
                for (auto d : value->shape) t.shape.push_back(d);
            } catch (const Error& bad) {
                fail("'{}': tensor '{}' has an invalid shape: {}", source_, name, bad.what());
            }
            t.strides = value->strides;
            t.storage_offset = value->offset;
            t.storage_key = value->storage->text;
            const std::string data_name = archive + "/data/" + t.storage_key;
            if (!storages.count(t.storage_key)) {
                if (!records.count(data_name))
                    fail("'{}': tensor '{}' needs record '{}', which the file lacks", source_, name, data_name);
                storages[t.storage_key] = record(records, data_name);
            }
            t.storage = storages[t.storage_key];
            const std::uint64_t esize = dtype_size(t.dtype);
            const std::uint64_t numel = static_cast<std::uint64_t>(value->storage->numel);
            if (t.storage.size() % esize != 0 || t.storage.size() / esize != numel)
                fail("'{}': tensor '{}' has a {} storage of {} elements, but record '{}' has {} bytes", source_, name,
                     t.dtype, numel, data_name, t.storage.size());
            // Every element the view reaches must lie inside the storage.
            if (t.shape.numel() > 0) {
                std::int64_t last = t.storage_offset;
                bool ok = t.storage_offset >= 0;
                for (int d = 0; d < t.shape.rank() && ok; ++d) {
                    std::int64_t reach;
                    ok = t.strides[d] >= 0 && !__builtin_mul_overflow(t.shape[d] - 1, t.strides[d], &reach) &&
                         !__builtin_add_overflow(last, reach, &last);
                }
                if (!ok || static_cast<std::uint64_t>(last) >= numel)
                    fail("'{}': tensor '{}' (shape {}, strides [{}], offset {}) reaches outside its {}-element storage "
                         "'{}'", source_, name, t.shape, fmt::join(t.strides, ", "), t.storage_offset, numel, data_name);
            }
            if (tensors_.count(name)) fail("'{}': the state_dict has the name '{}' twice", source_, name);
            tensors_[name] = std::move(t);
        }
    }
};

// Writes a torch checkpoint's tensors to a safetensors file under the same names: views are made contiguous,
// dtypes are kept except float16 and bfloat16, which become F32 (SafetensorsFile and the models read no 16-bit
// floats). Returns the names converted to F32.
inline std::vector<std::string> convert_to_safetensors(const TorchCheckpoint& checkpoint,
                                                       const std::filesystem::path& path) {
    SafetensorsWriter writer;
    std::vector<std::string> widened;
    for (auto& name : checkpoint.names()) {
        const TorchTensor& t = checkpoint.tensor(name);
        if (t.dtype == "F16" || t.dtype == "BF16") {
            writer.add<float>(name, t.shape, checkpoint.get<float>(name));
            widened.push_back(name);
        } else {
            auto bytes = checkpoint.contiguous_bytes(name);
            writer.add_raw(name, t.dtype, t.shape, bytes.data(), bytes.size());
        }
    }
    writer.metadata("format", "pt");
    writer.metadata("converted_from", checkpoint.source());
    writer.write(path);
    return widened;
}

}  // namespace fgclep::io
