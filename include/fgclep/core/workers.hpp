#pragma once
// Worker threads, started and joined in one place, so that no path destroys a joinable std::thread (which calls
// std::terminate): neither an exception from a worker nor std::thread's constructor failing (std::system_error,
// when the process is out of threads or memory).
//
//   run_workers("record cache", 4, [&](int w) { while ((j = next++) < n) ...; }, [&] { next = n; });
//
//   WorkerThreads threads;                                  // long-lived workers (BatchStream)
//   threads.start("BatchStream", 2, [this](int) { work(); }, [this] { stop(); });
//   ~Owner() { threads.stop_and_join(); }                   // or let the destructor do it
//
// `stop` makes the running workers return early. It is called when a worker throws, when a thread cannot be
// started, and by stop_and_join() and the destructor, possibly more than once and from any thread: it must be
// idempotent and thread-safe (set an atomic, or set a flag under the workers' mutex and notify).
//
// A thread that cannot be started is an error, never a silent slowdown: the threads already started are stopped
// and joined, then fgclep::Error names the task and the thread. (Running on with fewer threads would hide a
// misconfigured thread count, and BatchStream cannot progress at all without its workers.)
#include "fgclep/core/error.hpp"

#include <algorithm>
#include <exception>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace fgclep {

namespace workers_detail {
// Test seam: when set, starts every worker thread in place of std::thread's constructor, so that tests can make
// a start fail. Nothing else sets it.
using ThreadStarter = std::function<std::thread(std::function<void()>)>;
inline ThreadStarter& thread_starter() {
    static ThreadStarter starter;
    return starter;
}
}  // namespace workers_detail

class WorkerThreads {
public:
    WorkerThreads() = default;
    WorkerThreads(const WorkerThreads&) = delete;
    WorkerThreads& operator=(const WorkerThreads&) = delete;
    ~WorkerThreads() { stop_and_join(); }

    // Starts `count` threads, thread k running body(k); call once per object. Throws fgclep::Error when one
    // cannot be started, after stopping and joining the others (a worker's exception is then dropped).
    void start(std::string_view task, int count, std::function<void(int)> body, std::function<void()> stop = {}) {
        stop_ = std::move(stop);
        threads_.reserve(threads_.size() + static_cast<std::size_t>(std::max(count, 0)));  // emplace cannot throw
        for (int k = 0; k < count; ++k) {
            try {
                std::function<void()> fn = [this, body, k] { run(k, body); };
                const workers_detail::ThreadStarter& starter = workers_detail::thread_starter();
                threads_.push_back(starter ? starter(std::move(fn)) : std::thread(std::move(fn)));
            } catch (const std::exception& e) {
                request_stop();
                join_all();
                fail(
                    "{}: cannot start a worker thread ({} of {} started): {}; the started ones were stopped and "
                    "joined. Use fewer threads.",
                    task, k, count, e.what());
            }
        }
    }

    // Runs body(k) on the calling thread as one of the workers: an exception is kept and stops the others.
    void run(int k, const std::function<void(int)>& body) noexcept {
        try {
            body(k);
        } catch (...) {
            {
                std::lock_guard lock(mutex_);
                if (!error_) error_ = std::current_exception();
            }
            request_stop();
        }
    }

    // Waits for every thread to return, then rethrows the first exception a worker threw.
    void join() {
        join_all();
        std::exception_ptr error;
        {
            std::lock_guard lock(mutex_);
            error = std::exchange(error_, nullptr);
        }
        if (error) std::rethrow_exception(error);
    }
    // Stops and joins whatever still runs, for destructors: a worker's exception is dropped (join() reports it).
    void stop_and_join() noexcept {
        if (running()) request_stop();
        join_all();
    }

    std::size_t size() const { return threads_.size(); }

private:
    bool running() const {
        for (const std::thread& t : threads_)
            if (t.joinable()) return true;
        return false;
    }
    void request_stop() {
        if (stop_) stop_();
    }
    void join_all() noexcept {
        for (std::thread& t : threads_)
            if (t.joinable()) t.join();
        threads_.clear();
    }

    std::vector<std::thread> threads_;
    std::function<void()> stop_;
    std::mutex mutex_;
    std::exception_ptr error_;
};

// Runs body(0) .. body(count - 1) at once, body(0) on the calling thread, and returns when all have returned;
// rethrows the first exception any of them threw (after `stop` made the others return early and all were
// joined). Nothing runs when count < 1. A thread that cannot be started: see WorkerThreads::start.
inline void run_workers(std::string_view task, int count, const std::function<void(int)>& body,
                        std::function<void()> stop = {}) {
    if (count < 1) return;
    WorkerThreads threads;
    threads.start(
        task, count - 1, [&body](int k) { body(k + 1); }, std::move(stop));
    threads.run(0, body);
    threads.join();
}

}  // namespace fgclep
