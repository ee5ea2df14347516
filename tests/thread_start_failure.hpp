#pragma once
// Makes one worker-thread start fail the way std::thread's constructor does when the process is out of threads
// (std::system_error), through fgclep's test seam (workers_detail::thread_starter in core/workers.hpp). Every
// other start is a real std::thread. Restores the default on destruction. Not thread-safe: set it up before
// starting work.
#include "fgclep/core/workers.hpp"

#include <functional>
#include <system_error>
#include <thread>
#include <utility>

namespace fgclep::test {

class FailThreadStart {
public:
    // Start number `fail_at` (0-based, counted from here on) throws.
    explicit FailThreadStart(int fail_at) {
        workers_detail::thread_starter() = [this, fail_at](std::function<void()> fn) {
            if (attempts_++ == fail_at)
                throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again), "std::thread");
            return std::thread(std::move(fn));
        };
    }
    ~FailThreadStart() { workers_detail::thread_starter() = nullptr; }
    FailThreadStart(const FailThreadStart&) = delete;
    FailThreadStart& operator=(const FailThreadStart&) = delete;
    int attempts() const { return attempts_; }

private:
    int attempts_ = 0;
};

}  // namespace fgclep::test
