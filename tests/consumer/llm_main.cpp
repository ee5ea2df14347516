// A downstream program that uses the LLM client (fgclep::llm, find_package(fgclep COMPONENTS llm)): compiled with
// cpp-httplib's flags and linked with it through the installed target. Without arguments it makes no request: it
// checks the request body it would send. `llm_consumer <base url> <model>` asks a server for one answer.
#include <fgclep/llm/chat_client.hpp>

#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    const std::vector<fgclep::llm::ChatMessage> messages{{.role = "user", .content = "Say hi."}};
    if (argc > 2) {
        const fgclep::llm::ChatClient client({.base_url = argv[1], .model = argv[2]});
        const fgclep::llm::ChatResult result = client.complete(messages);
        std::printf("%s\n", result.ok ? result.content.c_str() : result.error.c_str());
        return result.ok ? 0 : 1;
    }
    const fgclep::llm::ChatClient client({.model = "m"});
    const std::string body = client.request_body(messages);
    std::printf("fgclep::llm request body: %s\n", body.c_str());
    return body.find("\"Say hi.\"") != std::string::npos ? 0 : 1;
}
