#pragma once
// synchronize_batchnorm(model): every BatchNorm1d of a model uses the global batch's statistics in a distributed
// run (torch.nn.SyncBatchNorm.convert_sync_batchnorm). The default is per-rank statistics, as PyTorch DDP has.
//
//   fgclep::synchronize_batchnorm(model);   // returns how many layers it changed
#include "fgclep/nn/batchnorm1d.hpp"

#include <cstddef>
#include <string_view>
#include <type_traits>

namespace fgclep {

namespace detail {
template <Backend B>
struct BatchNormSynchronizer {
    bool on = true;
    std::size_t layers = 0;
    template <class M>
    void module(std::string_view, M& child) {
        if constexpr (std::is_same_v<M, BatchNorm1d::impl<B>>) {
            child.synchronize = on;
            ++layers;
        }
        child.visit(*this);
    }
    template <class P>
    void param(P&) {}
    template <class P>
    void buffer(P&) {}
    template <class P>
    void counter(P&) {}
};
}  // namespace detail

// Sets BatchNorm1d::synchronize on every batch norm of `model` (an FgClep or a Model); returns how many.
template <class M>
std::size_t synchronize_batchnorm(M& model, bool on = true) {
    using B = typename std::remove_cvref_t<decltype(model.arena())>::backend_type;
    detail::BatchNormSynchronizer<B> v{.on = on};
    v.module("", model.module());
    return v.layers;
}

}  // namespace fgclep
