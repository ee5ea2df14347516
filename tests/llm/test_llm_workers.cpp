// LlmFeatureSource's request threads (core/workers.hpp): a thread that cannot be started and an exception in a
// worker (the progress callback) come out of candidates() as exceptions, never std::terminate. No server: the
// requests go to a closed loopback port and fail at once.
#include "thread_start_failure.hpp"

#include "fgclep/llm/llm_features.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

using namespace fgclep;
using namespace fgclep::llm;

namespace {
LlmFeatureOptions unreachable(int concurrency) {
    LlmFeatureOptions o;
    o.chat.base_url = "http://127.0.0.1:1/v1";  // nothing listens: connection refused
    o.chat.model = "m";
    o.chat.api_key_env = "";
    o.chat.max_retries = 0;
    o.chat.connect_timeout = std::chrono::milliseconds(2000);
    o.concurrency = concurrency;
    return o;
}
const std::vector<std::string> reports{"a", "b", "c", "d", "e"};
}  // namespace

TEST_CASE("LLM features: a request thread that cannot be started is an fgclep::Error after the others stopped") {
    LlmFeatureSource source(unreachable(3));
    test::FailThreadStart fail(1);  // the second of the two threads besides the caller
    CHECK_THROWS_WITH_AS(source.candidates(reports),
                         doctest::Contains("LLM features: cannot start a worker thread (1 of 2 started)"), Error);
}

TEST_CASE("LLM features: an exception in the progress callback propagates from candidates()") {
    LlmFeatureOptions o = unreachable(2);
    o.progress_interval = std::chrono::milliseconds(0);
    o.on_progress = [](const LlmProgress&) { throw std::runtime_error("the progress sink broke"); };
    LlmFeatureSource source(o);
    CHECK_THROWS_WITH_AS(source.candidates(reports), "the progress sink broke", std::runtime_error);
}
