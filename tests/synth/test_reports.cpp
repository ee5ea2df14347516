// Machine-style reports (synth/report.hpp): they name every condition, state the waveform features for the
// configured share of records only, keep at least 4 words after MIMIC-IV-ECG cleaning, and are deterministic.
#include "fgclep/synth/report.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

using namespace fgclep::synth;

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// The sentences of a cleaned report ("a. b c. d." -> {"a", "b c", "d"}).
std::vector<std::string> sentences(std::string text) {
    REQUIRE(!text.empty());
    REQUIRE(text.back() == '.');
    text.pop_back();
    std::vector<std::string> out;
    for (std::size_t at = 0;;) {
        const std::size_t end = text.find(". ", at);
        out.push_back(text.substr(at, end == std::string::npos ? std::string::npos : end - at));
        if (end == std::string::npos) break;
        at = end + 2;
    }
    return out;
}

bool has_sentence(const std::vector<std::string>& s, std::string_view x) {
    return std::find(s.begin(), s.end(), x) != s.end();
}

// A random plausible-enough condition set: one rhythm and up to 4 others (the report does not check plausibility).
std::vector<Condition> random_conditions(fgclep::HostRng& r) {
    static const Condition rhythms[] = {Condition::sinus_rhythm, Condition::sinus_bradycardia,
                                        Condition::sinus_tachycardia, Condition::atrial_fibrillation,
                                        Condition::atrial_flutter};
    std::vector<Condition> c{rhythms[r.next() % 5]};
    const auto extras = r.next() % 5;
    for (std::uint64_t k = 0; k < extras; ++k) c.push_back(static_cast<Condition>(5 + r.next() % 11));
    std::sort(c.begin(), c.end());
    c.erase(std::unique(c.begin(), c.end()), c.end());
    return c;
}

std::vector<Feature> features_of(const std::vector<Condition>& conditions) {
    std::vector<Feature> f;
    for (Condition c : conditions)
        for (Feature x : defining_features(c)) f.push_back(x);
    std::sort(f.begin(), f.end());
    f.erase(std::unique(f.begin(), f.end()), f.end());
    return f;
}

}  // namespace

TEST_CASE("report wording: the plain phrasing is statement(c), feature statements lower-case to phrase(f)") {
    for (std::size_t i = 0; i < condition_count; ++i) {
        const auto c = static_cast<Condition>(i);
        const auto options = condition_phrasings(c);
        REQUIRE(!options.empty());
        CHECK(lower(options[0]) == statement(c));
        for (std::string_view p : options) CHECK(p.find(". ") == std::string_view::npos);
    }
    for (std::size_t i = 0; i < feature_count; ++i) {
        const auto f = static_cast<Feature>(i);
        CHECK(lower(feature_statement(f)) == phrase(f));
        CHECK(feature_statement(f).front() >= 'A');
        CHECK(feature_statement(f).front() <= 'Z');
    }
}

TEST_CASE("reports name their conditions, state features only when chosen, end with the summary") {
    fgclep::HostRng r(11);
    std::set<std::string> distinct;
    for (int n = 0; n < 3000; ++n) {
        const auto conditions = random_conditions(r);
        const auto features = features_of(conditions);
        const double hr = r.uniform(40, 150);
        const MachineReport report = make_report(conditions, features, hr, 1000 + n);
        REQUIRE(report.fields.size() <= max_report_fields);
        for (const auto& f : report.fields) CHECK(f.find('\n') == std::string::npos);
        const auto cleaned = cleaned_report(report);
        CHECK(cleaned.words >= 4);
        distinct.insert(cleaned.text);
        const auto s = sentences(cleaned.text);
        for (Condition c : conditions) {
            const auto options = condition_phrasings(c);
            const bool named = std::any_of(options.begin(), options.end(),
                                           [&](std::string_view p) { return has_sentence(s, lower(p)); });
            CHECK_MESSAGE(named, "'" << cleaned.text << "' does not name " << statement(c));
        }
        // Every feature sentence is a feature of the record, and all are there when the report states them.
        for (std::size_t i = 0; i < feature_count; ++i) {
            const auto f = static_cast<Feature>(i);
            const bool present = std::find(features.begin(), features.end(), f) != features.end();
            if (has_sentence(s, phrase(f))) CHECK_MESSAGE(present, cleaned.text << " states " << phrase(f));
            if (report.states_features && present) CHECK_MESSAGE(has_sentence(s, phrase(f)), cleaned.text);
        }
        if (!report.states_features)  // only a diagnosis worded like its feature ("prolonged qt interval") remains
            for (Feature f : features)
                if (has_sentence(s, phrase(f)))
                    CHECK((f == Feature::prolonged_pr_interval || f == Feature::prolonged_qt_interval));
        const std::string expected_summary = lower(summary_statement(summarize(conditions)));
        CHECK(s.back() == expected_summary);
    }
    CHECK(distinct.size() > 1000);  // phrasings and combinations vary
}

TEST_CASE("summaries: normal only for sinus rhythm alone; AF qualified by its rate") {
    const std::vector<Condition> sinus{Condition::sinus_rhythm};
    CHECK(summarize(sinus) == Summary::normal);
    const std::vector<Condition> avb{Condition::sinus_rhythm, Condition::first_degree_av_block};
    CHECK(summarize(avb) == Summary::borderline);
    const std::vector<Condition> mi{Condition::sinus_rhythm, Condition::inferior_infarction};
    CHECK(summarize(mi) == Summary::abnormal);
    const std::vector<Condition> af{Condition::atrial_fibrillation};
    const auto fast = make_report(af, {}, 130, 3);
    CHECK(fast.fields.front() == "Atrial fibrillation with rapid ventricular response");
    CHECK(make_report(af, {}, 80, 3).fields.front() == "Atrial fibrillation");
    CHECK(make_report(af, {}, 50, 3).fields.front() == "Atrial fibrillation with slow ventricular response");
    // The smallest reports still have 4 words, as the loader requires.
    CHECK(cleaned_report(make_report(sinus, {}, 70, 1)).words >= 4);
    CHECK(cleaned_report(make_report({}, {}, 0, 1)).words >= 4);
    const std::vector<Condition> flutter{Condition::atrial_flutter};
    CHECK(cleaned_report(make_report(flutter, {}, 75, 1)).words >= 4);
}

TEST_CASE("the feature-omission share is 55% by default and configurable") {
    const std::vector<Condition> c{Condition::sinus_rhythm, Condition::first_degree_av_block};
    const std::vector<Feature> f{Feature::prolonged_pr_interval};
    const auto share = [&](std::optional<double> omit) {
        int omitted = 0;
        const int n = 4000;
        for (int i = 0; i < n; ++i) {
            ReportOptions o;
            if (omit) o.omit_features = *omit;
            omitted += make_report(c, f, 70, static_cast<std::uint64_t>(i) * 7919u, o).states_features ? 0 : 1;
        }
        return static_cast<double>(omitted) / n;
    };
    CHECK(share(std::nullopt) == doctest::Approx(0.55).epsilon(0.05));  // binomial sd 0.8%: 5% relative is ~3.5 sd
    CHECK(share(0.2) == doctest::Approx(0.2).epsilon(0.12));
    CHECK(share(0.0) == 0.0);
    CHECK(share(1.0) == 1.0);
    CHECK_THROWS_WITH(make_report(c, f, 70, 1, {.omit_features = 1.5}),
                      doctest::Contains("omit_features must be in [0, 1], got 1.5"));
}

TEST_CASE("reports are deterministic by seed and fit 18 fields whatever the record holds") {
    std::vector<Condition> all;
    for (std::size_t i = 0; i < condition_count; ++i) all.push_back(static_cast<Condition>(i));
    std::vector<Feature> every;
    for (std::size_t i = 0; i < feature_count; ++i) every.push_back(static_cast<Feature>(i));
    const auto a = make_report(all, every, 120, 42, {.omit_features = 0});
    const auto b = make_report(all, every, 120, 42, {.omit_features = 0});
    CHECK(a.fields == b.fields);
    CHECK(a.fields.size() == max_report_fields);
    const auto s = sentences(cleaned_report(a).text);
    for (Feature f : every) CHECK(has_sentence(s, phrase(f)));
    CHECK(s.back() == "abnormal ecg");
    int differ = 0;
    for (std::uint64_t seed = 0; seed < 50; ++seed)
        differ += make_report(all, every, 120, seed).fields != make_report(all, every, 120, seed + 1000).fields;
    CHECK(differ > 25);
}
