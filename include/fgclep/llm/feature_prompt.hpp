#pragma once
// The stage-2 prompt: the paper's question plus the report, asking for a Python list.
//
//   FeaturePrompt p;                                   // the paper's prompt
//   p.messages("sinus rhythm. left bundle branch block.");
//   FeaturePrompt custom = FeaturePrompt::from_template("List ECG findings for: {report}\nAnswer as a Python list.");
//
// The paper (FG-CLEP §2.3) prompts with "What waveform features are most likely to be present in ECGs with these
// symptoms?" and has the answer formatted as a Python list; the words around the question here (where the report
// goes, the format instruction, the system message) are ours, since the paper does not print them.
// A template holds {report} where the report goes (required, may appear more than once); "{{" and "}}" stand for
// literal braces. The system message is optional (empty: none is sent).
#include "fgclep/core/error.hpp"
#include "fgclep/llm/chat_message.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace fgclep::llm {

inline constexpr std::string_view paper_question =
    "What waveform features are most likely to be present in ECGs with these symptoms?";

struct FeaturePrompt {
    std::string system =
        "You are a cardiologist. You answer with a Python list of short ECG waveform features and nothing else.";
    std::string user_template = std::string(paper_question) +
                                "\nSymptoms (ECG report): {report}\n"
                                "Answer with a Python list of strings, one waveform feature per item, for example "
                                "[\"ST-segment elevation\", \"prolonged PR interval\"].";

    // A custom template (file contents, say); the system message is kept unless one is given.
    static FeaturePrompt from_template(std::string user_template, std::string system = {}) {
        FeaturePrompt p;
        p.user_template = std::move(user_template);
        p.system = std::move(system);
        p.validate();
        return p;
    }

    // Throws when {report} is missing or a brace is unbalanced, naming the template.
    void validate() const { (void)render_with(user_template, "", true); }

    std::string render(std::string_view report) const { return render_with(user_template, report, true); }

    std::vector<ChatMessage> messages(std::string_view report) const {
        std::vector<ChatMessage> out;
        if (!system.empty()) out.push_back({"system", system});
        out.push_back({"user", render(report)});
        return out;
    }

    // What identifies this prompt in the cache: both messages' text, so a change to either misses the cache.
    std::string identity() const { return system + '\x1f' + user_template; }

private:
    static std::string render_with(std::string_view tmpl, std::string_view report, bool check) {
        std::string out;
        bool found = false;
        for (std::size_t i = 0; i < tmpl.size(); ++i) {
            const char c = tmpl[i];
            if (c == '{' && i + 1 < tmpl.size() && tmpl[i + 1] == '{') {
                out.push_back('{');
                ++i;
            } else if (c == '}' && i + 1 < tmpl.size() && tmpl[i + 1] == '}') {
                out.push_back('}');
                ++i;
            } else if (tmpl.substr(i, 8) == "{report}") {
                out.append(report);
                found = true;
                i += 7;
            } else if (c == '{' || c == '}') {
                fail(
                    "prompt template: unexpected '{}' at offset {} (use {{report}} for the report, '{}{}' for a "
                    "literal brace): \"{}\"",
                    c, i, c, c, tmpl.substr(0, 200));
            } else {
                out.push_back(c);
            }
        }
        if (check && !found) fail("prompt template has no {{report}} placeholder: \"{}\"", tmpl.substr(0, 200));
        return out;
    }
};

}  // namespace fgclep::llm
