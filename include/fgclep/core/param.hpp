#pragma once
// Param, Buffer and Counter: the state a layer declares. A layer owns these descriptors; the values live in the
// model's flat arenas (see arena.hpp), bound when the model is built.
#include "fgclep/core/backend.hpp"
#include "fgclep/core/shape.hpp"
#include "fgclep/core/tensor.hpp"

#include <cstdint>
#include <string>

namespace fgclep {

// How a parameter or buffer gets its initial values; the defaults mirror PyTorch's reset_parameters().
struct Init {
    enum class Kind { zeros, ones, uniform, normal, constant } kind = Kind::zeros;
    double scale = 0;  // uniform: values in [-scale, scale]; normal: standard deviation; constant: the value

    static Init zeros() { return {Kind::zeros, 0}; }
    static Init ones() { return {Kind::ones, 0}; }
    static Init uniform(double bound) { return {Kind::uniform, bound}; }
    static Init normal(double std) { return {Kind::normal, std}; }
    static Init constant(double value) { return {Kind::constant, value}; }
};

// Whether AdamW applies weight decay. Weight matrices decay; biases and normalisation parameters do not
// (the usual practice for transformers and the default here; AdamWOptions::decay_all restores torch's default).
enum class Decay { yes, no };

template <Backend B>
struct Param {
    Param() = default;
    Param(std::string name, Shape shape, Decay decay, Init init)
        : name(std::move(name)), shape(shape), decay(decay), init(init) {}

    std::string name;  // local name, e.g. "weight"; the model path is prepended when visited
    Shape shape;
    Decay decay = Decay::yes;
    Init init;
    bool trainable = true;  // false once frozen: layers skip its gradient, the optimizer skips its update
    Tensor<B> value;        // a view into the parameter arena
    Tensor<B> grad;         // a view into the gradient arena
};

// Non-trainable state that belongs in the state_dict (BatchNorm running statistics).
template <Backend B>
struct Buffer {
    Buffer() = default;
    Buffer(std::string name, Shape shape, Init init) : name(std::move(name)), shape(shape), init(init) {}
    std::string name;
    Shape shape;
    Init init;
    Tensor<B> value;  // a view into the buffer arena
};

// An integer kept on the host and saved as int64 (BatchNorm's num_batches_tracked).
struct Counter {
    std::string name;
    std::int64_t value = 0;
};

}  // namespace fgclep
