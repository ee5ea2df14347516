#pragma once
// The kernel launchers of the CUDA backend: declared here for host code compiled by any C++ compiler, defined in
// backend/cuda/kernels.cuh and instantiated in src/cuda/kernels.cu (library fgclep::cuda) for float and double
// and, for unary and unary_backward, for the functors of backend/functors.hpp. Another functor needs its own
// instantiation in a file that nvcc compiles:
//
//     #include "fgclep/backend/cuda/kernels.cuh"
//     template cudaError_t fgclep::cuda::launch::unary<float, MyFunctor>(cudaStream_t, MyFunctor, std::int64_t,
//                                                                      const float*, float*);
//
// Each launcher queues its kernels on `stream` (cudaLaunchKernel, through launch_kernel in kernels/common.cuh) and
// returns the launch's status; it allocates nothing (scratch buffers are the caller's) and launches nothing for
// empty work. Arguments mean what they mean for the primitive of the same name in fgclep::ops (backend/ops.hpp);
// the CUDA families (backend/cuda/*.hpp) check the returned status. The kernels also run on the CPU, for the tests,
// under the host emulation of CUDA in tests/cuda/emulation.
#include "fgclep/backend/functors.hpp"

#include <cuda_runtime_api.h>

#include <cstdint>

namespace fgclep::cuda::launch {

// Fills n elements of `element_size` bytes (1, 2, 4 or 8) with the low bytes of `pattern`.
cudaError_t fill_bytes(cudaStream_t stream, void* data, std::int64_t n, std::uint64_t pattern, int element_size);

// C = beta * C for `batch` (rows, cols) matrices with leading dimension ld, `stride` apart; beta = 0 writes
// zeros without reading C. The K = 0 case of a GEMM.
template <class T>
cudaError_t scale_matrices(cudaStream_t stream, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                           std::int64_t stride, std::int64_t batch, T beta, T* C);

// --- elementwise ---
template <class T, class F>
cudaError_t unary(cudaStream_t stream, F f, std::int64_t n, const T* x, T* y);
template <class T, class F>
cudaError_t unary_backward(cudaStream_t stream, F f, std::int64_t n, const T* x, const T* y, const T* dy, T* dx);
template <class T>
cudaError_t add(cudaStream_t stream, std::int64_t n, const T* a, const T* b, T* y);
template <class T>
cudaError_t axpy(cudaStream_t stream, std::int64_t n, T alpha, const T* x, T* y);
template <class T>
cudaError_t scale(cudaStream_t stream, std::int64_t n, T alpha, const T* x, T* y);
template <class T>
cudaError_t add_bias_rows(cudaStream_t stream, std::int64_t rows, std::int64_t cols, const T* bias, T* y);
template <class T>
cudaError_t add_bias_channels(cudaStream_t stream, std::int64_t N, std::int64_t C, std::int64_t L, const T* bias, T* y);
template <class T>
cudaError_t transpose_middle(cudaStream_t stream, const T* x, std::int64_t A, std::int64_t B, std::int64_t C,
                             std::int64_t D, T* y);
// threshold = float(p) and keep_scale = 1 / (1 - p) are computed by the caller exactly as the CPU does.
template <class T>
cudaError_t dropout(cudaStream_t stream, std::int64_t n, float threshold, T keep_scale, std::uint64_t seed,
                    std::uint64_t offset, const T* x, T* y);

// --- convolution ---
template <class T>
cudaError_t im2col_1d(cudaStream_t stream, const T* x, std::int64_t N, std::int64_t C, std::int64_t L, std::int64_t K,
                      std::int64_t stride, std::int64_t pad, std::int64_t dilation, std::int64_t Lout, T* col);
template <class T>
cudaError_t col2im_1d(cudaStream_t stream, const T* col, std::int64_t N, std::int64_t C, std::int64_t L, std::int64_t K,
                      std::int64_t stride, std::int64_t pad, std::int64_t dilation, std::int64_t Lout, T* dx);

// --- normalisation ---
template <class T>
cudaError_t batch_norm_forward_train(cudaStream_t stream, const T* x, std::int64_t N, std::int64_t C, std::int64_t L,
                                     const T* gamma, const T* beta, T eps, T momentum, T* y, T* save_mean,
                                     T* save_invstd, T* running_mean, T* running_var);
template <class T>
cudaError_t batch_norm_forward_eval(cudaStream_t stream, const T* x, std::int64_t N, std::int64_t C, std::int64_t L,
                                    const T* gamma, const T* beta, const T* running_mean, const T* running_var, T eps,
                                    T* y, T* save_mean, T* save_invstd);
template <class T>
cudaError_t batch_norm_backward(cudaStream_t stream, const T* dy, const T* x, std::int64_t N, std::int64_t C,
                                std::int64_t L, const T* gamma, const T* mean, const T* invstd, bool batch_statistics,
                                T* dx, T* dgamma, T* dbeta);
template <class T>
cudaError_t layer_norm_forward(cudaStream_t stream, const T* x, std::int64_t rows, std::int64_t D, const T* gamma,
                               const T* beta, T eps, T* y, T* save_mean, T* save_rstd);
// partials: 2 * chunks * D doubles, chunks = column_reduce_chunks(rows) (mapping.hpp); unused (may be null)
// when dgamma and dbeta are both null.
template <class T>
cudaError_t layer_norm_backward(cudaStream_t stream, const T* dy, const T* x, std::int64_t rows, std::int64_t D,
                                const T* gamma, const T* mean, const T* rstd, T* dx, T* dgamma, T* dbeta,
                                double* partials, std::int64_t chunks);

// --- attention ---
template <class T>
cudaError_t masked_softmax_forward(cudaStream_t stream, const T* x, std::int64_t batch, std::int64_t rows,
                                   std::int64_t cols, const std::int32_t* mask, T scale, T* y);
template <class T>
cudaError_t softmax_backward(cudaStream_t stream, const T* y, const T* dy, std::int64_t rows, std::int64_t cols,
                             T scale, T* dx);

// --- reductions ---
// partials: chunks * cols doubles, chunks = column_reduce_chunks(rows).
template <class T>
cudaError_t sum_rows(cudaStream_t stream, std::int64_t rows, std::int64_t cols, const T* x, T beta, T* out,
                     double* partials, std::int64_t chunks);
template <class T>
cudaError_t sum_channels(cudaStream_t stream, std::int64_t N, std::int64_t C, std::int64_t L, const T* x, T* out);
template <class T>
cudaError_t mean_last(cudaStream_t stream, std::int64_t rows, std::int64_t L, const T* x, T* out);
template <class T>
cudaError_t broadcast_last(cudaStream_t stream, std::int64_t rows, std::int64_t L, T alpha, const T* dy, T* dx);
template <class T>
cudaError_t max_pool_1d_forward(cudaStream_t stream, const T* x, std::int64_t rows, std::int64_t L, std::int64_t K,
                                std::int64_t stride, std::int64_t pad, std::int64_t Lout, T* y, std::int32_t* argmax);
template <class T>
cudaError_t max_pool_1d_backward(cudaStream_t stream, const T* dy, const std::int32_t* argmax, std::int64_t rows,
                                 std::int64_t L, std::int64_t Lout, T* dx);
// partials: `blocks` doubles, blocks = reduction_blocks(n); *result (device) receives the sum.
template <class T>
cudaError_t sum_squares(cudaStream_t stream, std::int64_t n, const T* x, double* partials, std::int64_t blocks,
                        double* result);

// --- embedding ---
// *bad_ids (device) must be zero on entry; it receives the number of ids outside [0, V).
template <class T>
cudaError_t embedding_gather(cudaStream_t stream, const T* table, std::int64_t V, std::int64_t D,
                             const std::int32_t* ids, std::int64_t n, T* out, unsigned long long* bad_ids);
template <class T>
cudaError_t embedding_scatter_add(cudaStream_t stream, const T* dout, const std::int32_t* ids, std::int64_t n,
                                  std::int64_t V, std::int64_t D, T* dtable);

// --- optimisation ---
template <class T>
cudaError_t adamw_update(cudaStream_t stream, std::int64_t n, fn::AdamWStep<T> step, T* p, const T* g, T* m, T* v);

}  // namespace fgclep::cuda::launch
