#pragma once
// The backend primitive vocabulary. Layers are written against these free functions only; a backend provides
// an overload of each for Context<Backend>. The CPU overloads are included here, the CUDA ones (backend/cuda/) too
// when FGCLEP_WITH_CUDA is defined.
//
//   linear algebra  gemm, gemm_strided_batched                                  (cpu/blas.hpp)
//   convolution     im2col_1d, col2im_1d                                         (cpu/conv.hpp)
//   normalisation   batch_norm_forward_train, batch_norm_forward_eval,
//                   batch_norm_backward, layer_norm_forward, layer_norm_backward (cpu/norm.hpp)
//   attention       masked_softmax_forward, softmax_backward, transpose_middle   (cpu/softmax.hpp, elementwise)
//   elementwise     unary, unary_backward, add, axpy, scale, add_bias_rows,
//                   add_bias_channels, dropout                                   (cpu/elementwise.hpp)
//   reductions      sum_rows, sum_channels, mean_last, broadcast_last,
//                   max_pool_1d_forward, max_pool_1d_backward, sum_squares       (cpu/reduce.hpp)
//   embedding       embedding_gather, embedding_scatter_add                      (cpu/embedding.hpp)
//   optimisation    adamw_update                                                 (cpu/optim.hpp)
// Memory (allocate, fill, copy, upload, download) belongs to the backend type itself (core/backend.hpp).
//
// Conventions: raw pointers and sizes, row-major; the context comes first; outputs are assigned unless the
// documentation says accumulate; nothing allocates except where stated.
#include "fgclep/backend/cpu/blas.hpp"
#include "fgclep/backend/cpu/conv.hpp"
#include "fgclep/backend/cpu/elementwise.hpp"
#include "fgclep/backend/cpu/embedding.hpp"
#include "fgclep/backend/cpu/norm.hpp"
#include "fgclep/backend/cpu/optim.hpp"
#include "fgclep/backend/cpu/reduce.hpp"
#include "fgclep/backend/cpu/softmax.hpp"

// The CUDA overloads, for programs linked with fgclep::cuda (which defines FGCLEP_WITH_CUDA). They must be
// declared here, before any layer: layers call ops:: by qualified name, which binds at the template's definition.
#if defined(FGCLEP_WITH_CUDA)
#include "fgclep/backend/cuda/blas.hpp"
#include "fgclep/backend/cuda/ops.hpp"
#endif
