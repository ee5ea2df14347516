#pragma once
// NcclCommunicator: data-parallel training with one process per GPU, Cuda<float> or Cuda<double> memory, over NCCL
// (shipped with the CUDA toolkit). Ranks and NCCL's unique id are bootstrapped over MPI, as is usual; host-side
// collectives (the losses' all-gather of embeddings, SyncBatchNorm's statistics) go over that MPI communicator.
// Link fgclep::nccl (CMake component `nccl`: fgclep::cuda + fgclep::mpi + libnccl).
//
//   fgclep::MpiCommunicator mpi;                                   // under mpirun -np <GPUs>
//   fgclep::Context<fgclep::Cuda<float>> ctx(fgclep::cuda::State::create(fgclep::local_rank(), true));
//   fgclep::NcclCommunicator nccl(mpi, ctx);
//   fgclep::Trainer trainer(model, tokenizer, options, nccl);
//
// Gradient averaging runs on a communication stream of its own, after an event on the compute stream, so that the
// ECG encoder's gradients are reduced while the text encoder's backward is queued; wait() polls for completion
// against the MPI communicator's timeout and aborts NCCL (ncclCommAbort) rather than hang. docs/distributed.md.
#include "fgclep/backend/cuda.hpp"
#include "fgclep/distributed/mpi_communicator.hpp"

#include <nccl.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>

namespace fgclep {

// This process's index among the ranks on its host (the GPU it should use): Open MPI, Slurm, MPICH, or 0.
inline int local_rank() {
    for (const char* v :
         {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID", "MV2_COMM_WORLD_LOCAL_RANK"})
        if (const char* s = std::getenv(v)) return std::atoi(s);
    return 0;
}

class NcclCommunicator {
    struct Shared;

public:
    // A reduction in flight on the communication stream.
    class Pending {
    public:
        Pending() = default;
        Pending(std::shared_ptr<Shared> shared, cudaEvent_t done, cudaStream_t compute)
            : shared_(std::move(shared)), done_(done), compute_(compute) {}
        // Returns when the reduction is complete (the compute stream also waits for it); fails after the timeout.
        void wait() {
            if (!shared_) return;
            shared_->poll(done_, "all_reduce");
            FGCLEP_CUDA_CHECK(cudaStreamWaitEvent(compute_, done_, 0));
            FGCLEP_CUDA_CHECK(cudaEventDestroy(done_));
            shared_.reset();
        }

    private:
        std::shared_ptr<Shared> shared_;
        cudaEvent_t done_ = nullptr;
        cudaStream_t compute_ = nullptr;
    };

    // Every rank calls this with its own device current (the context's).
    template <class T>
    NcclCommunicator(MpiCommunicator& bootstrap, Context<Cuda<T>>& ctx) : bootstrap_(bootstrap) {
        ncclUniqueId id{};
        if (bootstrap.rank() == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
        bootstrap.broadcast(reinterpret_cast<std::uint8_t*>(&id), sizeof(id), 0);
        shared_ = std::make_shared<Shared>();
        shared_->timeout = bootstrap.options().timeout;
        shared_->rank = bootstrap.rank();
        FGCLEP_CUDA_CHECK(cudaSetDevice(ctx.state.device()));
        check(ncclCommInitRank(&shared_->comm, bootstrap.size(), id, bootstrap.rank()), "ncclCommInitRank");
        FGCLEP_CUDA_CHECK(cudaStreamCreateWithFlags(&shared_->stream, cudaStreamNonBlocking));
    }
    NcclCommunicator(const NcclCommunicator&) = delete;
    NcclCommunicator& operator=(const NcclCommunicator&) = delete;

    int rank() const { return bootstrap_.rank(); }
    int size() const { return bootstrap_.size(); }
    Collectives* collectives() { return bootstrap_.collectives(); }
    void barrier() { bootstrap_.barrier(); }

    template <class T>
    void broadcast(Context<Cuda<T>>& ctx, T* data, std::size_t n, int root) {
        check(ncclBroadcast(data, data, n, type<T>(), root, shared_->comm, ctx.state.stream()), "ncclBroadcast");
        cudaEvent_t done;
        FGCLEP_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
        FGCLEP_CUDA_CHECK(cudaEventRecord(done, ctx.state.stream()));
        shared_->poll(done, "broadcast");
        FGCLEP_CUDA_CHECK(cudaEventDestroy(done));
    }

    // Averages (or sums) in place on the communication stream, after the work queued so far on ctx's stream.
    template <class T>
    Pending start_all_reduce(Context<Cuda<T>>& ctx, T* data, std::size_t n, ReduceOp op) {
        cudaEvent_t ready, done;
        FGCLEP_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
        FGCLEP_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
        FGCLEP_CUDA_CHECK(cudaEventRecord(ready, ctx.state.stream()));
        FGCLEP_CUDA_CHECK(cudaStreamWaitEvent(shared_->stream, ready, 0));
        FGCLEP_CUDA_CHECK(cudaEventDestroy(ready));
        check(ncclAllReduce(data, data, n, type<T>(), op == ReduceOp::mean ? ncclAvg : ncclSum, shared_->comm,
                            shared_->stream),
              "ncclAllReduce");
        FGCLEP_CUDA_CHECK(cudaEventRecord(done, shared_->stream));
        return Pending(shared_, done, ctx.state.stream());
    }

private:
    struct Shared {
        ncclComm_t comm = nullptr;
        cudaStream_t stream = nullptr;
        std::chrono::milliseconds timeout{};
        int rank = 0;
        bool aborted = false;
        ~Shared() {
            // ncclCommDestroy flushes pending work, which peers may never match when an error is unwinding.
            if (comm && !aborted)
                std::uncaught_exceptions() > 0 ? (void)ncclCommAbort(comm) : (void)ncclCommDestroy(comm);
            if (stream) cudaStreamDestroy(stream);
        }
        // Waits for `done`, checking NCCL's asynchronous errors; aborts the communicator after the timeout.
        void poll(cudaEvent_t done, const char* what) {
            const auto start = std::chrono::steady_clock::now();
            for (auto pause = std::chrono::microseconds(5);; pause = std::min(pause * 2, decltype(pause)(1000))) {
                const cudaError_t state = cudaEventQuery(done);
                if (state == cudaSuccess) return;
                if (state != cudaErrorNotReady) FGCLEP_CUDA_CHECK(state);
                ncclResult_t async = ncclSuccess;
                ncclCommGetAsyncError(comm, &async);
                if (async != ncclSuccess && async != ncclInProgress)
                    fail("rank {}: NCCL {} failed: {}", rank, what, ncclGetErrorString(async));
                if (std::chrono::steady_clock::now() - start > timeout) {
                    ncclCommAbort(comm);
                    aborted = true;
                    fail(
                        "rank {}: NCCL {} did not complete within {} s: a rank died or hangs (NCCL cannot say which; "
                        "the MPI launcher's message or the other ranks' errors name it)",
                        rank, what, std::chrono::duration<double>(timeout).count());
                }
                std::this_thread::sleep_for(pause);
            }
        }
    };

    template <class T>
    static ncclDataType_t type() {
        if constexpr (std::is_same_v<T, float>)
            return ncclFloat;
        else if constexpr (std::is_same_v<T, double>)
            return ncclDouble;
        else
            static_assert(sizeof(T) == 0, "NcclCommunicator: float or double");
    }
    static void check(ncclResult_t r, const char* call) {
        if (r != ncclSuccess) fail("{} failed: {}", call, ncclGetErrorString(r));
    }

    MpiCommunicator& bootstrap_;
    std::shared_ptr<Shared> shared_;
};

}  // namespace fgclep
