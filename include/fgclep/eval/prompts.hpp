#pragma once
// Class prompts for zero-shot classification and retrieval: the text each class is matched against.
//
//   auto file = load_prompt_file("CKEPE_prompt.json");           // label code -> prompt text (the benchmark's)
//   ClassPrompts p = class_prompts(test.class_names, file);      // lower-cased; the class name where none is given
//   ClassPrompts s = class_prompts(names, synthetic_prompts());  // synthetic corpus: identifier -> statement/phrase
//   auto texts = lead_ensemble(p.texts[c]);                      // the class text and "<text> in lead <x>" x 12
//
// The benchmark (MERL's zero-shot code) lower-cases the prompt text; so does class_prompts by default.
// Lead ensemble (FG-CLEP, paper appendix C): besides the class text, "<class text> in lead <x>" for the 12 leads
// (I, II, III, aVR, aVL, aVF, V1-V6); a class's score is the highest of its 13 scores. A trailing period of the
// class text is dropped before " in lead <x>" is appended (CKEPE prompts end with one), and the whole text is
// lower-cased like the class text.
#include "fgclep/core/error.hpp"
#include "fgclep/synth/conditions.hpp"
#include "fgclep/synth/corpus.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace fgclep::eval {

using PromptMap = std::map<std::string, std::string, std::less<>>;

// The 12 standard leads, in the order the ensemble lists them.
inline constexpr std::array<std::string_view, 12> ensemble_leads = {"I",  "II", "III", "aVR", "aVL", "aVF",
                                                                    "V1", "V2", "V3",  "V4",  "V5",  "V6"};

inline std::string to_lower(std::string_view s) {
    std::string out(s);
    for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
}

// A JSON object of label code -> prompt text (the format of the benchmark's CKEPE_prompt.json).
inline PromptMap load_prompt_file(const std::filesystem::path& path) {
    std::ifstream f(path);
    if (!f) fail("cannot open prompt file '{}'", path.string());
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(f);
    } catch (const nlohmann::json::exception& e) {
        fail("prompt file '{}' is not valid JSON: {}", path.string(), e.what());
    }
    if (!j.is_object()) fail("prompt file '{}' must hold a JSON object of label code -> prompt text", path.string());
    PromptMap out;
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (!it.value().is_string())
            fail("prompt file '{}': the prompt of '{}' is not a string", path.string(), it.key());
        out[it.key()] = it.value().get<std::string>();
    }
    return out;
}

// The synthetic corpus's classes: each condition identifier (sinus_bradycardia) -> its report statement
// ("sinus bradycardia"), each feature identifier (absent_p_waves) -> its phrase ("absent p waves"). Where an
// identifier names both a condition and a feature (low_qrs_voltage, left_axis_deviation), the condition's
// statement is used; pass feature_prompts() for the feature task to get the phrases.
inline PromptMap feature_prompts() {
    PromptMap out;
    for (std::size_t i = 0; i < synth::feature_count; ++i) {
        const auto f = static_cast<synth::Feature>(i);
        out[std::string(synth::identifier(f))] = std::string(synth::phrase(f));
    }
    return out;
}
inline PromptMap condition_prompts() {
    PromptMap out;
    for (std::size_t i = 0; i < synth::condition_count; ++i) {
        const auto c = static_cast<synth::Condition>(i);
        out[std::string(synth::identifier(c))] = std::string(synth::statement(c));
    }
    return out;
}
inline PromptMap synthetic_prompts() {
    PromptMap out = feature_prompts();
    for (auto& [k, v] : condition_prompts()) out[k] = v;
    return out;
}

// One text per class, in the order of class_names.
struct ClassPrompts {
    std::vector<std::string> class_names;
    std::vector<std::string> texts;
    std::vector<std::string> fallbacks;  // classes without a prompt, whose name became the text
};

struct PromptOptions {
    bool lower_case = true;             // as the benchmark does
    bool underscores_to_spaces = true;  // a fallback name "sinus_rhythm" reads "sinus rhythm"
};

inline ClassPrompts class_prompts(const std::vector<std::string>& class_names, const PromptMap& prompts = {},
                                  const PromptOptions& options = {}) {
    ClassPrompts out;
    out.class_names = class_names;
    for (const auto& name : class_names) {
        std::string text;
        if (auto it = prompts.find(name); it != prompts.end()) {
            text = it->second;
        } else {
            text = name;
            if (options.underscores_to_spaces) std::replace(text.begin(), text.end(), '_', ' ');
            out.fallbacks.push_back(name);
        }
        out.texts.push_back(options.lower_case ? to_lower(text) : text);
    }
    return out;
}

// The class text and its 12 lead variants "<text> in lead <x>" (13 texts; the first is the text itself).
inline std::vector<std::string> lead_ensemble(std::string_view text, bool lower_case = true) {
    std::string base(text);
    while (!base.empty() && std::isspace(static_cast<unsigned char>(base.back()))) base.pop_back();
    std::string stem = base;
    if (!stem.empty() && stem.back() == '.') stem.pop_back();
    std::vector<std::string> out{base};
    for (auto lead : ensemble_leads) {
        std::string t = stem + " in lead " + std::string(lead);
        out.push_back(lower_case ? to_lower(t) : t);
    }
    return out;
}

}  // namespace fgclep::eval
