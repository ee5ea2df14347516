#pragma once
// The CUDA runtime API, executed on the host (tests only; implemented in tests/cuda/emulation/runtime.cpp).
//
// Names, values and signatures are those of the CUDA toolkit's headers, for the calls fgclep makes, so the
// backend compiles unchanged against either. What each call does follows NVIDIA's runtime API reference:
//   - devices: FGCLEP_CUDA_EMULATION_DEVICES (default 1; 0 emulates a machine without a GPU);
//   - device memory is host memory that the emulator tracks: a copy, memset or GEMM that names memory outside
//     every allocation fails as on a GPU; fresh allocations are filled with 0xFF bytes (NaN in float and double),
//     so a kernel that reads what it never wrote shows it;
//   - every stream's work runs, in the order it was queued, on the emulated device's own thread, asynchronously
//     to the host: a host that reads results without synchronising races with the device (ThreadSanitizer sees
//     it). Streams of one device are executed in queue order, a valid schedule of CUDA's stream semantics;
//   - cudaMemcpyAsync from pageable memory to the device returns once the source has been staged, and from the
//     device to pageable memory once the copy is done; with pinned memory (cudaMallocHost) it is fully
//     asynchronous, as on a GPU;
//   - errors: a launch with a bad configuration sets the calling thread's last error; a fault inside device work
//     (a kernel that throws, __syncthreads divergence, a GEMM on memory outside any allocation) is sticky and
//     returned by every later call, as on a GPU, after the emulator prints what happened.
#include <cstddef>
#include <cstdint>
#include <functional>

extern "C" {

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInitializationError = 3,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorNotReady = 600,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchOutOfResources = 701,
    cudaErrorAssert = 710,
    cudaErrorIllegalInstruction = 715,
    cudaErrorMisalignedAddress = 716,
    cudaErrorLaunchFailure = 719,
} cudaError_t;

typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
};

#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00
#define cudaEventBlockingSync 0x01
#define cudaEventDisableTiming 0x02
#define cudaHostAllocDefault 0x00

struct cudaDeviceProp {
    char name[256];
    std::size_t totalGlobalMem;
    std::size_t sharedMemPerBlock;
    int warpSize;
    int maxThreadsPerBlock;
    int maxThreadsDim[3];
    int maxGridSize[3];
    int major;
    int minor;
    int multiProcessorCount;
};

}  // extern "C"

struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x = 1, y = 1, z = 1;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};

cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* properties, int device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t error);
const char* cudaGetErrorName(cudaError_t error);
cudaError_t cudaMemGetInfo(std::size_t* free, std::size_t* total);

cudaError_t cudaMalloc(void** pointer, std::size_t bytes);
template <class T>
cudaError_t cudaMalloc(T** pointer, std::size_t bytes) {
    return cudaMalloc(reinterpret_cast<void**>(pointer), bytes);
}
cudaError_t cudaFree(void* pointer);
cudaError_t cudaMallocHost(void** pointer, std::size_t bytes);
cudaError_t cudaHostAlloc(void** pointer, std::size_t bytes, unsigned flags);
cudaError_t cudaFreeHost(void* pointer);
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* pointer, int value, std::size_t bytes);
cudaError_t cudaMemsetAsync(void* pointer, int value, std::size_t bytes, cudaStream_t stream = nullptr);

cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamQuery(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags = 0);
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);

// --- The emulator's own interface (not CUDA's) ------------------------------------------------------------------
namespace fgclep_emulation {

// How the threads of a block are scheduled.
enum class Schedule {
    // Every thread of a block is an OS thread, running concurrently with the others; __syncthreads() and warp
    // shuffles are real barriers. Races are real, so ThreadSanitizer reports the unsynchronised ones.
    concurrent,
    // The threads of a block as fibers of the device thread: one runs at a time, in thread-index order, switching
    // only when it blocks (a barrier, a shuffle, its end). Deterministic and much faster; a thread that reads
    // shared memory before the barrier that should have ordered it reads what was there before the other threads
    // wrote, so a missing barrier fails every time. (Under ThreadSanitizer the concurrent schedule is used.)
    serial,
};
// FGCLEP_CUDA_EMULATION_SCHEDULE=concurrent|serial (default concurrent), or set here.
Schedule schedule();
void set_schedule(Schedule schedule);

// Counters for the emulator's own tests.
struct Counters {
    std::uint64_t launches = 0;  // accepted kernel launches
};
Counters counters();

// The launch behind cudaLaunchKernel: checks the configuration as a GPU does and queues `run_thread`, which
// each thread of each block calls (the built-in variables already set), on `stream`.
cudaError_t launch(dim3 grid, dim3 block, std::size_t dynamic_shared_bytes, cudaStream_t stream,
                   std::function<void()> run_thread);

// Queues `work` on `stream` (cuBLAS's routines run through this); a throw inside it becomes the sticky error
// `fault` with its message printed.
cudaError_t enqueue(cudaStream_t stream, std::function<void()> work, cudaError_t fault = cudaErrorLaunchFailure);

// Whether [pointer, pointer + bytes) lies inside one live device allocation.
bool is_device_range(const void* pointer, std::size_t bytes);

// Records a sticky device fault (prints `what` first); every later runtime call returns it.
void device_fault(cudaError_t error, const char* what);
// Waits for the device and clears a sticky fault and the calling thread's last error: the emulator's tests cause
// faults on purpose and go on (on a GPU the process would have to end).
void clear_fault();

}  // namespace fgclep_emulation
