#pragma once
// The CUDA kernels of fgclep and their launchers (declared in launch.hpp), one header per family under kernels/
// (as backend/cpu/). nvcc only: src/cuda/kernels.cu includes this file and instantiates every launcher into the
// fgclep::cuda library; users' own files never need it, except to instantiate unary/unary_backward for a functor
// of their own (see launch.hpp).
//
// Conventions, so that CPU and GPU agree and the GPU agrees with itself: see kernels/common.cuh.
#include "fgclep/backend/cuda/kernels/common.cuh"
#include "fgclep/backend/cuda/kernels/conv.cuh"
#include "fgclep/backend/cuda/kernels/elementwise.cuh"
#include "fgclep/backend/cuda/kernels/embedding.cuh"
#include "fgclep/backend/cuda/kernels/norm.cuh"
#include "fgclep/backend/cuda/kernels/optim.cuh"
#include "fgclep/backend/cuda/kernels/reduce.cuh"
#include "fgclep/backend/cuda/kernels/softmax.cuh"
