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
//
// TorchCheckpoint::read maps the file (io/mapped_file.hpp) rather than reading it: the storages are views of the
// map (torch stores records uncompressed), and get<E> converts a tensor straight from them into the vector it
// returns, so reading a checkpoint into a model costs about the model's size in memory, not twice that.
#include "fgclep/core/error.hpp"
#include "fgclep/core/shape.hpp"
#include "fgclep/io/mapped_file.hpp"
#include "fgclep/io/pickle.hpp"
#include "fgclep/io/safetensors.hpp"
#include "fgclep/io/zip_archive.hpp"

#include <fmt/ranges.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fgclep::io {

namespace torch_detail {
using io::detail::bfloat16_to_float;  // float16 / bfloat16 bit patterns to float (io/safetensors.hpp)
using io::detail::half_to_float;
}  // namespace torch_detail

// One tensor of a torch checkpoint: a strided view of a storage (PyTorch keeps views' layout when saving).
struct TorchTensor {
    std::string dtype;  // safetensors name: F32, F64, F16, BF16, I64, I32, U8, BOOL
    Shape shape;
    std::vector<std::int64_t> strides;
    std::int64_t storage_offset = 0;  // in elements
    std::string storage_key;          // the record <archive>/data/<key>
    std::span<const char> storage;    // the storage's raw little-endian bytes (a view of the checkpoint's file)
};

// A torch.save'd state_dict: name -> tensor. Same interface as SafetensorsFile (contains/names/shape/get<E>/source),
// so io::load_state reads either. Move-only: the storages are views of the map (or of the bytes given to parse),
// which moves with the object.
class TorchCheckpoint {
public:
    // Maps the file: tensors are converted from it when asked for (get<E>), never copied whole.
    static TorchCheckpoint read(const std::filesystem::path& path) {
        TorchCheckpoint c;
        c.source_ = path.string();
        c.map_ = MappedFile(path, "torch checkpoint");
        c.load(c.map_.bytes());
        return c;
    }

    // A file already in memory; `source` names it in errors.
    static TorchCheckpoint parse(std::vector<char> bytes, std::string source) {
        TorchCheckpoint c;
        c.source_ = std::move(source);
        c.owned_ = std::move(bytes);
        c.load(c.owned_);
        return c;
    }

    TorchCheckpoint() = default;  // no tensors
    TorchCheckpoint(TorchCheckpoint&&) noexcept = default;
    TorchCheckpoint& operator=(TorchCheckpoint&&) noexcept = default;
    TorchCheckpoint(const TorchCheckpoint&) = delete;
    TorchCheckpoint& operator=(const TorchCheckpoint&) = delete;
    ~TorchCheckpoint() = default;

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

    // A tensor's values in row-major order (views gathered through their strides), converted to E from any of
    // the dtypes a checkpoint holds (F64, F32, F16, BF16, I64, I32, U8, BOOL). The one copy made is the returned
    // vector's: the values are converted straight from the file's bytes, whose pages are then handed back.
    template <class E>
    std::vector<E> get(const std::string& name) const {
        const TorchTensor& t = tensor(name);
        const auto convert = detail::element_converter<E>(t.dtype);
        if (!convert) fail("'{}': tensor '{}' has dtype {}, which fgclep cannot convert", source_, name, t.dtype);
        map_.check_size();
        const std::size_t esize = dtype_size(t.dtype);
        std::vector<E> out(static_cast<std::size_t>(t.shape.numel()));
        if (out.empty()) return out;  // (its storage offset need not lie in the storage)
        const char* storage = t.storage.data();
        if (is_contiguous(t)) {
            detail::convert_and_release(convert, esize, storage + static_cast<std::size_t>(t.storage_offset) * esize,
                                        out.size(), out.data(), map_);
        } else {
            E* o = out.data();
            for_each_element(t,
                             [&](std::int64_t i) { convert(storage + static_cast<std::size_t>(i) * esize, 1, o++); });
            map_.release(t.storage);
        }
        return out;
    }

    // A tensor's elements, row-major and contiguous, as raw little-endian bytes of its own dtype.
    std::vector<char> contiguous_bytes(const std::string& name) const {
        const TorchTensor& t = tensor(name);
        map_.check_size();
        const std::int64_t esize = static_cast<std::int64_t>(dtype_size(t.dtype));
        std::vector<char> out;
        out.reserve(static_cast<std::size_t>(t.shape.numel() * esize));
        for_each_element(t, [&](std::int64_t i) {
            out.insert(out.end(), t.storage.data() + i * esize, t.storage.data() + (i + 1) * esize);
        });
        map_.release(t.storage);
        return out;
    }

private:
    std::string source_;
    MappedFile map_;           // read(): the file
    std::vector<char> owned_;  // parse(): the bytes given
    std::map<std::string, TorchTensor> tensors_;

    // Whether t's elements, row-major, are consecutive in its storage (strides of dimensions of size 1 aside).
    static bool is_contiguous(const TorchTensor& t) {
        std::int64_t expected = 1;
        for (int d = t.shape.rank(); d-- > 0;) {
            if (t.shape[d] != 1 && t.strides[d] != expected) return false;
            expected *= t.shape[d];
        }
        return true;
    }

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

    void load(std::span<const char> bytes) {
        const torch_detail::ZipArchive zip(bytes, source_);
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
                map_.release(storages[t.storage_key]);  // read once for its CRC; converted from the file later
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
// dtypes are kept except float16 and bfloat16, which become F32 (the models compute in float32 or float64).
// Returns the names converted to F32.
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
