#pragma once
// The CUDA kernels and launchers of elementwise (declared in launch.hpp; semantics of backend/cpu/elementwise.hpp).
// nvcc only: src/cuda/kernels.cu includes every family.
#include "fgclep/backend/cuda/kernels/common.cuh"

namespace fgclep::cuda::kernels {

template <class T, class F>
__global__ void unary(F f, std::int64_t n, const T* x, T* y) {
    FGCLEP_GRID_STRIDE(i, n) y[i] = f(x[i]);
}
template <class T, class F>
__global__ void unary_backward(F f, std::int64_t n, const T* x, const T* y, const T* dy, T* dx) {
    FGCLEP_GRID_STRIDE(i, n) dx[i] = dy[i] * f.derivative(x[i], y[i]);
}
template <class T>
__global__ void add(std::int64_t n, const T* a, const T* b, T* y) {
    FGCLEP_GRID_STRIDE(i, n) y[i] = a[i] + b[i];
}
template <class T>
__global__ void axpy(std::int64_t n, T alpha, const T* x, T* y) {
    FGCLEP_GRID_STRIDE(i, n) y[i] += alpha * x[i];
}
template <class T>
__global__ void scale(std::int64_t n, T alpha, const T* x, T* y) {
    FGCLEP_GRID_STRIDE(i, n) y[i] = alpha * x[i];
}
template <class T>
__global__ void add_bias_rows(std::int64_t total, std::int64_t cols, const T* bias, T* y) {
    FGCLEP_GRID_STRIDE(i, total) y[i] += bias[i % cols];
}
template <class T>
__global__ void add_bias_channels(std::int64_t total, std::int64_t C, std::int64_t L, const T* bias, T* y) {
    FGCLEP_GRID_STRIDE(i, total) y[i] += bias[(i / L) % C];
}
// y (A, C, B, D) = x (A, B, C, D), one thread per output element.
template <class T>
__global__ void transpose_middle(const T* x, std::int64_t B, std::int64_t C, std::int64_t D, std::int64_t total, T* y) {
    FGCLEP_GRID_STRIDE(j, total) {
        const std::int64_t d = j % D, acb = j / D;  // acb = (a * C + c) * B + b
        const std::int64_t b = acb % B, ac = acb / B;
        const std::int64_t c = ac % C, a = ac / C;
        y[j] = x[((a * B + b) * C + c) * D + d];
    }
}
template <class T>
__global__ void dropout(std::int64_t n, float threshold, T keep_scale, std::uint64_t seed, std::uint64_t offset,
                        const T* x, T* y) {
    FGCLEP_GRID_STRIDE(i, n) {
        y[i] = Philox::uniform(seed, offset + static_cast<std::uint64_t>(i)) >= threshold ? x[i] * keep_scale : T(0);
    }
}

}  // namespace fgclep::cuda::kernels

namespace fgclep::cuda::launch {

template <class T, class F>
cudaError_t unary(cudaStream_t stream, F f, std::int64_t n, const T* x, T* y) {
    return launch_kernel(kernels::unary<T, F>, elementwise_launch(n), stream, f, n, x, y);
}
template <class T, class F>
cudaError_t unary_backward(cudaStream_t stream, F f, std::int64_t n, const T* x, const T* y, const T* dy, T* dx) {
    return launch_kernel(kernels::unary_backward<T, F>, elementwise_launch(n), stream, f, n, x, y, dy, dx);
}
template <class T>
cudaError_t add(cudaStream_t stream, std::int64_t n, const T* a, const T* b, T* y) {
    return launch_kernel(kernels::add<T>, elementwise_launch(n), stream, n, a, b, y);
}
template <class T>
cudaError_t axpy(cudaStream_t stream, std::int64_t n, T alpha, const T* x, T* y) {
    return launch_kernel(kernels::axpy<T>, elementwise_launch(n), stream, n, alpha, x, y);
}
template <class T>
cudaError_t scale(cudaStream_t stream, std::int64_t n, T alpha, const T* x, T* y) {
    return launch_kernel(kernels::scale<T>, elementwise_launch(n), stream, n, alpha, x, y);
}
template <class T>
cudaError_t add_bias_rows(cudaStream_t stream, std::int64_t rows, std::int64_t cols, const T* bias, T* y) {
    const std::int64_t total = rows * cols;
    return launch_kernel(kernels::add_bias_rows<T>, elementwise_launch(total), stream, total, cols, bias, y);
}
template <class T>
cudaError_t add_bias_channels(cudaStream_t stream, std::int64_t N, std::int64_t C, std::int64_t L, const T* bias,
                              T* y) {
    const std::int64_t total = N * C * L;
    return launch_kernel(kernels::add_bias_channels<T>, elementwise_launch(total), stream, total, C, L, bias, y);
}
template <class T>
cudaError_t transpose_middle(cudaStream_t stream, const T* x, std::int64_t A, std::int64_t B, std::int64_t C,
                             std::int64_t D, T* y) {
    const std::int64_t total = A * B * C * D;
    return launch_kernel(kernels::transpose_middle<T>, elementwise_launch(total), stream, x, B, C, D, total, y);
}
template <class T>
cudaError_t dropout(cudaStream_t stream, std::int64_t n, float threshold, T keep_scale, std::uint64_t seed,
                    std::uint64_t offset, const T* x, T* y) {
    return launch_kernel(kernels::dropout<T>, elementwise_launch(n), stream, n, threshold, keep_scale, seed, offset, x,
                         y);
}

}  // namespace fgclep::cuda::launch
