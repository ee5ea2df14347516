#pragma once
// Reading PyTorch checkpoints written by torch.save(state_dict, path) in the zip format (the default since torch
// 1.6; Hugging Face's pytorch_model.bin), without Python or libtorch, and converting them to safetensors.
//
// The file is a ZIP archive of uncompressed ("stored") records under one top-level folder:
//   <archive>/data.pkl     the pickled state_dict, tensors pickled as torch._utils._rebuild_tensor_v2(...) calls
//                          whose storages are persistent ids ('storage', torch.FloatStorage, key, location, numel)
//   <archive>/data/<key>   each storage's raw bytes
//   <archive>/version, <archive>/byteorder ("little"; older torch versions write none: little)
// data.pkl is read by the small pickle machine of io/pickle.hpp, the records by the ZIP reader of
// io/zip_archive.hpp; this header rebuilds the tensors (strided views of the storages) from what they return.
#include "fgclep/core/error.hpp"
#include "fgclep/core/shape.hpp"
#include "fgclep/io/pickle.hpp"
#include "fgclep/io/safetensors.hpp"
#include "fgclep/io/zip_archive.hpp"

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

// float16 / bfloat16 bit patterns to float.
inline float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000) << 16;
    std::uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    if (exp == 0x1F)
        bits = sign | 0x7F800000u | (mant << 13);  // inf / nan
    else if (exp != 0)
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    else if (mant == 0)
        bits = sign;
    else {  // subnormal: normalise
        int e = -1;
        do {
            ++e;
            mant <<= 1;
        } while (!(mant & 0x400));
        bits = sign | (static_cast<std::uint32_t>(112 - e) << 23) | ((mant & 0x3FF) << 13);
    }
    return std::bit_cast<float>(bits);
}
inline float bfloat16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

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
        if (t.dtype == "F64")
            convert(double{}, cast);
        else if (t.dtype == "F32")
            convert(float{}, cast);
        else if (t.dtype == "F16")
            convert(std::uint16_t{}, [](std::uint16_t h) { return static_cast<E>(torch_detail::half_to_float(h)); });
        else if (t.dtype == "BF16")
            convert(std::uint16_t{},
                    [](std::uint16_t h) { return static_cast<E>(torch_detail::bfloat16_to_float(h)); });
        else if (t.dtype == "I64")
            convert(std::int64_t{}, cast);
        else if (t.dtype == "I32")
            convert(std::int32_t{}, cast);
        else if (t.dtype == "U8" || t.dtype == "BOOL")
            convert(std::uint8_t{}, cast);
        else
            fail("'{}': tensor '{}' has dtype {}, which fgclep cannot convert", source_, name, t.dtype);
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

    void load() {
        const torch_detail::ZipArchive zip(*bytes_, source_);
        std::string archive;
        for (auto& [name, rec] : zip.records()) {
            const auto slash = name.find('/');
            if (slash != std::string::npos && name.substr(slash) == "/data.pkl") {
                archive = name.substr(0, slash);
                break;
            }
        }
        if (archive.empty())
            fail("'{}' is a zip file but not a torch checkpoint: it has no '<archive>/data.pkl' record", source_);
        if (zip.contains(archive + "/byteorder")) {
            auto order = zip.record(archive + "/byteorder");
            if (std::string_view(order.data(), order.size()) != "little")
                fail(
                    "'{}' was saved on a big-endian machine (record '{}/byteorder' says '{}'); only little-endian "
                    "checkpoints are supported",
                    source_, archive, std::string_view(order.data(), order.size()));
        }
        const std::string pkl = archive + "/data.pkl";
        auto root = torch_detail::PickleMachine(zip.record(pkl), "'" + source_ + "' record '" + pkl + "'").run();
        using Kind = torch_detail::PickleValue::Kind;
        if (root->kind != Kind::Dict)
            fail("'{}': data.pkl holds a {}, not a state_dict (a dict of tensors)", source_,
                 torch_detail::kind_name(root->kind));
        std::map<std::string, std::span<const char>> storages;
        for (auto& [key, value] : root->entries) {
            if (key->kind != Kind::String)
                fail("'{}': the state_dict has a {} key; only string names are supported", source_,
                     torch_detail::kind_name(key->kind));
            const std::string& name = key->text;
            if (value->kind != Kind::Tensor)
                fail(
                    "'{}': state_dict entry '{}' is a {}, not a tensor (a nested checkpoint? save the state_dict "
                    "itself)",
                    source_, name, torch_detail::kind_name(value->kind));
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
                if (!zip.contains(data_name))
                    fail("'{}': tensor '{}' needs record '{}', which the file lacks", source_, name, data_name);
                storages[t.storage_key] = zip.record(data_name);
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
                    fail(
                        "'{}': tensor '{}' (shape {}, strides [{}], offset {}) reaches outside its {}-element storage "
                        "'{}'",
                        source_, name, t.shape, fmt::join(t.strides, ", "), t.storage_offset, numel, data_name);
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
