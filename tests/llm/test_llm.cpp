// Stage 2's LLM client (include/fgclep/llm) against a small OpenAI-compatible server on loopback that answers from
// a table and misbehaves on request: answers held past the client's timeout, 500s, 429s, garbage bodies, malformed
// lists, code fences. No test measures time.
#include "fgclep/llm/chat_client.hpp"
#include "fgclep/llm/feature_cache.hpp"
#include "fgclep/llm/feature_prompt.hpp"
#include "fgclep/llm/list_parser.hpp"
#include "fgclep/llm/llm_features.hpp"

#include <doctest/doctest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace fgclep::llm;
using namespace std::chrono_literals;
using Json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Answers POST /v1/chat/completions. The report is what follows "Symptoms (ECG report): " in the user message (the
// default prompt), else the whole user message. Its first word picks the behaviour:
//   hold ...       answers only once the test calls release() (or after a 3 s safety cap: longer than any client
//                  timeout a test sets, shorter than httplib's default read timeout of 5 s)
//   gate ...       waits until open_gate_at(n) requests are in flight at once (or a 3 s safety cap), then answers
//   flaky ...      HTTP 500 the first time, then answers
//   busy ...       HTTP 429 the first time, then answers  down ... always HTTP 500 (body "model overloaded")
//   reject ...     HTTP 400 {"error":"unknown model"}   garbage ... HTTP 200 "<html>oops</html>"
//   noprose ...    a sentence, no list                  fenced ...  a list in a ```python fence with chatter
//   cutoff ...     half a list, finish_reason "length"
//   anything else: ['Feature of <report>', 'Shared.']
// No test measures time: the waits make the order of events deterministic instead (a held answer is released only
// after the client has given up; gated requests answer only once enough of them overlap).
class FakeLlm {
public:
    FakeLlm() {
        server_.Post("/v1/chat/completions",
                     [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); });
        port_ = server_.bind_to_any_port("127.0.0.1");
        REQUIRE(port_ > 0);
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        for (int i = 0; i < 200 && !server_.is_running(); ++i) std::this_thread::sleep_for(5ms);
    }
    ~FakeLlm() {
        release();
        server_.stop();
        thread_.join();
    }
    std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

    int requests() const { return requests_.load(); }
    // Lets every held request answer (and every later one answer at once).
    void release() {
        {
            std::lock_guard lock(mutex_);
            released_ = true;
            gate_open_ = true;
        }
        cv_.notify_all();
    }
    // Held requests that answered: before release(), only by the safety cap.
    int held_answered() {
        std::lock_guard lock(mutex_);
        return held_answered_;
    }
    // Gated requests wait until n of them are in flight together.
    void open_gate_at(int n) {
        std::lock_guard lock(mutex_);
        gate_ = n;
    }
    // Whether the gate opened because n requests were in flight (not by the safety cap).
    bool gate_opened_by_overlap() {
        std::lock_guard lock(mutex_);
        return gate_opened_by_overlap_;
    }
    int max_in_flight() const { return max_in_flight_.load(); }
    int asked(const std::string& report) {
        std::lock_guard lock(mutex_);
        return asked_[report];
    }
    std::map<std::string, int> asked_counts() {
        std::lock_guard lock(mutex_);
        return asked_;
    }
    Json last_body() {
        std::lock_guard lock(mutex_);
        return last_body_;
    }
    std::string last_authorization() {
        std::lock_guard lock(mutex_);
        return last_authorization_;
    }

    static std::string answer_for(const std::string& report) { return "['Feature of " + report + "', 'Shared.']"; }

private:
    void handle(const httplib::Request& req, httplib::Response& res) {
        const int now = ++in_flight_;
        for (int m = max_in_flight_.load(); now > m && !max_in_flight_.compare_exchange_weak(m, now);) {
        }
        ++requests_;
        const Json body = Json::parse(req.body, nullptr, false);
        std::string user;
        if (!body.is_discarded())
            for (const Json& m : body.value("messages", Json::array()))
                if (m.value("role", "") == "user") user = m.value("content", "");
        const std::string marker = "Symptoms (ECG report): ";
        std::string report = user;
        if (const auto at = user.find(marker); at != std::string::npos) {
            report = user.substr(at + marker.size());
            report = report.substr(0, report.find('\n'));
        }
        int count;
        {
            std::lock_guard lock(mutex_);
            count = ++asked_[report];
            last_body_ = body;
            last_authorization_ = req.get_header_value("Authorization");
        }
        const auto starts = [&](const char* word) { return report.rfind(word, 0) == 0; };
        std::string content = answer_for(report);
        if (starts("hold")) {
            std::unique_lock lock(mutex_);
            cv_.wait_for(lock, 3s, [&] { return released_; });
            ++held_answered_;
        }
        if (starts("gate")) {
            std::unique_lock lock(mutex_);
            ++gated_in_flight_;
            if (!gate_open_ && gated_in_flight_ >= gate_) {
                gate_open_ = gate_opened_by_overlap_ = true;
                cv_.notify_all();
            }
            cv_.wait_for(lock, 3s, [&] { return gate_open_; });
            gate_open_ = true;  // after the cap, too: later requests do not wait again
            --gated_in_flight_;
        }
        if ((starts("flaky") && count == 1) || starts("down")) {
            res.status = 500;
            res.set_content("model overloaded", "text/plain");
        } else if (starts("busy") && count == 1) {
            res.status = 429;
            res.set_header("Retry-After", "0");
            res.set_content("{\"error\":\"rate limited\"}", "application/json");
        } else if (starts("reject")) {
            res.status = 400;
            res.set_content("{\"error\":\"unknown model\"}", "application/json");
        } else if (starts("garbage")) {
            res.set_content("<html>oops</html>", "text/html");
        } else {
            if (starts("noprose")) content = "It would show ST elevation and Q waves.";
            if (starts("cutoff")) content = "['ST elevation', 'Q wa";
            if (starts("fenced"))
                content = "Sure! Here you go:\n```python\n[\n  \"ST elevation\",\n  'Q waves',\n]\n```\nHope it helps.";
            const Json answer = {{"id", "x"},
                                 {"object", "chat.completion"},
                                 {"choices",
                                  {{{"index", 0},
                                    {"message", {{"role", "assistant"}, {"content", content}}},
                                    {"finish_reason", starts("cutoff") ? "length" : "stop"}}}}};
            res.set_content(answer.dump(), "application/json");
        }
        --in_flight_;
    }

    httplib::Server server_;
    std::thread thread_;
    int port_ = 0;
    std::atomic<int> requests_{0}, in_flight_{0}, max_in_flight_{0};
    std::mutex mutex_;
    std::condition_variable cv_;
    bool released_ = false, gate_open_ = false, gate_opened_by_overlap_ = false;
    int held_answered_ = 0, gate_ = 1, gated_in_flight_ = 0;
    std::map<std::string, int> asked_;
    Json last_body_;
    std::string last_authorization_;
};

ChatOptions fast_options(const FakeLlm& server) {
    ChatOptions o;
    o.base_url = server.base_url();
    o.model = "test-model";
    o.api_key_env = "FGCLEP_TEST_LLM_KEY";
    o.connect_timeout = 2000ms;
    o.read_timeout = 5000ms;
    o.max_retries = 2;
    o.initial_backoff = 10ms;
    o.max_backoff = 50ms;
    return o;
}

fs::path fresh_dir(const std::string& name) {
    const fs::path dir = fs::temp_directory_path() / ("fgclep_test_llm_" + name);
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("the client builds the OpenAI endpoint from vLLM, llama.cpp and Ollama style base URLs") {
    ChatOptions o;
    o.base_url = "http://127.0.0.1:8000";
    CHECK(ChatClient(o).url() == "http://127.0.0.1:8000/v1/chat/completions");
    o.base_url = "http://localhost:11434/v1/";
    CHECK(ChatClient(o).url() == "http://localhost:11434/v1/chat/completions");
    o.base_url = "https://api.example.org/openai/v1";
    CHECK(ChatClient(o).url() == "https://api.example.org/openai/v1/chat/completions");
    o.base_url = "http://gpu-box:8080/proxy";
    CHECK(ChatClient(o).url() == "http://gpu-box:8080/proxy/v1/chat/completions");
    o.base_url = "localhost:8000";
    CHECK_THROWS_WITH(ChatClient{o}, doctest::Contains("base URL 'localhost:8000' has no scheme"));
    o.base_url = "ftp://x";
    CHECK_THROWS_WITH(ChatClient{o}, doctest::Contains("scheme must be http or https"));

    o.base_url = "http://127.0.0.1:8000";
    o.model = "llama3";
    o.max_tokens = 99;
    const Json body = Json::parse(ChatClient(o).request_body({{"system", "S"}, {"user", "U"}}));
    CHECK(body["model"] == "llama3");
    CHECK(body["temperature"] == 0.0);
    CHECK(body["max_tokens"] == 99);
    CHECK(body["messages"] == Json::parse(R"([{"role":"system","content":"S"},{"role":"user","content":"U"}])"));
}

TEST_CASE("the paper's prompt by default, a custom template by option") {
    const FeaturePrompt p;
    const auto m = p.messages("sinus rhythm. left bundle branch block.");
    REQUIRE(m.size() == 2);
    CHECK(m[0].role == "system");
    CHECK(m[1].role == "user");
    CHECK(m[1].content.rfind("What waveform features are most likely to be present in ECGs with these symptoms?", 0) ==
          0);
    CHECK(contains(m[1].content, "sinus rhythm. left bundle branch block."));
    CHECK(contains(m[1].content, "Python list"));

    const FeaturePrompt custom = FeaturePrompt::from_template("Report: {report}\nList {{as Python}}: {report}");
    const auto c = custom.messages("AF");
    REQUIRE(c.size() == 1);  // no system message unless given
    CHECK(c[0].content == "Report: AF\nList {as Python}: AF");
    CHECK(custom.identity() != p.identity());
    CHECK_THROWS_WITH(FeaturePrompt::from_template("no placeholder"), doctest::Contains("no {report} placeholder"));
    CHECK_THROWS_WITH(FeaturePrompt::from_template("{report} {oops}"), doctest::Contains("unexpected '{' at offset 9"));
}

TEST_CASE("a good answer, the API key from the environment, and no key when the variable is unset") {
    FakeLlm server;
    ::setenv("FGCLEP_TEST_LLM_KEY", "sk-test-123", 1);
    ChatClient client(fast_options(server));
    CHECK(client.has_api_key());
    const ChatResult r = client.complete(FeaturePrompt{}.messages("sinus rhythm"));
    CHECK(r.ok);
    CHECK(r.status == 200);
    CHECK(r.attempts == 1);
    CHECK(r.content == FakeLlm::answer_for("sinus rhythm"));
    CHECK(server.last_authorization() == "Bearer sk-test-123");
    CHECK(server.last_body()["model"] == "test-model");
    CHECK(server.last_body()["temperature"] == 0.0);
    ::unsetenv("FGCLEP_TEST_LLM_KEY");
    ChatClient anonymous(fast_options(server));
    CHECK_FALSE(anonymous.has_api_key());
    CHECK(anonymous.complete({{"user", "x"}}).ok);
    CHECK(server.last_authorization().empty());
}

TEST_CASE("500 and 429 are retried and recover; 4xx is not retried; errors name the URL, status and body") {
    FakeLlm server;
    const ChatClient client(fast_options(server));
    const std::string url = server.base_url() + "/v1/chat/completions";

    ChatResult r = client.complete({{"user", "flaky one"}});
    CHECK(r.ok);
    CHECK(r.attempts == 2);
    CHECK(server.asked("flaky one") == 2);
    r = client.complete({{"user", "busy one"}});
    CHECK(r.ok);
    CHECK(r.attempts == 2);
    CHECK(server.asked("busy one") == 2);

    r = client.complete({{"user", "down always"}});
    CHECK_FALSE(r.ok);
    CHECK(r.status == 500);
    CHECK(r.attempts == 3);  // 1 + max_retries
    CHECK(server.asked("down always") == 3);
    CHECK(r.error == "POST " + url + ": HTTP 500: model overloaded (after 3 attempts)");

    r = client.complete({{"user", "reject me"}});
    CHECK_FALSE(r.ok);
    CHECK(r.attempts == 1);
    CHECK(server.asked("reject me") == 1);
    CHECK(r.error == "POST " + url + ": HTTP 400: {\"error\":\"unknown model\"} (after 1 attempt)");
    const std::string thrown = "fgclep: chat client: POST " + url + ": HTTP 400";
    CHECK_THROWS_WITH(client.complete_or_throw({{"user", "reject me"}}), doctest::Contains(thrown.c_str()));

    r = client.complete({{"user", "garbage in"}});
    CHECK_FALSE(r.ok);
    CHECK(r.attempts == 1);
    CHECK(contains(r.error, "HTTP 200 but the body is not JSON: <html>oops</html>"));
}

TEST_CASE("a slow server runs into the read timeout; a closed port is a connection error; both are retried") {
    FakeLlm server;
    ChatOptions o = fast_options(server);
    o.read_timeout = 200ms;
    o.max_retries = 1;
    // The server holds its answer until released, which happens only after the client has returned: so the client
    // can only have returned by giving up on its own, on both attempts. (A client without the read timeout would
    // wait for the server's 3 s safety cap and get the answer.)
    ChatResult r = ChatClient(o).complete({{"user", "hold answer"}});
    CHECK(server.held_answered() == 0);  // no attempt got an answer: each one timed out
    server.release();
    CHECK_FALSE(r.ok);
    CHECK(r.status == 0);
    CHECK(r.attempts == 2);
    CHECK(server.asked("hold answer") == 2);  // the attempt and its one retry both reached the server
    CHECK(r.error ==
          "POST " + server.base_url() +
              "/v1/chat/completions: no complete answer within the read timeout of 200 ms (or the connection "
              "was closed) (after 2 attempts)");

    int closed_port;
    {
        FakeLlm gone;
        closed_port = std::stoi(gone.base_url().substr(gone.base_url().rfind(':') + 1));
    }  // stopped: nothing listens there now
    o.base_url = "http://127.0.0.1:" + std::to_string(closed_port) + "/v1";
    r = ChatClient(o).complete({{"user", "x"}});
    CHECK_FALSE(r.ok);
    CHECK(r.attempts == 2);
    CHECK(contains(r.error, "connection failed: refused or unreachable"));
    CHECK(contains(r.error, "127.0.0.1:" + std::to_string(closed_port) + "/v1/chat/completions"));
}

TEST_CASE("the cache: hits by exact report text, per model and prompt; torn and bad lines reported and ignored") {
    const fs::path dir = fresh_dir("cache");
    const fs::path file = dir / "cache.jsonl";
    {
        FeatureCache cache(file, "m1", "prompt A");
        CHECK(cache.issues().messages.empty());
        CHECK_FALSE(cache.find("sinus rhythm"));
        cache.put("sinus rhythm", {"normal p waves"}, "['Normal P waves']");
        cache.put("af", {});
        cache.put("sinus rhythm", {"ignored: already cached"});
        CHECK(*cache.find("sinus rhythm") == std::vector<std::string>{"normal p waves"});
        CHECK(cache.find("af")->empty());
        CHECK_FALSE(cache.find("sinus rhythm "));  // exact text only
        CHECK(cache.size() == 2);
    }
    {
        FeatureCache again(file, "m1", "prompt A");
        CHECK(again.issues().entries == 2);
        CHECK(again.issues().messages.empty());
        CHECK(*again.find("sinus rhythm") == std::vector<std::string>{"normal p waves"});
        FeatureCache other_prompt(file, "m1", "prompt B");
        CHECK(other_prompt.size() == 0);
        CHECK(other_prompt.issues().other_prompt == 2);
        CHECK_FALSE(other_prompt.find("sinus rhythm"));
        FeatureCache other_model(file, "m2", "prompt A");
        CHECK_FALSE(other_model.find("sinus rhythm"));
    }
    // The file: a prompt record, then one line per entry with the raw answer.
    {
        std::ifstream in(file);
        std::string line;
        std::vector<Json> lines;
        while (std::getline(in, line)) lines.push_back(Json::parse(line));
        REQUIRE(lines.size() == 3);
        CHECK(lines[0]["type"] == "prompt");
        CHECK(lines[0]["text"] == "prompt A");
        CHECK(lines[1]["report"] == "sinus rhythm");
        CHECK(lines[1]["answer"] == "['Normal P waves']");
        CHECK(lines[1]["model"] == "m1");
    }
    // Killed mid-write: a partial last line; and a corrupt line in the middle.
    const auto size_before = fs::file_size(file);
    {
        std::ofstream out(file, std::ios::app);
        out << "{\"type\":\"entry\",\"key\":\"00\",\"prompt\n";  // a corrupt whole line
        out << "{\"type\":\"entry\",\"key\":\"abc\",\"repo";     // torn, no newline
    }
    {
        FeatureCache cache(file, "m1", "prompt A");
        CHECK(cache.issues().torn_last_line == 1);
        CHECK(cache.issues().malformed_lines == 1);
        REQUIRE(cache.issues().messages.size() == 2);
        CHECK(contains(cache.issues().messages[0], "cache.jsonl:4: not a JSON object: skipped"));
        CHECK(contains(cache.issues().messages[1], "cache.jsonl:5: the last line is incomplete"));
        CHECK(cache.size() == 2);
        cache.put("lbbb", {"wide qrs"});
    }
    CHECK(fs::file_size(file) > size_before);
    {
        FeatureCache cache(file, "m1", "prompt A");
        CHECK(cache.issues().torn_last_line == 0);  // the fragment was cut off; the new entry starts cleanly
        CHECK(cache.issues().malformed_lines == 1);
        CHECK(cache.size() == 3);
        CHECK(*cache.find("lbbb") == std::vector<std::string>{"wide qrs"});
    }
}

TEST_CASE("LlmFeatureSource: candidates, failures recorded per report, cache hits on a rerun") {
    FakeLlm server;
    const fs::path dir = fresh_dir("source");
    LlmFeatureOptions o;
    o.chat = fast_options(server);
    o.cache_file = dir / "cache.jsonl";
    o.concurrency = 3;
    const std::vector<std::string> reports = {"sinus rhythm",  "atrial fibrillation", "sinus rhythm",
                                              "fenced answer", "noprose please",      "reject this",
                                              "flaky lbbb",    "garbage body",        "atrial fibrillation"};
    {
        LlmFeatureSource source(o);
        const auto c = source.candidates(reports);
        REQUIRE(c.size() == reports.size());
        CHECK(c[0] == std::vector<std::string>{"feature of sinus rhythm", "shared"});
        CHECK(c[2] == c[0]);
        CHECK(c[3] == std::vector<std::string>{"st elevation", "q waves"});
        CHECK(c[6] == std::vector<std::string>{"feature of flaky lbbb", "shared"});  // recovered from a 500
        CHECK(c[4].empty());
        CHECK(c[5].empty());
        CHECK(c[7].empty());
        const LlmStats& s = source.stats();
        CHECK(s.reports == 9);
        CHECK(s.cached == 0);
        CHECK(s.asked == 7);
        CHECK(s.duplicates == 2);
        CHECK(s.answered == 6);
        CHECK(s.failed == 2);
        CHECK(s.malformed == 1);
        CHECK(s.not_asked == 0);
        CHECK(s.cached + s.answered + s.failed + s.malformed + s.not_asked == s.reports);
        CHECK_FALSE(source.complete());
        CHECK(source.statuses()[4] == CandidateStatus::malformed);
        CHECK(source.statuses()[5] == CandidateStatus::failed);
        REQUIRE(source.failures().size() == 3);
        CHECK(source.failures()[0].index == 4);
        CHECK(source.failures()[0].answer == "It would show ST elevation and Q waves.");
        CHECK(contains(source.failures()[0].error, "not a Python list: no Python list in the answer"));
        CHECK(source.failures()[1].index == 5);
        CHECK(contains(source.failures()[1].error, "HTTP 400"));
        CHECK(source.failures()[2].index == 7);
        CHECK(contains(source.failures()[2].error, "not JSON"));
        CHECK(server.asked("sinus rhythm") == 1);  // duplicates asked once
        CHECK_THROWS_WITH(source.candidates(std::string_view("reject again")),
                          doctest::Contains("failed for report 'reject again'"));
        CHECK(source.candidates(std::string_view("one more")) ==
              std::vector<std::string>{"feature of one more", "shared"});
        const std::vector<std::string> cut = {"cutoff answer"};
        CHECK(source.candidates(cut)[0].empty());
        REQUIRE(source.failures().size() == 1);
        CHECK(source.failures()[0].status == CandidateStatus::malformed);
        CHECK(contains(source.failures()[0].error, "is never closed"));
        CHECK(contains(source.failures()[0].error, "(the answer was cut off at max_tokens = 256)"));
    }
    const int before = server.requests();
    {
        LlmFeatureSource again(o);
        const std::vector<std::string> good = {"sinus rhythm", "fenced answer", "atrial fibrillation", "one more"};
        const auto c = again.candidates(good);
        CHECK(server.requests() == before);  // nothing asked twice
        CHECK(again.stats().cached == 4);
        CHECK(again.complete());
        CHECK(c[1] == std::vector<std::string>{"st elevation", "q waves"});
        // Failures were not cached as successes: they are asked again.
        again.candidates(reports);
        CHECK(again.stats().cached == 6);
        CHECK(again.stats().asked == 3);
        CHECK(server.asked("noprose please") == 2);
        CHECK(server.asked("garbage body") == 2);
    }
}

TEST_CASE("stopped after K requests or cancelled, then resumed: the union is complete and nothing is asked twice") {
    FakeLlm server;
    const fs::path dir = fresh_dir("resume");
    std::vector<std::string> reports;
    for (int i = 0; i < 30; ++i) reports.push_back("report number " + std::to_string(i));
    LlmFeatureOptions o;
    o.chat = fast_options(server);
    o.cache_file = dir / "cache.jsonl";
    o.concurrency = 3;

    o.max_requests = 7;
    std::vector<std::vector<std::string>> first;
    {
        LlmFeatureSource source(o);
        first = source.candidates(reports);
        CHECK(source.stats().asked == 7);
        CHECK(source.stats().answered == 7);
        CHECK(source.stats().not_asked == 23);
        CHECK_FALSE(source.complete());
    }
    CHECK(server.requests() == 7);

    // Cancelled from the progress callback after a few more.
    std::atomic<bool> cancel{false};
    o.max_requests = -1;
    o.cancel = &cancel;
    o.progress_interval = 0ms;
    std::size_t progress_calls = 0, progress_total = 0;  // checked on this thread, after the call
    o.on_progress = [&](const LlmProgress& p) {
        ++progress_calls;
        progress_total = p.total;
        if (p.done >= 5) cancel = true;
    };
    {
        LlmFeatureSource source(o);
        source.candidates(reports);
        CHECK(source.stats().cached == 7);
        CHECK(source.stats().asked >= 5);
        CHECK(source.stats().asked <= 5 + 2);  // at most the other workers' requests in flight finish
        CHECK(source.stats().not_asked == 23 - source.stats().asked);
    }
    CHECK(progress_calls >= 5);
    CHECK(progress_total == 23);

    cancel = false;
    o.on_progress = nullptr;
    LlmFeatureSource source(o);
    const auto all = source.candidates(reports);
    CHECK(source.complete());
    for (std::size_t i = 0; i < reports.size(); ++i) {
        CAPTURE(i);
        CHECK(all[i] == std::vector<std::string>{"feature of " + reports[i], "shared"});
        if (i < first.size() && !first[i].empty()) CHECK(first[i] == all[i]);
    }
    CHECK(server.requests() == 30);
    for (const auto& [report, count] : server.asked_counts()) CHECK(count == 1);
    CHECK(source.cache()->size() == 30);
}

TEST_CASE("concurrent requests overlap at the server") {
    FakeLlm server;
    std::vector<std::string> reports;
    for (int i = 0; i < 8; ++i) reports.push_back("gate " + std::to_string(i));
    // The server answers none of them until 4 are in flight together: only 4 concurrent requests get past it
    // (sequential ones would each wait for the safety cap, and the gate would not open by overlap).
    server.open_gate_at(4);
    LlmFeatureOptions o;
    o.chat = fast_options(server);
    o.concurrency = 4;
    LlmFeatureSource source(o);  // no cache file: every call asks
    const auto c = source.candidates(reports);
    CHECK(source.complete());
    for (std::size_t i = 0; i < reports.size(); ++i)
        CHECK(c[i] == std::vector<std::string>{"feature of gate " + std::to_string(i), "shared"});
    CHECK(server.gate_opened_by_overlap());
    CHECK(server.max_in_flight() == 4);  // never more than the concurrency asked for
    CHECK(server.requests() == 8);       // one request each: none timed out and was retried
    LlmFeatureOptions none;
    none.concurrency = 0;
    CHECK_THROWS_WITH(LlmFeatureSource{none}, doctest::Contains("concurrency must be >= 1, got 0"));
}
