#pragma once
// Writing WFDB records: one data file `<name>.dat` with every signal interleaved, and `<name>.hea` with the
// gains, units, initial values and checksums of the samples written, so read_ecg/read_wfdb (and the WFDB tools)
// read it back and its checks pass. Both files are written to a temporary name and renamed into place, the
// header last: a crash leaves either the old record or the new one, never half of one.
//
//   fgclep::data::write_wfdb("corpus/files/p1000/p10000032/s40689238/40689238", ecg,
//                            {.format = 16, .gains = {}, .comments = {"Dx: 426783006"}});
//
// Physical values (EcgRecord) are stored as round(value * gain + baseline); NaN becomes the format's invalid
// marker; a value outside the format's range is an error naming the channel and sample, never clipped silently.
#include "fgclep/data/ecg_record.hpp"
#include "fgclep/data/wfdb_formats.hpp"
#include "fgclep/data/wfdb_header.hpp"
#include "fgclep/data/wfdb_reader.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fgclep::data {

struct WfdbWriteOptions {
    int format = 16;                    // 16 or 212 (also 61, 80, 160, 24, 32)
    std::vector<double> gains;          // ADC units per physical unit, one per channel; empty: 1000 for all (1 uV)
    std::vector<int> baselines;         // ADC value of physical zero per channel; empty: 0
    std::vector<std::string> comments;  // written as "# <comment>" lines after the signal lines
    std::string base_time, base_date;   // optional record-line fields ("12:30:00", "21/11/2026")
};

namespace detail {

inline void write_file_atomically(const std::filesystem::path& path, const void* data, std::size_t size) {
    static std::atomic<std::uint64_t> counter{0};
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    const auto tmp = std::filesystem::path(path.string() + fmt::format(".tmp{}-{}", stamp, counter++));
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) fail("cannot create '{}' (writing WFDB record file '{}')", tmp.string(), path.string());
        if (size > 0) out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
        out.close();
        if (!out) {
            std::error_code ec;
            std::filesystem::remove(tmp, ec);
            fail("cannot write '{}' (disk full?)", path.string());
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::filesystem::remove(tmp, ec);
        fail("cannot rename the temporary file into '{}': {}", path.string(), ec.message());
    }
}

inline std::string wfdb_number(double v) {
    std::string s = fmt::format("{}", v);
    return s;
}

// Writes digital samples (channel-major, `length` per channel) with the given specs (gain, baseline, units,
// description, ADC resolution; format from the options).
inline void write_wfdb_digital(const std::filesystem::path& record, double fs, std::int64_t length,
                               const std::vector<WfdbSignalSpec>& specs, const std::vector<std::int32_t>& samples,
                               const WfdbWriteOptions& o) {
    const std::string name = record.filename().string();
    if (name.empty() || name.find_first_of(" \t\n/") != std::string::npos)
        fail("write_wfdb('{}'): the record name '{}' is empty or has spaces", record.string(), name);
    if (!(fs > 0) || !std::isfinite(fs))
        fail("write_wfdb('{}'): sampling frequency {} is not positive", record.string(), fs);
    const int format = o.format;
    if (format != 16 && format != 212 && format != 61 && format != 80 && format != 160 && format != 24 && format != 32)
        fail("write_wfdb('{}'): writing format {} is not supported (16, 212, 61, 80, 160, 24, 32 are)", record.string(),
             format);
    const auto nsig = static_cast<std::int64_t>(specs.size());
    if (static_cast<std::int64_t>(samples.size()) != nsig * length)
        fail("write_wfdb('{}'): {} samples for {} signals x {}", record.string(), samples.size(), nsig, length);
    // Interleave frames, checking ranges.
    std::vector<std::int32_t> stream(static_cast<std::size_t>(nsig * length));
    const std::int64_t lo = wfdb_format_min(format) - 1, hi = wfdb_format_max(format);  // lo: the invalid marker
    for (std::int64_t c = 0; c < nsig; ++c)
        for (std::int64_t t = 0; t < length; ++t) {
            const std::int32_t v = samples[static_cast<std::size_t>(c * length + t)];
            if (v < lo || v > hi)
                fail("write_wfdb('{}'): channel {} ('{}') sample {} is {}, outside format {}'s range [{}, {}]",
                     record.string(), c, specs[static_cast<std::size_t>(c)].description, t, v, format, lo + 1, hi);
            stream[static_cast<std::size_t>(t * nsig + c)] = v;
        }
    const auto bytes = encode_wfdb(format, stream.data(), static_cast<std::int64_t>(stream.size()));

    std::string hea = fmt::format("{} {} {} {}", name, nsig, wfdb_number(fs), length);
    if (!o.base_time.empty()) hea += " " + o.base_time;
    if (!o.base_time.empty() && !o.base_date.empty()) hea += " " + o.base_date;
    hea += "\n";
    for (std::int64_t c = 0; c < nsig; ++c) {
        const auto& s = specs[static_cast<std::size_t>(c)];
        std::uint32_t sum = 0;
        for (std::int64_t t = 0; t < length; ++t)
            sum += static_cast<std::uint32_t>(samples[static_cast<std::size_t>(c * length + t)]);
        const auto checksum = static_cast<std::int16_t>(static_cast<std::uint16_t>(sum & 0xFFFFu));
        const std::int32_t initial = length > 0 ? samples[static_cast<std::size_t>(c * length)] : 0;
        const int resolution = s.adc_resolution > 0 ? s.adc_resolution : wfdb_default_adc_resolution(format);
        if (s.description.find('\n') != std::string::npos || s.units.find_first_of(" \t\n") != std::string::npos)
            fail("write_wfdb('{}'): channel {} has a description with a newline or units with spaces", record.string(),
                 c);
        hea += fmt::format("{}.dat {} {}({})/{} {} {} {} {} 0 {}\n", name, format, wfdb_number(s.adc_gain),
                           static_cast<std::int64_t>(std::llround(s.baseline)), s.units.empty() ? "mV" : s.units,
                           resolution, s.adc_zero, initial, checksum, s.description);
    }
    for (const auto& line : o.comments) {
        if (line.find('\n') != std::string::npos)
            fail("write_wfdb('{}'): a comment contains a newline", record.string());
        hea += "# " + line + "\n";
    }
    if (!record.parent_path().empty()) std::filesystem::create_directories(record.parent_path());
    write_file_atomically(record.string() + ".dat", bytes.data(), bytes.size());
    write_file_atomically(record.string() + ".hea", hea.data(), hea.size());
}

}  // namespace detail

// Writes physical values: stored as round(value * gain + baseline), NaN as the format's invalid marker.
inline void write_wfdb(const std::filesystem::path& record, const EcgRecord& ecg,
                       const WfdbWriteOptions& options = {}) {
    ecg.check();
    const auto nsig = ecg.channels();
    if (!options.gains.empty() && static_cast<std::int64_t>(options.gains.size()) != nsig)
        fail("write_wfdb('{}'): {} gains for {} channels", record.string(), options.gains.size(), nsig);
    if (!options.baselines.empty() && static_cast<std::int64_t>(options.baselines.size()) != nsig)
        fail("write_wfdb('{}'): {} baselines for {} channels", record.string(), options.baselines.size(), nsig);
    std::vector<WfdbSignalSpec> specs(static_cast<std::size_t>(nsig));
    std::vector<std::int32_t> digital(ecg.samples.size());
    const std::int32_t marker = wfdb_invalid_marker(options.format);
    const double lo = static_cast<double>(wfdb_format_min(options.format)),
                 hi = static_cast<double>(wfdb_format_max(options.format));
    for (std::int64_t c = 0; c < nsig; ++c) {
        auto& s = specs[static_cast<std::size_t>(c)];
        s.adc_gain = options.gains.empty() ? 1000.0 : options.gains[static_cast<std::size_t>(c)];
        if (!(s.adc_gain > 0) || !std::isfinite(s.adc_gain))
            fail("write_wfdb('{}'): channel {} gain {} is not positive", record.string(), c, s.adc_gain);
        s.baseline = options.baselines.empty() ? 0 : options.baselines[static_cast<std::size_t>(c)];
        s.units = ecg.units.empty() ? "mV" : ecg.units[static_cast<std::size_t>(c)];
        s.description = ecg.leads[static_cast<std::size_t>(c)];
        for (std::int64_t t = 0; t < ecg.length; ++t) {
            const double v = ecg.samples[static_cast<std::size_t>(c * ecg.length + t)];
            std::int32_t d = marker;
            if (!std::isnan(v)) {
                const double x = std::nearbyint(v * s.adc_gain + s.baseline);
                if (!(x >= lo && x <= hi))
                    fail(
                        "write_wfdb('{}'): channel {} ('{}') sample {} = {} {} is outside what format {} stores with "
                        "gain {} (ADC range [{}, {}]); choose a smaller gain",
                        record.string(), c, s.description, t, v, s.units, options.format, s.adc_gain, lo, hi);
                d = static_cast<std::int32_t>(x);
            }
            digital[static_cast<std::size_t>(c * ecg.length + t)] = d;
        }
    }
    detail::write_wfdb_digital(record, ecg.fs, ecg.length, specs, digital, options);
}

// Writes digital values as read_wfdb returns them (one sample per frame): gains, baselines, units and
// descriptions come from `signals.specs` (options.gains/baselines are ignored).
inline void write_wfdb(const std::filesystem::path& record, const WfdbSignals& signals,
                       const WfdbWriteOptions& options = {}) {
    if (signals.samples_per_frame != 1)
        fail("write_wfdb('{}'): expanded frames ({} samples per frame) cannot be written; read without expand_frames",
             record.string(), signals.samples_per_frame);
    std::vector<std::int32_t> samples = signals.samples;
    // Invalid samples take the output format's marker.
    const std::int32_t marker = wfdb_invalid_marker(options.format);
    for (std::int64_t c = 0; c < signals.n_channels(); ++c)
        for (std::int64_t t = 0; t < signals.length; ++t)
            if (signals.is_invalid(c, t)) samples[static_cast<std::size_t>(c * signals.length + t)] = marker;
    detail::write_wfdb_digital(record, signals.fs, signals.length, signals.specs, samples, options);
}

}  // namespace fgclep::data
