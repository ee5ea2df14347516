// Eigen's GEMM instantiated once for fgclep's own tests and examples, which are built with FGCLEP_EXTERN_GEMM
// (target fgclep_gemm_instances; docs/build.md#compile-time).
#include "fgclep/backend/cpu/gemm_instances.hpp"
