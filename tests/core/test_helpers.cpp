// The library's single helpers for repeated mechanisms: FNV-1a (values pinned: caches on disk key by them),
// CRC-32 (the zlib/ZIP one, incremental), and worker threads (exceptions propagated, a failed thread start
// reported after joining, never std::terminate).
#include "thread_start_failure.hpp"

#include "fgclep/core/hash.hpp"
#include "fgclep/core/rng.hpp"
#include "fgclep/core/workers.hpp"
#include "fgclep/io/crc32.hpp"
#include "fgclep/llm/feature_cache.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

using namespace fgclep;

static_assert(fnv1a64("") == fnv1a64_basis);  // usable at compile time

TEST_CASE("FNV-1a: the standard vectors, chaining, and the values stored on disk are unchanged") {
    CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cull);
    CHECK(fnv1a64("foobar") == 0x85944171f73967e8ull);
    CHECK(fnv1a64("bar", fnv1a64("foo")) == fnv1a64("foobar"));
    // The legacy basis of record-cache keys and HostRng::for_name (values of the code before the helper).
    CHECK(fnv1a64_legacy_basis == 1469598103934665603ull);
    CHECK(fnv1a64("x.weight", fnv1a64_legacy_basis) == 0xf26993cfdb215871ull);
    CHECK(HostRng::for_name(1, "x.weight").next() == 0x5352049696f60306ull);
    // An LLM feature-cache key: FNV-1a of model, NUL, prompt, NUL, report from the standard basis.
    const auto file = std::filesystem::temp_directory_path() / fmt::format("fgclep-test-fnv-{}.jsonl", ::getpid());
    {
        llm::FeatureCache cache(file, "m", "p");
        CHECK(cache.key("r") == "6acb40aa6c86fe3e");
    }
    std::filesystem::remove(file);
}

TEST_CASE("CRC-32: the standard check value, and incremental updates equal one pass") {
    const std::string text = "123456789";
    CHECK(io::crc32(text.data(), text.size()) == 0xCBF43926u);
    CHECK(io::crc32(nullptr, 0) == 0u);
    io::Crc32 c;
    c.update(text.data(), 4);
    c.update(text.data() + 4, 0);
    c.update(text.data() + 4, 5);
    CHECK(c.value() == 0xCBF43926u);
}

TEST_CASE("run_workers: every worker runs once, worker 0 on the calling thread") {
    std::mutex m;
    std::set<int> seen;
    std::set<std::thread::id> ids;
    std::thread::id first;
    run_workers("test", 4, [&](int k) {
        std::lock_guard lock(m);
        seen.insert(k);
        ids.insert(std::this_thread::get_id());
        if (k == 0) first = std::this_thread::get_id();
    });
    CHECK(seen == std::set<int>{0, 1, 2, 3});
    CHECK(ids.size() == 4);
    CHECK(first == std::this_thread::get_id());
    int runs = 0;
    run_workers("test", 0, [&](int) { ++runs; });
    CHECK(runs == 0);
    run_workers("test", 1, [&](int) { ++runs; });
    CHECK(runs == 1);
}

TEST_CASE("run_workers: the first exception is rethrown as it is, after `stop` ended the others and all joined") {
    constexpr std::int64_t end = 100'000'000;
    for (int thrower : {0, 2}) {  // the calling thread, a started one
        std::atomic<std::int64_t> next{0}, done{0};
        std::atomic<int> returned{0};
        const auto body = [&](int k) {
            for (std::int64_t i; (i = next++) < end; ++done) {
                if (k == thrower && i >= 1000) throw std::logic_error(fmt::format("worker {} failed", k));
                std::this_thread::yield();
            }
            ++returned;
        };
        CHECK_THROWS_WITH_AS(run_workers("test", 3, body, [&] { next = end; }),
                             fmt::format("worker {} failed", thrower).c_str(), std::logic_error);
        CHECK(returned == 2);   // the others returned (and were joined) before run_workers threw
        CHECK(done < end / 2);  // stopped early, not run to the end
    }
    // Two workers throwing: one exception comes out, not std::terminate.
    CHECK_THROWS_AS(run_workers("test", 2, [](int) { throw Error("both"); }), Error);
}

TEST_CASE("a worker thread that cannot be started: the started ones are stopped and joined, then fgclep::Error") {
    // Workers that never finish unless stopped: the call returns only if `stop` ran and every started one was
    // joined. (Before the helper, the vector of joinable std::threads was destroyed: std::terminate.)
    std::atomic<bool> stop{false};
    std::atomic<int> returned{0}, ran{0};
    const auto body = [&](int) {
        ++ran;
        while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ++returned;
    };
    {
        test::FailThreadStart fail(2);  // the third start fails
        CHECK_THROWS_WITH_AS(run_workers("the test task", 5, body, [&] { stop = true; }),
                             doctest::Contains("fgclep: the test task: cannot start a worker thread (2 of 4 started): "
                                               "std::thread: Resource temporarily unavailable"),
                             Error);
        CHECK(fail.attempts() == 3);
    }
    CHECK(returned == 2);  // both started threads returned before the error came out
    CHECK(ran == 2);       // and the calling thread never started its share of the work

    // Long-lived workers: the same, and the object stays usable for destruction.
    stop = false;
    returned = 0;
    {
        test::FailThreadStart fail(0);
        WorkerThreads threads;
        CHECK_THROWS_WITH_AS(threads.start("pool", 3, body, [&] { stop = true; }),
                             doctest::Contains("pool: cannot start a worker thread (0 of 3 started)"), Error);
        CHECK(threads.size() == 0);
    }
    CHECK(returned == 0);
}

TEST_CASE("WorkerThreads: stop_and_join and the destructor stop long-lived workers; join reports their exception") {
    std::atomic<bool> stop{false};
    std::atomic<int> returned{0};
    const auto body = [&](int) {
        while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ++returned;
    };
    {
        WorkerThreads threads;
        threads.start("pool", 3, body, [&] { stop = true; });
        CHECK(threads.size() == 3);
    }  // the destructor stops and joins
    CHECK(returned == 3);
    stop = false;
    WorkerThreads threads;
    threads.start(
        "pool", 2,
        [&](int k) {
            if (k == 1) throw Error("worker 1 failed");
            body(k);
        },
        [&] { stop = true; });
    CHECK_THROWS_WITH_AS(threads.join(), "worker 1 failed", Error);  // the throw stopped worker 0
    CHECK(returned == 4);
    CHECK_NOTHROW(threads.stop_and_join());  // nothing left
}
