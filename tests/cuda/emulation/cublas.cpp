// cuBLAS on the host (tests only): include/fgclep_emulation/cublas.hpp says what each routine does.
#include "fgclep_emulation/cublas.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

struct cublasContext {
    cudaStream_t stream = nullptr;
    cublasMath_t math = CUBLAS_DEFAULT_MATH;
    cublasPointerMode_t pointer_mode = CUBLAS_POINTER_MODE_HOST;
};

namespace {

enum class Inputs { exact, tf32, bf16, fp16 };

// Rounds a float to nearest-even keeping `mantissa` bits (TF32: 10, bf16: 7); NaN and infinities stay.
float round_mantissa(float x, int mantissa) {
    if (!std::isfinite(x)) return x;
    std::uint32_t u;
    std::memcpy(&u, &x, 4);
    const int drop = 23 - mantissa;
    const std::uint32_t lsb = (u >> drop) & 1u;
    u += ((1u << (drop - 1)) - 1) + lsb;
    u &= ~((1u << drop) - 1);
    std::memcpy(&x, &u, 4);
    return x;
}
float round_input(float x, Inputs inputs) {
    switch (inputs) {
        case Inputs::tf32:
            return round_mantissa(x, 10);
        case Inputs::bf16:
            return round_mantissa(x, 7);
        case Inputs::fp16:
            return static_cast<float>(static_cast<_Float16>(x));
        default:
            return x;
    }
}
double round_input(double x, Inputs) { return x; }

bool valid_op(cublasOperation_t op) { return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C; }

// The number of elements from the first to one past the last that a column-major (rows x cols, ld) operand and
// its batch touch.
std::size_t extent(long long rows, long long cols, long long ld, long long stride, long long batch) {
    if (rows == 0 || cols == 0 || batch == 0) return 0;
    return static_cast<std::size_t>((cols - 1) * ld + rows + (batch - 1) * (stride > 0 ? stride : 0));
}

template <class T>
cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
                    const T* alpha_p, const T* A, int lda, long long sa, const T* B, int ldb, long long sb,
                    const T* beta_p, T* C, int ldc, long long sc, int batch, Inputs inputs, const char* name) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    const bool ta = transa != CUBLAS_OP_N, tb = transb != CUBLAS_OP_N;
    const long long a_rows = ta ? k : m, b_rows = tb ? n : k;
    if (!valid_op(transa) || !valid_op(transb) || m < 0 || n < 0 || k < 0 || batch < 0 || lda < std::max(1LL, a_rows) ||
        ldb < std::max(1LL, b_rows) || ldc < std::max(1, m) || !alpha_p || !beta_p)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
    const bool device_scalars = h->pointer_mode == CUBLAS_POINTER_MODE_DEVICE;
    const T host_alpha = device_scalars ? T(0) : *alpha_p, host_beta = device_scalars ? T(0) : *beta_p;
    const std::string what = name;
    auto work = [=] {
        auto inside = [&](const void* p, std::size_t elements, const char* operand) {
            if (elements > 0 && !fgclep_emulation::is_device_range(p, elements * sizeof(T)))
                throw std::runtime_error(what + ": operand " + operand + " (" + std::to_string(elements) +
                                         " elements from its first to its last) is not inside device memory");
        };
        if (device_scalars) {
            inside(alpha_p, 1, "alpha");
            inside(beta_p, 1, "beta");
        }
        const T alpha = device_scalars ? *alpha_p : host_alpha, beta = device_scalars ? *beta_p : host_beta;
        if (k > 0) {
            inside(A, extent(a_rows, ta ? m : k, lda, sa, batch), "A");
            inside(B, extent(b_rows, tb ? k : n, ldb, sb, batch), "B");
        }
        inside(C, extent(m, n, ldc, sc, batch), "C");
        for (long long p = 0; p < batch; ++p) {
            const T* a = A + p * sa;
            const T* b = B + p * sb;
            T* c = C + p * sc;
            for (long long j = 0; j < n; ++j)
                for (long long i = 0; i < m; ++i) {
                    double sum = 0;
                    for (long long l = 0; l < k; ++l) {
                        const T x = ta ? a[l + i * lda] : a[i + l * lda];
                        const T y = tb ? b[j + l * ldb] : b[l + j * ldb];
                        sum +=
                            static_cast<double>(round_input(x, inputs)) * static_cast<double>(round_input(y, inputs));
                    }
                    T& out = c[i + j * ldc];
                    const double scaled = static_cast<double>(alpha) * sum;
                    out = static_cast<T>(beta == T(0) ? scaled : scaled + static_cast<double>(beta) * out);
                }
        }
    };
    if (fgclep_emulation::enqueue(h->stream, work, cudaErrorIllegalAddress) != cudaSuccess)
        return CUBLAS_STATUS_EXECUTION_FAILED;
    return CUBLAS_STATUS_SUCCESS;
}

Inputs float_inputs(cublasHandle_t h) {
    return h && (h->math & 0xf) == CUBLAS_TF32_TENSOR_OP_MATH ? Inputs::tf32 : Inputs::exact;
}

// The inputs of a GemmEx, or false when the types and compute type are not a combination emulated here.
bool ex_inputs(cublasHandle_t h, cudaDataType a, cudaDataType b, cudaDataType c, cublasComputeType_t compute,
               Inputs* inputs, bool* is_double) {
    if (a == CUDA_R_64F && b == CUDA_R_64F && c == CUDA_R_64F &&
        (compute == CUBLAS_COMPUTE_64F || compute == CUBLAS_COMPUTE_64F_PEDANTIC)) {
        *is_double = true;
        *inputs = Inputs::exact;
        return true;
    }
    if (a != CUDA_R_32F || b != CUDA_R_32F || c != CUDA_R_32F) return false;
    *is_double = false;
    switch (compute) {
        case CUBLAS_COMPUTE_32F:
            *inputs = float_inputs(h);
            return true;
        case CUBLAS_COMPUTE_32F_PEDANTIC:
            *inputs = Inputs::exact;
            return true;
        case CUBLAS_COMPUTE_32F_FAST_TF32:
            *inputs = Inputs::tf32;
            return true;
        case CUBLAS_COMPUTE_32F_FAST_16BF:
            *inputs = Inputs::bf16;
            return true;
        case CUBLAS_COMPUTE_32F_FAST_16F:
            *inputs = Inputs::fp16;
            return true;
        default:
            return false;
    }
}

}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
    if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        (void)cudaGetLastError();
        return CUBLAS_STATUS_NOT_INITIALIZED;
    }
    *handle = new cublasContext{};
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    (void)cudaStreamSynchronize(handle->stream);  // queued GEMMs still read the handle's settings by value
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetStream(cublasHandle_t handle, cudaStream_t* stream) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!stream) return CUBLAS_STATUS_INVALID_VALUE;
    *stream = handle->stream;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    const int base = mode & 0xf, flags = mode & ~0xf;
    if (base > CUBLAS_TF32_TENSOR_OP_MATH || (flags & ~CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION) != 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    handle->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetMathMode(cublasHandle_t handle, cublasMath_t* mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!mode) return CUBLAS_STATUS_INVALID_VALUE;
    *mode = handle->math;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetPointerMode(cublasHandle_t handle, cublasPointerMode_t mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (mode != CUBLAS_POINTER_MODE_HOST && mode != CUBLAS_POINTER_MODE_DEVICE) return CUBLAS_STATUS_INVALID_VALUE;
    handle->pointer_mode = mode;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetPointerMode(cublasHandle_t handle, cublasPointerMode_t* mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!mode) return CUBLAS_STATUS_INVALID_VALUE;
    *mode = handle->pointer_mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float* alpha, const float* A, int lda, const float* B, int ldb, const float* beta,
                           float* C, int ldc) {
    return gemm(h, ta, tb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1, float_inputs(h), "cublasSgemm");
}
cublasStatus_t cublasDgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const double* alpha, const double* A, int lda, const double* B, int ldb, const double* beta,
                           double* C, int ldc) {
    return gemm(h, ta, tb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1, Inputs::exact, "cublasDgemm");
}
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float* alpha, const float* A, int lda, long long sa,
                                         const float* B, int ldb, long long sb, const float* beta, float* C, int ldc,
                                         long long sc, int batch) {
    return gemm(h, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch, float_inputs(h),
                "cublasSgemmStridedBatched");
}
cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const double* alpha, const double* A, int lda, long long sa,
                                         const double* B, int ldb, long long sb, const double* beta, double* C, int ldc,
                                         long long sc, int batch) {
    return gemm(h, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch, Inputs::exact,
                "cublasDgemmStridedBatched");
}
cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                          int k, const void* alpha, const void* A, cudaDataType a_type, int lda,
                                          long long sa, const void* B, cudaDataType b_type, int ldb, long long sb,
                                          const void* beta, void* C, cudaDataType c_type, int ldc, long long sc,
                                          int batch, cublasComputeType_t compute, cublasGemmAlgo_t) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    Inputs inputs;
    bool is_double;
    if (!ex_inputs(h, a_type, b_type, c_type, compute, &inputs, &is_double)) return CUBLAS_STATUS_NOT_SUPPORTED;
    const char* name = batch == 1 ? "cublasGemmEx" : "cublasGemmStridedBatchedEx";
    if (is_double)
        return gemm(h, ta, tb, m, n, k, static_cast<const double*>(alpha), static_cast<const double*>(A), lda, sa,
                    static_cast<const double*>(B), ldb, sb, static_cast<const double*>(beta), static_cast<double*>(C),
                    ldc, sc, batch, inputs, name);
    return gemm(h, ta, tb, m, n, k, static_cast<const float*>(alpha), static_cast<const float*>(A), lda, sa,
                static_cast<const float*>(B), ldb, sb, static_cast<const float*>(beta), static_cast<float*>(C), ldc, sc,
                batch, inputs, name);
}
cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void* alpha, const void* A, cudaDataType a_type, int lda, const void* B,
                            cudaDataType b_type, int ldb, const void* beta, void* C, cudaDataType c_type, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t algo) {
    return cublasGemmStridedBatchedEx(h, ta, tb, m, n, k, alpha, A, a_type, lda, 0, B, b_type, ldb, 0, beta, C, c_type,
                                      ldc, 0, 1, compute, algo);
}
