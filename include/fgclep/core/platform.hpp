#pragma once
// Portability macros shared by host and device code.
//
// FGCLEP_HD marks per-element math that must compile both for the CPU (g++) and for CUDA kernels (nvcc):
// written once, so the CPU tests exercise exactly the arithmetic the GPU runs.
#if defined(__CUDACC__)
#define FGCLEP_HD __host__ __device__
#else
#define FGCLEP_HD
#endif

#if defined(_OPENMP)
#include <omp.h>
#endif
