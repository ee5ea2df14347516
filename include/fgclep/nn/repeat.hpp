#pragma once
// Repeat<Block>: a run-time number of blocks of one type applied in order, named "0", "1", ... (BERT's 12
// layers, a ResNet stage). Depth is a value, not a type, so a 12-layer and a 2-layer encoder are the same code.
#include "fgclep/core/concepts.hpp"

#include <memory>
#include <vector>

namespace fgclep {

template <class Block>
struct Repeat {
    static_assert(require_layer_spec<Block>::value);
    struct Options {
        std::vector<typename Block::Options> blocks;  // one entry per block; they may differ (a first stride-2 block)
        static Options times(std::size_t count, const typename Block::Options& block = {}) {
            return {std::vector<typename Block::Options>(count, block)};
        }
    };
    static constexpr std::string_view name = "Repeat";
    template <Backend B>
    struct impl : Module {
        using block_type = typename Block::template impl<B>;
        static_assert(require_layer<block_type, B>::value);
        // Blocks on the heap keep their addresses, which the parameter arena points at.
        std::vector<std::unique_ptr<block_type>> blocks;

        explicit impl(const Options& o) : Module(Repeat::name) {
            blocks.reserve(o.blocks.size());
            for (auto& b : o.blocks) blocks.push_back(std::make_unique<block_type>(b));
        }

        std::size_t size() const { return blocks.size(); }
        block_type& operator[](std::size_t i) { return *blocks[i]; }

        template <class V>
        void visit(V& v) {
            for (std::size_t i = 0; i < blocks.size(); ++i) v.module(std::to_string(i), *blocks[i]);
        }

        Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
            Tensor<B> h = x;
            for (auto& b : blocks) h = b->forward(ctx, h);
            return h;
        }
        Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
            Tensor<B> g = dy;
            for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) g = (*it)->backward(ctx, g);
            return g;
        }
    };
};

}  // namespace fgclep
