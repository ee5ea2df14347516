#pragma once
// CRC-32 as zlib, PNG and ZIP define it (IEEE 802.3 polynomial, reflected, initial value and final xor
// 0xFFFFFFFF; crc32("123456789") == 0xCBF43926). The one CRC of the library: checkpoints record one over their
// tensor bytes (safetensors itself has no checksum), and the torch.save reader checks each ZIP record's.
// Crc32 is incremental: update() over pieces equals crc32() over their concatenation.
#include <array>
#include <cstddef>
#include <cstdint>

namespace fgclep::io {

class Crc32 {
public:
    void update(const void* data, std::size_t size) {
        const auto* p = static_cast<const unsigned char*>(data);
        for (std::size_t i = 0; i < size; ++i) crc_ = table()[(crc_ ^ p[i]) & 0xffu] ^ (crc_ >> 8);
    }
    std::uint32_t value() const { return crc_ ^ 0xffffffffu; }

private:
    static const std::array<std::uint32_t, 256>& table() {
        static const std::array<std::uint32_t, 256> t = [] {
            std::array<std::uint32_t, 256> t{};
            for (std::uint32_t n = 0; n < 256; ++n) {
                std::uint32_t c = n;
                for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xedb88320u ^ (c >> 1) : c >> 1;
                t[n] = c;
            }
            return t;
        }();
        return t;
    }
    std::uint32_t crc_ = 0xffffffffu;
};

inline std::uint32_t crc32(const void* data, std::size_t size) {
    Crc32 c;
    c.update(data, size);
    return c.value();
}

}  // namespace fgclep::io
