// The host emulation of CUDA checked against what CUDA documents: barriers, shared memory, warp shuffles, atomics,
// grid-stride loops, launch configuration errors, divergence and deadlock reports, the serial schedule, copies,
// streams and events, and cuBLAS's column-major GEMM semantics. The kernels here are written in CUDA's language
// and compiled by g++ against the emulation's headers, as kernels.cuh is.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

namespace {

constexpr unsigned full_mask = 0xffffffffu;

template <class T>
T* device_alloc(std::size_t n) {
    T* p = nullptr;
    REQUIRE(cudaMalloc(&p, n * sizeof(T)) == cudaSuccess);
    return p;
}
template <class T>
std::vector<T> download(const T* p, std::size_t n) {
    std::vector<T> v(n);
    REQUIRE(cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
    return v;
}
template <class T>
T* upload(const std::vector<T>& v) {
    T* p = device_alloc<T>(v.size());
    REQUIRE(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
    return p;
}

template <class... Params, class... Args>
cudaError_t launch(void (*kernel)(Params...), dim3 grid, dim3 block, Args... args) {
    std::tuple<Params...> values(args...);
    return std::apply(
        [&](auto&... v) {
            void* pointers[] = {static_cast<void*>(&v)...};
            return cudaLaunchKernel(kernel, grid, block, pointers, 0, nullptr);
        },
        values);
}

// Clears a deliberately caused device fault, so that the tests after it run (the emulator's own call: on a GPU the
// process would have to end).
void expect_fault_and_clear(cudaError_t expected) {
    CHECK(cudaDeviceSynchronize() == expected);
    CHECK(cudaGetLastError() == expected);  // sticky: not cleared by reading it
    fgclep_emulation::clear_fault();
    CHECK(cudaDeviceSynchronize() == cudaSuccess);
    CHECK(cudaGetLastError() == cudaSuccess);
}

// --- kernels ---

// Each thread writes its slot, waits at the barrier, and reads its neighbour's: right only with a real barrier.
__global__ void rotate_through_shared(int* out, int salt) {
    __shared__ int slots[256];
    const unsigned t = threadIdx.x, n = blockDim.x;
    slots[t] = static_cast<int>(blockIdx.x * 1000 + t) + salt;
    __syncthreads();
    out[blockIdx.x * n + t] = slots[(t + 1) % n];
}
// The same without the barrier.
__global__ void rotate_without_barrier(int* out, int salt) {
    __shared__ int slots[256];
    const unsigned t = threadIdx.x, n = blockDim.x;
    slots[t] = static_cast<int>(blockIdx.x * 1000 + t) + salt;
    out[blockIdx.x * n + t] = slots[(n - 1 - t) % n];
}
__global__ void warp_operations(int* sums, int* down, int* broadcast, unsigned* ballots) {
    const unsigned t = threadIdx.x, lane = t % 32;
    int v = static_cast<int>(t);
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(full_mask, v, offset);
    sums[t] = v;
    down[t] = __shfl_down_sync(full_mask, static_cast<int>(t), 1);
    broadcast[t] = __shfl_sync(full_mask, static_cast<int>(t) * 10, 3);
    ballots[t] = __ballot_sync(full_mask, lane % 3 == 0);
}
__global__ void count_with_atomics(unsigned long long* counter, double* sum, int* extremes) {
    atomicAdd(counter, 1ull);
    atomicAdd(sum, 0.5);
    const int id = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
    atomicMax(extremes, id);
    atomicMin(extremes + 1, id);
}
__global__ void grid_stride_visits(std::int64_t n, int* visits) {
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
        atomicAdd(visits + i, 1);
}
__global__ void three_dimensional_ids(unsigned* out) {
    const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
    const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    out[block * threads + t] = block * 100000 + t;
}
__global__ void barrier_after_early_return(int* out) {
    if (threadIdx.x >= 16) return;
    __syncthreads();
    out[threadIdx.x] = 1;
}
__global__ void shuffle_in_half_a_warp(int* out) {
    if (threadIdx.x < 16) out[threadIdx.x] = __shfl_xor_sync(full_mask, 1, 1);
}
// Half the warp waits for the other half at a shuffle, the other half for the first at the block's barrier.
__global__ void shuffle_and_barrier_deadlock(int* out) {
    if (threadIdx.x < 16)
        out[threadIdx.x] = __shfl_xor_sync(full_mask, 1, 1);
    else
        __syncthreads();
}

}  // namespace

TEST_CASE("emulation: the device's properties, and the last error") {
    int count = 0;
    REQUIRE(cudaGetDeviceCount(&count) == cudaSuccess);
    CHECK(count >= 1);
    cudaDeviceProp p{};
    REQUIRE(cudaGetDeviceProperties(&p, 0) == cudaSuccess);
    CHECK(p.warpSize == 32);
    CHECK(p.maxThreadsPerBlock == 1024);
    CHECK(cudaSetDevice(count) == cudaErrorInvalidDevice);
    CHECK(cudaGetLastError() == cudaErrorInvalidDevice);
    CHECK(cudaGetLastError() == cudaSuccess);  // reading the last error clears it
}

TEST_CASE("emulation: __syncthreads is a barrier and __shared__ memory is the block's") {
    const unsigned blocks = 3, threads = 256;
    int* out = device_alloc<int>(blocks * threads);
    REQUIRE(launch(rotate_through_shared, dim3(blocks), dim3(threads), out, 7) == cudaSuccess);
    const auto v = download(out, blocks * threads);
    for (unsigned b = 0; b < blocks; ++b)
        for (unsigned t = 0; t < threads; ++t) {
            INFO("block ", b, " thread ", t);
            CHECK(v[b * threads + t] == static_cast<int>(b * 1000 + (t + 1) % threads) + 7);
        }
    CHECK(cudaFree(out) == cudaSuccess);
}

#if defined(__SANITIZE_THREAD__)
constexpr bool under_thread_sanitizer = true;  // the serial schedule's fibers are not used under it
#else
constexpr bool under_thread_sanitizer = false;
#endif

TEST_CASE("emulation: the serial schedule makes a missing barrier fail every time" *
          doctest::skip(under_thread_sanitizer)) {
    const unsigned threads = 64;
    int* out = device_alloc<int>(threads);
    const auto saved = fgclep_emulation::schedule();
    fgclep_emulation::set_schedule(fgclep_emulation::Schedule::serial);
    // Thread 0 runs first, to its end: it reads slot 63 before thread 63 has written it.
    REQUIRE(launch(rotate_without_barrier, dim3(1), dim3(threads), out, 1) == cudaSuccess);
    REQUIRE(launch(rotate_without_barrier, dim3(1), dim3(threads), out, 2) == cudaSuccess);
    auto v = download(out, threads);
    CHECK(v[0] != static_cast<int>(threads - 1) + 2);  // what a barrier would have given
    CHECK(v[threads - 1] == 0 + 2);                    // thread 63 runs last and sees every slot written
    // With the barrier, the same schedule is right.
    REQUIRE(launch(rotate_through_shared, dim3(1), dim3(threads), out, 2) == cudaSuccess);
    v = download(out, threads);
    for (unsigned t = 0; t < threads; ++t) CHECK(v[t] == static_cast<int>((t + 1) % threads) + 2);
    fgclep_emulation::set_schedule(saved);
    CHECK(cudaFree(out) == cudaSuccess);
}

TEST_CASE("emulation: warp shuffles and ballots exchange values among the 32 lanes of each warp") {
    const unsigned threads = 96;  // three warps
    int* sums = device_alloc<int>(threads);
    int* down = device_alloc<int>(threads);
    int* broadcast = device_alloc<int>(threads);
    unsigned* ballots = device_alloc<unsigned>(threads);
    REQUIRE(launch(warp_operations, dim3(1), dim3(threads), sums, down, broadcast, ballots) == cudaSuccess);
    const auto s = download(sums, threads), d = download(down, threads), b = download(broadcast, threads);
    const auto ballot = download(ballots, threads);
    unsigned expected_ballot = 0;
    for (unsigned lane = 0; lane < 32; ++lane)
        if (lane % 3 == 0) expected_ballot |= 1u << lane;
    for (unsigned t = 0; t < threads; ++t) {
        const unsigned warp = t / 32, lane = t % 32;
        INFO("thread ", t);
        CHECK(s[t] == static_cast<int>(32 * 32 * warp + 31 * 32 / 2));  // the sum of the warp's thread indices
        CHECK(d[t] == static_cast<int>(lane == 31 ? t : t + 1));        // the last lane keeps its own value
        CHECK(b[t] == static_cast<int>((warp * 32 + 3) * 10));
        CHECK(ballot[t] == expected_ballot);
    }
    for (void* p : {static_cast<void*>(sums), static_cast<void*>(down), static_cast<void*>(broadcast),
                    static_cast<void*>(ballots)})
        CHECK(cudaFree(p) == cudaSuccess);
}

TEST_CASE("emulation: atomics from every thread of several blocks add up exactly") {
    auto* counter = device_alloc<unsigned long long>(1);
    auto* sum = device_alloc<double>(1);
    int* extremes = upload(std::vector<int>{-1, 1 << 30});
    REQUIRE(cudaMemset(counter, 0, sizeof(unsigned long long)) == cudaSuccess);
    REQUIRE(cudaMemset(sum, 0, sizeof(double)) == cudaSuccess);
    REQUIRE(launch(count_with_atomics, dim3(5), dim3(128), counter, sum, extremes) == cudaSuccess);
    CHECK(download(counter, 1)[0] == 5 * 128);
    CHECK(download(sum, 1)[0] == 5 * 128 * 0.5);
    CHECK(download(extremes, 2) == std::vector<int>{5 * 128 - 1, 0});  // atomicMax, atomicMin
    CHECK(cudaFree(counter) == cudaSuccess);
    CHECK(cudaFree(sum) == cudaSuccess);
    CHECK(cudaFree(extremes) == cudaSuccess);
}

TEST_CASE("emulation: a grid-stride loop over more elements than the grid visits each once; 3-D ids") {
    const std::int64_t n = 1000;
    int* visits = device_alloc<int>(n);
    REQUIRE(cudaMemset(visits, 0, n * sizeof(int)) == cudaSuccess);
    REQUIRE(launch(grid_stride_visits, dim3(3), dim3(64), n, visits) == cudaSuccess);  // 192 threads, 6 rounds
    const auto v = download(visits, n);
    CHECK(std::count(v.begin(), v.end(), 1) == n);
    CHECK(cudaFree(visits) == cudaSuccess);

    const dim3 grid(2, 3, 2), block(4, 2, 3);
    const unsigned total = 12 * 24;
    unsigned* ids = device_alloc<unsigned>(total);
    REQUIRE(launch(three_dimensional_ids, grid, block, ids) == cudaSuccess);
    const auto got = download(ids, total);
    for (unsigned i = 0; i < total; ++i) CHECK(got[i] == (i / 24) * 100000 + i % 24);
    CHECK(cudaFree(ids) == cudaSuccess);
}

TEST_CASE("emulation: launches a GPU refuses are refused with cudaErrorInvalidConfiguration") {
    int* out = device_alloc<int>(1);
    CHECK(launch(grid_stride_visits, dim3(1), dim3(1025), std::int64_t(1), out) == cudaErrorInvalidConfiguration);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK(launch(grid_stride_visits, dim3(0), dim3(32), std::int64_t(1), out) == cudaErrorInvalidConfiguration);
    CHECK(launch(grid_stride_visits, dim3(1, 65536), dim3(32), std::int64_t(1), out) == cudaErrorInvalidConfiguration);
    CHECK(launch(grid_stride_visits, dim3(1), dim3(1, 1, 65), std::int64_t(1), out) == cudaErrorInvalidConfiguration);
    (void)cudaGetLastError();
    CHECK(cudaFree(out) == cudaSuccess);
}

TEST_CASE("emulation: a barrier some threads never reach, a partial-warp shuffle and a deadlock are device faults") {
    int* out = device_alloc<int>(64);
    REQUIRE(launch(barrier_after_early_return, dim3(1), dim3(64), out) == cudaSuccess);
    expect_fault_and_clear(cudaErrorLaunchFailure);
    REQUIRE(launch(shuffle_in_half_a_warp, dim3(1), dim3(32), out) == cudaSuccess);
    expect_fault_and_clear(cudaErrorLaunchFailure);
    REQUIRE(launch(shuffle_and_barrier_deadlock, dim3(1), dim3(32), out) == cudaSuccess);
    expect_fault_and_clear(cudaErrorLaunchFailure);
    CHECK(cudaFree(out) == cudaSuccess);
}

TEST_CASE("emulation: copies check their direction; fresh device memory is NaN; pageable copies are staged") {
    std::vector<float> host(16, 1.5f);
    float* d = device_alloc<float>(16);
    const auto fresh = download(d, 16);
    CHECK(std::isnan(fresh[0]));
    CHECK(std::isnan(fresh[15]));
    CHECK(cudaMemcpy(host.data(), d, 64, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);  // swapped
    CHECK(cudaMemcpy(d, host.data(), 68, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);  // past the end
    (void)cudaGetLastError();
    // cudaMemcpyAsync from pageable memory returns once the source is staged: the buffer may change right after.
    REQUIRE(cudaMemcpyAsync(d, host.data(), 64, cudaMemcpyHostToDevice, nullptr) == cudaSuccess);
    std::fill(host.begin(), host.end(), -1.0f);
    CHECK(download(d, 16)[7] == 1.5f);
    int not_device = 0;
    CHECK(cudaFree(&not_device) == cudaErrorInvalidValue);
    (void)cudaGetLastError();
    CHECK(cudaFree(d) == cudaSuccess);
}

TEST_CASE("emulation: streams and events order work and report completion") {
    cudaStream_t s = nullptr;
    REQUIRE(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
    cudaEvent_t start = nullptr, stop = nullptr;
    REQUIRE(cudaEventCreate(&start) == cudaSuccess);
    REQUIRE(cudaEventCreate(&stop) == cudaSuccess);
    float* pinned = nullptr;
    REQUIRE(cudaMallocHost(reinterpret_cast<void**>(&pinned), 64) == cudaSuccess);
    float* d = device_alloc<float>(16);
    REQUIRE(cudaEventRecord(start, s) == cudaSuccess);
    REQUIRE(cudaMemsetAsync(d, 0, 64, s) == cudaSuccess);
    REQUIRE(cudaMemcpyAsync(pinned, d, 64, cudaMemcpyDeviceToHost, s) == cudaSuccess);
    REQUIRE(cudaEventRecord(stop, s) == cudaSuccess);
    REQUIRE(cudaEventSynchronize(stop) == cudaSuccess);
    CHECK(cudaEventQuery(stop) == cudaSuccess);
    CHECK(cudaStreamQuery(s) == cudaSuccess);
    CHECK(pinned[3] == 0.0f);
    float ms = -1;
    CHECK(cudaEventElapsedTime(&ms, start, stop) == cudaSuccess);
    CHECK(ms >= 0);
    CHECK(cudaStreamDestroy(s) == cudaSuccess);
    CHECK(cudaStreamSynchronize(s) == cudaErrorInvalidResourceHandle);  // a destroyed stream
    (void)cudaGetLastError();
    CHECK(cudaEventDestroy(start) == cudaSuccess);
    CHECK(cudaEventDestroy(stop) == cudaSuccess);
    CHECK(cudaFreeHost(pinned) == cudaSuccess);
    CHECK(cudaFree(d) == cudaSuccess);
}

namespace {
// C(m x n) = op(A) op(B), column-major, the definition in cuBLAS's documentation.
std::vector<double> reference_gemm(bool ta, bool tb, int m, int n, int k, const std::vector<double>& A, int lda,
                                   const std::vector<double>& B, int ldb, double alpha, double beta,
                                   std::vector<double> C, int ldc) {
    for (int j = 0; j < n; ++j)
        for (int i = 0; i < m; ++i) {
            double s = 0;
            for (int l = 0; l < k; ++l)
                s += (ta ? A[l + i * lda] : A[i + l * lda]) * (tb ? B[j + l * ldb] : B[l + j * ldb]);
            C[i + j * ldc] = alpha * s + beta * C[i + j * ldc];
        }
    return C;
}
std::vector<double> values(std::size_t n, int seed) {
    std::vector<double> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = std::sin(0.37 * static_cast<double>(i) + seed);
    return v;
}
}  // namespace

TEST_CASE("emulation: cublasDgemm is column-major with transposes and leading dimensions as documented") {
    cublasHandle_t h = nullptr;
    REQUIRE(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
    const int m = 5, n = 3, k = 4;
    for (bool ta : {false, true})
        for (bool tb : {false, true}) {
            CAPTURE(ta);
            CAPTURE(tb);
            const int lda = (ta ? k : m) + 2, ldb = (tb ? n : k) + 1, ldc = m + 3;
            const auto A = values(static_cast<std::size_t>(lda * (ta ? m : k)), 1);
            const auto B = values(static_cast<std::size_t>(ldb * (tb ? k : n)), 2);
            const auto C = values(static_cast<std::size_t>(ldc * n), 3);
            double *dA = upload(A), *dB = upload(B), *dC = upload(C);
            const double alpha = 0.75, beta = -0.5;
            REQUIRE(cublasDgemm(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha, dA,
                                lda, dB, ldb, &beta, dC, ldc) == CUBLAS_STATUS_SUCCESS);
            const auto want = reference_gemm(ta, tb, m, n, k, A, lda, B, ldb, alpha, beta, C, ldc);
            const auto got = download(dC, C.size());
            for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-14));
            for (double* p : {dA, dB, dC}) CHECK(cudaFree(p) == cudaSuccess);
        }
    CHECK(cublasDestroy(h) == CUBLAS_STATUS_SUCCESS);
}

TEST_CASE("emulation: cuBLAS rejects what its documentation rejects, and beta = 0 never reads C") {
    cublasHandle_t h = nullptr;
    REQUIRE(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
    float* d = device_alloc<float>(64);
    const float one = 1, zero = 0;
    CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, d, 3, d, 4, &zero, d, 4) ==
          CUBLAS_STATUS_INVALID_VALUE);  // lda < m
    CHECK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, 4, 4, 5, &one, d, 4, d, 5, &zero, d, 4) ==
          CUBLAS_STATUS_INVALID_VALUE);  // lda < k for a transposed A
    CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, d, 4, d, 4, &zero, d, 3) ==
          CUBLAS_STATUS_INVALID_VALUE);  // ldc < m
    CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, -1, 4, 4, &one, d, 4, d, 4, &zero, d, 4) ==
          CUBLAS_STATUS_INVALID_VALUE);
    CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, d, CUDA_R_16BF, 4, d, CUDA_R_16BF, 4, &zero, d,
                       CUDA_R_32F, 4, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_NOT_SUPPORTED);
    // k = 0 with beta = 0: C becomes zeros, though it holds NaN (fresh memory).
    CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 0, &one, d, 4, d, 1, &zero, d, 4) == CUBLAS_STATUS_SUCCESS);
    const auto c = download(d, 16);
    CHECK(std::count(c.begin(), c.end(), 0.0f) == 16);
    // An operand that is not device memory is the GPU's illegal address, found when the GEMM runs.
    std::vector<float> host(64, 1);
    CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, host.data(), 4, d, 4, &zero, d, 4) ==
          CUBLAS_STATUS_SUCCESS);
    expect_fault_and_clear(cudaErrorIllegalAddress);
    CHECK(cudaFree(d) == cudaSuccess);
    CHECK(cublasDestroy(h) == CUBLAS_STATUS_SUCCESS);
}

TEST_CASE("emulation: strided batches, device pointer mode, and TF32 / bf16 input rounding") {
    cublasHandle_t h = nullptr;
    REQUIRE(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
    const int m = 3, n = 2, k = 3, batch = 4;
    std::vector<float> A(static_cast<std::size_t>(m * k));  // shared by every batch (stride 0)
    std::vector<float> B(static_cast<std::size_t>(k * n * batch));
    for (std::size_t i = 0; i < A.size(); ++i) A[i] = 1.0f + 1.0f / 1024 / 3 * static_cast<float>(i);
    for (std::size_t i = 0; i < B.size(); ++i) B[i] = static_cast<float>(i % 5) - 2.0f;
    float *dA = upload(A), *dB = upload(B), *dC = device_alloc<float>(static_cast<std::size_t>(m * n * batch));
    float* scalars = upload(std::vector<float>{2.0f, 0.0f});
    REQUIRE(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_DEVICE) == CUBLAS_STATUS_SUCCESS);
    REQUIRE(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, scalars, dA, m, 0, dB, k, k * n,
                                      scalars + 1, dC, m, m * n, batch) == CUBLAS_STATUS_SUCCESS);
    REQUIRE(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST) == CUBLAS_STATUS_SUCCESS);
    const auto exact = download(dC, static_cast<std::size_t>(m * n * batch));
    for (int p = 0; p < batch; ++p)
        for (int j = 0; j < n; ++j)
            for (int i = 0; i < m; ++i) {
                double s = 0;
                for (int l = 0; l < k; ++l) s += double(A[i + l * m]) * B[p * k * n + l + j * k];
                CHECK(exact[p * m * n + i + j * m] == doctest::Approx(2 * s).epsilon(1e-7));
            }
    // TF32 keeps 10 mantissa bits: the 1/3072 steps of A vanish, and the product changes.
    const float one = 1, zero = 0;
    REQUIRE(cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH) == CUBLAS_STATUS_SUCCESS);
    REQUIRE(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dA, m, dB, k, &zero, dC, m) ==
            CUBLAS_STATUS_SUCCESS);
    const auto tf32 = download(dC, static_cast<std::size_t>(m * n));
    REQUIRE(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH) == CUBLAS_STATUS_SUCCESS);
    REQUIRE(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dA, CUDA_R_32F, m, dB, CUDA_R_32F, k, &zero, dC,
                         CUDA_R_32F, m, CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
    const auto bf16 = download(dC, static_cast<std::size_t>(m * n));
    for (int j = 0; j < n; ++j)
        for (int i = 0; i < m; ++i) {
            // A = 1 + a/3072 (a its index): TF32 keeps steps of 1/1024, bf16 steps of 1/128 (A becomes 1).
            double want_tf32 = 0, want_bf16 = 0;
            for (int l = 0; l < k; ++l) {
                const int a = i + l * m;
                want_tf32 += (1 + std::round(a / 3.0) / 1024) * B[l + j * k];
                want_bf16 += 1.0 * B[l + j * k];
            }
            CHECK(tf32[i + j * m] == static_cast<float>(want_tf32));
            CHECK(bf16[i + j * m] == static_cast<float>(want_bf16));
        }
    CHECK(tf32 != std::vector<float>(exact.begin(), exact.begin() + m * n));
    for (float* p : {dA, dB, dC, scalars}) CHECK(cudaFree(p) == cudaSuccess);
    CHECK(cublasDestroy(h) == CUBLAS_STATUS_SUCCESS);
}
