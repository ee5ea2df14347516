// The fgclep::cuda library's own source, src/cuda/kernels.cu, compiled by the C++ compiler against the host
// emulation of CUDA (include/cuda_runtime.h here): the very kernels and launchers that nvcc builds, run as threads.
#include "src/cuda/kernels.cu"
