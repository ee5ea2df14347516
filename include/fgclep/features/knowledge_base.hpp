#pragma once
// KnowledgeBase: FG-CLEP stage 2 without a language model. A curated table maps the diagnosis statements that
// machine ECG reports make ("sinus bradycardia", "1st degree av block", "rbbb") to waveform features a reader
// would measure; for a report, the candidates are the features of every statement it makes (a CandidateSource).
//
// The table lists several candidates per statement on purpose: validation keeps only those the stage-1 model finds
// in the ECG, so proposing too many is harmless, but missing a feature that a stated diagnosis implies is not.
// Matching (whole words, sentence by sentence, longest match wins, negated sentences state nothing), the sources of
// the criteria, user JSON knowledge bases and the whole table: docs/features.md.
#include "fgclep/core/error.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fgclep::features {

// One row of the built-in table. Lists are '|'-separated (feature phrases hold commas: "st elevation in ii, iii
// and avf"). `aliases` are further wordings of the statement; `defining` the features that define it;
// `associated` features that often, not always, go with it (what validation is there to reject).
struct KnowledgeRow {
    std::string_view statement;
    std::string_view aliases;
    std::string_view defining;
    std::string_view associated;
};

// clang-format off
inline constexpr KnowledgeRow builtin_knowledge[] = {
    // --- rhythm
    {"sinus rhythm", "normal sinus rhythm|nsr",
     "normal p waves|p wave before every qrs complex|regular rr intervals",
     "heart rate between 60 and 100 bpm|normal pr interval|narrow qrs complex"},
    {"sinus bradycardia", "marked sinus bradycardia|sinus brady",
     "heart rate below 60 bpm|normal p waves|p wave before every qrs complex",
     "regular rr intervals|prolonged qt interval|prolonged pr interval"},
    {"sinus tachycardia", "sinus tach",
     "heart rate above 100 bpm|normal p waves|p wave before every qrs complex",
     "regular rr intervals|short pr interval|st depression"},
    {"sinus arrhythmia", "marked sinus arrhythmia",
     "normal p waves|rr intervals varying with respiration",
     "heart rate below 60 bpm|p wave before every qrs complex"},
    {"atrial fibrillation",
     "afib|a fib|atrial fib|af with rapid ventricular response|af with slow ventricular response",
     "irregularly irregular rr intervals|absent p waves|fibrillatory waves",
     "narrow qrs complex|heart rate above 100 bpm|st depression"},
    {"atrial flutter", "aflutter|a flutter|atrial flutter with variable block|atrial flutter with 2:1 block",
     "sawtooth flutter waves|absent p waves|atrial rate about 300 bpm",
     "regular rr intervals|heart rate above 100 bpm|narrow qrs complex"},
    {"junctional rhythm", "junctional escape rhythm|accelerated junctional rhythm|av junctional rhythm",
     "absent p waves|narrow qrs complex|regular rr intervals",
     "inverted p waves in ii, iii and avf|heart rate below 60 bpm"},
    {"supraventricular tachycardia", "svt|paroxysmal supraventricular tachycardia",
     "heart rate above 100 bpm|narrow qrs complex|regular rr intervals",
     "absent p waves|retrograde p waves|st depression"},
    {"ventricular tachycardia", "vt|v tach",
     "heart rate above 100 bpm|wide qrs complex|av dissociation",
     "absent p waves|regular rr intervals"},
    {"atrial premature complexes", "atrial premature complex|premature atrial contractions|premature atrial complexes|"
     "pacs|pac|apcs|apc|supraventricular premature complexes|atrial premature beats",
     "premature abnormal p waves|premature narrow qrs complexes",
     "non compensatory pause|irregular rr intervals"},
    {"ventricular premature complexes", "ventricular premature complex|premature ventricular contractions|"
     "premature ventricular contraction|premature ventricular complexes|ventricular premature beats|pvcs|pvc|vpcs|vpc|"
     "ventricular extrasystoles|ventricular ectopy",
     "premature wide qrs complexes|no p wave before the premature beats",
     "wide qrs complex|compensatory pause|t wave opposite to the qrs in premature beats"},
    {"pacemaker", "paced rhythm|ventricular paced rhythm|atrial paced rhythm|av dual paced rhythm|electronic pacemaker|"
     "demand pacemaker|pacemaker rhythm|pacing",
     "pacemaker spikes|wide qrs complex",
     "left bundle branch block morphology|regular rr intervals"},
    // --- conduction
    {"1st degree av block", "1st degree a v block|1st degree atrioventricular block|1st degree heart block|"
     "prolonged pr interval|prolonged pr|av block 1st degree",
     "prolonged pr interval|pr interval above 200 ms",
     "p wave before every qrs complex|heart rate below 60 bpm|normal p waves"},
    {"2nd degree av block", "2nd degree a v block|mobitz i|mobitz ii|mobitz type i|mobitz type ii|wenckebach|"
     "2:1 av block",
     "p waves not followed by a qrs complex|progressive pr prolongation",
     "heart rate below 60 bpm|wide qrs complex|prolonged pr interval"},
    {"3rd degree av block", "complete heart block|complete av block|3rd degree heart block|chb",
     "av dissociation|p waves not followed by a qrs complex|heart rate below 60 bpm",
     "wide qrs complex|regular rr intervals"},
    {"right bundle branch block", "rbbb|complete right bundle branch block|right bundle branch block pattern",
     "wide qrs complex|rsr' pattern in v1|wide s wave in i and v6",
     "t wave inversion|right axis deviation|st depression"},
    {"incomplete right bundle branch block", "incomplete rbbb|irbbb",
     "rsr' pattern in v1|qrs duration between 110 and 120 ms",
     "narrow qrs complex|wide s wave in i and v6"},
    {"left bundle branch block", "lbbb|complete left bundle branch block|left bundle branch block pattern",
     "wide qrs complex|broad notched r wave in v6|absent septal q waves in i, v5 and v6",
     "qrs axis below -30 degrees|st depression|t wave inversion|deep s wave in v1"},
    {"incomplete left bundle branch block", "incomplete lbbb",
     "broad notched r wave in v6|qrs duration between 110 and 120 ms|absent septal q waves in i, v5 and v6",
     "qrs axis below -30 degrees"},
    {"intraventricular conduction delay", "nonspecific intraventricular conduction delay|ivcd|"
     "intraventricular conduction defect|nonspecific intraventricular block",
     "wide qrs complex",
     "qrs duration between 110 and 120 ms|qrs axis below -30 degrees"},
    {"left anterior fascicular block", "lafb|left anterior hemiblock|lahb",
     "qrs axis below -30 degrees|qr pattern in avl|rs pattern in ii, iii and avf",
     "narrow qrs complex|poor r wave progression"},
    {"left posterior fascicular block", "lpfb|left posterior hemiblock",
     "right axis deviation|rs pattern in i and avl|qr pattern in iii and avf",
     "narrow qrs complex"},
    {"bifascicular block", "",
     "wide qrs complex|rsr' pattern in v1|qrs axis below -30 degrees",
     "prolonged pr interval"},
    {"wpw", "wolff parkinson white|wolff parkinson white pattern|wolff parkinson white syndrome|pre excitation|"
     "preexcitation|ventricular pre excitation",
     "short pr interval|delta wave|wide qrs complex",
     "secondary st t changes|t wave inversion"},
    {"short pr interval", "short pr",
     "short pr interval",
     "delta wave|normal p waves"},
    // --- axis
    {"left axis deviation", "leftward axis|left axis|abnormal left axis deviation|marked left axis deviation",
     "qrs axis below -30 degrees|negative qrs in ii, iii and avf",
     "rs pattern in ii, iii and avf|qr pattern in avl"},
    {"right axis deviation", "rightward axis|right axis|marked right axis deviation",
     "right axis deviation|qrs axis above 90 degrees|negative qrs in i",
     "rs pattern in i and avl|tall r wave in v1"},
    // --- chamber size and voltage
    {"left ventricular hypertrophy", "lvh|voltage criteria for left ventricular hypertrophy|"
     "left ventricular hypertrophy with repolarization abnormality|lvh with secondary repolarization abnormality|"
     "lvh with repolarization abnormality",
     "high qrs voltage|deep s wave in v1 and tall r wave in v5 or v6",
     "st depression|t wave inversion|qrs axis below -30 degrees|broad notched p wave in ii"},
    {"right ventricular hypertrophy", "rvh",
     "tall r wave in v1|right axis deviation|deep s wave in v6",
     "t wave inversion|st depression|right atrial enlargement"},
    {"biventricular hypertrophy", "",
     "high qrs voltage|tall r wave in v1",
     "right axis deviation|t wave inversion"},
    {"left atrial enlargement", "left atrial abnormality|lae|p mitrale",
     "broad notched p wave in ii|deep terminal negative p wave in v1",
     "high qrs voltage|prolonged p wave duration"},
    {"right atrial enlargement", "right atrial abnormality|rae|p pulmonale",
     "tall peaked p wave in ii",
     "right axis deviation|tall r wave in v1"},
    {"low qrs voltages", "low qrs voltage|low voltage qrs|low voltage|low qrs voltages in limb leads|"
     "low qrs voltages in precordial leads|low voltage in limb leads",
     "low qrs voltage",
     "t wave flattening|heart rate above 100 bpm"},
    // --- infarction
    {"inferior infarct", "inferior infarction|inferior myocardial infarction|inferior mi|"
     "inferior infarct age undetermined|old inferior infarct|inferior injury",
     "pathological q waves in ii, iii and avf|st elevation in ii, iii and avf",
     "t wave inversion|st depression in i and avl"},
    {"anterior infarct", "anterior infarction|anterior myocardial infarction|anterior mi|"
     "anterior infarct age undetermined|old anterior infarct|anterior injury",
     "pathological q waves in v1-v4|st elevation in v1-v4",
     "t wave inversion|poor r wave progression|st depression"},
    {"anteroseptal infarct", "anteroseptal infarction|anteroseptal myocardial infarction|anteroseptal mi|"
     "anteroseptal injury",
     "pathological q waves in v1-v4|st elevation in v1-v4|qs complexes in v1-v3",
     "t wave inversion|poor r wave progression"},
    {"septal infarct", "septal infarction|septal mi|septal infarct age undetermined",
     "qs complexes in v1-v2|absent septal r waves",
     "pathological q waves in v1-v4|t wave inversion"},
    {"lateral infarct", "lateral infarction|lateral myocardial infarction|lateral mi|high lateral infarct|"
     "lateral injury|anterolateral infarct|anterolateral infarction",
     "pathological q waves in i, avl, v5 and v6|st elevation in i, avl, v5 and v6",
     "t wave inversion|st depression in ii, iii and avf"},
    {"posterior infarct", "posterior infarction|posterior mi|inferoposterior infarct",
     "tall r wave in v1|st depression in v1-v3",
     "pathological q waves in ii, iii and avf|upright t wave in v1"},
    {"poor r wave progression", "poor r progression|poor r wave progression in precordial leads|"
     "delayed r wave progression",
     "small r waves in v1-v4|delayed precordial transition",
     "pathological q waves in v1-v4|qrs axis below -30 degrees"},
    // --- repolarization
    {"st-t changes suggestive of ischemia", "ischemia|myocardial ischemia|ischemic st-t changes|"
     "st depression consider ischemia|consider ischemia|subendocardial injury|st t changes suggestive of ischemia",
     "st depression|t wave inversion",
     "horizontal st depression|prolonged qt interval|heart rate above 100 bpm"},
    {"st depression", "diffuse st depression|st segment depression|st depression is nonspecific",
     "st depression",
     "t wave inversion|horizontal st depression"},
    {"st elevation", "st segment elevation|st elevation consider injury|acute mi|acute myocardial infarction|"
     "st elevation myocardial infarction|stemi",
     "st elevation|pathological q waves",
     "reciprocal st depression|hyperacute t waves|st elevation in ii, iii and avf|st elevation in v1-v4"},
    {"early repolarization", "early repolarization pattern|benign early repolarization",
     "st elevation|j point notching",
     "tall t waves|heart rate below 60 bpm"},
    {"pericarditis", "acute pericarditis|consider pericarditis",
     "diffuse st elevation|pr depression",
     "heart rate above 100 bpm|low qrs voltage"},
    {"nonspecific t wave abnormality", "nonspecific t wave abnormalities|t wave abnormality|t wave abnormalities|"
     "nonspecific t wave changes|t wave changes|t wave inversion",
     "t wave inversion|t wave flattening",
     "st depression|prolonged qt interval"},
    {"nonspecific st-t abnormality", "nonspecific st t abnormality|nonspecific st-t changes|nonspecific st t changes|"
     "st-t abnormality|st t abnormality|st-t changes|st t changes|repolarization abnormality|"
     "nonspecific st and t wave abnormality|nonspecific st and t wave changes",
     "st depression|t wave flattening|t wave inversion",
     "prolonged qt interval"},
    {"peaked t waves", "tall t waves|hyperacute t waves|consider hyperkalemia|hyperkalemia",
     "tall peaked t waves",
     "wide qrs complex|low p wave amplitude|prolonged pr interval"},
    {"prolonged qt interval", "long qt interval|long qt|prolonged qt|qt prolongation|prolonged qtc|long qtc",
     "prolonged qt interval|qtc above 460 ms",
     "t wave inversion|broad t waves|heart rate below 60 bpm|st depression"},
    {"short qt interval", "short qt",
     "short qt interval",
     "tall peaked t waves"},
};
// clang-format on

// A statement of the knowledge base: its wordings and its candidate features (defining ones first).
struct KnowledgeEntry {
    std::string statement;              // canonical wording, lower case
    std::vector<std::string> aliases;   // other wordings matched
    std::vector<std::string> features;  // candidates in order: defining, then associated
    std::size_t defining = 0;           // features[0, defining) define the statement (all of them, for a user entry)
};

// A statement found in a report: the entry and its span in the report's words.
struct StatementMatch {
    std::size_t entry = 0;
    std::size_t first_word = 0, end_word = 0;
};

struct KnowledgeBaseOptions {
    std::filesystem::path user_file{};  // a JSON knowledge base to add (empty: the built-in table only)
    bool replace_builtin = false;       // use the user file alone
};

namespace kb_detail {

inline std::vector<std::string_view> split_bars(std::string_view list) {
    std::vector<std::string_view> out;
    while (!list.empty()) {
        const auto bar = list.find('|');
        const std::string_view item = list.substr(0, bar);
        if (!item.empty()) out.push_back(item);
        if (bar == std::string_view::npos) break;
        list.remove_prefix(bar + 1);
    }
    return out;
}

inline bool is_word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '\'';
}

// One spelling per word: ordinals as machines write them.
inline std::string canonical_word(std::string word) {
    if (word == "first") return "1st";
    if (word == "second") return "2nd";
    if (word == "third") return "3rd";
    return word;
}

}  // namespace kb_detail

// The words of a text as matching sees them: lower case, split at anything but letters, digits and
// apostrophes, ordinals spelled "1st", "2nd", "3rd". ("1st degree A-V block." -> {"1st", "degree", "a", "v", "block"})
inline std::vector<std::string> match_words(std::string_view text) {
    std::vector<std::string> words;
    std::string word;
    const auto flush = [&] {
        // Apostrophes only belong inside a word ("rsr'" keeps it; a quote around a word does not).
        std::size_t b = 0;
        while (b < word.size() && word[b] == '\'') ++b;
        if (b < word.size()) words.push_back(kb_detail::canonical_word(word.substr(b)));
        word.clear();
    };
    for (char c : text) {
        if (kb_detail::is_word_char(c))
            word += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        else
            flush();
    }
    flush();
    return words;
}

class KnowledgeBase {
public:
    KnowledgeBase() = default;

    // The curated table above.
    static KnowledgeBase builtin() {
        KnowledgeBase kb;
        for (const KnowledgeRow& row : builtin_knowledge) {
            KnowledgeEntry e;
            e.statement = std::string(row.statement);
            for (auto a : kb_detail::split_bars(row.aliases)) e.aliases.emplace_back(a);
            for (auto f : kb_detail::split_bars(row.defining)) e.features.emplace_back(f);
            e.defining = e.features.size();
            for (auto f : kb_detail::split_bars(row.associated))
                if (std::find(e.features.begin(), e.features.end(), f) == e.features.end()) e.features.emplace_back(f);
            kb.put(std::move(e));
        }
        kb.rebuild();
        return kb;
    }

    // The built-in table, plus (or replaced by) options.user_file.
    static KnowledgeBase load(const KnowledgeBaseOptions& options = {}) {
        if (options.user_file.empty()) {
            if (options.replace_builtin) fail("knowledge base: replace_builtin needs a user_file");
            return builtin();
        }
        KnowledgeBase user = from_json_file(options.user_file);
        if (options.replace_builtin) return user;
        KnowledgeBase kb = builtin();
        kb.merge(user);
        return kb;
    }

    // {"statement": ["feature", ...]} or {"statement": {"aliases": [...], "features": [...]}}. Errors name
    // `source` (the file) and the statement.
    static KnowledgeBase from_json(std::string_view text, const std::string& source = "<string>") {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(text);
        } catch (const nlohmann::json::parse_error& e) {
            fail("knowledge base '{}': not valid JSON: {}", source, e.what());
        }
        if (!j.is_object())
            fail("knowledge base '{}': expected a JSON object {{\"statement\": [\"feature\", ...]}}, got a {}", source,
                 j.type_name());
        const auto strings = [&](const nlohmann::json& list, const std::string& key, const char* what) {
            if (!list.is_array())
                fail("knowledge base '{}': statement '{}': {} must be a list of strings, got a {}", source, key, what,
                     list.type_name());
            std::vector<std::string> out;
            for (const auto& item : list) {
                if (!item.is_string())
                    fail("knowledge base '{}': statement '{}': {} must be strings, got {}", source, key, what,
                         item.dump());
                std::string s = lower_trimmed(item.get<std::string>());
                if (s.empty()) fail("knowledge base '{}': statement '{}': an empty string in {}", source, key, what);
                if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
            }
            return out;
        };
        KnowledgeBase kb;
        for (const auto& [key, value] : j.items()) {
            KnowledgeEntry e;
            e.statement = lower_trimmed(key);
            if (match_words(e.statement).empty())
                fail("knowledge base '{}': statement '{}' has no words to match", source, key);
            if (value.is_object()) {
                for (const auto& [k, v] : value.items())
                    if (k != "aliases" && k != "features")
                        fail(
                            "knowledge base '{}': statement '{}': unknown key '{}' (expected \"aliases\" and "
                            "\"features\")",
                            source, key, k);
                if (!value.contains("features"))
                    fail("knowledge base '{}': statement '{}' has no \"features\" list", source, key);
                e.features = strings(value["features"], key, "features");
                if (value.contains("aliases")) e.aliases = strings(value["aliases"], key, "aliases");
            } else {
                e.features = strings(value, key, "features");
            }
            e.defining = e.features.size();
            if (kb.find(e.statement)) fail("knowledge base '{}': statement '{}' is given twice", source, e.statement);
            kb.put(std::move(e));
        }
        kb.rebuild();
        return kb;
    }

    static KnowledgeBase from_json_file(const std::filesystem::path& path) {
        std::ifstream in(path, std::ios::binary);
        if (!in) fail("knowledge base '{}': cannot open the file", path.string());
        std::stringstream buffer;
        buffer << in.rdbuf();
        return from_json(buffer.str(), path.string());
    }

    // Adds an entry; one with the same statement is replaced (its aliases kept unless the new entry has some).
    void add(KnowledgeEntry entry) {
        put(std::move(entry));
        rebuild();
    }
    void merge(const KnowledgeBase& other) {
        for (const auto& e : other.entries_) put(e);
        rebuild();
    }

    const std::vector<KnowledgeEntry>& entries() const { return entries_; }
    std::size_t size() const { return entries_.size(); }
    const KnowledgeEntry* find(std::string_view statement) const {
        for (const auto& e : entries_)
            if (e.statement == statement) return &e;
        return nullptr;
    }

    // The statements a report makes, in report order; overlapping matches resolved to the longer.
    std::vector<StatementMatch> match(std::string_view report) const {
        std::vector<StatementMatch> found;
        std::size_t offset = 0;  // word number of the sentence's first word in the whole report
        for (std::string_view sentence : sentences(report)) {
            const std::vector<std::string> words = match_words(sentence);
            const bool negated = std::any_of(negation_cues.begin(), negation_cues.end(), [&](std::string_view cue) {
                return contains_words(words, match_words(cue));
            });
            for (std::size_t start = 0; start < words.size() && !negated; ++start) {
                const auto range = by_first_word_.find(words[start]);
                if (range == by_first_word_.end()) continue;
                for (const Pattern& p : range->second) {
                    if (start + p.words.size() > words.size()) continue;
                    if (std::equal(p.words.begin(), p.words.end(), words.begin() + static_cast<std::ptrdiff_t>(start)))
                        found.push_back({p.entry, offset + start, offset + start + p.words.size()});
                }
            }
            offset += words.size();
        }
        // Longest first, then earliest: a match inside or overlapping a longer kept one is dropped.
        std::stable_sort(found.begin(), found.end(), [](const StatementMatch& a, const StatementMatch& b) {
            return a.end_word - a.first_word > b.end_word - b.first_word;
        });
        std::vector<StatementMatch> kept;
        for (const auto& m : found) {
            const bool overlaps = std::any_of(kept.begin(), kept.end(), [&](const StatementMatch& k) {
                return m.first_word < k.end_word && k.first_word < m.end_word;
            });
            if (!overlaps) kept.push_back(m);
        }
        std::sort(kept.begin(), kept.end(), [](const StatementMatch& a, const StatementMatch& b) {
            return a.first_word != b.first_word ? a.first_word < b.first_word : a.entry < b.entry;
        });
        return kept;
    }

    // The canonical statements a report makes (each once, in report order).
    std::vector<std::string> statements(std::string_view report) const {
        std::vector<std::string> out;
        for (const auto& m : match(report)) {
            const std::string& s = entries_[m.entry].statement;
            if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
        }
        return out;
    }

    // The candidate features of one report: the union of its statements' features, first occurrence kept.
    std::vector<std::string> candidates(std::string_view report) const {
        std::vector<std::string> out;
        for (const auto& m : match(report))
            for (const auto& f : entries_[m.entry].features)
                if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
        return out;
    }

    // CandidateSource: one candidate list per report.
    std::vector<std::vector<std::string>> candidates(std::span<const std::string> reports) const {
        std::vector<std::vector<std::string>> out;
        out.reserve(reports.size());
        for (const auto& r : reports) out.push_back(candidates(std::string_view(r)));
        return out;
    }

    // Every feature phrase the knowledge base can propose, each once, in table order.
    std::vector<std::string> all_features() const {
        std::vector<std::string> out;
        for (const auto& e : entries_)
            for (const auto& f : e.features)
                if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
        return out;
    }

    // The knowledge base as JSON in the user-file format (with aliases), e.g. to start a custom one from.
    std::string to_json() const {
        nlohmann::ordered_json j = nlohmann::ordered_json::object();
        for (const auto& e : entries_) j[e.statement] = {{"aliases", e.aliases}, {"features", e.features}};
        return j.dump(2);
    }

    // A sentence holding one of these states that something is absent, so none of its statements count
    // ("atrial fibrillation no longer present. sinus rhythm." proposes only sinus rhythm's features).
    static constexpr std::array<std::string_view, 6> negation_cues = {"no longer",      "not present", "not seen",
                                                                      "no evidence of", "absence of",  "resolved"};

    // A report's sentences: split at ';' and at a '.' followed by whitespace or the end ("0.12 s" stays whole).
    static std::vector<std::string_view> sentences(std::string_view text) {
        std::vector<std::string_view> out;
        std::size_t begin = 0;
        for (std::size_t i = 0; i < text.size(); ++i) {
            const bool end = text[i] == ';' || (text[i] == '.' && (i + 1 == text.size() || text[i + 1] == ' ' ||
                                                                   text[i + 1] == '\t' || text[i + 1] == '\n'));
            if (end) {
                out.push_back(text.substr(begin, i - begin));
                begin = i + 1;
            }
        }
        if (begin < text.size()) out.push_back(text.substr(begin));
        return out;
    }

private:
    static bool contains_words(const std::vector<std::string>& words, const std::vector<std::string>& part) {
        return !part.empty() && std::search(words.begin(), words.end(), part.begin(), part.end()) != words.end();
    }

    struct Pattern {
        std::vector<std::string> words;
        std::size_t entry = 0;
    };

    static std::string lower_trimmed(std::string s) {
        for (char& c : s)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        const auto b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
        return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
    }

    // add() without re-indexing: loaders index once at the end.
    void put(KnowledgeEntry entry) {
        if (KnowledgeEntry* old = find_mutable(entry.statement)) {
            if (entry.aliases.empty()) entry.aliases = std::move(old->aliases);
            *old = std::move(entry);
        } else {
            entries_.push_back(std::move(entry));
        }
    }

    KnowledgeEntry* find_mutable(std::string_view statement) {
        for (auto& e : entries_)
            if (e.statement == statement) return &e;
        return nullptr;
    }

    // Index of every wording by its first word. Two entries may share a wording; both then match.
    void rebuild() {
        by_first_word_.clear();
        for (std::size_t i = 0; i < entries_.size(); ++i) {
            std::vector<std::string_view> wordings{entries_[i].statement};
            for (const auto& a : entries_[i].aliases) wordings.push_back(a);
            for (auto w : wordings) {
                Pattern p{match_words(w), i};
                if (p.words.empty()) continue;
                auto& list = by_first_word_[p.words.front()];
                const bool duplicate = std::any_of(list.begin(), list.end(), [&](const Pattern& q) {
                    return q.entry == p.entry && q.words == p.words;
                });
                if (!duplicate) list.push_back(std::move(p));
            }
        }
    }

    std::vector<KnowledgeEntry> entries_;
    std::unordered_map<std::string, std::vector<Pattern>> by_first_word_;
};

}  // namespace fgclep::features
