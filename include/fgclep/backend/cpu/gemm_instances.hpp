#pragma once
// The two Eigen GEMM instantiations of backend/cpu/gemm.hpp, for a program built with FGCLEP_EXTERN_GEMM: include
// this header in exactly one of its files (the others then only call them). Not part of the umbrella headers.
#include "fgclep/backend/cpu/gemm.hpp"

#if !defined(FGCLEP_EXTERN_GEMM)
#error "gemm_instances.hpp belongs to programs built with FGCLEP_EXTERN_GEMM (see docs/build.md#compile-time)"
#endif

namespace fgclep::cpu::detail {
template void gemm_eigen<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t,
                                const float*, std::int64_t, float, float*, std::int64_t);
template void gemm_eigen<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*,
                                 std::int64_t, const double*, std::int64_t, double, double*, std::int64_t);
}  // namespace fgclep::cpu::detail
