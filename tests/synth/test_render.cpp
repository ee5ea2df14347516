// ECG pictures (render_svg): the geometry (calibration pulse height, column width, where a known sample lands),
// lead placement by name in PTB-XL and MIMIC-IV-ECG order, NaN gaps, well-formed XML, options, simplification
// bounds, file size, real records and errors.
#include "fgclep/synth/render_svg.hpp"

#include "fgclep/data/wfdb_reader.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace fgclep;
using namespace fgclep::synth;
using data::EcgRecord;

namespace {

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();
const std::string wfdb_dir = std::string(FGCLEP_FIXTURES) + "/wfdb";

// ---- a tiny XML well-formedness checker that also returns the elements ----

struct Element {
    std::string name;
    std::map<std::string, std::string> attributes;
    int parent = -1;
    std::string text;  // character data directly inside
};

struct XmlDocument {
    std::vector<Element> elements;
    std::string error;  // empty when well-formed
};

bool is_name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '.';
}

// Element names, attributes (quoted, unique), entity references, balanced tags, exactly one root element.
XmlDocument parse_xml(const std::string& s) {
    XmlDocument doc;
    std::vector<int> open;
    std::size_t i = 0;
    bool root_seen = false;
    const auto bad = [&](std::string why) {
        doc.error = why + " at offset " + std::to_string(i);
        return doc;
    };
    const auto check_entities = [&](const std::string& text) {
        for (std::size_t k = 0; k < text.size(); ++k) {
            if (text[k] == '<') return false;
            if (text[k] != '&') continue;
            const auto semi = text.find(';', k);
            if (semi == std::string::npos) return false;
            const std::string ent = text.substr(k + 1, semi - k - 1);
            if (ent != "amp" && ent != "lt" && ent != "gt" && ent != "quot" && ent != "apos" &&
                !(ent.size() > 1 && ent[0] == '#'))
                return false;
        }
        return true;
    };
    if (s.rfind("<?xml", 0) == 0) {
        i = s.find("?>");
        if (i == std::string::npos) return bad("unterminated XML declaration");
        i += 2;
    }
    while (i < s.size()) {
        if (s[i] != '<') {
            const auto next = s.find('<', i);
            const std::string text = s.substr(i, next == std::string::npos ? std::string::npos : next - i);
            if (!check_entities(text)) return bad("bad character data");
            if (open.empty()) {
                if (text.find_first_not_of(" \t\r\n") != std::string::npos) return bad("text outside the root");
            } else {
                doc.elements[static_cast<std::size_t>(open.back())].text += text;
            }
            if (next == std::string::npos) break;
            i = next;
            continue;
        }
        if (s.compare(i, 2, "</") == 0) {
            std::size_t k = i + 2, start = k;
            while (k < s.size() && is_name_char(s[k])) ++k;
            const std::string name = s.substr(start, k - start);
            while (k < s.size() && std::isspace(static_cast<unsigned char>(s[k]))) ++k;
            if (k >= s.size() || s[k] != '>') return bad("bad end tag");
            if (open.empty() || doc.elements[static_cast<std::size_t>(open.back())].name != name)
                return bad("end tag </" + name + "> does not match");
            open.pop_back();
            i = k + 1;
            continue;
        }
        std::size_t k = i + 1, start = k;
        while (k < s.size() && is_name_char(s[k])) ++k;
        Element e;
        e.name = s.substr(start, k - start);
        if (e.name.empty()) return bad("empty element name");
        if (open.empty()) {
            if (root_seen) return bad("a second root element");
            root_seen = true;
        }
        e.parent = open.empty() ? -1 : open.back();
        bool self_closing = false;
        for (;;) {
            const std::size_t before = k;
            while (k < s.size() && std::isspace(static_cast<unsigned char>(s[k]))) ++k;
            if (k >= s.size()) return bad("unterminated tag");
            if (s[k] == '>') break;
            if (s.compare(k, 2, "/>") == 0) {
                self_closing = true;
                ++k;
                break;
            }
            if (k == before) return bad("no space before an attribute");
            std::size_t a = k;
            while (k < s.size() && is_name_char(s[k])) ++k;
            const std::string attr = s.substr(a, k - a);
            if (attr.empty() || k >= s.size() || s[k] != '=') return bad("bad attribute");
            ++k;
            if (k >= s.size() || (s[k] != '"' && s[k] != '\'')) return bad("unquoted attribute");
            const char quote = s[k];
            const auto end = s.find(quote, k + 1);
            if (end == std::string::npos) return bad("unterminated attribute");
            const std::string value = s.substr(k + 1, end - k - 1);
            if (!check_entities(value)) return bad("bad attribute value");
            if (!e.attributes.emplace(attr, value).second) return bad("duplicate attribute " + attr);
            k = end + 1;
        }
        doc.elements.push_back(std::move(e));
        if (!self_closing) open.push_back(static_cast<int>(doc.elements.size() - 1));
        i = k + 1;
    }
    if (!open.empty()) return bad("unclosed <" + doc.elements[static_cast<std::size_t>(open.back())].name + ">");
    if (!root_seen) return bad("no root element");
    return doc;
}

struct Pt {
    double x, y;
};

std::vector<Pt> points_of(const Element& e) {
    std::vector<Pt> pts;
    std::istringstream in(e.attributes.at("points"));
    std::string pair;
    while (in >> pair) {
        const auto comma = pair.find(',');
        pts.push_back({std::stod(pair.substr(0, comma)), std::stod(pair.substr(comma + 1))});
    }
    return pts;
}

// The polylines of the trace group for `lead` clipped to `row`.
std::vector<std::vector<Pt>> traces(const XmlDocument& doc, const std::string& lead, int row) {
    std::vector<std::vector<Pt>> out;
    for (std::size_t g = 0; g < doc.elements.size(); ++g) {
        const Element& e = doc.elements[g];
        if (e.name != "g" || !e.attributes.contains("data-lead")) continue;
        const std::string clip = "url(#row" + std::to_string(row) + ")";
        if (e.attributes.at("data-lead") != lead || e.attributes.at("clip-path") != clip) continue;
        for (const Element& p : doc.elements)
            if (p.name == "polyline" && p.parent == static_cast<int>(g)) out.push_back(points_of(p));
    }
    return out;
}

bool has_point(const std::vector<Pt>& pts, double x, double y) {
    for (const Pt& p : pts)
        if (std::abs(p.x - x) < 0.006 && std::abs(p.y - y) < 0.006) return true;
    return false;
}

EcgRecord flat_record(std::vector<std::string> leads, std::int64_t length = 5000, double fs = 500) {
    EcgRecord r;
    r.name = "flat";
    r.fs = fs;
    r.length = length;
    r.leads = std::move(leads);
    r.units.assign(r.leads.size(), "mV");
    r.samples.assign(r.leads.size() * static_cast<std::size_t>(length), 0.0);
    return r;
}

const std::vector<std::string> mimic_order{"I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6"};
const std::vector<std::string> ptbxl_order{"I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"};

std::int64_t index_of(const EcgRecord& r, const std::string& lead) {
    for (std::size_t c = 0; c < r.leads.size(); ++c)
        if (data::lead_key(r.leads[c]) == data::lead_key(lead)) return static_cast<std::int64_t>(c);
    FAIL("no lead " << lead);
    return -1;
}

}  // namespace

TEST_CASE("the XML checker accepts well-formed documents and rejects broken ones") {
    CHECK(parse_xml("<?xml version=\"1.0\"?>\n<a x=\"1\"><b/>t &amp; u<c y='2'></c></a>\n").error == "");
    CHECK(parse_xml("<a><b></a></b>").error != "");
    CHECK(parse_xml("<a><b></a>").error != "");
    CHECK(parse_xml("<a x=1></a>").error != "");
    CHECK(parse_xml("<a x=\"1\" x=\"2\"></a>").error != "");
    CHECK(parse_xml("<a>x & y</a>").error != "");
    CHECK(parse_xml("<a></a><b></b>").error != "");
    CHECK(parse_xml("<a>").error != "");
}

TEST_CASE("geometry: calibration pulse, column width and a known sample at the default scales") {
    EcgRecord r = flat_record(mimic_order);
    r.channel(index_of(r, "II"))[500] = 1.0;  // 1 mV at t = 1 s
    const EcgLayout L = plan_layout(r);
    REQUIRE(L.standard);
    REQUIRE(L.panels.size() == 13);
    REQUIRE(L.row_baseline_mm.size() == 4);

    // Four columns of 2.5 s = 62.5 mm each, starting at the signal origin; the rhythm strip spans all 250 mm.
    for (const Panel& p : L.panels) {
        if (p.row == 3) {
            CHECK(p.label == "II");
            CHECK(p.x_mm == doctest::Approx(L.signal_x_mm));
            CHECK(p.t1_s - p.t0_s == doctest::Approx(10));
            continue;
        }
        const double column = (p.x_mm - L.signal_x_mm) / 62.5;
        CHECK(column == doctest::Approx(std::round(column)));
        CHECK(p.t0_s == doctest::Approx(2.5 * std::round(column)));
        CHECK(p.t1_s - p.t0_s == doctest::Approx(2.5));
    }
    CHECK(L.panels[1].label == "aVR");
    CHECK(L.panels[1].x_mm - L.panels[0].x_mm == doctest::Approx(62.5));
    CHECK(L.grid_width_mm >= 250);
    CHECK(std::fmod(L.signal_x_mm - L.grid_x_mm, 5.0) == doctest::Approx(0));  // traces start on a bold line

    const std::string svg = render_svg(r);
    const XmlDocument doc = parse_xml(svg);
    REQUIRE(doc.error == "");
    const Element& root = doc.elements.at(0);
    CHECK(root.name == "svg");
    CHECK(root.attributes.at("width") == detail::mm(L.width_mm) + "mm");
    CHECK(root.attributes.at("height") == detail::mm(L.height_mm) + "mm");
    CHECK(root.attributes.at("viewBox") == "0 0 " + detail::mm(L.width_mm) + " " + detail::mm(L.height_mm));

    // Each row's calibration pulse: exactly 10 mm (1 mV) high and 5 mm (0.2 s) wide, standing on the baseline.
    int pulses = 0;
    for (const Element& e : doc.elements) {
        if (e.name != "polyline" || e.attributes.count("class") == 0 || e.attributes.at("class") != "calibration")
            continue;
        const auto pts = points_of(e);
        REQUIRE(pts.size() == 6);
        CHECK(pts[1].y - pts[2].y == doctest::Approx(10));
        CHECK(pts[3].x - pts[2].x == doctest::Approx(5));
        CHECK(pts[0].y == doctest::Approx(L.row_baseline_mm[static_cast<std::size_t>(pulses)]));
        CHECK(pts[5].x < L.signal_x_mm);
        ++pulses;
    }
    CHECK(pulses == 4);

    // The 1 mV sample at 1 s: 25 mm right of the start and 10 mm above the baseline, in II's first column and in
    // the rhythm strip; the flat leads stay on their baselines.
    const auto ii = traces(doc, "II", 1), strip = traces(doc, "II", 3);
    REQUIRE(ii.size() == 1);
    REQUIRE(strip.size() == 1);
    CHECK(has_point(ii[0], L.signal_x_mm + 25, L.row_baseline_mm[1] - 10));
    CHECK(has_point(strip[0], L.signal_x_mm + 25, L.row_baseline_mm[3] - 10));
    const auto v1 = traces(doc, "V1", 0);
    REQUIRE(v1.size() == 1);
    CHECK(v1[0].size() == 2);  // a flat line needs only its two ends
    for (const Pt& p : v1[0]) CHECK(p.y == doctest::Approx(L.row_baseline_mm[0]));
    CHECK(v1[0].front().x == doctest::Approx(L.signal_x_mm + 125));
}

TEST_CASE("leads are placed by name: PTB-XL (aVL before aVF, upper case) and MIMIC-IV-ECG order") {
    for (const auto* order : {&ptbxl_order, &mimic_order}) {
        CAPTURE((*order)[4]);
        EcgRecord r = flat_record(*order);
        // Every lead a constant that names it: 0.1 mV x (its position in the standard list + 1).
        const std::vector<std::string> standard = data::standard_lead_order();
        for (std::size_t k = 0; k < standard.size(); ++k)
            for (double& v : r.channel(index_of(r, standard[k]))) v = 0.1 * static_cast<double>(k + 1);
        const EcgLayout L = plan_layout(r);
        const XmlDocument doc = parse_xml(render_svg(r));
        REQUIRE(doc.error == "");
        const std::vector<std::string> printed{"I",  "aVR", "V1",  "V4",  "II", "aVL",
                                               "V2", "V5",  "III", "aVF", "V3", "V6"};
        REQUIRE(L.panels.size() == 13);
        for (std::size_t k = 0; k < 12; ++k) {
            const Panel& p = L.panels[k];
            CHECK(p.label == printed[k]);
            CHECK(p.row == static_cast<int>(k / 4));
            CHECK(data::lead_key(r.leads[static_cast<std::size_t>(p.channel)]) == data::lead_key(printed[k]));
            // The drawn height says which lead it is.
            const auto pos = std::find(standard.begin(), standard.end(), printed[k]) - standard.begin();
            const auto t = traces(doc, r.leads[static_cast<std::size_t>(p.channel)], p.row);
            REQUIRE(t.size() == 1);
            CHECK(t[0].front().y == doctest::Approx(p.baseline_mm - static_cast<double>(pos + 1)));
        }
        // The labels are printed in the standard spelling whatever the file says.
        int avr_labels = 0;
        for (const Element& e : doc.elements)
            if (e.name == "text" && e.text == "aVR") ++avr_labels;
        CHECK(avr_labels == 1);
    }
}

TEST_CASE("NaN and infinite samples break the trace; they never become coordinates") {
    EcgRecord r = flat_record(mimic_order);
    auto lead_i = r.channel(index_of(r, "I"));
    for (int t = 0; t < 1250; ++t) lead_i[static_cast<std::size_t>(t)] = 0.5 * std::sin(t * 0.05);
    for (int t = 100; t < 200; ++t) lead_i[static_cast<std::size_t>(t)] = nan_v;
    lead_i[600] = std::numeric_limits<double>::infinity();
    lead_i[800] = nan_v;
    lead_i[802] = nan_v;                                       // sample 801 stands alone: drawn as a dot
    for (double& v : r.channel(index_of(r, "V6"))) v = nan_v;  // a lead that is all invalid
    const EcgLayout L = plan_layout(r);
    const std::string svg = render_svg(r);
    CHECK(svg.find("nan") == std::string::npos);
    CHECK(svg.find("inf") == std::string::npos);
    const XmlDocument doc = parse_xml(svg);
    REQUIRE(doc.error == "");
    const auto runs = traces(doc, "I", 0);
    REQUIRE(runs.size() == 5);  // [0,100) [200,600) [601,800) [801] [803,1250)
    const double dx = 25.0 / 500;
    CHECK(runs[0].back().x == doctest::Approx(L.signal_x_mm + 99 * dx).epsilon(1e-3));
    CHECK(runs[1].front().x == doctest::Approx(L.signal_x_mm + 200 * dx).epsilon(1e-3));
    CHECK(runs[1].back().x == doctest::Approx(L.signal_x_mm + 599 * dx).epsilon(1e-3));
    CHECK(runs[2].front().x == doctest::Approx(L.signal_x_mm + 601 * dx).epsilon(1e-3));
    REQUIRE(runs[3].size() == 2);
    CHECK(runs[3][0].x == runs[3][1].x);
    CHECK(runs[3][0].x == doctest::Approx(L.signal_x_mm + 801 * dx).epsilon(1e-3));
    CHECK(traces(doc, "V6", 2).empty());
    // The same gaps in the rhythm-strip-less rows layout.
    RenderOptions rows;
    rows.layout = Layout::rows;
    const XmlDocument rows_doc = parse_xml(render_svg(r, rows));
    REQUIRE(rows_doc.error == "");
    CHECK(traces(rows_doc, "I", 0).size() == 5);
}

TEST_CASE("the SVG stays well-formed with any name and caption, and with clipping boxes per row") {
    EcgRecord r = flat_record(mimic_order, 2000);
    r.name = "dir/<rec> & \"odd\" 'name'\x01";
    for (double& v : r.channel(0)) v = 7.5;  // far above its 40 mm row: clipped, still drawn
    RenderOptions o;
    o.caption = "atrial fibrillation & right bundle branch block <RBBB>";
    const std::string svg = render_svg(r, o);
    const XmlDocument doc = parse_xml(svg);
    REQUIRE(doc.error == "");
    CHECK(svg.find("atrial fibrillation &amp; right bundle branch block &lt;RBBB&gt;") != std::string::npos);
    int clips = 0;
    for (const Element& e : doc.elements) clips += e.name == "clipPath";
    CHECK(clips == 4);
    const auto t = traces(doc, "I", 0);
    REQUIRE(t.size() == 1);
    CHECK(t[0][0].y == doctest::Approx(plan_layout(r).row_baseline_mm[0] - 75));
    // Absurd values are clamped, never written as huge numbers.
    for (double& v : r.channel(1)) v = 1e300;
    const std::string huge = render_svg(r);
    CHECK(parse_xml(huge).error == "");
    CHECK(huge.find("e+") == std::string::npos);
}

TEST_CASE("bytes that are not well-formed UTF-8 in names become '?'; valid UTF-8 is kept") {
    EcgRecord r = flat_record(mimic_order, 2000);
    r.name = "caf\xe9 \xce\xbc \xed\xa0\x80 \xc0\xaf \xef\xbf\xbe \xe2\x82";  // Latin-1, mu, surrogate, overlong...
    r.leads[7] = "V2\xff";
    const std::string svg = render_svg(r, {.caption = "\xf4\x90\x80\x80 \xe2\x82\xac", .layout = Layout::rows});
    CHECK(parse_xml(svg).error == "");
    CHECK(svg.find("caf? \xce\xbc ??? ?? ??? ??") != std::string::npos);
    CHECK(svg.find("data-lead=\"V2?\"") != std::string::npos);
    CHECK(svg.find("???? \xe2\x82\xac") != std::string::npos);  // above U+10FFFF; the euro sign stays
    for (std::size_t i = 0; i < svg.size(); ++i) {              // the whole document is well-formed UTF-8
        if (static_cast<unsigned char>(svg[i]) < 0x80) continue;
        const std::size_t len = fgclep::synth::detail::utf8_sequence(svg, i);
        REQUIRE(len > 0);
        i += len - 1;
    }
}

TEST_CASE("options change the scales and the layout") {
    EcgRecord r = flat_record(mimic_order);
    r.channel(index_of(r, "II"))[500] = 1.0;
    RenderOptions o;
    o.speed_mm_per_s = 50;
    o.gain_mm_per_mv = 20;
    o.duration_s = 5;
    const EcgLayout L = plan_layout(r, o);
    CHECK(L.panels[1].x_mm - L.panels[0].x_mm == doctest::Approx(62.5));  // 1.25 s columns at 50 mm/s
    CHECK(L.panels[1].t0_s == doctest::Approx(1.25));
    const XmlDocument doc = parse_xml(render_svg(r, o));
    REQUIRE(doc.error == "");
    CHECK(has_point(traces(doc, "II", 3).at(0), L.signal_x_mm + 50, L.row_baseline_mm[3] - 20));
    for (const Element& e : doc.elements)
        if (e.name == "polyline" && e.attributes.count("class") && e.attributes.at("class") == "calibration") {
            const auto pts = points_of(e);
            CHECK(pts[1].y - pts[2].y == doctest::Approx(20));
            CHECK(pts[3].x - pts[2].x == doctest::Approx(10));
        }

    RenderOptions other_strip;
    other_strip.rhythm_lead = "v1";
    CHECK(plan_layout(r, other_strip).panels.back().label == "V1");
    RenderOptions no_strip;
    no_strip.rhythm_lead = "";
    CHECK(plan_layout(r, no_strip).panels.size() == 12);
    CHECK(plan_layout(r, no_strip).height_mm < plan_layout(r).height_mm);
    RenderOptions start;
    start.start_s = 2;
    const EcgLayout S = plan_layout(r, start);
    CHECK(S.panels.back().t0_s == doctest::Approx(2));
    CHECK(S.panels.back().t1_s == doctest::Approx(10));  // clipped to the record's end
    RenderOptions no_grid;
    no_grid.grid = false;
    CHECK(render_svg(r, no_grid).find("grid-minor") == std::string::npos);
    CHECK(render_svg(r).find("grid-minor") != std::string::npos);
}

TEST_CASE("records that are not 12-lead get one full-length row per channel; units are converted to mV") {
    EcgRecord r = flat_record({"MLII", "V5", "RESP"}, 3600, 360);
    r.units = {"mV", "uV", "mmHg"};
    r.channel(0)[360] = 1.0;
    r.channel(1)[360] = 1000.0;  // 1 mV in microvolts
    r.channel(2)[360] = 1.0;
    const EcgLayout L = plan_layout(r);
    CHECK_FALSE(L.standard);
    REQUIRE(L.panels.size() == 3);
    CHECK(L.panels[2].label == "RESP (mmHg)");
    const XmlDocument doc = parse_xml(render_svg(r));
    REQUIRE(doc.error == "");
    for (int c = 0; c < 3; ++c) {
        CHECK(L.panels[static_cast<std::size_t>(c)].t1_s == doctest::Approx(10));
        CHECK(has_point(traces(doc, r.leads[static_cast<std::size_t>(c)], c).at(0), L.signal_x_mm + 25,
                        L.row_baseline_mm[static_cast<std::size_t>(c)] - 10));
    }
    // The real MIT-BIH record 100 (2 channels, 360 Hz): two rows.
    const EcgRecord mitdb = data::read_ecg(wfdb_dir + "/100", [] {
        data::WfdbReadOptions o;
        o.to = 3600;
        return o;
    }());
    const EcgLayout M = plan_layout(mitdb);
    CHECK(M.panels.size() == 2);
    CHECK(parse_xml(render_svg(mitdb)).error == "");
}

TEST_CASE("simplification keeps every sample within simplify_mm of the drawn line, and files stay small") {
    // A noisy 12 x 5000 record: sharp spikes plus noise, the worst case for the point count.
    EcgRecord r = flat_record(mimic_order);
    std::mt19937_64 rng(7);
    std::normal_distribution<double> noise(0, 0.02);
    for (std::int64_t c = 0; c < 12; ++c) {
        auto ch = r.channel(c);
        for (std::size_t t = 0; t < ch.size(); ++t)
            ch[t] = 0.1 * std::sin(0.002 * static_cast<double>(t)) + noise(rng) + ((t % 400) < 10 ? 1.5 : 0.0);
    }
    const std::string svg = render_svg(r);
    CHECK(svg.size() < 300 * 1024);
    MESSAGE("noisy 12 x 5000 record: " << svg.size() << " bytes");

    RenderOptions every;
    every.simplify_mm = 0;
    const XmlDocument all = parse_xml(render_svg(r, every));
    REQUIRE(all.error == "");
    CHECK(traces(all, "II", 3).at(0).size() == 5000);
    CHECK(traces(all, "I", 0).at(0).size() == 1250);

    // Every original point (as drawn without simplification) lies within the tolerance (+ rounding) of the
    // simplified polyline.
    const XmlDocument simple = parse_xml(svg);
    const auto full = traces(all, "II", 3).at(0), kept = traces(simple, "II", 3).at(0);
    CHECK(kept.size() < full.size());
    std::size_t seg = 0;
    double worst = 0;
    for (const Pt& p : full) {
        while (seg + 1 < kept.size() - 1 && kept[seg + 1].x < p.x - 1e-9) ++seg;
        const Pt a = kept[seg], b = kept[seg + 1];
        const double dx = b.x - a.x, dy = b.y - a.y, len = std::hypot(dx, dy);
        const double d =
            len > 0 ? std::abs(dx * (p.y - a.y) - dy * (p.x - a.x)) / len : std::hypot(p.x - a.x, p.y - a.y);
        worst = std::max(worst, d);
    }
    CHECK(worst <= 0.02 + 0.015);
}

TEST_CASE("the real PTB-XL record 00001_lr renders as a 12-lead ECG") {
    const EcgRecord r = data::read_ecg(wfdb_dir + "/00001_lr");
    const EcgLayout L = plan_layout(r);
    CHECK(L.standard);
    CHECK(L.panels.size() == 13);
    const std::string svg = render_svg(r, {.caption = "PTB-XL 00001_lr"});
    CHECK(svg.size() < 300 * 1024);
    const XmlDocument doc = parse_xml(svg);
    REQUIRE(doc.error == "");
    CHECK(traces(doc, "AVF", 2).size() == 1);  // aVF (upper case in the file): row 3 of the block, column 2
    CHECK(traces(doc, "II", 3).at(0).size() > 100);
}

TEST_CASE("write_svg writes the picture atomically") {
    const auto dir = std::filesystem::temp_directory_path() / "fgclep_test_render";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const EcgRecord r = flat_record(mimic_order, 1000);
    write_svg(dir / "a.svg", r);
    std::ifstream in(dir / "a.svg", std::ios::binary);
    const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(content == render_svg(r));
    CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 1);
    CHECK_THROWS_WITH(write_svg(dir / "missing" / "a.svg", r), doctest::Contains("cannot create"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("errors say what is wrong with the record or the options") {
    EcgRecord empty;
    empty.name = "empty";
    CHECK_THROWS_WITH(render_svg(empty), doctest::Contains("record 'empty': it has no samples"));
    EcgRecord no_fs = flat_record({"I"}, 10, 0);
    CHECK_THROWS_WITH(render_svg(no_fs), doctest::Contains("sampling frequency is 0 Hz"));
    EcgRecord broken = flat_record({"I"}, 10);
    broken.samples.pop_back();
    CHECK_THROWS_WITH(render_svg(broken), doctest::Contains("samples stored"));

    const EcgRecord r = flat_record(mimic_order, 1000);
    RenderOptions strip;
    strip.rhythm_lead = "MLII";
    CHECK_THROWS_WITH(render_svg(r, strip), doctest::Contains("no lead 'MLII'"));
    RenderOptions standard;
    standard.layout = Layout::standard;
    CHECK_THROWS_WITH(render_svg(flat_record({"I", "II", "V1"}, 100), standard),
                      doctest::Contains("lead(s) aVR, V4, aVL, V2, V5, III, aVF, V3, V6 missing (it has I, II, V1)"));
    RenderOptions speed;
    speed.speed_mm_per_s = -25;
    CHECK_THROWS_WITH(render_svg(r, speed), doctest::Contains("speed_mm_per_s must be positive, got -25"));
    RenderOptions gain;
    gain.gain_mm_per_mv = 0;
    CHECK_THROWS_WITH(render_svg(r, gain), doctest::Contains("gain_mm_per_mv must be positive"));
    RenderOptions late;
    late.start_s = 2;
    CHECK_THROWS_WITH(render_svg(r, late), doctest::Contains("start_s 2 is past its end (2 s)"));
    CHECK_THROWS_WITH(render_svg(empty), doctest::Contains("fgclep: cannot render record"));
}
