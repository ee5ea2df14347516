#pragma once
// Host emulation of cuBLAS (tests only): the routines fgclep's CUDA backend calls, as NVIDIA documents them. See
// tests/cuda/emulation/README.md.
#include "fgclep_emulation/cublas.hpp"
