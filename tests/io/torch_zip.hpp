#pragma once
// A minimal writer of torch.save's zip format for tests that need checkpoints too large to keep as fixtures: a
// state_dict pickle (protocol 2, the opcodes torch writes for plain tensors) and one stored record per storage.
// Record data are placed at a chosen offset modulo 64 (torch aligns them to 64 bytes; an odd offset checks that
// readers load unaligned elements safely).
#include "fgclep/io/crc32.hpp"

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace fgclep::test {

struct TorchZipTensor {
    std::string name;
    std::string storage_type;  // "torch.FloatStorage", "torch.HalfStorage", ...
    std::string key;           // the record <archive>/data/<key>; tensors may share one
    std::int64_t storage_numel = 0, offset = 0;
    std::vector<std::int64_t> shape, strides;
};

// The pickled state_dict {name: torch._utils._rebuild_tensor_v2(storage, offset, shape, strides, False, {})}.
inline std::string torch_state_dict_pickle(const std::vector<TorchZipTensor>& tensors) {
    std::string p = "\x80\x02}";
    auto str = [&](std::string_view s) {
        const auto n = static_cast<std::uint32_t>(s.size());
        p += 'X';
        p.append(reinterpret_cast<const char*>(&n), 4);
        p += s;
    };
    auto integer = [&](std::int64_t v) {
        if (v < INT32_MIN || v > INT32_MAX) throw std::invalid_argument("torch_state_dict_pickle: int over 32 bits");
        const auto i = static_cast<std::int32_t>(v);
        p += 'J';
        p.append(reinterpret_cast<const char*>(&i), 4);
    };
    for (const auto& t : tensors) {
        const auto dot = t.storage_type.rfind('.');
        str(t.name);
        p += "ctorch._utils\n_rebuild_tensor_v2\n((";
        str("storage");
        p += "c" + t.storage_type.substr(0, dot) + "\n" + t.storage_type.substr(dot + 1) + "\n";
        str(t.key);
        str("cpu");
        integer(t.storage_numel);
        p += "tQ";
        integer(t.offset);
        p += '(';
        for (auto d : t.shape) integer(d);
        p += "t(";
        for (auto s : t.strides) integer(s);
        p += "t\x89}tRs";  // requires_grad False, backward hooks {}; REDUCE; SETITEM
    }
    p += '.';
    return p;
}

// Writes <archive>/data.pkl, <archive>/byteorder, every storage as <archive>/data/<key> and <archive>/version,
// stored (uncompressed), each record's data at an offset equal to `data_at` modulo 64.
inline void write_torch_zip(const std::filesystem::path& path, const std::string& archive,
                            const std::vector<TorchZipTensor>& tensors,
                            const std::vector<std::pair<std::string, std::span<const char>>>& storages,
                            std::size_t data_at = 0) {
    const std::string pickle = torch_state_dict_pickle(tensors);
    std::vector<std::pair<std::string, std::span<const char>>> records{
        {archive + "/data.pkl", {pickle.data(), pickle.size()}}, {archive + "/byteorder", {"little", 6}}};
    for (auto& [key, bytes] : storages) records.emplace_back(archive + "/data/" + key, bytes);
    records.emplace_back(archive + "/version", std::span<const char>("3\n", 2));

    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("write_torch_zip: cannot write " + path.string());
    std::uint64_t at = 0;
    auto put = [&](const void* data, std::size_t n) {
        out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
        at += n;
    };
    auto u16 = [&](std::uint64_t v) {
        const auto x = static_cast<std::uint16_t>(v);
        put(&x, 2);
    };
    auto u32 = [&](std::uint64_t v) {
        const auto x = static_cast<std::uint32_t>(v);
        put(&x, 4);
    };
    std::string central;
    for (auto& [name, bytes] : records) {
        if (bytes.size() >= 0xFFFFFFFFu || at >= 0xFFFFFFFFu) throw std::invalid_argument("write_torch_zip: no ZIP64");
        const std::uint32_t crc = io::crc32(bytes.data(), bytes.size());
        // Padding in a local extra field ("FB", as torch writes it) puts the data at data_at modulo 64.
        std::size_t pad = (data_at + 64 * 2 - (at + 30 + name.size()) % 64) % 64;
        if (pad > 0 && pad < 4) pad += 64;
        const std::uint64_t local = at;
        u32(0x04034b50u), u16(20), u16(0), u16(0), u16(0), u16(0), u32(crc), u32(bytes.size()), u32(bytes.size());
        u16(name.size()), u16(pad);
        put(name.data(), name.size());
        if (pad > 0) {
            u16(0x4246), u16(pad - 4);
            const std::string zeros(pad - 4, '\0');
            put(zeros.data(), zeros.size());
        }
        put(bytes.data(), bytes.size());
        auto c16 = [&](std::uint64_t v) {
            const auto x = static_cast<std::uint16_t>(v);
            central.append(reinterpret_cast<const char*>(&x), 2);
        };
        auto c32 = [&](std::uint64_t v) {
            const auto x = static_cast<std::uint32_t>(v);
            central.append(reinterpret_cast<const char*>(&x), 4);
        };
        c32(0x02014b50u), c16(20), c16(20), c16(0), c16(0), c16(0), c16(0), c32(crc), c32(bytes.size());
        c32(bytes.size()), c16(name.size()), c16(0), c16(0), c16(0), c16(0), c32(0), c32(local);
        central += name;
    }
    const std::uint64_t cd_offset = at;
    put(central.data(), central.size());
    u32(0x06054b50u), u16(0), u16(0), u16(records.size()), u16(records.size()), u32(central.size()), u32(cd_offset);
    u16(0);
    out.close();
    if (!out) throw std::runtime_error("write_torch_zip: writing " + path.string() + " failed");
}

}  // namespace fgclep::test
