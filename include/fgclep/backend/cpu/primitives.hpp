#pragma once
// Primitives<Cpu<T>>: the CPU backend's compute primitives, one base class per family (backend/cpu/*.hpp), for the
// vocabulary of backend/ops.hpp.
#include "fgclep/backend/cpu.hpp"
#include "fgclep/backend/cpu/blas.hpp"
#include "fgclep/backend/cpu/conv.hpp"
#include "fgclep/backend/cpu/elementwise.hpp"
#include "fgclep/backend/cpu/embedding.hpp"
#include "fgclep/backend/cpu/norm.hpp"
#include "fgclep/backend/cpu/optim.hpp"
#include "fgclep/backend/cpu/reduce.hpp"
#include "fgclep/backend/cpu/softmax.hpp"
#include "fgclep/core/backend.hpp"

namespace fgclep {

template <class T>
struct Primitives<Cpu<T>> : cpu::BlasPrimitives<T>,
                            cpu::ConvPrimitives<T>,
                            cpu::ElementwisePrimitives<T>,
                            cpu::EmbeddingPrimitives<T>,
                            cpu::NormPrimitives<T>,
                            cpu::OptimPrimitives<T>,
                            cpu::ReducePrimitives<T>,
                            cpu::SoftmaxPrimitives<T> {};

}  // namespace fgclep
