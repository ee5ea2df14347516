#pragma once
// Cuda<T>: the CUDA backend type, T = float or double (its compute primitives: cuda/primitives.hpp; both come with
// backend/cuda.hpp). Host code only: this header compiles with g++ against the CUDA
// runtime and cuBLAS headers; the kernels are in the fgclep::cuda library (src/cuda/kernels.cu, built by nvcc).
//
//   target_link_libraries(app PRIVATE fgclep::cuda)     # CMake option FGCLEP_CUDA=ON
//   fgclep::Model<Net, fgclep::Cuda<float>> model(options);
//   fgclep::Context<fgclep::Cuda<float>> ctx;           // the current device's default stream
//
// What is here: errors that name the failing call, device memory through a caching allocator, the per-context
// State (device, stream, cuBLAS handle, math mode), and the memory primitives of the Backend concept. Uploads and
// downloads are synchronous (the host buffer may go away right after); everything else is ordered on the
// context's stream. See docs/backends.md.
#include "fgclep/backend/cuda/launch.hpp"
#include "fgclep/backend/cuda/mapping.hpp"
#include "fgclep/core/backend.hpp"
#include "fgclep/core/error.hpp"
#include "fgclep/core/matmul_precision.hpp"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

namespace fgclep::cuda {

// --- Errors -----------------------------------------------------------------------------------------------------

// Throws fgclep::Error naming the call that failed: "fgclep: CUDA call cudaMemcpyAsync(...) failed: <reason>".
inline void check(cudaError_t status, const char* call) {
    if (status == cudaSuccess) return;
    const char* hint = "";
    // Kernels run asynchronously: their faults surface at a later call, which is then not the culprit.
    if (status == cudaErrorIllegalAddress || status == cudaErrorLaunchFailure || status == cudaErrorAssert ||
        status == cudaErrorMisalignedAddress || status == cudaErrorIllegalInstruction)
        hint = " (a kernel queued earlier failed; run with CUDA_LAUNCH_BLOCKING=1 to stop at the one that did)";
    fail("CUDA call {} failed: {} ({}){}", call, cudaGetErrorString(status), cudaGetErrorName(status), hint);
}
inline const char* blas_status_name(cublasStatus_t status) {
    switch (status) {
        case CUBLAS_STATUS_SUCCESS:
            return "CUBLAS_STATUS_SUCCESS";
        case CUBLAS_STATUS_NOT_INITIALIZED:
            return "CUBLAS_STATUS_NOT_INITIALIZED";
        case CUBLAS_STATUS_ALLOC_FAILED:
            return "CUBLAS_STATUS_ALLOC_FAILED";
        case CUBLAS_STATUS_INVALID_VALUE:
            return "CUBLAS_STATUS_INVALID_VALUE";
        case CUBLAS_STATUS_ARCH_MISMATCH:
            return "CUBLAS_STATUS_ARCH_MISMATCH";
        case CUBLAS_STATUS_MAPPING_ERROR:
            return "CUBLAS_STATUS_MAPPING_ERROR";
        case CUBLAS_STATUS_EXECUTION_FAILED:
            return "CUBLAS_STATUS_EXECUTION_FAILED";
        case CUBLAS_STATUS_INTERNAL_ERROR:
            return "CUBLAS_STATUS_INTERNAL_ERROR";
        case CUBLAS_STATUS_NOT_SUPPORTED:
            return "CUBLAS_STATUS_NOT_SUPPORTED";
        case CUBLAS_STATUS_LICENSE_ERROR:
            return "CUBLAS_STATUS_LICENSE_ERROR";
        default:
            return "an unknown cuBLAS status";
    }
}
inline void check(cublasStatus_t status, const char* call) {
    if (status != CUBLAS_STATUS_SUCCESS) fail("cuBLAS call {} failed: {}", call, blas_status_name(status));
}
// A kernel launcher's result (the status of its cudaLaunchKernel calls).
inline void check_launch(cudaError_t status, const char* primitive) {
    if (status == cudaSuccess) return;
    fail("CUDA kernel of ops::{} failed to launch: {} ({})", primitive, cudaGetErrorString(status),
         cudaGetErrorName(status));
}

}  // namespace fgclep::cuda

// Checks a CUDA runtime or cuBLAS call and throws fgclep::Error quoting it.
#define FGCLEP_CUDA_CHECK(call) ::fgclep::cuda::check((call), #call)

namespace fgclep::cuda {

// The current device of the calling thread.
inline int current_device() {
    int device = 0;
    FGCLEP_CUDA_CHECK(cudaGetDevice(&device));
    return device;
}

// The number of CUDA devices; 0 when there is none or no usable driver (it never throws).
inline int device_count() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        (void)cudaGetLastError();  // clear the error so later calls do not report it
        return 0;
    }
    return count;
}

// --- Memory -----------------------------------------------------------------------------------------------------

// The stream that new allocations of the calling thread are cached under; the legacy default stream (nullptr)
// unless a StreamScope says otherwise. See CachingAllocator.
inline cudaStream_t& allocation_stream() {
    thread_local cudaStream_t stream = nullptr;
    return stream;
}

struct AllocatorStats {
    std::size_t in_use_bytes = 0;          // held by live tensors (size classes, not requested sizes)
    std::size_t peak_in_use_bytes = 0;     // the maximum of in_use_bytes so far
    std::size_t cached_bytes = 0;          // freed by tensors, kept for reuse
    std::uint64_t allocations = 0;         // allocate() calls
    std::uint64_t cache_hits = 0;          // of those, served from the cache
    std::uint64_t device_allocations = 0;  // cudaMalloc calls
    std::uint64_t device_frees = 0;        // cudaFree calls
};

// Device memory for tensors. Activations come and go at every layer of every step, and cudaMalloc/cudaFree are
// slow and synchronise the device, so freed blocks are kept in free lists keyed by (device, stream, size class)
// and handed out again. A block goes back to its list when the last tensor sharing it is destroyed (the
// shared_ptr's deleter), possibly while kernels that use it are still queued: that is safe because it is
// reused only for allocations under the same stream, whose later kernels run after the queued ones.
//
// The stream of an allocation is the calling thread's allocation_stream(): the legacy default stream unless a
// StreamScope is active. One context per thread needs nothing more (its stream's work is ordered, and the
// legacy stream, which Model and AdamW use to initialise, synchronises with the blocking streams the backend
// creates). Threads that run contexts with their own streams should open a StreamScope for each.
//
// release_cached() gives the cached blocks back to the driver; a cudaMalloc that fails releases the device's
// cache and tries once more before throwing. The allocator lives until the process ends (it is never
// destroyed, so tensors in static storage can still return their blocks at exit).
class CachingAllocator {
public:
    static CachingAllocator& instance() {
        static CachingAllocator* allocator = new CachingAllocator();  // never destroyed, see above
        return *allocator;
    }

    struct Block {
        void* pointer = nullptr;
        int device = 0;
        cudaStream_t stream = nullptr;
        std::size_t size = 0;  // the size class
    };

    // A block of at least `bytes` on the current device, for the calling thread's allocation stream.
    Block allocate(std::size_t bytes) {
        const int device = current_device();
        const cudaStream_t stream = allocation_stream();
        const std::size_t size = block_size_class(bytes);
        {
            std::lock_guard lock(mutex_);
            ++stats_.allocations;
            auto it = free_.find(key(device, stream, size));
            if (it != free_.end() && !it->second.empty()) {
                void* p = it->second.back();
                it->second.pop_back();
                ++stats_.cache_hits;
                stats_.cached_bytes -= size;
                note_in_use(size);
                return {p, device, stream, size};
            }
        }
        void* p = nullptr;
        cudaError_t status = cudaMalloc(&p, size);
        if (status == cudaErrorMemoryAllocation) {
            (void)cudaGetLastError();
            release_cached(device);
            status = cudaMalloc(&p, size);
        }
        if (status != cudaSuccess) {
            (void)cudaGetLastError();
            const AllocatorStats s = stats();
            fail(
                "CUDA call cudaMalloc of {} bytes ({:.1f} MiB, for a request of {} bytes) on device {} failed: {} "
                "({}); tensors held {:.1f} MiB and the cache was released first",
                size, static_cast<double>(size) / 1048576.0, bytes, device, cudaGetErrorString(status),
                cudaGetErrorName(status), static_cast<double>(s.in_use_bytes) / 1048576.0);
        }
        std::lock_guard lock(mutex_);
        ++stats_.device_allocations;
        note_in_use(size);
        return {p, device, stream, size};
    }

    // Returns a block to its free list. Never throws (it runs in shared_ptr deleters).
    void deallocate(const Block& block) noexcept {
        try {
            std::lock_guard lock(mutex_);
            free_[key(block.device, block.stream, block.size)].push_back(block.pointer);
            stats_.in_use_bytes -= block.size;
            stats_.cached_bytes += block.size;
        } catch (...) {
            // Out of host memory for the free list: leak the block rather than throw from a destructor.
        }
    }

    // Frees every cached block (of one device, or of all when device < 0) with cudaFree, after waiting for the
    // device, and returns the bytes freed. Blocks held by tensors are not touched.
    std::size_t release_cached(int device = -1) {
        std::vector<Block> victims;
        {
            std::lock_guard lock(mutex_);
            for (auto it = free_.begin(); it != free_.end();) {
                const auto& [d, stream, size] = it->first;
                if (device >= 0 && d != device) {
                    ++it;
                    continue;
                }
                for (void* p : it->second) victims.push_back({p, d, reinterpret_cast<cudaStream_t>(stream), size});
                stats_.cached_bytes -= size * it->second.size();
                it = free_.erase(it);
            }
        }
        if (victims.empty()) return 0;
        int saved = 0;
        FGCLEP_CUDA_CHECK(cudaGetDevice(&saved));
        std::size_t freed = 0;
        int synced = -1;
        for (const Block& b : victims) {
            if (b.device != synced) {
                FGCLEP_CUDA_CHECK(cudaSetDevice(b.device));
                // Queued kernels may still use a block that went back to the cache.
                FGCLEP_CUDA_CHECK(cudaDeviceSynchronize());
                synced = b.device;
            }
            FGCLEP_CUDA_CHECK(cudaFree(b.pointer));
            freed += b.size;
            std::lock_guard lock(mutex_);
            ++stats_.device_frees;
        }
        FGCLEP_CUDA_CHECK(cudaSetDevice(saved));
        return freed;
    }

    AllocatorStats stats() const {
        std::lock_guard lock(mutex_);
        return stats_;
    }

private:
    CachingAllocator() = default;
    using Key = std::tuple<int, std::uintptr_t, std::size_t>;
    static Key key(int device, cudaStream_t stream, std::size_t size) {
        return {device, reinterpret_cast<std::uintptr_t>(stream), size};
    }
    void note_in_use(std::size_t size) {
        stats_.in_use_bytes += size;
        if (stats_.in_use_bytes > stats_.peak_in_use_bytes) stats_.peak_in_use_bytes = stats_.in_use_bytes;
    }

    mutable std::mutex mutex_;
    std::map<Key, std::vector<void*>> free_;
    AllocatorStats stats_;
};

// Frees the device memory cached by the allocator (all devices); returns the bytes freed.
inline std::size_t release_cached() { return CachingAllocator::instance().release_cached(); }
inline AllocatorStats allocator_stats() { return CachingAllocator::instance().stats(); }

// --- Per-context state --------------------------------------------------------------------------------------------

namespace detail {
// A device's stream and cuBLAS handle, shared by every copy of a State.
struct DeviceResources {
    int device = 0;
    cudaStream_t stream = nullptr;  // nullptr: the legacy default stream
    bool owns_stream = false;
    cublasHandle_t blas = nullptr;

    DeviceResources() = default;
    DeviceResources(const DeviceResources&) = delete;
    DeviceResources& operator=(const DeviceResources&) = delete;
    ~DeviceResources() {
        // Errors are ignored: a destructor cannot report them, and at process exit the runtime may be gone.
        if (blas) (void)cublasDestroy(blas);
        if (owns_stream) {
            (void)cudaStreamSynchronize(stream);
            (void)cudaStreamDestroy(stream);
        }
    }

    static std::shared_ptr<DeviceResources> make(int device, bool own_stream) {
        FGCLEP_CUDA_CHECK(cudaSetDevice(device));
        auto r = std::make_shared<DeviceResources>();
        r->device = device;
        if (own_stream) {
            // A blocking stream: it synchronises with the legacy default stream, which Model and AdamW use to
            // initialise parameters and moments.
            FGCLEP_CUDA_CHECK(cudaStreamCreateWithFlags(&r->stream, cudaStreamDefault));
            r->owns_stream = true;
        }
        FGCLEP_CUDA_CHECK(cublasCreate(&r->blas));
        FGCLEP_CUDA_CHECK(cublasSetStream(r->blas, r->stream));
        // FP32 GEMMs stay FP32 unless a State asks for TF32 (set again before every GEMM, see blas.hpp).
        FGCLEP_CUDA_CHECK(cublasSetMathMode(r->blas, CUBLAS_DEFAULT_MATH));
        return r;
    }

    // The legacy-stream resources of `device` for the calling thread, made once per thread (a cuBLAS handle
    // should not be shared between threads) and kept until the process ends.
    static const std::shared_ptr<DeviceResources>& default_for(int device) {
        thread_local auto* per_device = new std::map<int, std::shared_ptr<DeviceResources>>();
        auto& r = (*per_device)[device];
        if (!r) r = make(device, false);
        return r;
    }
};
}  // namespace detail

// What a Context<Cuda<T>> carries: the device, the stream its work is queued on, the cuBLAS handle, and the math
// mode of float GEMMs. Copies share the stream and handle (and are cheap); use one State per thread.
class State {
public:
    // The current device's legacy default stream. Nothing is created until the first GEMM needs a cuBLAS handle
    // (the calling thread's shared one for that device).
    State() = default;

    // A state for `device` (made the calling thread's current device). With own_stream, a new stream and
    // cuBLAS handle that this state and its copies own; otherwise the device's legacy default stream.
    static State create(int device = 0, bool own_stream = false) {
        FGCLEP_CUDA_CHECK(cudaSetDevice(device));  // new tensors of this thread go to `device`
        State s;
        s.resources_ =
            own_stream ? detail::DeviceResources::make(device, true) : detail::DeviceResources::default_for(device);
        return s;
    }

    // TF32 tensor-core math for float GEMMs (CUBLAS_TF32_TENSOR_OP_MATH): several times faster on Ampere and
    // later, with a 10-bit mantissa on the inputs (relative error about 1e-3). Off by default: FP32 results.
    // Double GEMMs are unaffected.
    bool allow_tf32 = false;
    // bf16 mixed precision for float GEMMs (core/matmul_precision.hpp): cuBLAS's CUBLAS_COMPUTE_32F_FAST_16BF,
    // inputs rounded to bf16, fp32 accumulation and results, as Cpu<float> does. Takes precedence over allow_tf32.
    MatmulPrecision matmul_precision = MatmulPrecision::fp32;

    int device() const { return resources_ ? resources_->device : current_device(); }
    cudaStream_t stream() const { return resources_ ? resources_->stream : nullptr; }
    cublasHandle_t blas() {
        if (!resources_) resources_ = detail::DeviceResources::default_for(current_device());
        return resources_->blas;
    }

private:
    std::shared_ptr<detail::DeviceResources> resources_;
};

// Makes `state`'s stream the one that the calling thread's new tensors are cached under, for this scope.
class StreamScope {
public:
    explicit StreamScope(const State& state) : saved_(allocation_stream()) { allocation_stream() = state.stream(); }
    ~StreamScope() { allocation_stream() = saved_; }
    StreamScope(const StreamScope&) = delete;
    StreamScope& operator=(const StreamScope&) = delete;

private:
    cudaStream_t saved_;
};

}  // namespace fgclep::cuda

namespace fgclep {

template <class T>
struct Cuda {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "fgclep: Cuda<T> is defined for T = float and T = double");
    using value_type = T;
    using State = cuda::State;
    static constexpr std::string_view name = "Cuda";
    static constexpr bool host_accessible = false;

    // Device memory from the caching allocator; at least one element, so an empty tensor still has storage.
    template <class E>
    static std::shared_ptr<E[]> allocate(std::size_t n) {
        static_assert(std::is_trivially_copyable_v<E>, "fgclep: tensor elements must be trivially copyable");
        const auto block = cuda::CachingAllocator::instance().allocate((n > 0 ? n : 1) * sizeof(E));
        return std::shared_ptr<E[]>(static_cast<E*>(block.pointer),
                                    [block](E*) { cuda::CachingAllocator::instance().deallocate(block); });
    }
    template <class E>
    static void fill(State& state, E* data, std::size_t n, E value) {
        static_assert(sizeof(E) == 1 || sizeof(E) == 2 || sizeof(E) == 4 || sizeof(E) == 8,
                      "fgclep: Cuda::fill supports elements of 1, 2, 4 or 8 bytes");
        if (n == 0) return;
        std::uint64_t pattern = 0;
        std::memcpy(&pattern, &value, sizeof(E));
        if (pattern == 0) {
            FGCLEP_CUDA_CHECK(cudaMemsetAsync(data, 0, n * sizeof(E), state.stream()));
            return;
        }
        cuda::check_launch(cuda::launch::fill_bytes(state.stream(), data, static_cast<std::int64_t>(n), pattern,
                                                    static_cast<int>(sizeof(E))),
                           "fill");
    }
    // Device to device, ordered on the context's stream.
    template <class E>
    static void copy(State& state, E* dst, const E* src, std::size_t n) {
        if (n == 0 || dst == src) return;
        FGCLEP_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(E), cudaMemcpyDeviceToDevice, state.stream()));
    }
    // Host to device; returns when the copy is done (the host buffer may be freed right after).
    template <class E>
    static void upload(State& state, E* dst, const E* src, std::size_t n) {
        if (n == 0) return;
        FGCLEP_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(E), cudaMemcpyHostToDevice, state.stream()));
        FGCLEP_CUDA_CHECK(cudaStreamSynchronize(state.stream()));
    }
    // Device to host, after the work queued before it; returns when the data is on the host.
    template <class E>
    static void download(State& state, E* dst, const E* src, std::size_t n) {
        if (n == 0) return;
        FGCLEP_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(E), cudaMemcpyDeviceToHost, state.stream()));
        FGCLEP_CUDA_CHECK(cudaStreamSynchronize(state.stream()));
    }
    static void synchronize(State& state) { FGCLEP_CUDA_CHECK(cudaStreamSynchronize(state.stream())); }
};

}  // namespace fgclep
