#pragma once
// An ECG record drawn as a paper ECG, in SVG: the picture a cardiologist reads, for docs, reviews and eyeballing
// what the simulator (or a real dataset) produced. Works on any data::EcgRecord, synthetic or read from disk.
//
//   fgclep::synth::write_svg("af.svg", simulated.record, {.caption = "atrial fibrillation"});
//
// The 12 standard leads (found by name, in any channel order) are laid out as a clinical 3 x 4 printout with a rhythm
// strip; other records get one row per channel. The SVG's unit is the millimetre (25 mm/s, 10 mm/mV by default), so
// it prints at true scale. Layout, options, trace simplification, NaN gaps and clipping: docs/rendering.md.
#include "fgclep/core/error.hpp"
#include "fgclep/data/ecg_record.hpp"
#include "fgclep/data/lead_order.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace fgclep::synth {

enum class Layout {
    automatic,  // standard 12-lead printout when the record has the 12 standard leads, else rows
    standard,   // the 3 x 4 printout with a rhythm strip; an error when a standard lead is missing
    rows,       // one full-length row per channel, in record order
};

struct RenderOptions {
    double speed_mm_per_s = 25;      // paper speed
    double gain_mm_per_mv = 10;      // amplitude scale
    double start_s = 0;              // first second shown
    double duration_s = 10;          // seconds shown (standard layout: 4 columns of duration/4); clipped to the record
    std::string rhythm_lead = "II";  // the standard layout's bottom strip; empty: none
    std::string caption;             // a second header line (e.g. the conditions)
    Layout layout = Layout::automatic;
    double row_height_mm = 40;  // each row's box; the baseline (0 mV) is at its middle
    double simplify_mm = 0.02;  // largest distance a dropped point may lie from the drawn line; 0: every sample
    bool grid = true;           // the pink millimetre grid
};

// Where each trace goes: computed once, used by the renderer and by whoever wants to check the picture.
struct Panel {
    std::int64_t channel = 0;  // record channel drawn
    std::string label;         // as printed ("aVR", "II"): the standard spelling, or the record's name in rows
    int row = 0;
    double x_mm = 0;            // where time t0_s is drawn
    double baseline_mm = 0;     // y of 0 mV
    double t0_s = 0, t1_s = 0;  // the time slice shown (record time, seconds)
};

struct EcgLayout {
    double width_mm = 0, height_mm = 0;
    double grid_x_mm = 0, grid_y_mm = 0, grid_width_mm = 0, grid_height_mm = 0;
    double signal_x_mm = 0;          // where the traces start (right of the calibration pulses)
    std::vector<double> row_top_mm;  // one per row
    std::vector<double> row_baseline_mm;
    std::vector<Panel> panels;
    bool standard = false;  // the 12-lead printout (else rows)
};

namespace detail {

inline constexpr double render_margin_mm = 5;
inline constexpr double render_header_mm = 10;
inline constexpr double render_coordinate_limit_mm = 1000;

// The clinical print order, by rows of the 3 x 4 block.
inline constexpr std::array<std::array<std::string_view, 4>, 3> standard_print_order = {
    {{"I", "aVR", "V1", "V4"}, {"II", "aVL", "V2", "V5"}, {"III", "aVF", "V3", "V6"}}};

inline std::optional<std::int64_t> find_lead(const data::EcgRecord& record, std::string_view name) {
    const std::string key = data::lead_key(name);
    for (std::int64_t c = 0; c < record.channels(); ++c)
        if (data::lead_key(record.leads[static_cast<std::size_t>(c)]) == key) return c;
    return std::nullopt;
}

// mV per unit of a channel, or nullopt for a unit that is not a voltage (drawn as if mV, labelled with it).
inline std::optional<double> millivolts_per_unit(std::string_view unit) {
    const std::string key = data::lead_key(unit);
    if (key.empty() || key == "mv") return 1.0;
    if (key == "uv" || key == "\xc2\xb5v" || key == "\xce\xbcv") return 1e-3;  // uV, micro sign, Greek mu
    if (key == "v") return 1e3;
    return std::nullopt;
}

inline void check_render_options(const data::EcgRecord& record, const RenderOptions& o) {
    record.check();
    if (record.channels() == 0 || record.length == 0)
        fail("cannot render record '{}': it has no samples ({} channels x {} samples)", record.name, record.channels(),
             record.length);
    if (!(record.fs > 0) || !std::isfinite(record.fs))
        fail("cannot render record '{}': its sampling frequency is {} Hz", record.name, record.fs);
    const auto positive = [&](double v, std::string_view what) {
        if (!(v > 0) || !std::isfinite(v))
            fail("cannot render record '{}': {} must be positive, got {}", record.name, what, v);
    };
    positive(o.speed_mm_per_s, "speed_mm_per_s");
    positive(o.gain_mm_per_mv, "gain_mm_per_mv");
    positive(o.duration_s, "duration_s");
    positive(o.row_height_mm, "row_height_mm");
    if (!(o.start_s >= 0) || !std::isfinite(o.start_s))
        fail("cannot render record '{}': start_s must be >= 0, got {}", record.name, o.start_s);
    if (!(o.simplify_mm >= 0))
        fail("cannot render record '{}': simplify_mm must be >= 0, got {}", record.name, o.simplify_mm);
    const double record_s = static_cast<double>(record.length) / record.fs;
    if (o.start_s >= record_s)
        fail("cannot render record '{}': start_s {} is past its end ({} s)", record.name, o.start_s, record_s);
    // 100 m of paper is a mistake, not a picture (an hour-long Holter record at the default duration is not).
    if (o.duration_s * o.speed_mm_per_s > 100000)
        fail("cannot render record '{}': {} s at {} mm/s is more than 100 m of paper", record.name, o.duration_s,
             o.speed_mm_per_s);
}

}  // namespace detail

// The geometry of the picture render_svg draws for this record and these options.
inline EcgLayout plan_layout(const data::EcgRecord& record, const RenderOptions& options = {}) {
    detail::check_render_options(record, options);
    const double record_s = static_cast<double>(record.length) / record.fs;
    const double shown_s = std::min(options.duration_s, record_s - options.start_s);

    // Standard layout when every one of the 12 leads is there (by name).
    std::array<std::array<std::optional<std::int64_t>, 4>, 3> cells{};
    bool have_all = true;
    for (std::size_t r = 0; r < 3; ++r)
        for (std::size_t c = 0; c < 4; ++c) {
            cells[r][c] = detail::find_lead(record, detail::standard_print_order[r][c]);
            if (!cells[r][c]) have_all = false;
        }
    if (options.layout == Layout::standard && !have_all) {
        std::vector<std::string> missing;
        for (std::size_t r = 0; r < 3; ++r)
            for (std::size_t c = 0; c < 4; ++c)
                if (!cells[r][c]) missing.emplace_back(detail::standard_print_order[r][c]);
        fail("cannot draw record '{}' as a 12-lead ECG: lead(s) {} missing (it has {})", record.name,
             fmt::join(missing, ", "), fmt::join(record.leads, ", "));
    }

    EcgLayout L;
    L.standard = options.layout == Layout::standard || (options.layout == Layout::automatic && have_all);
    std::optional<std::int64_t> rhythm;
    if (L.standard && !options.rhythm_lead.empty()) {
        rhythm = detail::find_lead(record, options.rhythm_lead);
        if (!rhythm)
            fail("cannot draw the rhythm strip of record '{}': it has no lead '{}' (it has {})", record.name,
                 options.rhythm_lead, fmt::join(record.leads, ", "));
    }
    const int n_rows = L.standard ? 3 + (rhythm ? 1 : 0) : static_cast<int>(record.channels());

    // Calibration pulse area: the pulse (0.2 s) plus 2 mm either side, rounded up to a bold grid line so that the
    // traces start on one.
    const double pulse_area = std::ceil((0.2 * options.speed_mm_per_s + 4) / 5) * 5;
    const double signal_width = options.duration_s * options.speed_mm_per_s;
    L.grid_x_mm = detail::render_margin_mm;
    L.grid_y_mm = detail::render_margin_mm + detail::render_header_mm;
    L.signal_x_mm = L.grid_x_mm + pulse_area;
    L.grid_width_mm = std::ceil((pulse_area + signal_width) / 5) * 5;
    L.grid_height_mm = std::ceil(n_rows * options.row_height_mm / 5) * 5;
    L.width_mm = L.grid_x_mm + L.grid_width_mm + detail::render_margin_mm;
    L.height_mm = L.grid_y_mm + L.grid_height_mm + detail::render_margin_mm;
    for (int r = 0; r < n_rows; ++r) {
        L.row_top_mm.push_back(L.grid_y_mm + r * options.row_height_mm);
        L.row_baseline_mm.push_back(L.row_top_mm.back() + options.row_height_mm / 2);
    }

    const auto panel = [&](std::int64_t channel, std::string label, int row, double t0, double t1) {
        const double x = L.signal_x_mm + (t0 - options.start_s) * options.speed_mm_per_s;
        const double baseline = L.row_baseline_mm[static_cast<std::size_t>(row)];
        L.panels.push_back({channel, std::move(label), row, x, baseline, t0, t1});
    };
    const double end_s = options.start_s + shown_s;
    if (L.standard) {
        const double column_s = options.duration_s / 4;
        for (int r = 0; r < 3; ++r)
            for (int c = 0; c < 4; ++c) {
                const double t0 = options.start_s + c * column_s;
                if (t0 >= end_s) continue;  // a record shorter than the page leaves its last columns empty
                const auto ri = static_cast<std::size_t>(r), ci = static_cast<std::size_t>(c);
                panel(*cells[ri][ci], std::string(detail::standard_print_order[ri][ci]), r, t0,
                      std::min(t0 + column_s, end_s));
            }
        if (rhythm) {
            // The standard spelling when it is a standard lead ("AVR" in PTB-XL's headers prints as "aVR").
            std::string label = record.leads[static_cast<std::size_t>(*rhythm)];
            for (const auto& row : detail::standard_print_order)
                for (std::string_view name : row)
                    if (data::lead_key(name) == data::lead_key(label)) label = std::string(name);
            panel(*rhythm, std::move(label), 3, options.start_s, end_s);
        }
    } else {
        for (std::int64_t ch = 0; ch < record.channels(); ++ch) {
            std::string label = record.leads[static_cast<std::size_t>(ch)];
            if (!record.units.empty()) {
                const std::string& unit = record.units[static_cast<std::size_t>(ch)];
                if (!detail::millivolts_per_unit(unit)) label += " (" + unit + ")";
            }
            panel(ch, std::move(label), static_cast<int>(ch), options.start_s, end_s);
        }
    }
    return L;
}

namespace detail {

struct Point {
    double x, y;
};

// Coordinates rounded to 0.01 mm, written with as few characters as that needs ("12.5", "-3", "0.07").
inline void append_mm(std::string& out, double v) {
    long long h = std::llround(v * 100);
    if (h < 0) {
        out += '-';
        h = -h;
    }
    out += std::to_string(h / 100);
    const long long frac = h % 100;
    if (frac != 0) {
        out += '.';
        out += static_cast<char>('0' + frac / 10);
        if (frac % 10 != 0) out += static_cast<char>('0' + frac % 10);
    }
}

inline std::string mm(double v) {
    std::string s;
    append_mm(s, v);
    return s;
}

// The length of the well-formed UTF-8 sequence at text[i] that XML allows (no overlong forms, surrogates,
// U+FFFE/U+FFFF or code points above U+10FFFF), or 0.
inline std::size_t utf8_sequence(std::string_view text, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char u = byte(i);
    const std::size_t len = u >= 0xC2 && u <= 0xDF ? 2 : u >= 0xE0 && u <= 0xEF ? 3 : u >= 0xF0 && u <= 0xF4 ? 4 : 0;
    if (len == 0 || i + len > text.size()) return 0;
    for (std::size_t k = 1; k < len; ++k)
        if ((byte(i + k) & 0xC0) != 0x80) return 0;
    const unsigned char second = byte(i + 1);
    if ((u == 0xE0 && second < 0xA0) || (u == 0xED && second >= 0xA0) || (u == 0xF0 && second < 0x90) ||
        (u == 0xF4 && second >= 0x90) || (u == 0xEF && second == 0xBF && byte(i + 2) >= 0xBE))
        return 0;
    return len;
}

inline std::string xml_escape(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char ch = text[i];
        if (static_cast<unsigned char>(ch) >= 0x80) {
            // The document declares UTF-8: a byte that is not part of a well-formed sequence (a Latin-1 name from
            // a header, say) would make it unreadable, so it becomes '?'.
            const std::size_t len = utf8_sequence(text, i);
            if (len == 0) {
                out += '?';
            } else {
                out += text.substr(i, len);
                i += len - 1;
            }
            continue;
        }
        switch (ch) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&apos;";
                break;
            default:
                // Control characters are not allowed in XML 1.0; a record name could carry one.
                if (static_cast<unsigned char>(ch) < 0x20 && ch != '\t' && ch != '\n')
                    out += '?';
                else
                    out += ch;
        }
    }
    return out;
}

// Ramer-Douglas-Peucker: keeps[i] for the points that must stay so that no dropped point lies farther than
// `tolerance` from the polyline through the kept ones. Iterative (a 30-minute record must not overflow the stack).
inline std::vector<Point> simplify(const std::vector<Point>& pts, double tolerance) {
    if (tolerance <= 0 || pts.size() < 3) return pts;
    std::vector<char> keep(pts.size(), 0);
    keep.front() = keep.back() = 1;
    std::vector<std::pair<std::size_t, std::size_t>> stack{{0, pts.size() - 1}};
    while (!stack.empty()) {
        const auto [a, b] = stack.back();
        stack.pop_back();
        if (b <= a + 1) continue;
        const double dx = pts[b].x - pts[a].x, dy = pts[b].y - pts[a].y;
        const double len = std::hypot(dx, dy);
        double worst = -1;
        std::size_t worst_i = a;
        for (std::size_t i = a + 1; i < b; ++i) {
            const double ex = pts[i].x - pts[a].x, ey = pts[i].y - pts[a].y;
            const double d = len > 0 ? std::abs(dx * ey - dy * ex) / len : std::hypot(ex, ey);
            if (d > worst) {
                worst = d;
                worst_i = i;
            }
        }
        if (worst > tolerance) {
            keep[worst_i] = 1;
            stack.push_back({a, worst_i});
            stack.push_back({worst_i, b});
        }
    }
    std::vector<Point> out;
    for (std::size_t i = 0; i < pts.size(); ++i)
        if (keep[i]) out.push_back(pts[i]);
    return out;
}

inline void append_polyline(std::string& out, const std::vector<Point>& run, double tolerance) {
    if (run.empty()) return;
    std::vector<Point> pts = simplify(run, tolerance);
    if (pts.size() == 1) pts.push_back(pts.front());  // a lone valid sample: a dot (round caps)
    out += "<polyline points=\"";
    bool first = true;
    for (const Point& p : pts) {
        if (!first) out += ' ';
        first = false;
        append_mm(out, p.x);
        out += ',';
        append_mm(out, p.y);
    }
    out += "\"/>\n";
}

}  // namespace detail

// The record as an SVG document (UTF-8 text).
inline std::string render_svg(const data::EcgRecord& record, const RenderOptions& options = {}) {
    using detail::mm;
    const EcgLayout L = plan_layout(record, options);
    std::string out;
    out.reserve(64 * 1024);
    out += fmt::format(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}mm\" height=\"{1}mm\" "
        "viewBox=\"0 0 {0} {1}\">\n",
        mm(L.width_mm), mm(L.height_mm));
    out += "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n";

    // Clip boxes: one per row, over the traces' part of the grid.
    const double signal_right = L.grid_x_mm + L.grid_width_mm;
    out += "<defs>\n";
    for (std::size_t r = 0; r < L.row_top_mm.size(); ++r)
        out += fmt::format("<clipPath id=\"row{}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath>\n",
                           r, mm(L.signal_x_mm), mm(L.row_top_mm[r]), mm(signal_right - L.signal_x_mm),
                           mm(options.row_height_mm));
    out += "</defs>\n";

    // Grid: thin 1 mm lines, bold every 5 mm, each set one path.
    if (options.grid) {
        const auto lines = [&](bool bold) {
            std::string d;
            const auto nx = std::lround(L.grid_width_mm), ny = std::lround(L.grid_height_mm);
            for (long i = 0; i <= nx; ++i)
                if ((i % 5 == 0) == bold)
                    d += "M" + mm(L.grid_x_mm + static_cast<double>(i)) + "," + mm(L.grid_y_mm) + "v" +
                         mm(L.grid_height_mm);
            for (long j = 0; j <= ny; ++j)
                if ((j % 5 == 0) == bold)
                    d += "M" + mm(L.grid_x_mm) + "," + mm(L.grid_y_mm + static_cast<double>(j)) + "h" +
                         mm(L.grid_width_mm);
            return d;
        };
        out += "<path class=\"grid-minor\" fill=\"none\" stroke=\"#f6c3c3\" stroke-width=\"0.08\" d=\"";
        out += lines(false) + "\"/>\n";
        out += "<path class=\"grid-major\" fill=\"none\" stroke=\"#e88f8f\" stroke-width=\"0.2\" d=\"";
        out += lines(true) + "\"/>\n";
    }

    // Header: what was recorded and how it is drawn.
    const double record_s = static_cast<double>(record.length) / record.fs;
    std::string header = fmt::format("{}  \xc2\xb7  {} Hz, {} leads, {:.3g} s  \xc2\xb7  {} mm/s  \xc2\xb7  {} mm/mV",
                                     record.name.empty() ? "(unnamed)" : record.name, record.fs, record.channels(),
                                     record_s, options.speed_mm_per_s, options.gain_mm_per_mv);
    if (options.start_s > 0) header += fmt::format("  \xc2\xb7  from {} s", options.start_s);
    out += "<g font-family=\"Helvetica, Arial, sans-serif\" fill=\"#000\">\n";
    out += fmt::format("<text class=\"header\" x=\"{}\" y=\"{}\" font-size=\"3.5\">{}</text>\n", mm(L.grid_x_mm),
                       mm(detail::render_margin_mm + 3.5), detail::xml_escape(header));
    if (!options.caption.empty())
        out += fmt::format(
            "<text class=\"caption\" x=\"{}\" y=\"{}\" font-size=\"3.5\" font-style=\"italic\">"
            "{}</text>\n",
            mm(L.grid_x_mm), mm(detail::render_margin_mm + 8), detail::xml_escape(options.caption));
    for (const Panel& p : L.panels)
        out += fmt::format("<text class=\"label\" x=\"{}\" y=\"{}\" font-size=\"3.5\">{}</text>\n", mm(p.x_mm + 1),
                           mm(L.row_top_mm[static_cast<std::size_t>(p.row)] + 4.5), detail::xml_escape(p.label));
    out += "</g>\n";

    // Calibration pulses (1 mV, 0.2 s) and the ticks that mark where a column's lead changes.
    const std::string stroke = "fill=\"none\" stroke=\"#000\" stroke-linejoin=\"round\" stroke-linecap=\"round\"";
    out += "<g " + stroke + " stroke-width=\"0.25\">\n";
    const double pulse_w = 0.2 * options.speed_mm_per_s, pulse_h = options.gain_mm_per_mv;
    const double pulse_x = L.signal_x_mm - pulse_w - 3;  // the pulse ends 1 mm before the trace
    for (double base : L.row_baseline_mm)
        out += fmt::format(
            "<polyline class=\"calibration\" "
            "points=\"{0},{1} {2},{1} {2},{3} {4},{3} {4},{1} {5},{1}\"/>\n",
            mm(pulse_x - 1), mm(base), mm(pulse_x), mm(base - pulse_h), mm(pulse_x + pulse_w),
            mm(pulse_x + pulse_w + 1));
    for (const Panel& p : L.panels)
        if (L.standard && p.row < 3 && p.x_mm > L.signal_x_mm + 1e-9)
            out += fmt::format("<path class=\"separator\" d=\"M{},{}v6\"/>\n", mm(p.x_mm), mm(p.baseline_mm - 3));
    out += "</g>\n";

    // Traces.
    out += "<g " + stroke + " stroke-width=\"0.2\">\n";
    const double lo_limit = -detail::render_coordinate_limit_mm;
    const double hi_limit = L.height_mm + detail::render_coordinate_limit_mm;
    for (const Panel& p : L.panels) {
        const auto unit_scale = record.units.empty()
                                    ? std::optional<double>(1.0)
                                    : detail::millivolts_per_unit(record.units[static_cast<std::size_t>(p.channel)]);
        const double scale = unit_scale.value_or(1.0);
        const auto samples = record.channel(p.channel);
        // Samples whose time lies in [t0, t1): the first at or after t0, up to the last before t1.
        const auto first = std::max<std::int64_t>(0, static_cast<std::int64_t>(std::ceil(p.t0_s * record.fs - 1e-9)));
        const auto stop =
            std::min<std::int64_t>(record.length, static_cast<std::int64_t>(std::ceil(p.t1_s * record.fs - 1e-9)));
        out += fmt::format("<g class=\"trace\" data-lead=\"{}\" clip-path=\"url(#row{})\">\n",
                           detail::xml_escape(record.leads[static_cast<std::size_t>(p.channel)]), p.row);
        std::vector<detail::Point> run;
        for (std::int64_t i = first; i < stop; ++i) {
            const double v = samples[static_cast<std::size_t>(i)];
            if (!std::isfinite(v)) {
                detail::append_polyline(out, run, options.simplify_mm);
                run.clear();
                continue;
            }
            const double x = p.x_mm + (static_cast<double>(i) / record.fs - p.t0_s) * options.speed_mm_per_s;
            const double y = std::clamp(p.baseline_mm - v * scale * options.gain_mm_per_mv, lo_limit, hi_limit);
            run.push_back({x, y});
        }
        detail::append_polyline(out, run, options.simplify_mm);
        out += "</g>\n";
    }
    out += "</g>\n</svg>\n";
    return out;
}

// render_svg written to `path` atomically (a temporary file renamed over it): a reader never sees half a picture.
inline void write_svg(const std::filesystem::path& path, const data::EcgRecord& record,
                      const RenderOptions& options = {}) {
    const std::string svg = render_svg(record, options);
    static std::atomic<std::uint64_t> counter{0};
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    const auto tmp = std::filesystem::path(path.string() + fmt::format(".tmp{}-{}", stamp, counter++));
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) fail("cannot create '{}' (writing the ECG picture '{}')", tmp.string(), path.string());
        out.write(svg.data(), static_cast<std::streamsize>(svg.size()));
        out.close();
        if (!out) {
            std::error_code ec;
            std::filesystem::remove(tmp, ec);
            fail("cannot write the ECG picture '{}' (disk full?)", path.string());
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::filesystem::remove(tmp, ec);
        fail("cannot rename the temporary file into '{}': {}", path.string(), ec.message());
    }
}

}  // namespace fgclep::synth
