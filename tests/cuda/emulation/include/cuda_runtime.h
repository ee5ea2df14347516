#pragma once
// Host emulation of CUDA (tests only): the runtime API and the kernel language (qualifiers, built-in variables,
// __syncthreads, warp shuffles, atomics, cudaLaunchKernel). See tests/cuda/emulation/README.md.
#include "fgclep_emulation/kernel_language.hpp"
#include "fgclep_emulation/runtime.hpp"
