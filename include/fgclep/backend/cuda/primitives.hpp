#pragma once
// Primitives<Cuda<T>>: the CUDA backend's compute primitives, one base class per family (backend/cuda/*.hpp, as
// backend/cpu/), for the vocabulary of backend/ops.hpp.
#include "fgclep/backend/cuda/blas.hpp"
#include "fgclep/backend/cuda/conv.hpp"
#include "fgclep/backend/cuda/device.hpp"
#include "fgclep/backend/cuda/elementwise.hpp"
#include "fgclep/backend/cuda/embedding.hpp"
#include "fgclep/backend/cuda/norm.hpp"
#include "fgclep/backend/cuda/optim.hpp"
#include "fgclep/backend/cuda/reduce.hpp"
#include "fgclep/backend/cuda/softmax.hpp"
#include "fgclep/core/backend.hpp"

namespace fgclep {

template <class T>
struct Primitives<Cuda<T>> : cuda::BlasPrimitives<T>,
                             cuda::ConvPrimitives<T>,
                             cuda::ElementwisePrimitives<T>,
                             cuda::EmbeddingPrimitives<T>,
                             cuda::NormPrimitives<T>,
                             cuda::OptimPrimitives<T>,
                             cuda::ReducePrimitives<T>,
                             cuda::SoftmaxPrimitives<T> {};

}  // namespace fgclep
