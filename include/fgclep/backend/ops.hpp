#pragma once
// The backend primitive vocabulary. Layers are written against these functions only: ops::gemm(ctx, ...) and the
// rest. Each forwards to Primitives<B>, the backend's class of static functions, chosen by the context's backend
// type when the layer is instantiated. So what a layer calls depends on its backend type alone, not on which
// headers came first: a backend's primitives may be included after the layers (backend/cuda.hpp for Cuda<T>) or
// not at all by a program that never instantiates that backend. No macro decides it.
//
//   Primitives<Cpu<T>>   backend/cpu/primitives.hpp (always included here), one base per family of backend/cpu/
//   Primitives<Cuda<T>>  backend/cuda/primitives.hpp (included by backend/cuda.hpp), the families of backend/cuda/
//
//   family          primitives                                                  CPU file
//   linear algebra  gemm, gemm_strided_batched                                  cpu/blas.hpp
//   convolution     im2col_1d, col2im_1d                                         cpu/conv.hpp
//   normalisation   batch_norm_forward_train, batch_norm_forward_eval,
//                   batch_norm_backward, layer_norm_forward, layer_norm_backward cpu/norm.hpp
//   attention       masked_softmax_forward, softmax_backward                     cpu/softmax.hpp
//   elementwise     unary, unary_backward, add, axpy, scale, add_bias_rows,
//                   add_bias_channels, transpose_middle, dropout                 cpu/elementwise.hpp
//   reductions      sum_rows, sum_channels, mean_last, broadcast_last,
//                   max_pool_1d_forward, max_pool_1d_backward, sum_squares       cpu/reduce.hpp
//   embedding       embedding_gather, embedding_scatter_add                      cpu/embedding.hpp
//   optimisation    adamw_update                                                 cpu/optim.hpp
// Each primitive's signature and meaning is written once, in its CPU family (the reference the CUDA families
// match); docs/backend-primitives.md lists them. Memory (allocate, fill, copy, upload, download) belongs to the
// backend type itself (core/backend.hpp).
//
// Conventions: raw pointers and sizes, row-major; the context comes first; outputs are assigned unless the
// documentation says accumulate; nothing allocates except where stated.
#include "fgclep/backend/cpu/primitives.hpp"
#include "fgclep/core/backend.hpp"
#include "fgclep/core/context.hpp"

#include <utility>

namespace fgclep::ops {

#define FGCLEP_PRIMITIVE_FORWARDER_(name)                             \
    template <Backend B, class... Args>                               \
    decltype(auto) name(Context<B>& ctx, Args&&... args) {            \
        return Primitives<B>::name(ctx, std::forward<Args>(args)...); \
    }

// One forwarder per primitive: the name is all that is repeated here (a macro local to this header, undefined at
// its end). Overload resolution, argument checks and conversions happen in the backend's family.
FGCLEP_PRIMITIVE_FORWARDER_(gemm)
FGCLEP_PRIMITIVE_FORWARDER_(gemm_strided_batched)
FGCLEP_PRIMITIVE_FORWARDER_(im2col_1d)
FGCLEP_PRIMITIVE_FORWARDER_(col2im_1d)
FGCLEP_PRIMITIVE_FORWARDER_(batch_norm_forward_train)
FGCLEP_PRIMITIVE_FORWARDER_(batch_norm_forward_eval)
FGCLEP_PRIMITIVE_FORWARDER_(batch_norm_backward)
FGCLEP_PRIMITIVE_FORWARDER_(layer_norm_forward)
FGCLEP_PRIMITIVE_FORWARDER_(layer_norm_backward)
FGCLEP_PRIMITIVE_FORWARDER_(masked_softmax_forward)
FGCLEP_PRIMITIVE_FORWARDER_(softmax_backward)
FGCLEP_PRIMITIVE_FORWARDER_(unary)
FGCLEP_PRIMITIVE_FORWARDER_(unary_backward)
FGCLEP_PRIMITIVE_FORWARDER_(add)
FGCLEP_PRIMITIVE_FORWARDER_(axpy)
FGCLEP_PRIMITIVE_FORWARDER_(scale)
FGCLEP_PRIMITIVE_FORWARDER_(add_bias_rows)
FGCLEP_PRIMITIVE_FORWARDER_(add_bias_channels)
FGCLEP_PRIMITIVE_FORWARDER_(transpose_middle)
FGCLEP_PRIMITIVE_FORWARDER_(dropout)
FGCLEP_PRIMITIVE_FORWARDER_(sum_rows)
FGCLEP_PRIMITIVE_FORWARDER_(sum_channels)
FGCLEP_PRIMITIVE_FORWARDER_(mean_last)
FGCLEP_PRIMITIVE_FORWARDER_(broadcast_last)
FGCLEP_PRIMITIVE_FORWARDER_(max_pool_1d_forward)
FGCLEP_PRIMITIVE_FORWARDER_(max_pool_1d_backward)
FGCLEP_PRIMITIVE_FORWARDER_(sum_squares)
FGCLEP_PRIMITIVE_FORWARDER_(embedding_gather)
FGCLEP_PRIMITIVE_FORWARDER_(embedding_scatter_add)
FGCLEP_PRIMITIVE_FORWARDER_(adamw_update)

#undef FGCLEP_PRIMITIVE_FORWARDER_

}  // namespace fgclep::ops
