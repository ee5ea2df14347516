#pragma once
// EcgRecord: one multichannel recording in host memory, in physical units, with the names the header gives
// its channels. Readers (WFDB, MATLAB v4) produce it; preprocessing (lead order, resampling, crop/pad,
// normalisation) transforms it; batch sources turn many of them into training batches.
//
// Samples are double, channel-major: samples[c * length + t]. An invalid or absent sample is NaN (WFDB's
// invalid-sample marker, a segment without that signal), never a made-up value; the NaN policy of the
// preprocessing decides what happens to it.
#include "fgclep/core/error.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace fgclep::data {

struct EcgRecord {
    std::string name;                // where it came from (a record path), for messages
    double fs = 0;                   // samples per second per channel
    std::int64_t length = 0;         // samples per channel
    std::vector<std::string> leads;  // one name per channel, as the source writes it ("I", "aVF", "V1", "MLII")
    std::vector<std::string> units;  // one per channel ("mV"); empty strings where unknown
    std::vector<double> samples;     // (channels, length), channel-major

    std::int64_t channels() const { return static_cast<std::int64_t>(leads.size()); }

    std::span<double> channel(std::int64_t c) {
        check_channel(c);
        return {samples.data() + c * length, static_cast<std::size_t>(length)};
    }
    std::span<const double> channel(std::int64_t c) const {
        check_channel(c);
        return {samples.data() + c * length, static_cast<std::size_t>(length)};
    }

    // Throws when the parts disagree (a record built by hand, or by a reader with a bug).
    void check() const {
        if (length < 0) fail("record '{}': negative length {}", name, length);
        if (!units.empty() && units.size() != leads.size())
            fail("record '{}': {} units for {} channels", name, units.size(), leads.size());
        if (static_cast<std::int64_t>(samples.size()) != channels() * length)
            fail("record '{}': {} samples stored, {} channels x {} expected", name, samples.size(), channels(), length);
    }

private:
    void check_channel(std::int64_t c) const {
        if (c < 0 || c >= channels()) fail("record '{}': channel {} is outside [0, {})", name, c, channels());
    }
};

}  // namespace fgclep::data
