#pragma once
// Crop/pad to a fixed length: keep at most `keep` samples from the start, then pad with zeros to `length`. The
// result always has `length` samples per channel, so records batch into (N, leads, length).
//
//   crop_pad(r, {.keep = 5000, .length = 5000});   // 10 s at 500 Hz: crop longer records, zero-pad shorter ones
//   crop_pad(r, {.keep = 2500, .length = 5000});   // the benchmark's CPSC2018: the first 5 s, then 5 s of zeros
//
// The zeros are there before normalisation (the benchmark pads before min-max), so they take part in it.
#include "fgclep/data/ecg_record.hpp"

#include <algorithm>
#include <cstdint>

namespace fgclep::data {

struct CropPadOptions {
    std::int64_t keep = 5000;    // samples kept from the start, at most; -1: as many as `length`
    std::int64_t length = 5000;  // samples per channel of the result

    std::int64_t kept_of(std::int64_t n) const { return std::min({n, keep < 0 ? length : keep, length}); }
    void validate() const {
        if (length < 1) fail("crop/pad: length must be >= 1, got {}", length);
        if (keep == 0 || keep < -1) fail("crop/pad: keep must be >= 1 (or -1: as many as length), got {}", keep);
    }
};

inline EcgRecord crop_pad(const EcgRecord& record, const CropPadOptions& options) {
    options.validate();
    record.check();
    EcgRecord out;
    out.name = record.name;
    out.fs = record.fs;
    out.length = options.length;
    out.leads = record.leads;
    out.units = record.units;
    out.samples.assign(static_cast<std::size_t>(record.channels() * options.length), 0.0);
    const std::int64_t kept = options.kept_of(record.length);
    for (std::int64_t c = 0; c < record.channels(); ++c) {
        const auto src = record.channel(c);
        std::copy(src.begin(), src.begin() + kept, out.samples.begin() + c * options.length);
    }
    return out;
}

// The same on a record that is no longer needed: in place (no allocation) when it already has `length` samples.
inline EcgRecord crop_pad(EcgRecord&& record, const CropPadOptions& options) {
    options.validate();
    record.check();
    if (record.length != options.length) return crop_pad(static_cast<const EcgRecord&>(record), options);
    const std::int64_t kept = options.kept_of(record.length);
    for (std::int64_t c = 0; c < record.channels(); ++c) {
        auto x = record.channel(c);
        std::fill(x.begin() + kept, x.end(), 0.0);
    }
    return std::move(record);
}

}  // namespace fgclep::data
