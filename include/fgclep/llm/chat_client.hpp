#pragma once
// A client for OpenAI-compatible chat-completion servers: vLLM, llama.cpp's llama-server, Ollama, OpenAI itself.
//
//   ChatClient client({.base_url = "http://127.0.0.1:8000/v1", .model = "meta-llama/Meta-Llama-3-8B-Instruct"});
//   ChatResult r = client.complete({{"user", "Say hi."}});
//   if (r.ok) use(r.content); else log(r.error);
//
// POST {base_url}/v1/chat/completions (or {base_url}/chat/completions when base_url already ends in /v1) with
// {"model", "messages", "temperature", "max_tokens"}; the answer is choices[0].message.content.
// The API key is read from the environment variable options.api_key_env (default OPENAI_API_KEY) when the client
// is made and sent as "Authorization: Bearer <key>"; unset or empty: no header (local servers need none).
// Connection errors, timeouts, HTTP 429 and 5xx are retried with exponential backoff (429's Retry-After is
// honoured, up to max_backoff); other 4xx and unreadable answers are not, since asking again gives the same.
// complete() never throws for what the server does; its error names the URL, the status and a body snippet.
// One ChatClient may be used from many threads at once: each request opens its own connection.
// https:// needs cpp-httplib built with OpenSSL (CPPHTTPLIB_OPENSSL_SUPPORT; Debian's libcpp-httplib-dev is).
#include "fgclep/core/error.hpp"
#include "fgclep/llm/chat_message.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace fgclep::llm {

struct ChatOptions {
    std::string base_url = "http://127.0.0.1:8000/v1";  // vLLM's default; llama.cpp :8080, Ollama :11434
    std::string model;                                  // required by vLLM and Ollama; llama.cpp ignores it
    std::string api_key_env = "OPENAI_API_KEY";         // empty: never send a key
    double temperature = 0.0;
    int max_tokens = 256;
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds read_timeout{120'000};  // per request: generation of one answer must fit
    int max_retries = 4;                              // attempts = 1 + max_retries
    std::chrono::milliseconds initial_backoff{500};   // doubled after each failed attempt
    std::chrono::milliseconds max_backoff{30'000};
};

struct ChatResult {
    bool ok = false;
    std::string content;        // the assistant's answer (ok)
    std::string finish_reason;  // "stop", or "length" when max_tokens cut the answer short ("" if not given)
    int status = 0;             // the last HTTP status; 0 when no response came (connection error, timeout)
    int attempts = 0;
    bool retryable = false;  // the last failure was of a kind that was retried (connection, 429, 5xx)
    std::string error;       // empty when ok
};

namespace chat_detail {

inline std::string snippet(std::string_view body, std::size_t limit = 200) {
    std::string s(body.substr(0, limit));
    for (char& c : s)
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (body.size() > limit) s += "...";
    return s;
}

// "http://host:port/prefix" -> ("http://host:port", "/prefix/v1/chat/completions").
inline void split_url(std::string_view base_url, std::string& origin, std::string& path) {
    const std::size_t scheme_end = base_url.find("://");
    if (scheme_end == std::string_view::npos)
        fail("chat client: base URL '{}' has no scheme (expected http://host:port or https://host)", base_url);
    const std::string_view scheme = base_url.substr(0, scheme_end);
    if (scheme != "http" && scheme != "https")
        fail("chat client: base URL '{}': scheme must be http or https", base_url);
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
    if (scheme == "https")
        fail("chat client: base URL '{}' needs HTTPS, but cpp-httplib was built without OpenSSL", base_url);
#endif
    const std::size_t host_begin = scheme_end + 3;
    const std::size_t slash = base_url.find('/', host_begin);
    if (slash == host_begin || host_begin >= base_url.size()) fail("chat client: base URL '{}' has no host", base_url);
    origin = std::string(base_url.substr(0, slash));
    std::string prefix = slash == std::string_view::npos ? std::string() : std::string(base_url.substr(slash));
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    const bool has_v1 = prefix.size() >= 3 && prefix.compare(prefix.size() - 3, 3, "/v1") == 0;
    path = prefix + (has_v1 ? "/chat/completions" : "/v1/chat/completions");
}

}  // namespace chat_detail

class ChatClient {
public:
    explicit ChatClient(ChatOptions options) : options_(std::move(options)) {
        chat_detail::split_url(options_.base_url, origin_, path_);
        if (!options_.api_key_env.empty())
            if (const char* key = std::getenv(options_.api_key_env.c_str()); key && *key) api_key_ = key;
        if (options_.max_retries < 0) fail("chat client: max_retries must be >= 0, got {}", options_.max_retries);
    }

    const ChatOptions& options() const { return options_; }
    std::string url() const { return origin_ + path_; }
    bool has_api_key() const { return !api_key_.empty(); }

    // The request body sent for these messages.
    std::string request_body(const std::vector<ChatMessage>& messages) const {
        nlohmann::json body;
        body["model"] = options_.model;
        body["messages"] = nlohmann::json::array();
        for (const ChatMessage& m : messages) body["messages"].push_back({{"role", m.role}, {"content", m.content}});
        body["temperature"] = options_.temperature;
        body["max_tokens"] = options_.max_tokens;
        body["stream"] = false;
        return body.dump();
    }

    // One answer, retried as the options say. Never throws for server or network failures.
    ChatResult complete(const std::vector<ChatMessage>& messages) const {
        const std::string body = request_body(messages);
        ChatResult result;
        std::chrono::milliseconds backoff = options_.initial_backoff;
        for (int attempt = 0; attempt <= options_.max_retries; ++attempt) {
            result = attempt_once(body);
            result.attempts = attempt + 1;
            if (result.ok || !result.retryable || attempt == options_.max_retries) break;
            std::this_thread::sleep_for(std::min(std::max(backoff, retry_after_), options_.max_backoff));
            backoff = std::min(backoff * 2, options_.max_backoff);
        }
        if (!result.ok)
            result.error = fmt::format("POST {}: {} (after {} attempt{})", url(), result.error, result.attempts,
                                       result.attempts == 1 ? "" : "s");
        return result;
    }

    // complete(), throwing fgclep::Error with the same message on failure.
    std::string complete_or_throw(const std::vector<ChatMessage>& messages) const {
        ChatResult r = complete(messages);
        if (!r.ok) fail("chat client: {}", r.error);
        return std::move(r.content);
    }

private:
    ChatResult attempt_once(const std::string& body) const {
        ChatResult r;
        retry_after_ = std::chrono::milliseconds{0};
        httplib::Client http(origin_);
        const auto seconds = [](std::chrono::milliseconds t) { return static_cast<time_t>(t.count() / 1000); };
        const auto micros = [](std::chrono::milliseconds t) { return static_cast<time_t>(t.count() % 1000 * 1000); };
        http.set_connection_timeout(seconds(options_.connect_timeout), micros(options_.connect_timeout));
        http.set_read_timeout(seconds(options_.read_timeout), micros(options_.read_timeout));
        http.set_write_timeout(seconds(options_.read_timeout), micros(options_.read_timeout));
        http.set_keep_alive(false);
        httplib::Headers headers = {{"Accept", "application/json"}};
        if (!api_key_.empty()) headers.emplace("Authorization", "Bearer " + api_key_);

        const httplib::Result res = http.Post(path_, headers, body, "application/json");
        if (!res) {
            r.retryable = true;
            const httplib::Error e = res.error();
            if (e == httplib::Error::Read)
                r.error = fmt::format(
                    "no complete answer within the read timeout of {} ms (or the connection "
                    "was closed)",
                    options_.read_timeout.count());
            else if (e == httplib::Error::Connection)
                r.error = "connection failed: refused or unreachable (is the server running?)";
            else if (e == httplib::Error::ConnectionTimeout)
                r.error = fmt::format("connection failed: no connection within the connect timeout of {} ms",
                                      options_.connect_timeout.count());
            else
                r.error = fmt::format("connection failed: {}", httplib::to_string(e));
            return r;
        }
        r.status = res->status;
        if (res->status == 429 || res->status >= 500) {
            r.retryable = true;
            if (res->status == 429 && res->has_header("Retry-After")) {
                const int s = std::atoi(res->get_header_value("Retry-After").c_str());
                if (s > 0) retry_after_ = std::chrono::milliseconds{s * 1000LL};
            }
        }
        if (res->status != 200) {
            r.error = fmt::format("HTTP {}: {}", res->status, chat_detail::snippet(res->body));
            return r;
        }
        const nlohmann::json answer = nlohmann::json::parse(res->body, nullptr, false);
        if (answer.is_discarded()) {
            r.error = fmt::format("HTTP 200 but the body is not JSON: {}", chat_detail::snippet(res->body));
            return r;
        }
        const nlohmann::json* content = nullptr;
        if (answer.is_object() && answer.contains("choices") && answer["choices"].is_array() &&
            !answer["choices"].empty() && answer["choices"][0].is_object()) {
            const nlohmann::json& choice = answer["choices"][0];
            if (choice.contains("message") && choice["message"].is_object() && choice["message"].contains("content"))
                content = &choice["message"]["content"];
        }
        if (!content || !content->is_string()) {
            r.error = fmt::format("HTTP 200 but no choices[0].message.content string in: {}",
                                  chat_detail::snippet(res->body));
            return r;
        }
        r.ok = true;
        r.content = content->get<std::string>();
        if (const nlohmann::json& choice = answer["choices"][0];
            choice.contains("finish_reason") && choice["finish_reason"].is_string())
            r.finish_reason = choice["finish_reason"].get<std::string>();
        return r;
    }

    ChatOptions options_;
    std::string origin_, path_, api_key_;
    // Retry-After of the last 429 on this thread's request; thread_local so concurrent requests do not mix them.
    static inline thread_local std::chrono::milliseconds retry_after_{0};
};

}  // namespace fgclep::llm
