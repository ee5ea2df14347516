#pragma once
// Arenas: one flat parameter buffer, one flat gradient buffer and one flat buffer for BatchNorm-style state.
//
// Parameters are laid out by weight-decay group (decayed first), so AdamW is one fused call per group, zeroing
// gradients is one fill, clipping one reduction and a checkpoint mostly two copies. The *reported* order
// (entries()) is the visit order, which is PyTorch's state_dict order.
#include "fgclep/core/backend.hpp"
#include "fgclep/core/module.hpp"
#include "fgclep/core/param.hpp"
#include "fgclep/core/rng.hpp"
#include "fgclep/core/tensor.hpp"

#include <algorithm>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace fgclep {

template <Backend B>
class ParameterArena {
public:
    using backend_type = B;
    using T = typename B::value_type;

    struct ParamEntry {
        std::string name;
        std::int64_t offset = 0;  // into values() and grads()
        Param<B>* param = nullptr;
        std::int64_t numel() const { return param->shape.numel(); }
    };
    struct BufferEntry {
        std::string name;
        std::int64_t offset = 0;  // into buffers()
        Buffer<B>* buffer = nullptr;
    };
    struct CounterEntry {
        std::string name;
        Counter* counter = nullptr;
    };
    // A contiguous run of trainable parameters with one decay setting: the unit the optimizer updates.
    struct Segment {
        std::int64_t offset = 0, size = 0;
        Decay decay = Decay::yes;
    };

    // Lays out and allocates storage for every parameter and buffer of `root`, and points their tensors into it.
    // Paths of all modules are set on the way; `prefix` is the root's own path.
    template <class M>
    void bind(M& root, std::string_view prefix = {}) {
        Collector collector;
        collector.walk(root, prefix);
        params_ = std::move(collector.params);
        buffers_ = std::move(collector.buffers);
        counters_ = std::move(collector.counters);
        // Two tensors under one name would load from one file entry and answer to one lookup: refuse the model.
        std::set<std::string> names;
        auto unique = [&](const std::string& name) {
            if (!names.insert(name).second)
                fail(
                    "two tensors of the model are both named '{}'; give the children of a composition distinct "
                    "names (Named<\"\", ...> puts a child's state at its parent's level)",
                    name);
        };
        for (auto& e : params_) unique(e.name);
        for (auto& e : buffers_) unique(e.name);
        for (auto& e : counters_) unique(e.name);

        std::int64_t total = 0;
        for (Decay group : {Decay::yes, Decay::no})
            for (auto& e : params_)
                if (e.param->decay == group) {
                    e.offset = total;
                    total += e.numel();
                }
        values_ = Tensor<B>::uninitialized(Shape{total});
        grads_ = Tensor<B>::uninitialized(Shape{total});
        for (auto& e : params_) {
            e.param->value = Tensor<B>(e.param->shape, values_.storage(), values_.data() + e.offset);
            e.param->grad = Tensor<B>(e.param->shape, grads_.storage(), grads_.data() + e.offset);
        }
        std::int64_t btotal = 0;
        for (auto& e : buffers_) {
            e.offset = btotal;
            btotal += e.buffer->shape.numel();
        }
        buffer_values_ = Tensor<B>::uninitialized(Shape{btotal});
        for (auto& e : buffers_)
            e.buffer->value = Tensor<B>(e.buffer->shape, buffer_values_.storage(), buffer_values_.data() + e.offset);
    }

    // Fills parameters and buffers from their Init descriptors. Each tensor's values depend only on the seed
    // and its name, not on the order of the model's layers.
    void initialize(typename B::State& state, std::uint64_t seed) {
        for (auto& e : params_) fill_init(state, e.param->value, e.param->init, HostRng::for_name(seed, e.name));
        for (auto& e : buffers_) fill_init(state, e.buffer->value, e.buffer->init, HostRng::for_name(seed, e.name));
        for (auto& e : counters_) e.counter->value = 0;
        B::fill(state, grads_.data(), static_cast<std::size_t>(grads_.numel()), T(0));
    }

    // Marks every parameter whose name is `prefix` or lies under it ("text.encoder.layer.1" matches
    // "text.encoder.layer.1.output.dense.weight" but not "text.encoder.layer.10...") as not trainable.
    // Returns how many were frozen; a prefix that matches nothing is an error, because it is always a typo.
    std::size_t freeze(std::string_view prefix, bool frozen = true) {
        std::size_t n = 0;
        for (auto& e : params_)
            if (under(e.name, prefix)) {
                e.param->trainable = !frozen;
                ++n;
            }
        if (n == 0)
            fail("no parameter is named '{}' or lies under it; the first parameter is '{}'", prefix,
                 params_.empty() ? std::string("(none)") : params_.front().name);
        return n;
    }

    std::vector<Segment> trainable_segments() const {
        std::vector<const ParamEntry*> order;
        for (auto& e : params_) order.push_back(&e);
        std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
        std::vector<Segment> segments;
        for (auto* e : order) {
            if (!e->param->trainable || e->numel() == 0) continue;
            if (!segments.empty() && segments.back().decay == e->param->decay &&
                segments.back().offset + segments.back().size == e->offset)
                segments.back().size += e->numel();
            else
                segments.push_back({e->offset, e->numel(), e->param->decay});
        }
        return segments;
    }

    const Tensor<B>& values() const { return values_; }
    const Tensor<B>& grads() const { return grads_; }
    const Tensor<B>& buffer_values() const { return buffer_values_; }
    // Writable views of the same storage, for the optimizer, checkpoints and zero_grad.
    Tensor<B>& values() { return values_; }
    Tensor<B>& grads() { return grads_; }
    Tensor<B>& buffer_values() { return buffer_values_; }
    const std::vector<ParamEntry>& params() const { return params_; }
    const std::vector<BufferEntry>& buffers() const { return buffers_; }
    const std::vector<CounterEntry>& counters() const { return counters_; }

    std::int64_t count(bool trainable_only = false) const {
        std::int64_t n = 0;
        for (auto& e : params_)
            if (!trainable_only || e.param->trainable) n += e.numel();
        return n;
    }
    Param<B>& param(std::string_view name) const {
        for (auto& e : params_)
            if (e.name == name) return *e.param;
        fail("the model has no parameter named '{}'", name);
    }
    Buffer<B>& buffer(std::string_view name) const {
        for (auto& e : buffers_)
            if (e.name == name) return *e.buffer;
        fail("the model has no buffer named '{}'", name);
    }

private:
    struct Collector : Visitor<Collector> {
        std::vector<ParamEntry> params;
        std::vector<BufferEntry> buffers;
        std::vector<CounterEntry> counters;
        void param(Param<B>& p) { params.push_back({this->full_name(p.name), 0, &p}); }
        void buffer(Buffer<B>& b) { buffers.push_back({this->full_name(b.name), 0, &b}); }
        void counter(Counter& c) { counters.push_back({this->full_name(c.name), &c}); }
    };

    static bool under(std::string_view name, std::string_view prefix) {
        if (prefix.empty()) return true;
        if (name.substr(0, prefix.size()) != prefix) return false;
        return name.size() == prefix.size() || prefix.back() == '.' || name[prefix.size()] == '.';
    }

    static void fill_init(typename B::State& state, Tensor<B>& t, const Init& init, HostRng rng) {
        std::vector<T> host(static_cast<std::size_t>(t.numel()));
        for (auto& x : host) {
            switch (init.kind) {
                case Init::Kind::zeros:
                    x = T(0);
                    break;
                case Init::Kind::ones:
                    x = T(1);
                    break;
                case Init::Kind::uniform:
                    x = static_cast<T>(rng.uniform(-init.scale, init.scale));
                    break;
                case Init::Kind::normal:
                    x = static_cast<T>(init.scale * rng.normal());
                    break;
                case Init::Kind::constant:
                    x = static_cast<T>(init.scale);
                    break;
            }
        }
        B::upload(state, t.data(), host.data(), host.size());
    }

    std::vector<ParamEntry> params_;
    std::vector<BufferEntry> buffers_;
    std::vector<CounterEntry> counters_;
    Tensor<B> values_, grads_, buffer_values_;
};

}  // namespace fgclep
