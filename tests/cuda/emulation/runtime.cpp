// The host emulation of the CUDA runtime and kernel language (tests only): include/fgclep_emulation/runtime.hpp
// and kernel_language.hpp say what is emulated and how; README.md says what is not.
//
// Structure: one device thread executes the queued work of every stream in queue order; a kernel launch runs its
// blocks one after another on a pool of OS threads, one per thread of the block, which synchronise through the
// block's barrier and its warps' exchanges (one mutex per block, so ThreadSanitizer sees exactly the
// happens-before that CUDA's barriers give, and no more).
#include "fgclep_emulation/runtime.hpp"
#include "fgclep_emulation/kernel_language.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <ucontext.h>

namespace fgclep_emulation {
namespace {

constexpr std::size_t device_memory_bytes = std::size_t(8) << 30;  // per emulated device
constexpr unsigned max_block_threads = 1024;
constexpr std::uint64_t poison_byte = 0xFF;  // fresh device memory: NaN in float and double, -1 in integers

int env_int(const char* name, int fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::atoi(v) : fallback;
}

Schedule env_schedule() {
    const char* v = std::getenv("FGCLEP_CUDA_EMULATION_SCHEDULE");
    if (v && std::string(v) == "serial") return Schedule::serial;
    if (v && *v && std::string(v) != "concurrent")
        std::fprintf(stderr,
                     "fgclep CUDA emulation: FGCLEP_CUDA_EMULATION_SCHEDULE=%s is not concurrent or serial; "
                     "using concurrent\n",
                     v);
    return Schedule::concurrent;
}

}  // namespace
}  // namespace fgclep_emulation

struct CUstream_st {
    int device = 0;
    std::uint64_t last_ticket = 0;  // the last work queued on it
    bool alive = true;
};
struct CUevent_st {
    std::uint64_t ticket = 0;
    bool recorded = false, timing = true;
    std::chrono::steady_clock::time_point when{};
};

namespace fgclep_emulation {
namespace {

// --- Blocks --------------------------------------------------------------------------------------------------------

struct Warp {
    unsigned lanes = 0, arrived = 0, exited = 0;
    std::uint64_t generation = 0;
    std::uint64_t in[32] = {}, out[32] = {};
    int mode[32] = {}, operand[32] = {}, width[32] = {};
};

enum Waiting : unsigned char { not_waiting = 0, at_block_barrier = 1, at_warp_exchange = 2 };

// The block being executed, with its barrier, its warps and (serial schedule) whose turn it is.
struct Block {
    std::mutex m;
    // One condition variable per thread, so that a barrier or shuffle wakes exactly the threads it releases (a
    // shared one would wake every waiting thread of the block at every shuffle of every warp), and one for the
    // device thread waiting for the block's end.
    std::condition_variable thread_cv[max_block_threads];
    std::condition_variable done_cv;
    const std::function<void()>* body = nullptr;
    dim3 dims, grid;
    uint3 index{};
    unsigned threads = 0;
    bool serial = false;
    // the block barrier
    unsigned arrived = 0, exited = 0, blocked = 0, finished = 0;
    std::uint64_t generation = 0;
    std::vector<Warp> warps;
    std::vector<unsigned char> waiting;  // per thread
    std::vector<unsigned char> ready;    // serial: may run
    std::vector<unsigned char> gone;     // has returned
    int turn = -1;                       // serial: the thread that runs; -1 all may run
    bool broken = false;
    std::string problem;
    // Serial schedule: the threads are fibers on the device thread, which switches to whoever has the turn.
    ucontext_t* scheduler = nullptr;
    ucontext_t* fibers = nullptr;

    // Under `lock`: sleeps until `released()`. Threads wait on their condition variable; fibers switch back to
    // the device thread (never holding the lock across the switch), which resumes them when it is their turn.
    template <class Released>
    void park(std::unique_lock<std::mutex>& lock, unsigned self, Released released) {
        if (!fibers) {
            thread_cv[self].wait(lock, released);
            return;
        }
        while (!released()) {
            lock.unlock();
            swapcontext(&fibers[self], scheduler);
            lock.lock();
        }
    }
    void unpark(unsigned t) {
        if (!fibers) thread_cv[t].notify_one();
    }

    void reset(const std::function<void()>* f, dim3 block_dims, dim3 grid_dims, uint3 block_index, bool serial_order) {
        body = f;
        dims = block_dims;
        grid = grid_dims;
        index = block_index;
        threads = block_dims.x * block_dims.y * block_dims.z;
        serial = serial_order;
        arrived = exited = blocked = finished = 0;
        broken = false;
        problem.clear();
        const unsigned warp_count = (threads + 31) / 32;
        warps.assign(warp_count, Warp{});
        for (unsigned w = 0; w < warp_count; ++w) warps[w].lanes = std::min(32u, threads - w * 32);
        waiting.assign(threads, not_waiting);
        ready.assign(threads, 1);
        gone.assign(threads, 0);
        turn = serial ? 0 : -1;
    }

    std::string where() const {
        return "block (" + std::to_string(index.x) + ", " + std::to_string(index.y) + ", " + std::to_string(index.z) +
               ") of " + std::to_string(threads) + " threads";
    }

    // Under m: stop synchronising (a divergent barrier or a deadlock); everyone runs to the end.
    void breakdown(const std::string& what) {
        if (!broken) problem = what + " in " + where();
        broken = true;
        turn = -1;
        for (unsigned t = 0; t < threads; ++t) unpark(t);
    }

    // Under m: a barrier that some threads wait at while the others have returned (CUDA leaves this undefined).
    void barrier_divergence() {
        breakdown("__syncthreads() reached by " + std::to_string(arrived) + " threads while " + std::to_string(exited) +
                  " had returned (a barrier in divergent code)");
    }
    void shuffle_divergence(unsigned w) {
        breakdown("a warp shuffle reached by " + std::to_string(warps[w].arrived) + " lanes of warp " +
                  std::to_string(w) + " while " + std::to_string(warps[w].exited) + " had returned");
    }

    // Under m, serial schedule: hand the turn to the lowest-numbered thread that may run.
    void pass_turn() {
        if (!serial || broken) return;
        turn = -2;  // nobody, until one is found
        for (unsigned t = 0; t < threads; ++t)
            if (ready[t]) {
                turn = static_cast<int>(t);
                break;
            }
        if (turn == -2 && exited < threads) breakdown("a deadlock: every thread waits at a barrier or has returned");
        if (turn >= 0) unpark(static_cast<unsigned>(turn));
    }
    // Under m, serial schedule: waits for the calling thread's turn.
    void wait_turn(std::unique_lock<std::mutex>& lock, unsigned self) {
        park(lock, self, [&] { return broken || turn == static_cast<int>(self); });
    }

    // Under m: waits until `released()` or the block broke down, giving the turn away meanwhile.
    template <class Released>
    void wait(std::unique_lock<std::mutex>& lock, unsigned self, Released released) {
        ++blocked;
        if (serial) {
            ready[self] = 0;
            pass_turn();
        } else if (blocked + exited == threads) {
            breakdown("a deadlock: every thread waits at a barrier or has returned");
        }
        park(lock, self, [&] { return broken || (released() && (!serial || turn == static_cast<int>(self))); });
    }

    // Under m: the threads waiting at `what` may go on.
    void release(Waiting what, unsigned first, unsigned count) {
        for (unsigned t = first; t < first + count; ++t)
            if (waiting[t] == what) {
                waiting[t] = not_waiting;
                ready[t] = 1;
                --blocked;
                if (!serial) unpark(t);  // serial: only the one whose turn it is (pass_turn)
            }
    }
};

thread_local Block* current_block = nullptr;
thread_local unsigned current_thread = 0;

}  // namespace

void sync_block() {
    Block* b = current_block;
    if (!b) return;  // host code calling __syncthreads: nothing to wait for
    const unsigned self = current_thread;
    std::unique_lock lock(b->m);
    if (b->broken) return;
    const std::uint64_t generation = b->generation;
    ++b->arrived;
    if (b->arrived + b->exited == b->threads) {
        if (b->exited > 0) {
            b->barrier_divergence();
            return;
        }
        b->arrived = 0;
        ++b->generation;
        b->release(at_block_barrier, 0, b->threads);
        if (b->serial) {  // the lowest-numbered thread goes first, which may not be this one
            b->pass_turn();
            b->wait_turn(lock, self);
        }
        return;
    }
    b->waiting[self] = at_block_barrier;
    b->wait(lock, self, [&] { return b->generation != generation; });
}

std::uint64_t warp_exchange(unsigned mask, std::uint64_t value, int mode, int operand, int width) {
    Block* b = current_block;
    if (!b) return value;
    const unsigned self = current_thread, w = self / 32, lane = self % 32;
    std::unique_lock lock(b->m);
    if (b->broken) return value;
    Warp& warp = b->warps[w];
    const unsigned full = warp.lanes == 32 ? 0xffffffffu : (1u << warp.lanes) - 1;
    if (mask != full) {
        b->breakdown("a warp operation with mask " + std::to_string(mask) + " in warp " + std::to_string(w) +
                     ": the emulation supports masks of every lane of the warp only");
        return value;
    }
    if (width <= 0 || width > 32 || (width & (width - 1)) != 0) {
        b->breakdown("a warp shuffle with width " + std::to_string(width) + " (not a power of two up to 32)");
        return value;
    }
    warp.in[lane] = value;
    warp.mode[lane] = mode;
    warp.operand[lane] = operand;
    warp.width[lane] = width;
    const std::uint64_t generation = warp.generation;
    ++warp.arrived;
    if (warp.arrived + warp.exited == warp.lanes) {
        if (warp.exited > 0) {
            b->shuffle_divergence(w);
            return value;
        }
        for (unsigned l = 0; l < warp.lanes; ++l) {
            const int wd = warp.width[l], base = static_cast<int>(l) & ~(wd - 1), op = warp.operand[l];
            int src = static_cast<int>(l);
            switch (warp.mode[l]) {
                case shuffle_index:
                    src = base + (op % wd + wd) % wd;
                    break;
                case shuffle_xor:
                    src = static_cast<int>(l) ^ op;
                    if (src < base || src >= base + wd) src = static_cast<int>(l);
                    break;
                case shuffle_down:
                    src = static_cast<int>(l) + op;
                    if (src >= base + wd) src = static_cast<int>(l);
                    break;
                case shuffle_up:
                    src = static_cast<int>(l) - op;
                    if (src < base) src = static_cast<int>(l);
                    break;
                case shuffle_ballot: {
                    std::uint64_t bits = 0;
                    for (unsigned i = 0; i < warp.lanes; ++i)
                        if (warp.in[i]) bits |= std::uint64_t(1) << i;
                    warp.out[l] = bits;
                    continue;
                }
                default:
                    break;
            }
            if (src >= static_cast<int>(warp.lanes)) src = static_cast<int>(l);  // an inactive lane: own value
            warp.out[l] = warp.in[src];
        }
        warp.arrived = 0;
        ++warp.generation;
        b->release(at_warp_exchange, w * 32, warp.lanes);
        if (b->serial) {
            b->pass_turn();
            b->wait_turn(lock, self);
        }
        return warp.out[lane];
    }
    b->waiting[self] = at_warp_exchange;
    b->wait(lock, self, [&] { return warp.generation != generation; });
    return b->broken && warp.generation == generation ? value : warp.out[lane];
}

unsigned warp_ballot(unsigned mask, bool predicate) {
    return static_cast<unsigned>(warp_exchange(mask, predicate ? 1 : 0, shuffle_ballot, 0, 32));
}

namespace {

uint3 thread_index(const Block& b, unsigned self) {
    return {self % b.dims.x, self / b.dims.x % b.dims.y, self / (b.dims.x * b.dims.y)};
}

// Thread `self` of block `b`, from its start (its turn first, in the serial schedule) to its end: the kernel, then
// the checks a returning thread makes possible (a barrier or shuffle the others wait at in vain).
void run_thread(Block* b, unsigned self) {
    threadIdx = thread_index(*b, self);
    blockIdx = b->index;
    blockDim = b->dims;
    gridDim = b->grid;
    current_block = b;
    current_thread = self;
    if (b->serial) {
        std::unique_lock lock(b->m);
        b->wait_turn(lock, self);
    }
    try {
        (*b->body)();
    } catch (const std::exception& e) {
        std::lock_guard lock(b->m);
        b->breakdown(std::string("a kernel thread threw: ") + e.what());
    } catch (...) {
        std::lock_guard lock(b->m);
        b->breakdown("a kernel thread threw");
    }
    current_block = nullptr;
    std::lock_guard lock(b->m);
    ++b->exited;
    ++b->warps[self / 32].exited;
    b->ready[self] = 0;
    b->gone[self] = 1;
    Warp& warp = b->warps[self / 32];
    if (!b->broken && b->arrived > 0 && b->arrived + b->exited == b->threads)
        b->barrier_divergence();
    else if (!b->broken && warp.arrived > 0 && warp.arrived + warp.exited == warp.lanes)
        b->shuffle_divergence(self / 32);
    else if (!b->broken && b->blocked > 0 && b->blocked + b->exited == b->threads)
        b->breakdown("a deadlock: every thread waits at a barrier or has returned");
    b->pass_turn();
    if (++b->finished == b->threads) b->done_cv.notify_one();
}

// The serial schedule: the threads of a block as fibers (ucontext) of the device thread, each run until it
// blocks or ends, then the lowest-numbered thread that may go on. No OS thread switches, so deterministic and
// faster (the whole emulated suite: 58 s against 4 min 19 s with the concurrent schedule, on 2 cores here).
class FiberRunner {
public:
    void run(Block& block) {
        grow(block.threads);
        block.scheduler = &scheduler_;
        block.fibers = contexts_.data();
        for (unsigned t = 0; t < block.threads; ++t) {
            getcontext(&contexts_[t]);
            contexts_[t].uc_stack.ss_sp = stacks_[t].get();
            contexts_[t].uc_stack.ss_size = stack_bytes;
            contexts_[t].uc_link = &scheduler_;
            makecontext(&contexts_[t], &FiberRunner::entry, 0);
        }
        for (;;) {
            unsigned next = 0;
            {
                std::lock_guard lock(block.m);
                if (block.finished == block.threads) break;
                if (block.turn >= 0) {
                    next = static_cast<unsigned>(block.turn);
                } else {  // broken down: every thread runs to its end, in order
                    while (block.gone[next]) ++next;
                }
            }
            current_block = &block;
            current_thread = next;
            threadIdx = thread_index(block, next);
            starting_ = &block;
            swapcontext(&scheduler_, &contexts_[next]);
        }
        block.scheduler = nullptr;
        block.fibers = nullptr;
    }

private:
    static constexpr std::size_t stack_bytes = 256 * 1024;

    // A fiber's first switch lands here; later switches resume it inside Block::park.
    static void entry() { run_thread(starting_, current_thread); }

    void grow(unsigned threads) {
        while (stacks_.size() < threads) stacks_.push_back(std::make_unique<char[]>(stack_bytes));
    }

    static inline thread_local Block* starting_ = nullptr;
    ucontext_t scheduler_{};
    std::vector<ucontext_t> contexts_ = std::vector<ucontext_t>(max_block_threads);
    std::vector<std::unique_ptr<char[]>> stacks_;
};

// The concurrent schedule: OS threads that run the threads of a block; worker t is thread t of every block.
class BlockPool {
public:
    // Runs one block to its end (on the device thread).
    void run(Block& block) {
        grow(block.threads);
        {
            std::lock_guard lock(m_);
            block_ = &block;
            active_ = block.threads;  // read by idle workers, which must not touch the block itself
            ++generation_;
        }
        cv_.notify_all();
        std::unique_lock lock(block.m);
        block.done_cv.wait(lock, [&] { return block.finished == block.threads; });
    }

private:
    void grow(unsigned threads) {
        std::lock_guard lock(m_);
        while (workers_ < threads) {
            // The generation it has seen is this one, however late the thread starts.
            std::thread(&BlockPool::work, this, workers_, generation_).detach();
            ++workers_;
        }
    }

    void work(unsigned self, std::uint64_t seen) {
        for (;;) {
            Block* b = nullptr;
            {
                std::unique_lock lock(m_);
                cv_.wait(lock, [&] { return generation_ != seen; });
                seen = generation_;
                if (self >= active_) continue;
                b = block_;
            }
            run_thread(b, self);
        }
    }

    std::mutex m_;
    std::condition_variable cv_;
    Block* block_ = nullptr;
    std::uint64_t generation_ = 0;
    unsigned active_ = 0, workers_ = 0;
};

// --- The emulated machine ------------------------------------------------------------------------------------------

struct Task {
    std::function<void()> work;
    cudaError_t fault;
    std::uint64_t ticket;
};

class Machine {
public:
    static Machine& get() {
        static Machine* machine = new Machine();  // never destroyed: device threads may outlive main's statics
        return *machine;
    }

    const int devices = std::max(0, env_int("FGCLEP_CUDA_EMULATION_DEVICES", 1));
    std::atomic<int> schedule{static_cast<int>(env_schedule())};
    std::atomic<std::uint64_t> launches{0};

    // --- errors ---
    cudaError_t sticky() {
        std::lock_guard lock(m_);
        return sticky_;
    }
    void clear_fault() {
        wait_for(last_queued());
        std::lock_guard lock(m_);
        sticky_ = cudaSuccess;
    }
    void fault(cudaError_t error, const std::string& what) {
        std::fprintf(stderr, "fgclep CUDA emulation: device fault (%s): %s\n", cudaGetErrorName(error), what.c_str());
        std::lock_guard lock(m_);
        if (sticky_ == cudaSuccess) sticky_ = error;
    }

    // --- streams ---
    CUstream_st* legacy(int device) { return &legacy_[static_cast<std::size_t>(device)]; }
    cudaError_t resolve(cudaStream_t stream, int device, CUstream_st** out) {
        if (!stream) {
            *out = legacy(device);
            return cudaSuccess;
        }
        std::lock_guard lock(m_);
        if (!streams_.count(stream) || !stream->alive) return cudaErrorInvalidResourceHandle;
        *out = stream;
        return cudaSuccess;
    }
    CUstream_st* create_stream(int device) {
        auto* s = new CUstream_st{device, 0, true};  // kept after destruction so a stale handle is recognised
        std::lock_guard lock(m_);
        streams_.insert(s);
        return s;
    }
    bool destroy_stream(cudaStream_t s) {
        std::lock_guard lock(m_);
        if (!streams_.count(s) || !s->alive) return false;
        s->alive = false;
        return true;
    }

    // Queues work on a stream; returns its ticket.
    std::uint64_t enqueue(CUstream_st* stream, std::function<void()> work, cudaError_t fault_kind) {
        std::uint64_t ticket;
        {
            std::lock_guard lock(m_);
            ticket = ++queued_;
            stream->last_ticket = ticket;
            queue_.push_back({std::move(work), fault_kind, ticket});
        }
        cv_.notify_all();
        return ticket;
    }
    void wait_for(std::uint64_t ticket) {
        std::unique_lock lock(m_);
        cv_.wait(lock, [&] { return completed_ >= ticket; });
    }
    bool done(std::uint64_t ticket) {
        std::lock_guard lock(m_);
        return completed_ >= ticket;
    }
    std::uint64_t last_queued() {
        std::lock_guard lock(m_);
        return queued_;
    }
    std::uint64_t stream_ticket(CUstream_st* s) {
        std::lock_guard lock(m_);
        return s->last_ticket;
    }

    // --- memory ---
    cudaError_t allocate(int device, std::size_t bytes, void** out) {
        if (bytes == 0) {
            *out = nullptr;
            return cudaSuccess;
        }
        {
            std::lock_guard lock(m_);
            if (bytes > device_memory_bytes - used_[static_cast<std::size_t>(device)]) return cudaErrorMemoryAllocation;
        }
        const std::size_t rounded = (bytes + 255) / 256 * 256;
        void* p = std::aligned_alloc(256, rounded);
        if (!p) return cudaErrorMemoryAllocation;
        std::memset(p, static_cast<int>(poison_byte), rounded);
        std::lock_guard lock(m_);
        allocations_[reinterpret_cast<std::uintptr_t>(p)] = {bytes, device};
        used_[static_cast<std::size_t>(device)] += bytes;
        *out = p;
        return cudaSuccess;
    }
    cudaError_t release(void* p) {
        if (!p) return cudaSuccess;
        wait_for(last_queued());  // cudaFree waits for the device, which may still use the block
        std::lock_guard lock(m_);
        auto it = allocations_.find(reinterpret_cast<std::uintptr_t>(p));
        if (it == allocations_.end()) return cudaErrorInvalidValue;
        used_[static_cast<std::size_t>(it->second.device)] -= it->second.bytes;
        allocations_.erase(it);
        std::free(p);
        return cudaSuccess;
    }
    bool is_device(const void* p, std::size_t bytes) {
        const auto a = reinterpret_cast<std::uintptr_t>(p);
        std::lock_guard lock(m_);
        auto it = allocations_.upper_bound(a);
        if (it == allocations_.begin()) return false;
        --it;
        return a >= it->first && a + bytes <= it->first + it->second.bytes;
    }
    bool touches_device(const void* p, std::size_t bytes) {
        const auto a = reinterpret_cast<std::uintptr_t>(p);
        std::lock_guard lock(m_);
        auto it = allocations_.upper_bound(a + (bytes ? bytes - 1 : 0));
        if (it == allocations_.begin()) return false;
        --it;
        return a < it->first + it->second.bytes;
    }
    cudaError_t allocate_pinned(std::size_t bytes, void** out) {
        void* p = std::aligned_alloc(256, (std::max<std::size_t>(bytes, 1) + 255) / 256 * 256);
        if (!p) return cudaErrorMemoryAllocation;
        std::lock_guard lock(m_);
        pinned_[reinterpret_cast<std::uintptr_t>(p)] = bytes;
        *out = p;
        return cudaSuccess;
    }
    cudaError_t release_pinned(void* p) {
        if (!p) return cudaSuccess;
        wait_for(last_queued());
        std::lock_guard lock(m_);
        if (!pinned_.erase(reinterpret_cast<std::uintptr_t>(p))) return cudaErrorInvalidValue;
        std::free(p);
        return cudaSuccess;
    }
    bool is_pinned(const void* p, std::size_t bytes) {
        const auto a = reinterpret_cast<std::uintptr_t>(p);
        std::lock_guard lock(m_);
        auto it = pinned_.upper_bound(a);
        if (it == pinned_.begin()) return false;
        --it;
        return a >= it->first && a + bytes <= it->first + it->second;
    }
    std::size_t used(int device) {
        std::lock_guard lock(m_);
        return used_[static_cast<std::size_t>(device)];
    }

    BlockPool pool;
    FiberRunner fibers;
    Block block;  // the block being executed (one at a time, on the device thread)

private:
    Machine() : legacy_(static_cast<std::size_t>(std::max(devices, 1))), used_(legacy_.size(), 0) {
        for (std::size_t d = 0; d < legacy_.size(); ++d) legacy_[d].device = static_cast<int>(d);
        std::thread(&Machine::device_thread, this).detach();
    }

    void device_thread() {
        for (;;) {
            Task task;
            {
                std::unique_lock lock(m_);
                cv_.wait(lock, [&] { return !queue_.empty(); });
                task = std::move(queue_.front());
                queue_.pop_front();
            }
            // After a fault the context is lost, as on a GPU: later work does not run.
            if (sticky() == cudaSuccess) {
                try {
                    task.work();
                } catch (const std::exception& e) {
                    fault(task.fault, e.what());
                }
            }
            {
                std::lock_guard lock(m_);
                completed_ = task.ticket;
            }
            cv_.notify_all();
        }
    }

    struct Allocation {
        std::size_t bytes;
        int device;
    };
    std::mutex m_;
    std::condition_variable cv_;
    cudaError_t sticky_ = cudaSuccess;
    std::deque<Task> queue_;
    std::uint64_t queued_ = 0, completed_ = 0;
    std::vector<CUstream_st> legacy_;
    std::set<cudaStream_t> streams_;
    std::map<std::uintptr_t, Allocation> allocations_;
    std::map<std::uintptr_t, std::size_t> pinned_;
    std::vector<std::size_t> used_;
};

thread_local int current_device = 0;
thread_local cudaError_t last_error = cudaSuccess;

// Records a failed call's error as the calling thread's last error, as the runtime does.
cudaError_t result(cudaError_t e) {
    if (e != cudaSuccess) last_error = e;
    return e;
}
// The error every call returns first: no device, or a sticky fault.
cudaError_t precondition() {
    Machine& m = Machine::get();
    if (m.devices == 0) return cudaErrorNoDevice;
    return m.sticky();
}

void note(const std::string& what) { std::fprintf(stderr, "fgclep CUDA emulation: %s\n", what.c_str()); }

std::string hex(const void* p) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%p", p);
    return buffer;
}

}  // namespace

Schedule schedule() {
#if defined(__SANITIZE_THREAD__)
    return Schedule::concurrent;  // fibers switched behind ThreadSanitizer's back would confuse it
#else
    return static_cast<Schedule>(Machine::get().schedule.load());
#endif
}
void set_schedule(Schedule s) { Machine::get().schedule = static_cast<int>(s); }
Counters counters() {
    Machine& m = Machine::get();
    return {m.launches.load()};
}
bool is_device_range(const void* pointer, std::size_t bytes) { return Machine::get().is_device(pointer, bytes); }
void device_fault(cudaError_t error, const char* what) { Machine::get().fault(error, what); }
void clear_fault() {
    Machine::get().clear_fault();
    last_error = cudaSuccess;
}

cudaError_t enqueue(cudaStream_t stream, std::function<void()> work, cudaError_t fault) {
    if (cudaError_t e = precondition()) return result(e);
    Machine& m = Machine::get();
    CUstream_st* s = nullptr;
    if (cudaError_t e = m.resolve(stream, current_device, &s)) return result(e);
    m.enqueue(s, std::move(work), fault);
    return cudaSuccess;
}

cudaError_t launch(dim3 grid, dim3 block, std::size_t dynamic_shared_bytes, cudaStream_t stream,
                   std::function<void()> run_thread) {
    if (cudaError_t e = precondition()) return result(e);
    const std::uint64_t threads = std::uint64_t(block.x) * block.y * block.z;
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535 ||
        block.x == 0 || block.y == 0 || block.z == 0 || block.x > max_block_threads || block.y > max_block_threads ||
        block.z > 64 || threads > max_block_threads)
        return result(cudaErrorInvalidConfiguration);
    if (dynamic_shared_bytes > 0) {
        note("dynamic shared memory (extern __shared__) is not emulated");
        return result(cudaErrorInvalidValue);
    }
    Machine& m = Machine::get();
    CUstream_st* s = nullptr;
    if (cudaError_t e = m.resolve(stream, current_device, &s)) return result(e);
    const bool serial = schedule() == Schedule::serial;
    ++m.launches;
    m.enqueue(
        s,
        [grid, block, serial, body = std::move(run_thread)] {
            Machine& machine = Machine::get();
            for (unsigned z = 0; z < grid.z; ++z)
                for (unsigned y = 0; y < grid.y; ++y)
                    for (unsigned x = 0; x < grid.x; ++x) {
                        machine.block.reset(&body, block, grid, {x, y, z}, serial);
                        if (serial)
                            machine.fibers.run(machine.block);
                        else
                            machine.pool.run(machine.block);
                        if (machine.block.broken) {
                            machine.fault(cudaErrorLaunchFailure, machine.block.problem);
                            return;
                        }
                    }
        },
        cudaErrorLaunchFailure);
    return cudaSuccess;
}

}  // namespace fgclep_emulation

using fgclep_emulation::Machine;
using fgclep_emulation::note;
using fgclep_emulation::precondition;
using fgclep_emulation::result;

// --- Errors and devices ----------------------------------------------------------------------------------------------

const char* cudaGetErrorName(cudaError_t error) {
    switch (error) {
#define FGCLEP_EMULATION_NAME(e) \
    case e:                      \
        return #e;
        FGCLEP_EMULATION_NAME(cudaSuccess)
        FGCLEP_EMULATION_NAME(cudaErrorInvalidValue)
        FGCLEP_EMULATION_NAME(cudaErrorMemoryAllocation)
        FGCLEP_EMULATION_NAME(cudaErrorInitializationError)
        FGCLEP_EMULATION_NAME(cudaErrorInvalidConfiguration)
        FGCLEP_EMULATION_NAME(cudaErrorInvalidDevicePointer)
        FGCLEP_EMULATION_NAME(cudaErrorInvalidMemcpyDirection)
        FGCLEP_EMULATION_NAME(cudaErrorNoDevice)
        FGCLEP_EMULATION_NAME(cudaErrorInvalidDevice)
        FGCLEP_EMULATION_NAME(cudaErrorInvalidResourceHandle)
        FGCLEP_EMULATION_NAME(cudaErrorNotReady)
        FGCLEP_EMULATION_NAME(cudaErrorIllegalAddress)
        FGCLEP_EMULATION_NAME(cudaErrorLaunchOutOfResources)
        FGCLEP_EMULATION_NAME(cudaErrorAssert)
        FGCLEP_EMULATION_NAME(cudaErrorIllegalInstruction)
        FGCLEP_EMULATION_NAME(cudaErrorMisalignedAddress)
        FGCLEP_EMULATION_NAME(cudaErrorLaunchFailure)
#undef FGCLEP_EMULATION_NAME
    }
    return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t error) {
    switch (error) {
        case cudaSuccess:
            return "no error";
        case cudaErrorInvalidValue:
            return "invalid argument";
        case cudaErrorMemoryAllocation:
            return "out of memory";
        case cudaErrorInitializationError:
            return "initialization error";
        case cudaErrorInvalidConfiguration:
            return "invalid configuration argument";
        case cudaErrorInvalidDevicePointer:
            return "invalid device pointer";
        case cudaErrorInvalidMemcpyDirection:
            return "invalid copy direction for memcpy";
        case cudaErrorNoDevice:
            return "no CUDA-capable device is detected";
        case cudaErrorInvalidDevice:
            return "invalid device ordinal";
        case cudaErrorInvalidResourceHandle:
            return "invalid resource handle";
        case cudaErrorNotReady:
            return "device not ready";
        case cudaErrorIllegalAddress:
            return "an illegal memory access was encountered";
        case cudaErrorLaunchOutOfResources:
            return "too many resources requested for launch";
        case cudaErrorAssert:
            return "device-side assert triggered";
        case cudaErrorIllegalInstruction:
            return "an illegal instruction was encountered";
        case cudaErrorMisalignedAddress:
            return "misaligned address";
        case cudaErrorLaunchFailure:
            return "unspecified launch failure";
    }
    return "unknown error";
}

cudaError_t cudaGetLastError() {
    if (cudaError_t e = Machine::get().sticky()) return e;
    const cudaError_t e = fgclep_emulation::last_error;
    fgclep_emulation::last_error = cudaSuccess;
    return e;
}
cudaError_t cudaPeekAtLastError() {
    if (cudaError_t e = Machine::get().sticky()) return e;
    return fgclep_emulation::last_error;
}

cudaError_t cudaGetDeviceCount(int* count) {
    if (!count) return result(cudaErrorInvalidValue);
    *count = Machine::get().devices;
    return *count == 0 ? result(cudaErrorNoDevice) : cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
    if (cudaError_t e = precondition()) return result(e);
    if (!device) return result(cudaErrorInvalidValue);
    *device = fgclep_emulation::current_device;
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
    if (cudaError_t e = precondition()) return result(e);
    if (device < 0 || device >= Machine::get().devices) return result(cudaErrorInvalidDevice);
    fgclep_emulation::current_device = device;
    return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
    if (cudaError_t e = precondition()) return result(e);
    if (!p) return result(cudaErrorInvalidValue);
    if (device < 0 || device >= Machine::get().devices) return result(cudaErrorInvalidDevice);
    *p = cudaDeviceProp{};
    std::snprintf(p->name, sizeof p->name, "fgclep host emulation of CUDA (device %d)", device);
    p->totalGlobalMem = fgclep_emulation::device_memory_bytes;
    p->sharedMemPerBlock = 48 * 1024;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024;
    p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 2147483647;
    p->maxGridSize[1] = p->maxGridSize[2] = 65535;
    p->major = 8;
    p->minor = 0;
    p->multiProcessorCount = 1;
    return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() {
    if (cudaError_t e = precondition()) return result(e);
    Machine& m = Machine::get();
    m.wait_for(m.last_queued());
    return result(m.sticky());
}
cudaError_t cudaMemGetInfo(std::size_t* free, std::size_t* total) {
    if (cudaError_t e = precondition()) return result(e);
    if (!free || !total) return result(cudaErrorInvalidValue);
    *total = fgclep_emulation::device_memory_bytes;
    *free = *total - Machine::get().used(fgclep_emulation::current_device);
    return cudaSuccess;
}

// --- Memory ------------------------------------------------------------------------------------------------------------

cudaError_t cudaMalloc(void** pointer, std::size_t bytes) {
    if (cudaError_t e = precondition()) return result(e);
    if (!pointer) return result(cudaErrorInvalidValue);
    return result(Machine::get().allocate(fgclep_emulation::current_device, bytes, pointer));
}
cudaError_t cudaFree(void* pointer) {
    if (cudaError_t e = precondition()) return result(e);
    const cudaError_t e = Machine::get().release(pointer);
    if (e) note("cudaFree(" + fgclep_emulation::hex(pointer) + "): not a pointer that cudaMalloc returned");
    return result(e);
}
cudaError_t cudaMallocHost(void** pointer, std::size_t bytes) {
    if (cudaError_t e = precondition()) return result(e);
    if (!pointer) return result(cudaErrorInvalidValue);
    return result(Machine::get().allocate_pinned(bytes, pointer));
}
cudaError_t cudaHostAlloc(void** pointer, std::size_t bytes, unsigned) { return cudaMallocHost(pointer, bytes); }
cudaError_t cudaFreeHost(void* pointer) {
    if (cudaError_t e = precondition()) return result(e);
    return result(Machine::get().release_pinned(pointer));
}

namespace {

// Checks a copy's direction against where its pointers are; returns the direction it is.
cudaError_t copy_direction(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaMemcpyKind* out,
                           const char* call) {
    Machine& m = Machine::get();
    const bool dst_device = m.is_device(dst, bytes), src_device = m.is_device(src, bytes);
    // A range that starts or ends inside device memory without lying inside one allocation runs past it.
    for (const auto& [p, inside, name] :
         {std::tuple{static_cast<const void*>(dst), dst_device, "destination"}, std::tuple{src, src_device, "source"}})
        if (!inside && m.touches_device(p, bytes)) {
            note(std::string(call) + " of " + std::to_string(bytes) + " bytes: the " + name + " " +
                 fgclep_emulation::hex(p) + " runs past the end of its device allocation");
            return cudaErrorInvalidValue;
        }
    if (kind == cudaMemcpyDefault)
        kind = dst_device ? (src_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                          : (src_device ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
    if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return cudaErrorInvalidMemcpyDirection;
    const bool want_dst = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    const bool want_src = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (want_dst != dst_device || want_src != src_device) {
        note(std::string(call) + " of " + std::to_string(bytes) + " bytes: the destination " +
             fgclep_emulation::hex(dst) + (dst_device ? " is" : " is not") + " inside a device allocation and the " +
             "source " + fgclep_emulation::hex(src) + (src_device ? " is" : " is not") + ", which kind " +
             std::to_string(static_cast<int>(kind)) + " does not allow");
        return cudaErrorInvalidValue;
    }
    *out = kind;
    return cudaSuccess;
}

cudaError_t copy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t stream,
                 bool synchronous, const char* call) {
    if (cudaError_t e = precondition()) return result(e);
    if (bytes == 0) return cudaSuccess;
    if (!dst || !src) return result(cudaErrorInvalidValue);
    if (cudaError_t e = copy_direction(dst, src, bytes, kind, &kind, call)) return result(e);
    Machine& m = Machine::get();
    CUstream_st* s = nullptr;
    if (cudaError_t e = m.resolve(stream, fgclep_emulation::current_device, &s)) return result(e);
    if (kind == cudaMemcpyHostToHost) {
        std::memmove(dst, src, bytes);
        return cudaSuccess;
    }
    std::uint64_t ticket;
    if (kind == cudaMemcpyHostToDevice && !m.is_pinned(src, bytes)) {
        // Pageable memory: staged now, so the caller may reuse its buffer as soon as the call returns.
        auto staged = std::make_shared<std::vector<unsigned char>>(static_cast<const unsigned char*>(src),
                                                                   static_cast<const unsigned char*>(src) + bytes);
        ticket = m.enqueue(
            s, [dst, staged] { std::memcpy(dst, staged->data(), staged->size()); }, cudaErrorLaunchFailure);
    } else {
        ticket = m.enqueue(
            s, [dst, src, bytes] { std::memmove(dst, src, bytes); }, cudaErrorLaunchFailure);
    }
    // A synchronous copy, or one into pageable host memory, returns when the data is there.
    if (synchronous || (kind == cudaMemcpyDeviceToHost && !m.is_pinned(dst, bytes))) {
        m.wait_for(ticket);
        return result(m.sticky());
    }
    return cudaSuccess;
}

cudaError_t fill(void* pointer, int value, std::size_t bytes, cudaStream_t stream, bool synchronous) {
    if (cudaError_t e = precondition()) return result(e);
    if (bytes == 0) return cudaSuccess;
    Machine& m = Machine::get();
    if (!m.is_device(pointer, bytes)) {
        note("cudaMemset of " + std::to_string(bytes) + " bytes at " + fgclep_emulation::hex(pointer) +
             ": not inside a device allocation");
        return result(cudaErrorInvalidValue);
    }
    CUstream_st* s = nullptr;
    if (cudaError_t e = m.resolve(stream, fgclep_emulation::current_device, &s)) return result(e);
    const std::uint64_t ticket = m.enqueue(
        s, [pointer, value, bytes] { std::memset(pointer, value, bytes); }, cudaErrorLaunchFailure);
    if (synchronous) m.wait_for(ticket);
    return cudaSuccess;
}

}  // namespace

cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
    return copy(dst, src, bytes, kind, nullptr, true, "cudaMemcpy");
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
    return copy(dst, src, bytes, kind, stream, false, "cudaMemcpyAsync");
}
cudaError_t cudaMemset(void* pointer, int value, std::size_t bytes) {
    return fill(pointer, value, bytes, nullptr, true);
}
cudaError_t cudaMemsetAsync(void* pointer, int value, std::size_t bytes, cudaStream_t stream) {
    return fill(pointer, value, bytes, stream, false);
}

// --- Streams and events ------------------------------------------------------------------------------------------------

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
    if (cudaError_t e = precondition()) return result(e);
    if (!stream || flags > cudaStreamNonBlocking) return result(cudaErrorInvalidValue);
    *stream = Machine::get().create_stream(fgclep_emulation::current_device);
    return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    if (cudaError_t e = precondition()) return result(e);
    if (!stream || !Machine::get().destroy_stream(stream)) return result(cudaErrorInvalidResourceHandle);
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    if (cudaError_t e = precondition()) return result(e);
    Machine& m = Machine::get();
    CUstream_st* s = nullptr;
    if (cudaError_t e = m.resolve(stream, fgclep_emulation::current_device, &s)) return result(e);
    m.wait_for(m.stream_ticket(s));
    return result(m.sticky());
}
cudaError_t cudaStreamQuery(cudaStream_t stream) {
    if (cudaError_t e = precondition()) return result(e);
    Machine& m = Machine::get();
    CUstream_st* s = nullptr;
    if (cudaError_t e = m.resolve(stream, fgclep_emulation::current_device, &s)) return result(e);
    return m.done(m.stream_ticket(s)) ? cudaSuccess : cudaErrorNotReady;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned) {
    if (cudaError_t e = precondition()) return result(e);
    CUstream_st* s = nullptr;
    if (!event) return result(cudaErrorInvalidResourceHandle);
    // Work is executed in queue order, so everything queued after this call already follows the event.
    return result(Machine::get().resolve(stream, fgclep_emulation::current_device, &s));
}
cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
    if (cudaError_t e = precondition()) return result(e);
    if (!event) return result(cudaErrorInvalidValue);
    *event = new CUevent_st{};
    (*event)->timing = (flags & cudaEventDisableTiming) == 0;
    return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
    if (!event) return result(cudaErrorInvalidResourceHandle);
    Machine& m = Machine::get();
    m.wait_for(event->ticket);  // a queued record still writes it
    delete event;
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
    if (cudaError_t e = precondition()) return result(e);
    if (!event) return result(cudaErrorInvalidResourceHandle);
    Machine& m = Machine::get();
    CUstream_st* s = nullptr;
    if (cudaError_t e = m.resolve(stream, fgclep_emulation::current_device, &s)) return result(e);
    event->recorded = true;
    event->ticket = m.enqueue(
        s, [event] { event->when = std::chrono::steady_clock::now(); }, cudaErrorLaunchFailure);
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
    if (cudaError_t e = precondition()) return result(e);
    if (!event) return result(cudaErrorInvalidResourceHandle);
    Machine::get().wait_for(event->ticket);
    return result(Machine::get().sticky());
}
cudaError_t cudaEventQuery(cudaEvent_t event) {
    if (cudaError_t e = precondition()) return result(e);
    if (!event) return result(cudaErrorInvalidResourceHandle);
    return Machine::get().done(event->ticket) ? cudaSuccess : cudaErrorNotReady;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
    if (cudaError_t e = precondition()) return result(e);
    if (!ms || !start || !end) return result(cudaErrorInvalidValue);
    if (!start->recorded || !end->recorded || !start->timing || !end->timing)
        return result(cudaErrorInvalidResourceHandle);
    Machine& m = Machine::get();
    if (!m.done(start->ticket) || !m.done(end->ticket)) return result(cudaErrorNotReady);
    *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
    return cudaSuccess;
}
