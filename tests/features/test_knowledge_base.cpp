// The embedded knowledge base of stage 2: matching on crafted reports (word boundaries, synonyms, overlaps,
// order), recall of the synthetic corpus's true features among the candidates of generated reports, user
// knowledge bases from JSON, and errors naming the file.
#include "error_text.hpp"
#include "fgclep/features/candidate_source.hpp"
#include "fgclep/features/knowledge_base.hpp"
#include "fgclep/synth/conditions.hpp"
#include "fgclep/synth/report.hpp"
#include "fgclep/synth/simulator.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include <unistd.h>

using fgclep::test::error_text;

using namespace fgclep;
using features::KnowledgeBase;

namespace {

bool contains(const std::vector<std::string>& list, std::string_view x) {
    return std::find(list.begin(), list.end(), x) != list.end();
}

std::filesystem::path temp_file(const std::string& name, const std::string& content) {
    const auto dir = std::filesystem::temp_directory_path() / ("fgclep-test-kb-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto path = dir / name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
}

// A source with reports, as EcgDataset has them.
struct Reports {
    std::vector<std::string> texts;
    std::int64_t size() const { return static_cast<std::int64_t>(texts.size()); }
    const std::string& report(std::int64_t i) const { return texts[static_cast<std::size_t>(i)]; }
};

}  // namespace

static_assert(features::CandidateSource<KnowledgeBase>);
static_assert(features::CandidateSource<const KnowledgeBase>);
static_assert(!features::CandidateSource<int>);

TEST_CASE("words: lower case, split at punctuation, apostrophes kept inside words, ordinals in one spelling") {
    CHECK(features::match_words("1st degree A-V block.") ==
          std::vector<std::string>{"1st", "degree", "a", "v", "block"});
    CHECK(features::match_words("First degree AV block") == std::vector<std::string>{"1st", "degree", "av", "block"});
    CHECK(features::match_words("RSR' pattern in V1") == std::vector<std::string>{"rsr'", "pattern", "in", "v1"});
    CHECK(features::match_words("'quoted' ST-T") == std::vector<std::string>{"quoted'", "st", "t"});
    CHECK(features::match_words("  ...  ").empty());
}

TEST_CASE("matching crafted reports: statements, synonyms, word boundaries, overlaps, order") {
    const KnowledgeBase kb = KnowledgeBase::builtin();
    CHECK(kb.statements("sinus rhythm. 1st degree av block. borderline ecg.") ==
          std::vector<std::string>{"sinus rhythm", "1st degree av block"});
    // Synonyms of one statement all find it.
    for (const char* r : {"afib.", "a-fib with rvr", "Atrial Fibrillation.", "atrial fib", "AFib, controlled"})
        CHECK_MESSAGE(kb.statements(r) == std::vector<std::string>{"atrial fibrillation"}, r);
    for (const char* r : {"first degree av block", "1st degree A-V block", "1st degree AV block",
                          "First-degree AV block", "prolonged pr interval"})
        CHECK_MESSAGE(kb.statements(r) == std::vector<std::string>{"1st degree av block"}, r);
    CHECK(kb.statements("rbbb and lafb") ==
          std::vector<std::string>{"right bundle branch block", "left anterior fascicular block"});
    CHECK(kb.statements("wolff-parkinson-white pattern") == std::vector<std::string>{"wpw"});
    CHECK(kb.statements("ventricular paced rhythm") == std::vector<std::string>{"pacemaker"});
    // Whole words only: "lvh" is not in "nlvh", "sinus rhythm" not in "sinus rhythms"; nothing to match in a summary.
    CHECK(kb.statements("nlvh. sinus rhythms. normal ecg.").empty());
    // The longer of two overlapping statements wins.
    CHECK(kb.statements("incomplete right bundle branch block") ==
          std::vector<std::string>{"incomplete right bundle branch block"});
    CHECK(kb.statements("st-t changes suggestive of ischemia") ==
          std::vector<std::string>{"st-t changes suggestive of ischemia"});
    CHECK(kb.statements("lateral st-t changes are probably due to ischemia") ==
          std::vector<std::string>{"nonspecific st-t abnormality", "st-t changes suggestive of ischemia"});
    // Sentences: a statement does not span two; one with a negation cue states nothing.
    CHECK(kb.statements("left bundle. branch block. sinus. rhythm.").empty());
    CHECK(kb.statements("atrial fibrillation no longer present. sinus rhythm.") ==
          std::vector<std::string>{"sinus rhythm"});
    CHECK(kb.statements("no evidence of lvh; rbbb.") == std::vector<std::string>{"right bundle branch block"});
    CHECK(kb.statements("qtc 0.48 s prolonged qt interval.") == std::vector<std::string>{"prolonged qt interval"});
    CHECK(KnowledgeBase::sentences("a. b;c.d. ") == std::vector<std::string_view>{"a", " b", "c.d", " "});
    // Report order, each statement once.
    CHECK(kb.statements("lvh. sinus bradycardia. left ventricular hypertrophy.") ==
          std::vector<std::string>{"left ventricular hypertrophy", "sinus bradycardia"});

    // Candidates: the union in order of the statements, duplicates dropped at first occurrence.
    const auto c = kb.candidates("atrial fibrillation. left bundle branch block.");
    const auto& af = kb.find("atrial fibrillation")->features;
    REQUIRE(c.size() >= af.size());
    CHECK(std::equal(af.begin(), af.end(), c.begin()));
    CHECK(std::set<std::string>(c.begin(), c.end()).size() == c.size());
    CHECK(contains(c, "irregularly irregular rr intervals"));
    CHECK(contains(c, "absent p waves"));
    CHECK(contains(c, "fibrillatory waves"));
    CHECK(contains(c, "narrow qrs complex"));
    CHECK(contains(c, "wide qrs complex"));
    CHECK(contains(c, "broad notched r wave in v6"));
    CHECK(kb.candidates("normal ecg.").empty());
    // One feature belongs to several diagnoses, and a diagnosis proposes more than one feature.
    for (const char* s :
         {"right bundle branch block", "left bundle branch block", "ventricular premature complexes", "wpw"})
        CHECK_MESSAGE(contains(kb.find(s)->features, "wide qrs complex"), s);
    for (const auto& e : kb.entries()) {
        CHECK_MESSAGE(e.features.size() >= 2, e.statement);
        CHECK_MESSAGE(e.defining >= 1, e.statement);
    }
    // The batch form answers one list per report.
    const std::vector<std::string> reports{"sinus rhythm.", "normal ecg.", "rbbb."};
    const auto lists = kb.candidates(std::span<const std::string>(reports));
    REQUIRE(lists.size() == 3);
    CHECK(lists[0] == kb.candidates("sinus rhythm."));
    CHECK(lists[1].empty());
    CHECK(lists[2] == kb.find("right bundle branch block")->features);
}

TEST_CASE("the table covers the synthetic conditions: every phrasing proposes the defining features") {
    const KnowledgeBase kb = KnowledgeBase::builtin();
    const auto all = kb.all_features();
    for (std::size_t f = 0; f < synth::feature_count; ++f)
        CHECK_MESSAGE(contains(all, synth::phrase(static_cast<synth::Feature>(f))),
                      synth::phrase(static_cast<synth::Feature>(f)));
    for (std::size_t i = 0; i < synth::condition_count; ++i) {
        const auto c = static_cast<synth::Condition>(i);
        for (std::string_view phrasing : synth::condition_phrasings(c)) {
            const auto candidates = kb.candidates(std::string(phrasing) + ".");
            CHECK_MESSAGE(!candidates.empty(), phrasing);
            for (synth::Feature f : synth::defining_features(c))
                CHECK_MESSAGE(contains(candidates, synth::phrase(f)), phrasing, " -> ", synth::phrase(f));
        }
    }
}

TEST_CASE("generated synthetic reports: candidates include every true feature (recall 100%), and more") {
    const KnowledgeBase kb = KnowledgeBase::builtin();
    std::int64_t true_features = 0, recovered = 0, candidates_in_vocabulary = 0, candidates_true = 0, records = 0;
    std::vector<std::string> vocabulary;
    for (std::size_t f = 0; f < synth::feature_count; ++f)
        vocabulary.emplace_back(synth::phrase(static_cast<synth::Feature>(f)));
    auto check_record = [&](const std::vector<synth::Condition>& conditions, const std::vector<synth::Feature>& truth,
                            double rate, std::uint64_t seed, double omit) {
        const auto report = synth::make_report(conditions, truth, rate, seed, {.omit_features = omit});
        const std::string text = synth::cleaned_report(report).text;
        const auto candidates = kb.candidates(text);
        ++records;
        for (synth::Feature f : truth) {
            ++true_features;
            const bool found = contains(candidates, synth::phrase(f));
            recovered += found;
            CHECK_MESSAGE(found, text, " misses ", synth::phrase(f));
        }
        for (const auto& c : candidates)
            if (contains(vocabulary, c)) {
                ++candidates_in_vocabulary;
                candidates_true +=
                    std::any_of(truth.begin(), truth.end(), [&](auto f) { return synth::phrase(f) == c; });
            }
    };
    // Simulated records (signal, rate and features from the simulator), reports with and without feature statements.
    for (std::uint64_t i = 0; i < 60; ++i) {
        const auto conditions = synth::sample_conditions(1000 + i);
        const auto sim =
            synth::simulate(std::span<const synth::Condition>(conditions), 2000 + i, {.fs = 100, .seconds = 10});
        check_record(sim.conditions, sim.features, sim.heart_rate_bpm, 3000 + i, i % 2 ? 1.0 : 0.0);
    }
    // Many more reports from sampled conditions (the report needs only conditions, features and a rate).
    HostRng rng(11);
    for (std::uint64_t i = 0; i < 3000; ++i) {
        const auto conditions = synth::sample_conditions(50000 + i);
        std::vector<synth::Feature> truth;
        for (auto c : conditions)
            for (auto f : synth::defining_features(c))
                if (std::find(truth.begin(), truth.end(), f) == truth.end()) truth.push_back(f);
        std::sort(truth.begin(), truth.end());
        check_record(conditions, truth, rng.uniform(40, 150), 70000 + i, 1.0);
    }
    const double recall = static_cast<double>(recovered) / static_cast<double>(true_features);
    const double precision = static_cast<double>(candidates_true) / static_cast<double>(candidates_in_vocabulary);
    MESSAGE("knowledge base on ", records, " synthetic reports: recall ", recall, " of ", true_features,
            " true features; precision ", precision, " of candidates the ground truth can judge");
    CHECK(true_features > 3000);
    CHECK(recall == 1.0);
    // The distractors are there: validation has candidates to reject.
    CHECK(precision < 0.95);
    CHECK(precision > 0.3);
}

TEST_CASE("propose_candidates over a record source, in chunks") {
    const KnowledgeBase kb = KnowledgeBase::builtin();
    Reports reports{{"sinus rhythm.", "afib.", "normal ecg.", "lbbb.", "sinus bradycardia."}};
    std::vector<std::int64_t> seen;
    const auto all =
        features::propose_candidates(kb, reports, {.chunk = 2, .progress = [&](std::int64_t done, std::int64_t total) {
                                                       CHECK(total == 5);
                                                       seen.push_back(done);
                                                   }});
    REQUIRE(all.size() == 5);
    for (std::size_t i = 0; i < 5; ++i) CHECK(all[i] == kb.candidates(reports.texts[i]));
    CHECK(seen == std::vector<std::int64_t>{2, 4, 5});
    struct Broken {
        std::vector<std::vector<std::string>> candidates(std::span<const std::string>) { return {}; }
    } broken;
    CHECK(error_text([&] { features::propose_candidates(broken, reports); }).find("0 lists for 5 reports") !=
          std::string::npos);
}

TEST_CASE("a user knowledge base from JSON: added to the built-in one, replacing it, or alone") {
    const auto path = temp_file("user.json", R"({
        "Sinus Rhythm": ["regular p waves"],
        "brugada pattern": {"aliases": ["brugada", "type 1 brugada"],
                            "features": ["coved st elevation in v1-v2", "rsr' pattern in v1"]}
    })");
    const KnowledgeBase user = KnowledgeBase::from_json_file(path);
    CHECK(user.size() == 2);
    CHECK(user.candidates("sinus rhythm. type 1 brugada.") ==
          std::vector<std::string>{"regular p waves", "coved st elevation in v1-v2", "rsr' pattern in v1"});

    const KnowledgeBase merged = KnowledgeBase::load({.user_file = path});
    CHECK(merged.size() == KnowledgeBase::builtin().size() + 1);
    CHECK(merged.candidates("normal sinus rhythm.") == std::vector<std::string>{"regular p waves"});  // aliases kept
    CHECK(merged.candidates("afib.") == KnowledgeBase::builtin().candidates("afib."));
    CHECK(merged.statements("brugada") == std::vector<std::string>{"brugada pattern"});

    const KnowledgeBase alone = KnowledgeBase::load({.user_file = path, .replace_builtin = true});
    CHECK(alone.size() == 2);
    CHECK(alone.candidates("afib.").empty());
    CHECK(alone.candidates("sinus rhythm.") == std::vector<std::string>{"regular p waves"});
    CHECK(alone.candidates("nsr.").empty());  // a built-in alias; the user's entry has none

    // The built-in table written as a user file reads back to the same knowledge base.
    const KnowledgeBase round = KnowledgeBase::from_json(KnowledgeBase::builtin().to_json());
    CHECK(round.size() == KnowledgeBase::builtin().size());
    for (const char* r : {"afib. lvh.", "1st degree a-v block. rbbb.", "inferior infarct - age undetermined."})
        CHECK(round.candidates(r) == KnowledgeBase::builtin().candidates(r));
}

TEST_CASE("user knowledge base errors name the file and what is wrong") {
    const auto missing = std::filesystem::temp_directory_path() / "fgclep-no-such-kb.json";
    CHECK(error_text([&] { KnowledgeBase::from_json_file(missing); }) ==
          "fgclep: knowledge base '" + missing.string() + "': cannot open the file");
    const auto bad = temp_file("bad.json", "{\"afib\": [\"absent p waves\",]");
    const std::string e1 = error_text([&] { KnowledgeBase::load({.user_file = bad}); });
    CHECK(e1.find(bad.string()) != std::string::npos);
    CHECK(e1.find("not valid JSON") != std::string::npos);
    const auto list = temp_file("list.json", "[\"afib\"]");
    CHECK(error_text([&] { KnowledgeBase::from_json_file(list); }).find("expected a JSON object") != std::string::npos);
    const auto number = temp_file("number.json", R"({"afib": ["absent p waves", 3]})");
    const std::string e2 = error_text([&] { KnowledgeBase::from_json_file(number); });
    CHECK(e2.find(number.string()) != std::string::npos);
    CHECK(e2.find("statement 'afib': features must be strings, got 3") != std::string::npos);
    const auto not_list = temp_file("notlist.json", R"({"afib": "absent p waves"})");
    CHECK(error_text([&] {
              KnowledgeBase::from_json_file(not_list);
          }).find("must be a list of strings, got a string") != std::string::npos);
    const auto key = temp_file("key.json", R"({"afib": {"feature": ["absent p waves"]}})");
    CHECK(error_text([&] { KnowledgeBase::from_json_file(key); }).find("unknown key 'feature'") != std::string::npos);
    const auto twice = temp_file("twice.json", R"({"AFib": ["a"], "afib": ["b"]})");
    CHECK(error_text([&] { KnowledgeBase::from_json_file(twice); }).find("'afib' is given twice") != std::string::npos);
    const auto empty_statement = temp_file("empty.json", R"({" - ": ["a"]})");
    CHECK(error_text([&] { KnowledgeBase::from_json_file(empty_statement); }).find("has no words to match") !=
          std::string::npos);
    CHECK(error_text([&] {
              KnowledgeBase::load({.user_file = {}, .replace_builtin = true});
          }).find("needs a user_file") != std::string::npos);
}
