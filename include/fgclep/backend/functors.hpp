#pragma once
// Per-element math, written once for host and device (FGCLEP_HD is __host__ __device__ under nvcc), so the CPU
// tests exercise the arithmetic that CUDA kernels run.
//
// A unary activation functor F has  y = F{}(x)  and  dy/dx = F{}.derivative(x, y).
#include "fgclep/core/platform.hpp"

#include <cmath>

namespace fgclep::fn {

struct Relu {
    static constexpr const char* name = "ReLU";
    template <class T>
    FGCLEP_HD T operator()(T x) const {
        return (x > T(0) || x != x) ? x : T(0);  // NaN stays NaN, as in PyTorch
    }
    template <class T>
    FGCLEP_HD T derivative(T x, T) const {
        return x > T(0) ? T(1) : T(0);
    }
};

// GELU with the exact erf form (PyTorch's default, BERT's "gelu").
struct GeluErf {
    static constexpr const char* name = "GELU";
    template <class T>
    FGCLEP_HD T operator()(T x) const {
        return T(0.5) * x * (T(1) + erf(x * T(0.70710678118654752440)));
    }
    template <class T>
    FGCLEP_HD T derivative(T x, T) const {
        const T cdf = T(0.5) * (T(1) + erf(x * T(0.70710678118654752440)));
        const T pdf = exp(T(-0.5) * x * x) * T(0.39894228040143267794);
        return cdf + x * pdf;
    }
};

struct Tanh {
    static constexpr const char* name = "Tanh";
    template <class T>
    FGCLEP_HD T operator()(T x) const {
        return tanh(x);
    }
    template <class T>
    FGCLEP_HD T derivative(T, T y) const {
        return T(1) - y * y;
    }
};

// One AdamW update of one element, in the order of operations of torch.optim.AdamW (single-tensor path), so
// float results agree with PyTorch to rounding. Coefficients are computed once per step on the host.
template <class T>
struct AdamWStep {
    T decay_factor;  // 1 - lr * weight_decay (1 for the no-decay group)
    T beta1, one_minus_beta1;
    T beta2, one_minus_beta2;
    T neg_step_size;          // -lr / (1 - beta1^t)
    T bias_correction2_sqrt;  // sqrt(1 - beta2^t)
    T eps;

    FGCLEP_HD void operator()(T& p, T g, T& m, T& v) const {
        p = p * decay_factor;
        m = m * beta1 + g * one_minus_beta1;
        v = v * beta2 + one_minus_beta2 * g * g;
        const T denom = sqrt(v) / bias_correction2_sqrt + eps;
        p = p + neg_step_size * m / denom;
    }
};

// Numerically stable log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)).
template <class T>
FGCLEP_HD T log_sigmoid(T x) {
    return (x < T(0) ? x : T(0)) - log1p(exp(-(x < T(0) ? -x : x)));
}
template <class T>
FGCLEP_HD T sigmoid(T x) {
    return x >= T(0) ? T(1) / (T(1) + exp(-x)) : exp(x) / (T(1) + exp(x));
}

}  // namespace fgclep::fn
