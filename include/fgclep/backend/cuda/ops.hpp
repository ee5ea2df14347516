#pragma once
// Every primitive of backend/ops.hpp but the GEMMs (cuda/blas.hpp) for Context<Cuda<T>>, with the CPU
// overloads' semantics (assign vs accumulate, null pointers for frozen parameters, zero rows for fully masked
// softmax rows, embedding_gather's bad-id count, sum_squares returning a host double). Host code: each call checks
// its arguments where the CPU would, queues kernels from the fgclep::cuda library (launch.hpp) on the context's
// stream and checks the launch. Only embedding_gather and sum_squares wait for the GPU (their results go to the
// host).
#include "fgclep/backend/cuda.hpp"
#include "fgclep/backend/cuda/launch.hpp"
#include "fgclep/backend/cuda/mapping.hpp"
#include "fgclep/backend/functors.hpp"
#include "fgclep/core/context.hpp"

#include <cstdint>
#include <memory>

namespace fgclep::cuda::detail {
// Temporary device memory for one primitive (partial sums, counters), from the caching allocator. Freed when the
// primitive returns, with its kernels possibly still queued: safe, see CachingAllocator.
template <class E>
std::shared_ptr<E[]> scratch(std::size_t n) {
    return Cuda<float>::template allocate<E>(n);
}
}  // namespace fgclep::cuda::detail

namespace fgclep::ops {

// --- elementwise ---

template <class T, class F>
void unary(Context<Cuda<T>>& ctx, F f, std::int64_t n, const T* x, T* y) {
    cuda::check_launch(cuda::launch::unary<T, F>(ctx.state.stream(), f, n, x, y), "unary");
}
template <class T, class F>
void unary_backward(Context<Cuda<T>>& ctx, F f, std::int64_t n, const T* x, const T* y, const T* dy, T* dx) {
    cuda::check_launch(cuda::launch::unary_backward<T, F>(ctx.state.stream(), f, n, x, y, dy, dx), "unary_backward");
}
template <class T>
void add(Context<Cuda<T>>& ctx, std::int64_t n, const T* a, const T* b, T* y) {
    cuda::check_launch(cuda::launch::add<T>(ctx.state.stream(), n, a, b, y), "add");
}
template <class T>
void axpy(Context<Cuda<T>>& ctx, std::int64_t n, T alpha, const T* x, T* y) {
    cuda::check_launch(cuda::launch::axpy<T>(ctx.state.stream(), n, alpha, x, y), "axpy");
}
template <class T>
void scale(Context<Cuda<T>>& ctx, std::int64_t n, T alpha, const T* x, T* y) {
    cuda::check_launch(cuda::launch::scale<T>(ctx.state.stream(), n, alpha, x, y), "scale");
}
template <class T>
void add_bias_rows(Context<Cuda<T>>& ctx, std::int64_t rows, std::int64_t cols, const T* bias, T* y) {
    cuda::check_launch(cuda::launch::add_bias_rows<T>(ctx.state.stream(), rows, cols, bias, y), "add_bias_rows");
}
template <class T>
void add_bias_channels(Context<Cuda<T>>& ctx, std::int64_t N, std::int64_t C, std::int64_t L, const T* bias, T* y) {
    cuda::check_launch(cuda::launch::add_bias_channels<T>(ctx.state.stream(), N, C, L, bias, y), "add_bias_channels");
}
template <class T>
void transpose_middle(Context<Cuda<T>>& ctx, const T* x, std::int64_t A, std::int64_t B, std::int64_t C,
                      std::int64_t D, T* y) {
    cuda::check_launch(cuda::launch::transpose_middle<T>(ctx.state.stream(), x, A, B, C, D, y), "transpose_middle");
}
// The same mask as the CPU: element i keeps when Philox(seed, offset + i) >= float(p).
template <class T>
void dropout(Context<Cuda<T>>& ctx, std::int64_t n, T p, std::uint64_t seed, std::uint64_t offset, const T* x, T* y) {
    const T keep_scale = T(1) / (T(1) - p);
    cuda::check_launch(cuda::launch::dropout<T>(ctx.state.stream(), n, static_cast<float>(p), keep_scale, seed, offset,
                                                x, y),
                       "dropout");
}

// --- convolution ---

template <class T>
void im2col_1d(Context<Cuda<T>>& ctx, const T* x, std::int64_t N, std::int64_t C, std::int64_t L, std::int64_t K,
               std::int64_t stride, std::int64_t pad, std::int64_t dilation, std::int64_t Lout, T* col) {
    cuda::check_launch(cuda::launch::im2col_1d<T>(ctx.state.stream(), x, N, C, L, K, stride, pad, dilation, Lout, col),
                       "im2col_1d");
}
template <class T>
void col2im_1d(Context<Cuda<T>>& ctx, const T* col, std::int64_t N, std::int64_t C, std::int64_t L, std::int64_t K,
               std::int64_t stride, std::int64_t pad, std::int64_t dilation, std::int64_t Lout, T* dx) {
    cuda::check_launch(cuda::launch::col2im_1d<T>(ctx.state.stream(), col, N, C, L, K, stride, pad, dilation, Lout, dx),
                       "col2im_1d");
}

// --- normalisation ---

template <class T>
void batch_norm_forward_train(Context<Cuda<T>>& ctx, const T* x, std::int64_t N, std::int64_t C, std::int64_t L,
                              const T* gamma, const T* beta, T eps, T momentum, T* y, T* save_mean, T* save_invstd,
                              T* running_mean, T* running_var) {
    cuda::check_launch(cuda::launch::batch_norm_forward_train<T>(ctx.state.stream(), x, N, C, L, gamma, beta, eps,
                                                                 momentum, y, save_mean, save_invstd, running_mean,
                                                                 running_var),
                       "batch_norm_forward_train");
}
template <class T>
void batch_norm_forward_eval(Context<Cuda<T>>& ctx, const T* x, std::int64_t N, std::int64_t C, std::int64_t L,
                             const T* gamma, const T* beta, const T* running_mean, const T* running_var, T eps, T* y,
                             T* save_mean, T* save_invstd) {
    cuda::check_launch(cuda::launch::batch_norm_forward_eval<T>(ctx.state.stream(), x, N, C, L, gamma, beta,
                                                                running_mean, running_var, eps, y, save_mean,
                                                                save_invstd),
                       "batch_norm_forward_eval");
}
template <class T>
void batch_norm_backward(Context<Cuda<T>>& ctx, const T* dy, const T* x, std::int64_t N, std::int64_t C,
                         std::int64_t L, const T* gamma, const T* mean, const T* invstd, bool batch_statistics, T* dx,
                         T* dgamma, T* dbeta) {
    cuda::check_launch(cuda::launch::batch_norm_backward<T>(ctx.state.stream(), dy, x, N, C, L, gamma, mean, invstd,
                                                            batch_statistics, dx, dgamma, dbeta),
                       "batch_norm_backward");
}
template <class T>
void layer_norm_forward(Context<Cuda<T>>& ctx, const T* x, std::int64_t rows, std::int64_t D, const T* gamma,
                        const T* beta, T eps, T* y, T* save_mean, T* save_rstd) {
    cuda::check_launch(cuda::launch::layer_norm_forward<T>(ctx.state.stream(), x, rows, D, gamma, beta, eps, y,
                                                           save_mean, save_rstd),
                       "layer_norm_forward");
}
template <class T>
void layer_norm_backward(Context<Cuda<T>>& ctx, const T* dy, const T* x, std::int64_t rows, std::int64_t D,
                         const T* gamma, const T* mean, const T* rstd, T* dx, T* dgamma, T* dbeta) {
    const std::int64_t chunks = cuda::column_reduce_chunks(rows);
    std::shared_ptr<double[]> partials;
    if ((dgamma || dbeta) && D > 0) partials = cuda::detail::scratch<double>(static_cast<std::size_t>(2 * chunks * D));
    cuda::check_launch(cuda::launch::layer_norm_backward<T>(ctx.state.stream(), dy, x, rows, D, gamma, mean, rstd, dx,
                                                            dgamma, dbeta, partials.get(), chunks),
                       "layer_norm_backward");
}

// --- attention ---

template <class T>
void masked_softmax_forward(Context<Cuda<T>>& ctx, const T* x, std::int64_t batch, std::int64_t rows,
                            std::int64_t cols, const std::int32_t* mask, T scale, T* y) {
    cuda::check_launch(
        cuda::launch::masked_softmax_forward<T>(ctx.state.stream(), x, batch, rows, cols, mask, scale, y),
        "masked_softmax_forward");
}
template <class T>
void softmax_backward(Context<Cuda<T>>& ctx, const T* y, const T* dy, std::int64_t rows, std::int64_t cols, T scale,
                      T* dx) {
    cuda::check_launch(cuda::launch::softmax_backward<T>(ctx.state.stream(), y, dy, rows, cols, scale, dx),
                       "softmax_backward");
}

// --- reductions ---

template <class T>
void sum_rows(Context<Cuda<T>>& ctx, std::int64_t rows, std::int64_t cols, const T* x, T beta, T* out) {
    if (cols <= 0) return;
    const std::int64_t chunks = cuda::column_reduce_chunks(rows);
    const auto partials = cuda::detail::scratch<double>(static_cast<std::size_t>(chunks * cols));
    cuda::check_launch(cuda::launch::sum_rows<T>(ctx.state.stream(), rows, cols, x, beta, out, partials.get(), chunks),
                       "sum_rows");
}
template <class T>
void sum_channels(Context<Cuda<T>>& ctx, std::int64_t N, std::int64_t C, std::int64_t L, const T* x, T* out) {
    cuda::check_launch(cuda::launch::sum_channels<T>(ctx.state.stream(), N, C, L, x, out), "sum_channels");
}
template <class T>
void mean_last(Context<Cuda<T>>& ctx, std::int64_t rows, std::int64_t L, const T* x, T* out) {
    cuda::check_launch(cuda::launch::mean_last<T>(ctx.state.stream(), rows, L, x, out), "mean_last");
}
template <class T>
void broadcast_last(Context<Cuda<T>>& ctx, std::int64_t rows, std::int64_t L, T alpha, const T* dy, T* dx) {
    cuda::check_launch(cuda::launch::broadcast_last<T>(ctx.state.stream(), rows, L, alpha, dy, dx), "broadcast_last");
}
template <class T>
void max_pool_1d_forward(Context<Cuda<T>>& ctx, const T* x, std::int64_t rows, std::int64_t L, std::int64_t K,
                         std::int64_t stride, std::int64_t pad, std::int64_t Lout, T* y, std::int32_t* argmax) {
    cuda::check_launch(cuda::launch::max_pool_1d_forward<T>(ctx.state.stream(), x, rows, L, K, stride, pad, Lout, y,
                                                            argmax),
                       "max_pool_1d_forward");
}
template <class T>
void max_pool_1d_backward(Context<Cuda<T>>& ctx, const T* dy, const std::int32_t* argmax, std::int64_t rows,
                          std::int64_t L, std::int64_t Lout, T* dx) {
    cuda::check_launch(cuda::launch::max_pool_1d_backward<T>(ctx.state.stream(), dy, argmax, rows, L, Lout, dx),
                       "max_pool_1d_backward");
}
// The sum of squares of x, in double, on the host: waits for the GPU.
template <class T>
double sum_squares(Context<Cuda<T>>& ctx, std::int64_t n, const T* x) {
    if (n <= 0) return 0.0;
    const std::int64_t blocks = cuda::reduction_blocks(n);
    const auto partials = cuda::detail::scratch<double>(static_cast<std::size_t>(blocks + 1));
    double* result = partials.get() + blocks;
    cuda::check_launch(cuda::launch::sum_squares<T>(ctx.state.stream(), n, x, partials.get(), blocks, result),
                       "sum_squares");
    double total = 0;
    Cuda<T>::download(ctx.state, &total, result, 1);
    return total;
}

// --- embedding ---

// Waits for the GPU to return the number of ids outside [0, V) (their rows are zero), as the CPU does.
template <class T>
std::int64_t embedding_gather(Context<Cuda<T>>& ctx, const T* table, std::int64_t V, std::int64_t D,
                              const std::int32_t* ids, std::int64_t n, T* out) {
    if (n <= 0) return 0;
    const auto counter = cuda::detail::scratch<unsigned long long>(1);
    FGCLEP_CUDA_CHECK(cudaMemsetAsync(counter.get(), 0, sizeof(unsigned long long), ctx.state.stream()));
    cuda::check_launch(cuda::launch::embedding_gather<T>(ctx.state.stream(), table, V, D, ids, n, out, counter.get()),
                       "embedding_gather");
    unsigned long long bad = 0;
    Cuda<T>::download(ctx.state, &bad, counter.get(), 1);
    return static_cast<std::int64_t>(bad);
}
template <class T>
void embedding_scatter_add(Context<Cuda<T>>& ctx, const T* dout, const std::int32_t* ids, std::int64_t n,
                           std::int64_t V, std::int64_t D, T* dtable) {
    cuda::check_launch(cuda::launch::embedding_scatter_add<T>(ctx.state.stream(), dout, ids, n, V, D, dtable),
                       "embedding_scatter_add");
}

// --- optimisation ---

template <class T>
void adamw_update(Context<Cuda<T>>& ctx, std::int64_t n, const fn::AdamWStep<T>& step, T* p, const T* g, T* m, T* v) {
    cuda::check_launch(cuda::launch::adamw_update<T>(ctx.state.stream(), n, step, p, g, m, v), "adamw_update");
}

}  // namespace fgclep::ops
