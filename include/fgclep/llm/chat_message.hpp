#pragma once
// One message of an OpenAI-style chat conversation.
#include <string>

namespace fgclep::llm {

struct ChatMessage {
    std::string role;  // "system", "user" or "assistant"
    std::string content;
};

}  // namespace fgclep::llm
