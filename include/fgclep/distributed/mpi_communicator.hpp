#pragma once
// MpiCommunicator: data-parallel training across processes and hosts over MPI (Open MPI, MPICH; launched by
// mpirun, mpiexec or Slurm's srun). Link fgclep::mpi (CMake component `mpi`).
//
//   fgclep::MpiCommunicator comm;                        // MPI_Init_thread if nobody has, MPI_Finalize at the end
//   fgclep::Trainer trainer(model, tokenizer, options, comm);
//
// All MPI calls are made by one communication thread, in the order the caller issues them, as non-blocking
// collectives that it polls. That is what lets an all-reduce of gradients run while backward computes, and what
// bounds every wait: when a collective has not completed within `timeout`, the waiting rank asks every other rank,
// over a second communicator, where it is. A rank that does not answer (killed, or hung inside MPI) and a rank that
// answers but has not reached the collective (stuck computing) are named in the error, and the job is aborted
// (MPI_Abort: a collective in flight cannot be cancelled). docs/distributed.md.
#include "fgclep/core/backend.hpp"
#include "fgclep/core/collectives.hpp"
#include "fgclep/core/context.hpp"
#include "fgclep/core/error.hpp"
#include "fgclep/distributed/communicator.hpp"

#include <fmt/format.h>
#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace fgclep {

struct MpiOptions {
    // The longest a rank waits in one collective before it finds out which rank is missing and aborts the job.
    std::chrono::milliseconds timeout{std::chrono::minutes(10)};
    // How long the ranks asked during that diagnosis get to answer.
    std::chrono::milliseconds answer_time{std::chrono::seconds(5)};
};

class MpiCommunicator final : public Collectives {
public:
    // A collective in flight.
    class Pending {
    public:
        Pending() = default;
        Pending(std::shared_future<void> f, std::atomic<int>* waiters) : done_(std::move(f)), waiters_(waiters) {}
        // Returns when the collective is complete; throws fgclep::Error when it failed or timed out.
        void wait() {
            if (!done_.valid()) return;
            if (done_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
                ++*waiters_;  // the communication thread polls without pausing while someone waits
                done_.wait();
                --*waiters_;
            }
            done_.get();
        }

    private:
        std::shared_future<void> done_;
        std::atomic<int>* waiters_ = nullptr;
    };

    explicit MpiCommunicator(MpiOptions options = {}) : options_(options) {
        int initialized = 0;
        MPI_Initialized(&initialized);
        if (!initialized) {
            int provided = 0;
            check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
            owns_mpi_ = true;
            if (provided < MPI_THREAD_SERIALIZED)
                fail(
                    "MpiCommunicator: this MPI library provides thread level {}, but fgclep's communication thread "
                    "needs MPI_THREAD_SERIALIZED ({})",
                    provided, static_cast<int>(MPI_THREAD_SERIALIZED));
        } else {
            int provided = 0;
            MPI_Query_thread(&provided);
            if (provided < MPI_THREAD_SERIALIZED)
                fail(
                    "MpiCommunicator: MPI was initialised with thread level {}; initialise it with "
                    "MPI_Init_thread(..., MPI_THREAD_SERIALIZED, ...) or let MpiCommunicator do it",
                    provided);
        }
        check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
        check(MPI_Comm_dup(MPI_COMM_WORLD, &probe_comm_), "MPI_Comm_dup");
        // Errors come back as codes, so that they are reported with the collective and the ranks involved.
        MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
        MPI_Comm_set_errhandler(probe_comm_, MPI_ERRORS_RETURN);
        MPI_Comm_rank(comm_, &rank_);
        MPI_Comm_size(comm_, &size_);
        thread_ = std::thread([this] { serve(); });
    }

    MpiCommunicator(const MpiCommunicator&) = delete;
    MpiCommunicator& operator=(const MpiCommunicator&) = delete;

    ~MpiCommunicator() override {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        thread_.join();
        if (broken_) {
            // A collective is still in flight on some rank; MPI_Finalize would wait for it forever.
            std::fflush(stderr);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        if (std::uncaught_exceptions() > uncaught_at_start_) {
            // An error is ending this rank: the others would wait for it in their next collective until the
            // timeout. End the job now (the launcher names this rank; catch the error inside the communicator's
            // scope, print it and call abort() to say why, as the stage programs do).
            std::fprintf(stderr, "fgclep: rank %d: an error ends this rank; aborting the MPI job\n", rank_);
            std::fflush(stderr);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        MPI_Comm_free(&probe_comm_);
        MPI_Comm_free(&comm_);
        if (owns_mpi_) MPI_Finalize();
    }

    // Ends the whole job at once (MPI_Abort), after this rank has said why: what a rank that cannot go on does, so
    // that the others do not wait for it until their timeout.
    // The communication thread makes the call (all MPI calls are its own: MPI_THREAD_SERIALIZED).
    [[noreturn]] void abort(int code = 1) {
        std::fflush(stdout);
        std::fflush(stderr);
        abort_code_.store(code);
        wake_.notify_all();
        std::this_thread::sleep_for(std::chrono::seconds(10));
        MPI_Abort(MPI_COMM_WORLD, code);  // the communication thread is stuck: call it from here after all
        std::abort();
    }

    int rank() const override { return rank_; }
    int size() const override { return size_; }
    Collectives* collectives() { return this; }
    const MpiOptions& options() const { return options_; }
    // Seconds collectives have been in flight so far (overlapped with computation or not), for measurements.
    double busy_seconds() const { return static_cast<double>(busy_ns_.load()) * 1e-9; }

    // --- what the Trainer calls: the backend's memory, which must be host memory -------------------------------
    // (Only for backends whose memory is host memory: Communicator<MpiCommunicator, Cuda<float>> is false.)
    template <Backend B, class T>
    requires(B::host_accessible) void broadcast(Context<B>&, T* data, std::size_t n, int root) {
        broadcast(data, n, root);
    }
    template <Backend B, class T>
    requires(B::host_accessible) Pending start_all_reduce(Context<B>&, T* data, std::size_t n, ReduceOp op) {
        return start_all_reduce(data, n, op);
    }

    // --- host memory ----------------------------------------------------------------------------------------
    template <class T>
    Pending start_all_reduce(T* data, std::size_t n, ReduceOp op) {
        const MPI_Datatype type = datatype<T>();
        Pending last;  // parts of more than INT_MAX elements complete in order: the last one's wait covers all
        for (std::size_t begin = 0; begin < n; begin += INT_MAX) {
            const int count = static_cast<int>(std::min<std::size_t>(n - begin, INT_MAX));
            T* p = data + begin;
            last = enqueue(
                "all_reduce",
                [=, this](MPI_Request* r) { return MPI_Iallreduce(MPI_IN_PLACE, p, count, type, MPI_SUM, comm_, r); },
                [=, this] {
                    if (op != ReduceOp::mean) return;
                    const T k = static_cast<T>(size_);
                    for (int i = 0; i < count; ++i) p[i] /= k;
                });
        }
        return last;
    }
    template <class T>
    void all_reduce(T* data, std::size_t n, ReduceOp op) {
        start_all_reduce(data, n, op).wait();
    }
    template <class T>
    void broadcast(T* data, std::size_t n, int root) {
        if (root < 0 || root >= size_) fail("MpiCommunicator::broadcast: root {} is not a rank of {}", root, size_);
        const MPI_Datatype type = datatype<T>();
        Pending last;
        for (std::size_t begin = 0; begin < n; begin += INT_MAX) {
            const int count = static_cast<int>(std::min<std::size_t>(n - begin, INT_MAX));
            T* p = data + begin;
            last =
                enqueue("broadcast", [=, this](MPI_Request* r) { return MPI_Ibcast(p, count, type, root, comm_, r); });
        }
        last.wait();
    }
    // Waits for every rank. patient: a rank that is alive but still busy (rank 0 building a record cache, say) is
    // waited for without a time limit; a rank that does not answer still ends the run.
    void barrier(bool patient = false) {
        enqueue(
            "barrier", [this](MPI_Request* r) { return MPI_Ibarrier(comm_, r); }, {}, patient)
            .wait();
    }

    // --- Collectives (layers and losses) -----------------------------------------------------------------------
    void all_reduce_sum(std::span<double> data) override { all_reduce(data.data(), data.size(), ReduceOp::sum); }
    void all_gather(std::span<const double> mine, std::span<double> all) override {
        if (all.size() != mine.size() * static_cast<std::size_t>(size_))
            fail("MpiCommunicator::all_gather: {} values from each of {} ranks do not fill {}", mine.size(), size_,
                 all.size());
        if (mine.size() > static_cast<std::size_t>(INT_MAX))
            fail("MpiCommunicator::all_gather: {} values per rank exceed MPI's count limit", mine.size());
        const int count = static_cast<int>(mine.size());
        enqueue("all_gather", [=, this](MPI_Request* r) {
            return MPI_Iallgather(mine.data(), count, MPI_DOUBLE, all.data(), count, MPI_DOUBLE, comm_, r);
        }).wait();
    }

private:
    struct Op {
        std::int64_t sequence = 0;
        const char* what = "";
        std::function<int(MPI_Request*)> start;
        std::function<void()> finish;  // after completion, on the communication thread
        bool patient = false;
        std::promise<void> done;
    };

    template <class T>
    static MPI_Datatype datatype() {
        if constexpr (std::is_same_v<T, float>)
            return MPI_FLOAT;
        else if constexpr (std::is_same_v<T, double>)
            return MPI_DOUBLE;
        else if constexpr (std::is_same_v<T, std::int64_t>)
            return MPI_INT64_T;
        else if constexpr (std::is_same_v<T, std::uint64_t>)
            return MPI_UINT64_T;
        else if constexpr (std::is_same_v<T, std::uint8_t>)
            return MPI_UINT8_T;
        else
            static_assert(sizeof(T) == 0, "MpiCommunicator: no MPI datatype for this element type");
    }

    void check(int code, const char* call) const {
        if (code == MPI_SUCCESS) return;
        fail("{} failed: {}", call, error_text(code));
    }
    static std::string error_text(int code) {
        char text[MPI_MAX_ERROR_STRING];
        int length = 0;
        MPI_Error_string(code, text, &length);
        return std::string(text, static_cast<std::size_t>(length));
    }

    Pending enqueue(const char* what, std::function<int(MPI_Request*)> start, std::function<void()> finish = {},
                    bool patient = false) {
        auto op = std::make_unique<Op>();
        op->what = what;
        op->start = std::move(start);
        op->finish = std::move(finish);
        op->patient = patient;
        Pending pending(op->done.get_future().share(), &waiters_);
        {
            std::lock_guard lock(mutex_);
            op->sequence = ++issued_;
            if (broken_) {
                op->done.set_exception(std::make_exception_ptr(Error(failure_)));
                return pending;
            }
            queue_.push_back(std::move(op));
        }
        wake_.notify_all();
        return pending;
    }

    // The communication thread: runs the queued collectives in order, answering other ranks' questions while it
    // waits and while it is idle.
    void serve() {
        for (;;) {
            std::unique_ptr<Op> op;
            {
                std::unique_lock lock(mutex_);
                while (queue_.empty() && !stopping_) {
                    wake_.wait_for(lock, std::chrono::milliseconds(20));
                    if (abort_code_.load() != 0) MPI_Abort(MPI_COMM_WORLD, abort_code_.load());
                    if (queue_.empty() && !stopping_) {
                        lock.unlock();
                        answer_queries();
                        lock.lock();
                    }
                }
                if (queue_.empty()) return;  // stopping, nothing left
                op = std::move(queue_.front());
                queue_.pop_front();
            }
            if (broken_) {
                op->done.set_exception(std::make_exception_ptr(Error(failure_)));
                continue;
            }
            try {
                try {
                    run(*op);
                } catch (const Error&) {
                    throw;
                } catch (const std::exception& e) {  // bad_alloc, say: reported like MPI's own failures
                    fail("rank {}: MPI {} (collective #{}): {}", rank_, op->what, op->sequence, e.what());
                }
                op->done.set_value();
            } catch (const Error& e) {
                {
                    std::lock_guard lock(mutex_);
                    broken_ = true;
                    failure_ = e.what();
                }
                std::fprintf(stderr, "%s\n", e.what());
                std::fflush(stderr);
                op->done.set_exception(std::current_exception());
                // The owner reports and destroys the communicator (which aborts the job); if it does not within
                // the grace period (its thread is stuck elsewhere), abort from here.
                std::unique_lock lock(mutex_);
                const bool owner_acted = wake_.wait_for(lock, std::chrono::seconds(30),
                                                        [this] { return stopping_ || abort_code_.load() != 0; });
                if (!owner_acted || abort_code_.load() != 0) {
                    lock.unlock();
                    MPI_Abort(MPI_COMM_WORLD, owner_acted ? abort_code_.load() : 1);
                }
            }
        }
    }

    void run(Op& op) {
        current_.store(op.sequence);
        in_collective_.store(true);
        MPI_Request request = MPI_REQUEST_NULL;
        const int started = op.start(&request);
        if (started != MPI_SUCCESS)
            fail("rank {}: MPI {} (collective #{}) failed to start: {}", rank_, op.what, op.sequence,
                 error_text(started));
        const auto began = std::chrono::steady_clock::now();
        auto since = began;
        auto pause = std::chrono::microseconds(10);
        for (;;) {
            int complete = 0;
            const int code = MPI_Test(&request, &complete, MPI_STATUS_IGNORE);
            if (code != MPI_SUCCESS)
                fail("rank {}: MPI {} (collective #{}) failed: {}", rank_, op.what, op.sequence, error_text(code));
            if (complete) break;
            if (abort_code_.load() != 0) MPI_Abort(MPI_COMM_WORLD, abort_code_.load());
            answer_queries();
            if (std::chrono::steady_clock::now() - since > options_.timeout) {
                if (diagnose(op)) {
                    since = std::chrono::steady_clock::now();  // patient: everyone missing is alive
                    continue;
                }
            }
            // MPI progresses a collective only inside its calls: poll without pausing while the caller waits for
            // it, and every few tens of microseconds while the caller computes (leaving it the cores).
            if (waiters_.load() > 0) {
                std::this_thread::yield();
            } else {
                std::this_thread::sleep_for(pause);
                pause = std::min(pause * 2, std::chrono::microseconds(50));
            }
        }
        in_collective_.store(false);
        busy_ns_ +=
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - began).count();
        completed_.store(op.sequence);
        if (op.finish) op.finish();
    }

    static constexpr int query_tag = 1, reply_tag = 2;

    // Answers every pending question from another rank: the collective this rank is in (or has last completed).
    void answer_queries() {
        for (;;) {
            int flag = 0;
            MPI_Status status;
            if (MPI_Iprobe(MPI_ANY_SOURCE, query_tag, probe_comm_, &flag, &status) != MPI_SUCCESS || !flag) return;
            std::int64_t asked = 0;
            MPI_Recv(&asked, 1, MPI_INT64_T, status.MPI_SOURCE, query_tag, probe_comm_, MPI_STATUS_IGNORE);
            std::int64_t* reply = replies_.emplace_back(std::make_unique<std::int64_t[]>(3)).get();
            reply[0] = in_collective_.load() ? current_.load() : completed_.load();
            reply[1] = in_collective_.load() ? 1 : 0;
            reply[2] = asked;  // so that a late answer to an earlier question is not taken for this one's
            MPI_Request r;
            MPI_Isend(reply, 3, MPI_INT64_T, status.MPI_SOURCE, reply_tag, probe_comm_, &r);
            MPI_Request_free(&r);  // the buffer stays alive in replies_ until the communicator ends
        }
    }

    // Asks every other rank where it is. Returns true to keep waiting (a patient collective, and every rank that
    // has not arrived answered); otherwise fails with the ranks that are missing.
    bool diagnose(const Op& op) {
        const int others = size_ - 1;
        std::vector<std::int64_t> query(static_cast<std::size_t>(size_), op.sequence);
        std::vector<std::int64_t> answers(static_cast<std::size_t>(3 * size_), -1);
        std::vector<MPI_Request> sends, receives(static_cast<std::size_t>(size_), MPI_REQUEST_NULL);
        for (int r = 0; r < size_; ++r) {
            if (r == rank_) continue;
            MPI_Request s;
            MPI_Isend(&query[static_cast<std::size_t>(r)], 1, MPI_INT64_T, r, query_tag, probe_comm_, &s);
            sends.push_back(s);
            MPI_Irecv(&answers[static_cast<std::size_t>(3 * r)], 3, MPI_INT64_T, r, reply_tag, probe_comm_,
                      &receives[static_cast<std::size_t>(r)]);
        }
        const auto deadline = std::chrono::steady_clock::now() + options_.answer_time;
        int answered = 0;
        std::vector<bool> heard(static_cast<std::size_t>(size_), false);
        while (answered < others && std::chrono::steady_clock::now() < deadline) {
            for (int r = 0; r < size_; ++r) {
                auto& req = receives[static_cast<std::size_t>(r)];
                if (r == rank_ || heard[static_cast<std::size_t>(r)] || req == MPI_REQUEST_NULL) continue;
                int flag = 0;
                if (MPI_Test(&req, &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && flag) {
                    if (answers[static_cast<std::size_t>(3 * r + 2)] != op.sequence) {  // stale: listen again
                        MPI_Irecv(&answers[static_cast<std::size_t>(3 * r)], 3, MPI_INT64_T, r, reply_tag, probe_comm_,
                                  &req);
                        continue;
                    }
                    heard[static_cast<std::size_t>(r)] = true;
                    ++answered;
                }
            }
            answer_queries();
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        for (auto& req : receives)
            if (req != MPI_REQUEST_NULL) {
                MPI_Cancel(&req);
                MPI_Request_free(&req);
            }
        for (auto& s : sends) MPI_Request_free(&s);

        std::vector<std::string> missing;
        bool all_alive = true;
        for (int r = 0; r < size_; ++r) {
            if (r == rank_) continue;
            const std::int64_t at = answers[static_cast<std::size_t>(3 * r)];
            const bool in = answers[static_cast<std::size_t>(3 * r + 1)] == 1;
            if (!heard[static_cast<std::size_t>(r)]) {
                all_alive = false;
                missing.push_back(fmt::format("rank {} does not answer (it died, or hangs inside MPI)", r));
            } else if (at < op.sequence) {
                missing.push_back(fmt::format(
                    "rank {} is alive but has not reached it (it is {} collective #{}: stuck computing or reading)", r,
                    in ? "in" : "past", at));
            }
        }
        if (op.patient && all_alive) {
            if (!missing.empty())
                std::fprintf(stderr, "fgclep rank %d: still waiting in %s for: %s\n", rank_, op.what,
                             fmt::format("{}", fmt::join(missing, "; ")).c_str());
            return true;
        }
        if (missing.empty()) missing.push_back("every rank answered and is in it; the MPI library itself is stuck");
        fail("rank {}: MPI {} (collective #{}) did not complete within {} s: {}", rank_, op.what, op.sequence,
             std::chrono::duration<double>(options_.timeout).count(), fmt::format("{}", fmt::join(missing, "; ")));
    }

    MpiOptions options_;
    int uncaught_at_start_ = std::uncaught_exceptions();
    bool owns_mpi_ = false;
    MPI_Comm comm_ = MPI_COMM_NULL, probe_comm_ = MPI_COMM_NULL;
    int rank_ = 0, size_ = 1;

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::unique_ptr<Op>> queue_;
    std::int64_t issued_ = 0;
    bool stopping_ = false;
    std::atomic<bool> broken_{false};
    std::string failure_;
    std::atomic<std::int64_t> current_{0}, completed_{0};
    std::atomic<bool> in_collective_{false};
    std::atomic<std::int64_t> busy_ns_{0};
    std::atomic<int> waiters_{0};
    std::atomic<int> abort_code_{0};
    std::vector<std::unique_ptr<std::int64_t[]>> replies_;
    std::thread thread_;
};

}  // namespace fgclep
