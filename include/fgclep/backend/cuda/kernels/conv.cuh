#pragma once
// The CUDA kernels and launchers of convolution (im2col_1d, col2im_1d) (declared in launch.hpp; semantics of backend/cpu/conv.hpp).
// nvcc only: src/cuda/kernels.cu includes every family.
#include "fgclep/backend/cuda/kernels/common.cuh"

namespace fgclep::cuda::kernels {

// col (N, C*K, Lout): one thread per col element.
template <class T>
__global__ void im2col_1d(const T* x, std::int64_t L, std::int64_t K, std::int64_t stride, std::int64_t pad,
                          std::int64_t dilation, std::int64_t Lout, std::int64_t total, T* col) {
    FGCLEP_GRID_STRIDE(j, total) {
        const std::int64_t o = j % Lout, nck = j / Lout;  // nck = (n * C + c) * K + k
        const std::int64_t k = nck % K, nc = nck / K;
        const std::int64_t i = o * stride - pad + k * dilation;
        col[j] = (i >= 0 && i < L) ? x[nc * L + i] : T(0);
    }
}
// dx (N, C, L) as a gather, one thread per dx element: position i received col[nc][k][o] for every k with
// o * stride = i + pad - k * dilation, 0 <= o < Lout. Summed in increasing k from zero, the CPU's order.
template <class T>
__global__ void col2im_1d(const T* col, std::int64_t L, std::int64_t K, std::int64_t stride, std::int64_t pad,
                          std::int64_t dilation, std::int64_t Lout, std::int64_t total, T* dx) {
    FGCLEP_GRID_STRIDE(j, total) {
        const std::int64_t i = j % L, nc = j / L;
        T acc = T(0);
        for (std::int64_t k = 0; k < K; ++k) {
            const std::int64_t t = i + pad - k * dilation;
            if (t < 0) break;  // t only decreases with k
            if (t % stride != 0) continue;
            const std::int64_t o = t / stride;
            if (o < Lout) acc += col[(nc * K + k) * Lout + o];
        }
        dx[j] = acc;
    }
}

}  // namespace fgclep::cuda::kernels

namespace fgclep::cuda::launch {

template <class T>
cudaError_t im2col_1d(cudaStream_t stream, const T* x, std::int64_t N, std::int64_t C, std::int64_t L, std::int64_t K,
                      std::int64_t stride, std::int64_t pad, std::int64_t dilation, std::int64_t Lout, T* col) {
    const std::int64_t total = N * C * K * Lout;
    return launch_kernel(kernels::im2col_1d<T>, elementwise_launch(total), stream, x, L, K, stride, pad, dilation, Lout,
                         total, col);
}
template <class T>
cudaError_t col2im_1d(cudaStream_t stream, const T* col, std::int64_t N, std::int64_t C, std::int64_t L, std::int64_t K,
                      std::int64_t stride, std::int64_t pad, std::int64_t dilation, std::int64_t Lout, T* dx) {
    const std::int64_t total = N * C * L;
    return launch_kernel(kernels::col2im_1d<T>, elementwise_launch(total), stream, col, L, K, stride, pad, dilation,
                         Lout, total, dx);
}

}  // namespace fgclep::cuda::launch
