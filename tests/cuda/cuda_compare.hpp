#pragma once
// Helpers of the CPU-vs-CUDA tests: the tolerances, random host data, and paired tensors that hold the same
// values on both backends.
//
// Tolerances (|cuda - cpu| <= atol + rtol |cpu| per element):
//                      float                double
//   elementwise        1e-5 / 1e-6          1e-12 / 1e-14   same formula; GPU libm (erf, exp, tanh) and FMA
//                                                           contraction differ from the CPU in the last bits
//   reductions, norms  1e-4 / 1e-5          1e-10 / 1e-13   other summation orders; the CPU sums some of these
//                                                           in float (LayerNorm, as PyTorch), the GPU in double
//   GEMM-based (FP32)  1e-4 / 1e-5          1e-10 / 1e-12   cuBLAS sums the K products in another order
//   GEMM with TF32     1e-2 / 2e-3 sqrt(K)  -               10-bit mantissa on the inputs (in the GEMM test)
//   layers, training   1e-4 / 1e-5          1e-9 / 1e-11    chains of the above
// Dropout masks, argmax indices and bad-id counts must be identical.
#include <fgclep/fgclep.hpp>

#include <fgclep/backend/cuda.hpp>  // after the layers, on purpose: dispatch follows the backend type

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace fgclep::test {

struct Tolerance {
    double rtol, atol;
};

template <class T>
struct Tol;
template <>
struct Tol<float> {
    static constexpr Tolerance elementwise{1e-5, 1e-6}, reduction{1e-4, 1e-5}, gemm{1e-4, 1e-5}, layer{1e-4, 1e-5};
};
template <>
struct Tol<double> {
    static constexpr Tolerance elementwise{1e-12, 1e-14}, reduction{1e-10, 1e-13}, gemm{1e-10, 1e-12},
        layer{1e-9, 1e-11};
};

template <class T>
std::vector<T> random_values(std::int64_t n, std::uint64_t seed, double lo = -1, double hi = 1) {
    HostRng rng(seed);
    std::vector<T> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = static_cast<T>(rng.uniform(lo, hi));
    return v;
}
template <class T>
std::vector<T> nan_values(std::int64_t n) {
    return std::vector<T>(static_cast<std::size_t>(n), std::numeric_limits<T>::quiet_NaN());
}

// Compares the CUDA result with the CPU one; NaN must match NaN. Reports the worst element.
template <class A, class B>
void check_close(const std::vector<A>& cpu, const std::vector<B>& gpu, Tolerance tol, const std::string& what) {
    INFO("comparing ", what, " (rtol ", tol.rtol, ", atol ", tol.atol, ")");
    REQUIRE(cpu.size() == gpu.size());
    double worst = 0;
    std::size_t at = 0;
    for (std::size_t i = 0; i < cpu.size(); ++i) {
        const double c = static_cast<double>(cpu[i]), g = static_cast<double>(gpu[i]);
        double r = 0;
        if (std::isnan(c) || std::isnan(g))
            r = std::isnan(c) && std::isnan(g) ? 0 : INFINITY;
        else if (c != g)  // equal infinities are close
            r = std::abs(g - c) / (tol.atol + tol.rtol * std::abs(c));
        if (r > worst || std::isnan(r)) {
            worst = std::isnan(r) ? INFINITY : r;
            at = i;
        }
    }
    INFO("worst element ", at, ": cpu ", cpu.empty() ? 0.0 : double(cpu[at]), ", cuda ",
         gpu.empty() ? 0.0 : double(gpu[at]), " (", worst, " x the tolerance)");
    CHECK(worst <= 1.0);
}
template <class A, class B>
void check_equal(const std::vector<A>& cpu, const std::vector<B>& gpu, const std::string& what) {
    INFO("comparing ", what, " for equality");
    REQUIRE(cpu.size() == gpu.size());
    std::size_t mismatches = 0, first = 0;
    for (std::size_t i = 0; i < cpu.size(); ++i)
        if (!(cpu[i] == gpu[i]) && !(cpu[i] != cpu[i] && gpu[i] != gpu[i])) {
            if (mismatches++ == 0) first = i;
        }
    INFO(mismatches, " mismatches, the first at ", first);
    CHECK(mismatches == 0);
}

// The same data on both backends, for primitive tests on raw pointers.
template <class T, class E = T>
struct Paired {
    Tensor<Cpu<T>, E> cpu;
    Tensor<Cuda<T>, E> gpu;
    // Handles of the pair's own storage, written by the primitive under test.
    E* c() { return cpu.data(); }
    E* g() { return gpu.data(); }
};

template <class T>
struct Contexts {
    Context<Cpu<T>> cpu;
    Context<Cuda<T>> gpu;

    template <class E = T>
    Paired<T, E> pair(const std::vector<E>& values) {
        const Shape s{static_cast<std::int64_t>(values.size())};
        return {cpu.from_host(s, values), gpu.from_host(s, values)};
    }
    template <class E>
    void check(const Paired<T, E>& p, Tolerance tol, const std::string& what) {
        check_close(cpu.to_host(p.cpu), gpu.to_host(p.gpu), tol, what);
    }
    template <class E>
    void check_exact(const Paired<T, E>& p, const std::string& what) {
        check_equal(cpu.to_host(p.cpu), gpu.to_host(p.gpu), what);
    }
    void set_training(bool on) { cpu.training = gpu.training = on; }
};

}  // namespace fgclep::test
