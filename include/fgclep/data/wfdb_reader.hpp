#pragma once
// Reading WFDB records: digital values (read_wfdb) or physical values in an EcgRecord (read_ecg).
//
//   auto ecg = fgclep::data::read_ecg("ptb-xl/records100/00000/00001_lr");             // 12 x 1000, mV, NaN = invalid
//   auto part = fgclep::data::read_ecg("mitdb/100", {.from = 360, .to = 720, .channels = {1}});
//   auto raw = fgclep::data::read_wfdb("mimicdb/041s", {.expand_frames = true});      // int32, as rdsamp -H
//
// What is handled: every format of wfdb_formats.hpp, samples per frame and skew, byte offsets (.mat containers),
// signals spread over several files, multi-segment records of fixed and variable layout (a signal absent from a
// segment, or a null segment, gives invalid samples), sample ranges and channel subsets in any order.
// Frames: `from`/`to` count frames (samples of the record's base rate). A signal with several samples per frame
// gives one value per frame, the mean of them truncated like WFDB's getvec, or all of them with expand_frames,
// where every signal is repeated to the record's highest samples-per-frame (rdsamp -H).
// Checks: when a whole signal of a segment is read (and verify_checksums), its checksum is compared with the
// header, over the samples as stored in the file (before skew); so is its first sample with the header's initial
// value when verify_initial_values is set. That is off by default, as in WFDB's own tools: the checksum already
// covers the data, and real headers carry stale initial values that rdsamp reads without complaint (the
// test01_00s_skewframe header of wfdb-python's test data is one). Each data file is read with one read of only the bytes the range needs, after its size has been checked against the header: a truncated
// file is an error that names it, never garbage and never an allocation a header alone asked for.
#include "fgclep/data/ecg_record.hpp"
#include "fgclep/data/mat_v4.hpp"
#include "fgclep/data/wfdb_formats.hpp"
#include "fgclep/data/wfdb_header.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace fgclep::data {

struct WfdbReadOptions {
    std::int64_t from = 0;         // first frame, inclusive
    std::int64_t to = -1;          // one past the last frame; -1: to the end
    std::vector<int> channels;     // empty: all in header order; else these header signals, in this order
    bool verify_checksums = true;  // when a whole signal (of a segment) is read
    bool expand_frames = false;    // every signal at the highest samples-per-frame (rdsamp -H)
    std::int64_t max_values = std::int64_t{1} << 28;  // refuse larger outputs (a header can claim anything)
    bool verify_initial_values = false;               // also compare each whole signal's first sample with the header
};

namespace detail {
// Which header fields a whole-signal read is checked against.
struct WfdbChecks {
    bool checksums = true, initial_values = false;
    static WfdbChecks of(const WfdbReadOptions& o) {
        return {o.verify_checksums, o.verify_checksums && o.verify_initial_values};
    }
    bool any() const { return checksums || initial_values; }
};
}  // namespace detail

// Digital samples of some signals of a record.
struct WfdbSignals {
    WfdbHeader header;                  // the record's header (the master header of a multi-segment record)
    std::vector<int> channels;          // header signal index of each output channel
    std::vector<WfdbSignalSpec> specs;  // each output channel's spec (a multi-segment record's layout)
    double fs = 0;                      // output samples per second per channel
    std::int64_t from = 0, to = 0;      // frames read
    int samples_per_frame = 1;          // output samples per frame (the highest spf when expanded, else 1)
    std::int64_t length = 0;            // samples per channel: (to - from) * samples_per_frame
    // Samples before the first one that skew moved past the end of the data (rdsamp stops there): = length
    // unless a skewed signal ran out.
    std::int64_t complete_length = 0;
    std::vector<std::int32_t> samples;  // (channels, length), channel-major
    std::vector<std::int32_t> invalid;  // each channel's invalid-sample marker (its format's)

    std::int64_t n_channels() const { return static_cast<std::int64_t>(channels.size()); }
    std::int32_t at(std::int64_t c, std::int64_t t) const { return samples[static_cast<std::size_t>(c * length + t)]; }
    bool is_invalid(std::int64_t c, std::int64_t t) const { return at(c, t) == invalid[static_cast<std::size_t>(c)]; }
};

namespace detail {

// One channel's samples of one segment, handed to a sink: nframes frames of `spf` samples each, or absent.
struct WfdbBlock {
    int channel = 0;          // output channel
    std::int64_t frame0 = 0;  // first output frame (relative to the output's first frame)
    std::int64_t nframes = 0;
    const std::int32_t* data = nullptr;  // frame f's samples start at data[f * stride]; nullptr: absent (all invalid)
    int spf = 1;
    std::int64_t stride = 1;               // samples from one frame's first sample to the next's (>= spf)
    const WfdbSignalSpec* spec = nullptr;  // the segment's spec of the signal (gain, baseline); null when absent
    std::int32_t marker = 0;               // invalid-sample marker of the segment's format
};

struct WfdbDataFile {
    std::filesystem::path path;
    std::int64_t size = 0;
};

inline std::int64_t wfdb_file_size(const std::filesystem::path& path, const WfdbHeader& h, const WfdbSignalSpec& s,
                                   int index) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec)
        fail("cannot open WFDB data file '{}' (signal {} '{}' of header '{}'): {}", path.string(), index, s.description,
             h.source, ec.message());
    return static_cast<std::int64_t>(size);
}

// Bytes [begin, end) of a file in one read (not zero-filled first: the read fills them or fails).
inline std::unique_ptr<std::uint8_t[]> wfdb_read_bytes(const std::filesystem::path& path, std::int64_t begin,
                                                       std::int64_t end) {
    std::unique_ptr<std::uint8_t[]> bytes(
        new std::uint8_t[static_cast<std::size_t>(std::max<std::int64_t>(end - begin, 1))]);
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot open WFDB data file '{}'", path.string());
    in.seekg(begin);
    if (end > begin && !in.read(reinterpret_cast<char*>(bytes.get()), end - begin))
        fail("cannot read bytes [{}, {}) of WFDB data file '{}' (it changed while being read?)", begin, end,
             path.string());
    return bytes;
}

// The signals of a single-segment header that share one data file, in header order.
struct WfdbGroup {
    std::string file_name;
    std::vector<int> signals;    // header indices
    std::vector<int> positions;  // offset of each signal's first sample in a frame
    int frame_samples = 0;       // samples per frame in this file (sum of spf)
    int format = 0;
    std::int64_t byte_offset = 0;
    std::filesystem::path path;
    std::int64_t file_size = 0;
    std::int64_t frames = 0;  // whole frames the file holds
};

inline std::vector<WfdbGroup> wfdb_groups(const WfdbHeader& h, const std::filesystem::path& dir) {
    std::vector<WfdbGroup> groups;
    std::map<std::string, std::size_t> by_name;
    for (int i = 0; i < h.n_signals; ++i) {
        const auto& s = h.signals[static_cast<std::size_t>(i)];
        auto [it, fresh] = by_name.try_emplace(s.file_name, groups.size());
        if (fresh) {
            WfdbGroup g;
            g.file_name = s.file_name;
            g.format = s.format;
            g.byte_offset = s.byte_offset;
            groups.push_back(std::move(g));
        }
        WfdbGroup& g = groups[it->second];
        if (s.format != g.format && s.file_name != "~")
            fail("{}:{}: signal {} is stored in '{}' in format {}, but an earlier signal of that file uses format {}",
                 h.source, s.line, i, s.file_name, s.format, g.format);
        if (s.byte_offset != g.byte_offset)
            fail("{}:{}: signal {} gives '{}' a byte offset of {}, an earlier signal gave {}", h.source, s.line, i,
                 s.file_name, s.byte_offset, g.byte_offset);
        g.signals.push_back(i);
        g.positions.push_back(g.frame_samples);
        g.frame_samples += s.samples_per_frame;
    }
    for (auto& g : groups) {
        if (g.file_name == "~") continue;
        const auto& first = h.signals[static_cast<std::size_t>(g.signals[0])];
        g.path = dir / g.file_name;
        g.file_size = wfdb_file_size(g.path, h, first, g.signals[0]);
        if (g.byte_offset > g.file_size)
            fail(
                "WFDB data file '{}' is truncated: header '{}' says its samples start at byte {}, the file has {} bytes",
                g.path.string(), h.source, g.byte_offset, g.file_size);
        if (g.path.extension() == ".mat" && g.byte_offset > 0) {
            // A .mat container: the offset must point at the first variable's values.
            const std::int64_t n = std::min<std::int64_t>(g.file_size, g.byte_offset + 256);
            const auto prefix = wfdb_read_bytes(g.path, 0, n);
            const auto at =
                mat_v4_first_data_offset({prefix.get(), static_cast<std::size_t>(n)}, g.file_size, g.path.string());
            if (at != g.byte_offset)
                fail(
                    "WFDB data file '{}': header '{}' says the samples start at byte {}, its MATLAB v4 variable's "
                    "values start at byte {}",
                    g.path.string(), h.source, g.byte_offset, at);
        }
        const std::int64_t samples = wfdb_samples_in_bytes(g.format, g.file_size - g.byte_offset);
        g.frames = g.frame_samples > 0 ? samples / g.frame_samples : 0;
    }
    return groups;
}

// Frames of a single-segment record: the header's, or (when it gives none) what the first data file holds.
inline std::int64_t wfdb_record_frames(const WfdbHeader& h, const std::vector<WfdbGroup>& groups) {
    if (h.n_samples > 0) return h.n_samples;
    for (const auto& g : groups)
        if (g.file_name != "~") return g.frames;
    return 0;
}

inline void wfdb_check_not_truncated(const WfdbHeader& h, const std::vector<WfdbGroup>& groups, std::int64_t n) {
    for (const auto& g : groups) {
        if (g.file_name == "~" || g.frames >= n) continue;
        fail(
            "WFDB data file '{}' is truncated: it holds {} whole frames of its {} signal(s) ({} bytes after a {}-byte "
            "offset, format {}), header '{}' says {}",
            g.path.string(), g.frames, g.signals.size(), g.file_size - g.byte_offset, g.byte_offset, g.format, h.source,
            n);
    }
}

// Reads frames [from, to) of the header signals `sigs` (-1: absent) of a single-segment record, as blocks
// numbered from `out_frame0`. Returns the first frame (absolute) at which a skewed signal ran out of data.
// `known_groups`: wfdb_groups(h, dir) when the caller has it already (saves opening the files twice).
template <class Sink>
std::int64_t wfdb_read_segment(const WfdbHeader& h, const std::filesystem::path& dir, const std::vector<int>& sigs,
                               std::int64_t from, std::int64_t to, WfdbChecks verify, std::int64_t out_frame0,
                               Sink& sink, const std::vector<WfdbGroup>* known_groups = nullptr) {
    if (h.is_multi_segment()) fail("'{}': a segment of a multi-segment record cannot itself have segments", h.source);
    const auto groups = known_groups ? *known_groups : wfdb_groups(h, dir);
    const std::int64_t n = wfdb_record_frames(h, groups);
    wfdb_check_not_truncated(h, groups, n);
    if (from < 0 || to > n || from > to)
        fail("record '{}': frames [{}, {}) are outside the record's [0, {})", h.source, from, to, n);
    const bool whole = from == 0 && to == n;
    std::int64_t complete = to;
    std::vector<std::int32_t> channel_buffer;

    for (const auto& g : groups) {
        // Which output channels come from this file.
        std::vector<std::pair<int, std::size_t>> wanted;  // (output channel, index in g.signals)
        int max_skew = 0;
        for (std::size_t c = 0; c < sigs.size(); ++c) {
            for (std::size_t j = 0; j < g.signals.size(); ++j)
                if (g.signals[j] == sigs[c]) {
                    wanted.emplace_back(static_cast<int>(c), j);
                    max_skew = std::max(max_skew, h.signals[static_cast<std::size_t>(sigs[c])].skew);
                }
        }
        if (wanted.empty()) continue;
        if (g.file_name == "~") {
            for (auto [c, j] : wanted) {
                const auto& s = h.signals[static_cast<std::size_t>(g.signals[j])];
                sink(WfdbBlock{c, out_frame0, to - from, nullptr, s.samples_per_frame, 1, nullptr,
                               wfdb_invalid_marker(0)});
            }
            continue;
        }
        const std::int64_t F = g.frame_samples;
        // Stream frames to decode: the range shifted by the skews (within the data), all of it for checks, and
        // from frame 0 for format 8 (its values are running sums).
        std::int64_t u0 = g.format == 8 ? 0 : from;
        std::int64_t u1 = std::min<std::int64_t>(to + max_skew, g.frames);
        if (verify.any() && whole) u0 = 0, u1 = std::max(u1, n);
        std::unique_ptr<std::int32_t[]> stream;  // not zero-filled: every element is decoded before use
        if (u1 > u0) {
            const std::int64_t k0 = u0 * F, k1 = u1 * F;
            const std::int64_t b0 = g.byte_offset + wfdb_group_start_byte(g.format, k0);
            const std::int64_t b1 = g.byte_offset + wfdb_bytes_through_sample(g.format, k1 - 1);
            const auto bytes = wfdb_read_bytes(g.path, b0, b1);
            stream.reset(new std::int32_t[static_cast<std::size_t>(k1 - k0)]);
            decode_wfdb(g.format, bytes.get(), b1 - b0, k0, k1 - k0, stream.get());
            if (g.format == 8) {
                for (std::size_t j = 0; j < g.signals.size(); ++j) {
                    const auto& s = h.signals[static_cast<std::size_t>(g.signals[j])];
                    auto acc = static_cast<std::uint32_t>(s.initial_value);  // unsigned: wraps instead of UB
                    for (std::int64_t u = 0; u < u1; ++u)
                        for (int q = 0; q < s.samples_per_frame; ++q) {
                            auto& v = stream[static_cast<std::size_t>(u * F + g.positions[j] + q)];
                            acc += static_cast<std::uint32_t>(v);
                            v = static_cast<std::int32_t>(acc);
                        }
                }
            }
        }
        const auto sample = [&](std::int64_t u, std::size_t j, int q) {
            return stream[static_cast<std::size_t>((u - u0) * F + g.positions[j] + q)];
        };
        if (verify.any() && whole) {
            for (auto [c, j] : wanted) {
                const int i = g.signals[j];
                const auto& s = h.signals[static_cast<std::size_t>(i)];
                if (verify.initial_values && s.initial_value_given && n > 0 && sample(0, j, 0) != s.initial_value)
                    fail(
                        "WFDB data file '{}': signal {} ('{}') starts with {}, but header '{}' line {} gives the initial "
                        "value {}",
                        g.path.string(), i, s.description, sample(0, j, 0), h.source, s.line, s.initial_value);
                if (verify.checksums && s.checksum_given) {
                    std::uint32_t sum = 0;
                    for (std::int64_t u = 0; u < n; ++u)
                        for (int q = 0; q < s.samples_per_frame; ++q)
                            sum += static_cast<std::uint32_t>(sample(u, j, q));
                    const auto got = static_cast<std::int16_t>(static_cast<std::uint16_t>(sum & 0xFFFFu));
                    if (got != s.checksum)
                        fail(
                            "WFDB data file '{}': signal {} ('{}') fails its checksum: header '{}' line {} says {}, the "
                            "samples sum to {} (mod 2^16)",
                            g.path.string(), i, s.description, h.source, s.line, s.checksum, got);
                }
            }
        }
        const std::int32_t marker = wfdb_invalid_marker(g.format);
        for (auto [c, j] : wanted) {
            const auto& s = h.signals[static_cast<std::size_t>(g.signals[j])];
            const int spf = s.samples_per_frame;
            channel_buffer.resize(static_cast<std::size_t>((to - from) * spf));
            if (spf == 1 && to + s.skew <= u1) {  // the common case: one sample per frame, all in the data
                const std::int32_t* src = stream.get() + (from + s.skew - u0) * F + g.positions[j];
                sink(WfdbBlock{c, out_frame0, to - from, src, spf, F, &s, marker});
                continue;
            }
            for (std::int64_t t = from; t < to; ++t) {
                const std::int64_t u = t + s.skew;
                std::int32_t* dst = channel_buffer.data() + (t - from) * spf;
                if (u < u1) {
                    for (int q = 0; q < spf; ++q) dst[q] = sample(u, j, q);
                } else {
                    for (int q = 0; q < spf; ++q) dst[q] = marker;
                    complete = std::min(complete, t);
                }
            }
            sink(WfdbBlock{c, out_frame0, to - from, channel_buffer.data(), spf, spf, &s, marker});
        }
    }
    return complete;
}

inline int wfdb_signal_index(const WfdbHeader& h, const std::vector<WfdbSignalSpec>& specs, int c) {
    if (c < 0 || c >= static_cast<int>(specs.size()))
        fail("record '{}': channel {} is outside [0, {})", h.source, c, specs.size());
    return c;
}

// The specs of a record's channels: its signals, or for a multi-segment record those of the layout segment
// (variable layout) or of the first non-null segment (fixed layout).
struct WfdbLayout {
    std::vector<WfdbSignalSpec> specs;
    std::vector<std::int64_t> starts;  // first frame of each segment
    std::int64_t frames = 0;
};

inline WfdbLayout wfdb_layout(const WfdbHeader& h, const std::filesystem::path& dir) {
    WfdbLayout l;
    if (!h.is_multi_segment()) {
        l.specs = h.signals;
        return l;
    }
    std::int64_t at = 0;
    for (const auto& seg : h.segments) {
        l.starts.push_back(at);
        at += seg.n_samples;  // each < 2^48, at most 2^20 of them: checked before it could overflow
        if (at > (std::int64_t{1} << 56))
            fail("{}:{}: the segments add up to more than 2^56 samples", h.source, seg.line);
    }
    l.frames = at;
    if (h.n_samples > 0 && h.n_samples != at)
        fail("{}: the record line says {} samples, its segments add up to {}", h.source, h.n_samples, at);
    for (std::size_t j = 0; j < h.segments.size(); ++j) {
        const auto& seg = h.segments[j];
        if (seg.is_null()) continue;
        if (j > 0 && h.is_variable_layout()) break;
        const auto sh = read_wfdb_header(dir / seg.record_name);
        if (sh.is_multi_segment()) fail("{}: segment '{}' is itself a multi-segment record", h.source, seg.record_name);
        if (sh.n_signals != h.n_signals)
            fail("{}: the record has {} signals, its {} segment '{}' has {}", h.source, h.n_signals,
                 h.is_variable_layout() ? "layout" : "first", seg.record_name, sh.n_signals);
        l.specs = sh.signals;
        break;
    }
    if (l.specs.empty() && h.n_signals > 0) {  // only null segments: nothing says what the signals are
        l.specs.resize(static_cast<std::size_t>(h.n_signals));
        for (auto& s : l.specs) s.file_name = "~";
    }
    return l;
}

// Reads frames [from, to) of the record into a sink; returns the first frame where a skewed signal ran out.
template <class Sink>
std::int64_t wfdb_read_into(const WfdbHeader& h, const std::filesystem::path& dir, const WfdbLayout& layout,
                            const std::vector<int>& channels, std::int64_t from, std::int64_t to, WfdbChecks verify,
                            Sink& sink, const std::vector<WfdbGroup>* groups = nullptr) {
    if (!h.is_multi_segment()) return wfdb_read_segment(h, dir, channels, from, to, verify, 0, sink, groups);
    const bool variable = h.is_variable_layout();
    for (std::size_t j = 0; j < h.segments.size(); ++j) {
        const auto& seg = h.segments[j];
        const std::int64_t s0 = layout.starts[j], s1 = s0 + seg.n_samples;
        if (seg.n_samples == 0 || s1 <= from || s0 >= to) continue;
        const std::int64_t a = std::max(from, s0) - s0, b = std::min(to, s1) - s0;
        if (seg.is_null()) {
            for (std::size_t c = 0; c < channels.size(); ++c)
                sink(WfdbBlock{static_cast<int>(c), s0 + a - from, b - a, nullptr, 1, 1, nullptr, 0});
            continue;
        }
        const auto sh = read_wfdb_header(dir / seg.record_name);
        if (sh.is_multi_segment()) fail("{}: segment '{}' is itself a multi-segment record", h.source, seg.record_name);
        if (sh.n_samples != seg.n_samples)
            fail("{}:{}: segment '{}' has {} samples, but its header '{}' says {}", h.source, seg.line, seg.record_name,
                 seg.n_samples, sh.source, sh.n_samples);
        std::vector<int> mapped(channels.size(), -1);
        for (std::size_t c = 0; c < channels.size(); ++c) {
            const int ch = channels[c];
            if (!variable) {
                if (sh.n_signals != h.n_signals)
                    fail("{}: fixed-layout record with {} signals, but segment header '{}' has {}", h.source,
                         h.n_signals, sh.source, sh.n_signals);
                mapped[c] = ch;
            } else {
                const auto& want = layout.specs[static_cast<std::size_t>(ch)].description;
                for (int i = 0; i < sh.n_signals; ++i)
                    if (sh.signals[static_cast<std::size_t>(i)].description == want) {
                        mapped[c] = i;
                        break;
                    }
            }
        }
        std::vector<int> present;
        std::vector<int> present_channel;
        for (std::size_t c = 0; c < channels.size(); ++c) {
            if (mapped[c] < 0) {
                sink(WfdbBlock{static_cast<int>(c), s0 + a - from, b - a, nullptr, 1, 1, nullptr, 0});
            } else {
                present.push_back(mapped[c]);
                present_channel.push_back(static_cast<int>(c));
            }
        }
        if (present.empty()) continue;
        // Renumber the blocks of this segment to the output channels.
        auto relay = [&](const WfdbBlock& blk) {
            WfdbBlock out = blk;
            out.channel = present_channel[static_cast<std::size_t>(blk.channel)];
            sink(out);
        };
        wfdb_read_segment(sh, dir, present, a, b, verify, s0 + a - from, relay);
    }
    return to;
}

// Turns a block's samples into one value per output sample: expanded (sample floor(r * spf / R) of the frame)
// or, with R = 1, the frame's mean truncated toward zero like WFDB's getvec (invalid if any sample is).
template <class Emit>
void wfdb_frame_values(const WfdbBlock& b, int rows_per_frame, Emit&& emit) {
    const int s = b.spf;
    for (std::int64_t f = 0; f < b.nframes; ++f) {
        const std::int32_t* frame = b.data + f * b.stride;
        if (rows_per_frame == 1) {
            if (s == 1) {
                emit(f, 0, frame[0]);
                continue;
            }
            std::int64_t sum = 0;
            bool bad = false;
            for (int q = 0; q < s; ++q) {
                bad |= frame[q] == b.marker;
                sum += frame[q];
            }
            emit(f, 0, bad ? b.marker : static_cast<std::int32_t>(sum / s));
        } else {
            for (int r = 0; r < rows_per_frame; ++r)
                emit(f, r, frame[static_cast<std::int64_t>(r) * s / rows_per_frame]);
        }
    }
}

struct WfdbPlan {
    WfdbHeader header;
    std::filesystem::path dir;
    WfdbLayout layout;
    std::vector<WfdbGroup> groups;  // data files of a single-segment record
    std::vector<int> channels;
    std::int64_t from = 0, to = 0, frames = 0;
    int rows_per_frame = 1;
    double fs = 0;
};

inline WfdbPlan wfdb_plan(const std::filesystem::path& record, const WfdbReadOptions& o) {
    WfdbPlan p;
    p.header = read_wfdb_header(record);
    const auto hea = wfdb_header_path(record);
    p.dir = hea.parent_path();
    p.layout = wfdb_layout(p.header, p.dir);
    const auto& h = p.header;
    if (h.is_multi_segment()) {
        p.frames = p.layout.frames;
    } else {
        p.groups = wfdb_groups(h, p.dir);
        p.frames = wfdb_record_frames(h, p.groups);
    }
    if (o.channels.empty()) {
        for (int i = 0; i < h.n_signals; ++i) p.channels.push_back(i);
    } else {
        for (int c : o.channels) p.channels.push_back(wfdb_signal_index(h, p.layout.specs, c));
    }
    p.from = o.from;
    p.to = o.to < 0 ? p.frames : o.to;
    if (p.from < 0 || p.to > p.frames || p.from > p.to)
        fail("record '{}': cannot read frames [{}, {}): the record has {} (from must be >= 0 and <= to)", hea.string(),
             o.from, o.to, p.frames);
    int max_spf = 1;
    for (const auto& s : p.layout.specs) max_spf = std::max(max_spf, s.samples_per_frame);
    p.rows_per_frame = o.expand_frames ? max_spf : 1;
    p.fs = h.fs * p.rows_per_frame;
    const double values =
        static_cast<double>(p.to - p.from) * p.rows_per_frame * static_cast<double>(p.channels.size());
    if (values > static_cast<double>(o.max_values))
        fail(
            "record '{}': reading frames [{}, {}) of {} channel(s) gives {} values, more than max_values = {}; read a "
            "smaller range",
            hea.string(), p.from, p.to, p.channels.size(), values, o.max_values);
    return p;
}

}  // namespace detail

// Digital samples of a WFDB record (path without extension, or the .hea file).
inline WfdbSignals read_wfdb(const std::filesystem::path& record, const WfdbReadOptions& options = {}) {
    auto p = detail::wfdb_plan(record, options);
    WfdbSignals out;
    out.channels = p.channels;
    for (int c : p.channels) out.specs.push_back(p.layout.specs[static_cast<std::size_t>(c)]);
    out.fs = p.fs;
    out.from = p.from;
    out.to = p.to;
    out.samples_per_frame = p.rows_per_frame;
    out.length = (p.to - p.from) * p.rows_per_frame;
    for (const auto& s : out.specs) out.invalid.push_back(wfdb_invalid_marker(s.format));
    out.samples.assign(static_cast<std::size_t>(out.length) * out.channels.size(), 0);
    const int R = p.rows_per_frame;
    auto sink = [&](const detail::WfdbBlock& b) {
        std::int32_t* dst = out.samples.data() + b.channel * out.length + b.frame0 * R;
        const std::int32_t marker = out.invalid[static_cast<std::size_t>(b.channel)];
        if (!b.data) {
            std::fill(dst, dst + b.nframes * R, marker);
            return;
        }
        // A variable-layout segment may store a signal with another gain or baseline: rescale like WFDB does.
        const auto& ch = out.specs[static_cast<std::size_t>(b.channel)];
        const bool rescale = b.spec && (b.spec->adc_gain != ch.adc_gain || b.spec->baseline != ch.baseline);
        if (R == 1 && b.spf == 1 && !rescale) {  // the common case, kept simple for the compiler
            const std::int32_t from_marker = b.marker;
            for (std::int64_t f = 0; f < b.nframes; ++f) {
                const std::int32_t v = b.data[f * b.stride];
                dst[f] = v == from_marker ? marker : v;
            }
            return;
        }
        detail::wfdb_frame_values(b, R, [&](std::int64_t f, int r, std::int32_t v) {
            if (v == b.marker)
                v = marker;
            else if (rescale) {
                const double x = std::round((v - b.spec->baseline) * ch.adc_gain / b.spec->adc_gain + ch.baseline);
                v = static_cast<std::int32_t>(std::clamp(x, -2147483647.0, 2147483647.0));
            }
            dst[f * R + r] = v;
        });
    };
    const std::int64_t complete = detail::wfdb_read_into(p.header, p.dir, p.layout, p.channels, p.from, p.to,
                                                         detail::WfdbChecks::of(options), sink, &p.groups);
    out.complete_length = (complete - p.from) * R;
    out.header = std::move(p.header);
    return out;
}

// Physical values of a WFDB record (path without extension, or the .hea file), lead names and units from the
// header ("signal <i>" where a signal has no description, "mV" where no units are written, as WFDB assumes).
// Invalid samples (the format's marker, a signal absent from a segment) are NaN.
inline EcgRecord read_ecg(const std::filesystem::path& record, const WfdbReadOptions& options = {}) {
    auto p = detail::wfdb_plan(record, options);
    EcgRecord out;
    out.name = record.string();
    out.fs = p.fs;
    out.length = (p.to - p.from) * p.rows_per_frame;
    for (int c : p.channels) {
        const auto& s = p.layout.specs[static_cast<std::size_t>(c)];
        out.leads.push_back(s.description.empty() ? fmt::format("signal {}", c) : s.description);
        out.units.push_back(s.units.empty() ? "mV" : s.units);
    }
    out.samples.assign(static_cast<std::size_t>(out.length) * p.channels.size(),
                       std::numeric_limits<double>::quiet_NaN());
    const int R = p.rows_per_frame;
    auto sink = [&](const detail::WfdbBlock& b) {
        if (!b.data) return;  // already NaN
        double* dst = out.samples.data() + b.channel * out.length + b.frame0 * R;
        const double baseline = b.spec->baseline, gain = b.spec->adc_gain;
        if (R == 1 && b.spf == 1) {  // the common case, kept simple for the compiler
            const double nan = std::numeric_limits<double>::quiet_NaN();
            for (std::int64_t f = 0; f < b.nframes; ++f) {
                const std::int32_t v = b.data[f * b.stride];
                dst[f] = v == b.marker ? nan : (v - baseline) / gain;
            }
            return;
        }
        detail::wfdb_frame_values(b, R, [&](std::int64_t f, int r, std::int32_t v) {
            dst[f * R + r] = v == b.marker ? std::numeric_limits<double>::quiet_NaN() : (v - baseline) / gain;
        });
    };
    detail::wfdb_read_into(p.header, p.dir, p.layout, p.channels, p.from, p.to, detail::WfdbChecks::of(options), sink,
                           &p.groups);
    return out;
}

}  // namespace fgclep::data
