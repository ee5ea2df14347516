#pragma once
// Saving and loading a model's state (parameters, buffers, counters) by PyTorch state_dict name, in the
// safetensors layout, so that weights trained in PyTorch load directly and ours load in Python.
#include "fgclep/core/arena.hpp"
#include "fgclep/io/safetensors.hpp"

#include <concepts>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace fgclep::io {

struct LoadOptions {
    // Prepended to every model name when looking it up in the file ("bert." for Hugging Face BERT weights).
    std::string file_prefix;
    // Tolerate tensors the model has but the file lacks (they keep their values); they are listed in the result.
    bool allow_missing = false;
};

struct LoadResult {
    std::vector<std::string> loaded, missing, unexpected;  // unexpected: in the file, not in the model
};

// Where load_state reads tensors from: SafetensorsFile, or io::TorchCheckpoint (fgclep/io/torch_checkpoint.hpp).
template <class S, class T>
concept StateSource = requires(const S& s, const std::string& name) {
    { s.source() } -> std::convertible_to<std::string>;
    { s.contains(name) } -> std::convertible_to<bool>;
    { s.shape(name) } -> std::convertible_to<Shape>;
    { s.names() } -> std::convertible_to<std::vector<std::string>>;
    { s.template get<T>(name) } -> std::same_as<std::vector<T>>;
    { s.template get<std::int64_t>(name) } -> std::same_as<std::vector<std::int64_t>>;
};

template <Backend B, StateSource<typename B::value_type> Source>
LoadResult load_state(ParameterArena<B>& arena, typename B::State& state, const Source& file,
                      const LoadOptions& options = {}) {
    using T = typename B::value_type;
    LoadResult result;
    std::set<std::string> used;
    // Every name, shape and value is read and checked before anything is written: a file that fails part-way
    // leaves the model exactly as it was.
    struct Pending {
        Tensor<B> target;
        std::vector<T> values;
    };
    std::vector<Pending> pending;
    auto check = [&](const std::string& name, const Shape& shape, const Tensor<B>& value) {
        const std::string key = options.file_prefix + name;
        if (!file.contains(key)) {
            if (!options.allow_missing)
                fail("'{}' has no tensor '{}', which the model needs for parameter '{}'", file.source(), key, name);
            result.missing.push_back(name);
            return;
        }
        const Shape got = file.shape(key);
        // A 0-d tensor in the file fills a one-element tensor of the model (PyTorch stores scalars as 0-d).
        if (!(got == shape) && !(got.numel() == 1 && shape.numel() == 1))
            fail("'{}': tensor '{}' has shape {}, but the model's '{}' has shape {}", file.source(), key, got, name,
                 shape);
        pending.push_back({value, file.template get<T>(key)});
        used.insert(key);
        result.loaded.push_back(name);
    };
    for (auto& e : arena.params()) check(e.name, e.param->shape, e.param->value);
    for (auto& e : arena.buffers()) check(e.name, e.buffer->shape, e.buffer->value);
    std::vector<std::pair<Counter*, std::int64_t>> counters;
    for (auto& e : arena.counters()) {
        const std::string key = options.file_prefix + e.name;
        if (!file.contains(key)) {
            result.missing.push_back(e.name);  // PyTorch omits num_batches_tracked in old checkpoints
            continue;
        }
        counters.emplace_back(e.counter, file.template get<std::int64_t>(key).at(0));
        used.insert(key);
        result.loaded.push_back(e.name);
    }
    for (auto& p : pending) B::upload(state, p.target.data(), p.values.data(), p.values.size());
    for (auto& [counter, value] : counters) counter->value = value;
    for (auto& name : file.names())
        if (!used.count(name)) result.unexpected.push_back(name);
    return result;
}

template <Backend B>
LoadResult load_state(ParameterArena<B>& arena, typename B::State& state, const std::filesystem::path& path,
                      const LoadOptions& options = {}) {
    return load_state(arena, state, SafetensorsFile::read(path), options);
}

// Adds every parameter, buffer and counter to `writer` under its state_dict name (with `prefix` prepended).
template <Backend B>
void add_state(SafetensorsWriter& writer, const ParameterArena<B>& arena, typename B::State& state,
               const std::string& prefix = {}) {
    using T = typename B::value_type;
    auto add = [&](const std::string& name, const Tensor<B>& value) {
        std::vector<T> host(static_cast<std::size_t>(value.numel()));
        B::download(state, host.data(), value.data(), host.size());
        writer.add<T>(prefix + name, value.shape(), host);
    };
    for (auto& e : arena.params()) add(e.name, e.param->value);
    for (auto& e : arena.buffers()) add(e.name, e.buffer->value);
    for (auto& e : arena.counters()) {
        const std::int64_t v = e.counter->value;
        writer.add<std::int64_t>(prefix + e.name, Shape{}, std::span<const std::int64_t>(&v, 1));
    }
}

}  // namespace fgclep::io
