#pragma once
// MatmulPrecision: the arithmetic a float backend may use inside its matrix products (GEMMs, and the convolutions
// and attention built on them), like torch.set_float32_matmul_precision. Tensors, weights, optimizer state,
// norms, softmax and losses stay fp32 whatever it says; only the products' inputs are rounded.
//
//   fp32  every product in fp32 (the default).
//   bf16  mixed precision: both inputs of every product rounded to bfloat16 (round to nearest even), products
//         accumulated in fp32, results written in fp32. Master weights stay fp32, so updates smaller than bf16's
//         resolution are not lost. Double-precision backends ignore it: gradient checks stay exact.
#include "fgclep/core/error.hpp"

#include <string_view>

namespace fgclep {

enum class MatmulPrecision { fp32, bf16 };

inline std::string_view to_string(MatmulPrecision p) { return p == MatmulPrecision::bf16 ? "bf16" : "fp32"; }

// "fp32" or "bf16" (the spelling of command-line options and checkpoints' metadata).
inline MatmulPrecision parse_matmul_precision(std::string_view text) {
    if (text == "fp32") return MatmulPrecision::fp32;
    if (text == "bf16") return MatmulPrecision::bf16;
    fail("unknown matmul precision '{}': expected fp32 or bf16", text);
}

}  // namespace fgclep
