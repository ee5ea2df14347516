#pragma once
// Communicators: how the Trainer talks to the other processes of a data-parallel run. A template argument of the
// Trainer, chosen like the backend:
//
//   SingleProcess      one process (the default): every operation is a no-op and costs nothing
//   MpiCommunicator    processes started by mpirun / srun, host memory (distributed/mpi_communicator.hpp)
//   NcclCommunicator   one process per GPU, Cuda<float> memory, bootstrapped over MPI (nccl_communicator.hpp)
//
// A user's own type works when it satisfies Communicator<C, B> below. Every rank must call the operations in the
// same order (MPI's rule for collectives); the Trainer does. docs/distributed.md.
#include "fgclep/core/backend.hpp"
#include "fgclep/core/collectives.hpp"
#include "fgclep/core/context.hpp"

#include <concepts>
#include <cstddef>

namespace fgclep {

// What the Trainer needs. `Pending` is an all-reduce in flight: wait() returns when it is complete (or throws the
// communicator's error), so the Trainer can reduce the encoders' gradients while backward is still running.
template <class C, class B>
concept Communicator = Backend<B> &&
    requires(C& c, const C& cc, Context<B>& ctx, typename B::value_type* data, std::size_t n) {
    { cc.rank() } -> std::convertible_to<int>;
    { cc.size() } -> std::convertible_to<int>;
    c.broadcast(ctx, data, n, 0);                             // from rank 0's data to every rank's
    c.start_all_reduce(ctx, data, n, ReduceOp::mean).wait();  // in place, over the backend's memory
    c.barrier();
    { c.collectives() } -> std::convertible_to<Collectives*>;  // null for one process
};

// One process: nothing to exchange.
class SingleProcess {
public:
    struct Pending {
        void wait() {}
    };
    int rank() const { return 0; }
    int size() const { return 1; }
    template <Backend B, class T>
    void broadcast(Context<B>&, T*, std::size_t, int) {}
    template <Backend B, class T>
    Pending start_all_reduce(Context<B>&, T*, std::size_t, ReduceOp) {
        return {};
    }
    void barrier() {}
    Collectives* collectives() { return nullptr; }
};

namespace detail {
// A barrier that waits for a rank that is alive but busy (rank 0 writing a checkpoint or building a cache) without a
// time limit, where the communicator has one (MpiCommunicator::barrier(true)); otherwise the plain barrier.
template <class C>
void patient_barrier(C& comm) {
    if constexpr (requires { comm.barrier(true); })
        comm.barrier(true);
    else
        comm.barrier();
}

// Points ctx.collectives at a communicator's for a scope (the Trainer's fit), and back when it ends.
template <Backend B>
class CollectivesScope {
public:
    CollectivesScope(Context<B>& ctx, Collectives* c) : ctx_(ctx), saved_(ctx.collectives) { ctx.collectives = c; }
    ~CollectivesScope() { ctx_.collectives = saved_; }
    CollectivesScope(const CollectivesScope&) = delete;
    CollectivesScope& operator=(const CollectivesScope&) = delete;

private:
    Context<B>& ctx_;
    Collectives* saved_;
};
}  // namespace detail

}  // namespace fgclep
