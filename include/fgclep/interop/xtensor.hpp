#pragma once
// The xtensor edge: zero-copy xtensor views of host tensors, copies from xtensor arrays, and NumPy .npy files.
//
// xtensor stays at the edges (preprocessing, fixtures, exports such as embeddings for t-SNE): the core, the
// backends and anything nvcc compiles never include it. This header is the only place that names xtensor's
// headers, so their move to subfolders in xtensor 0.25 is absorbed here.
#include "fgclep/core/context.hpp"
#include "fgclep/core/error.hpp"

#if __has_include(<xtensor/containers/xadapt.hpp>)
#include <xtensor/containers/xadapt.hpp>
#include <xtensor/containers/xarray.hpp>
#include <xtensor/io/xnpy.hpp>
#else
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xnpy.hpp>
#endif

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fgclep::interop {

// A view of a host-accessible tensor's elements as an xtensor expression with the same shape, sharing memory:
// writable for a tensor, read-only for a const one. The view does not keep the storage alive: keep the tensor
// while using it.
template <Backend B, class E>
requires(B::host_accessible) auto as_xtensor(Tensor<B, E>& t) {
    std::vector<std::size_t> shape(t.shape().begin(), t.shape().end());
    return xt::adapt(t.data(), static_cast<std::size_t>(t.numel()), xt::no_ownership(), shape);
}
template <Backend B, class E>
requires(B::host_accessible) auto as_xtensor(const Tensor<B, E>& t) {
    std::vector<std::size_t> shape(t.shape().begin(), t.shape().end());
    return xt::adapt(t.data(), static_cast<std::size_t>(t.numel()), xt::no_ownership(), shape);
}

// A tensor holding a copy of an xtensor expression's values (evaluated in row-major order).
template <Backend B, class X>
auto from_xtensor(Context<B>& ctx, const X& expression) {
    using E = typename X::value_type;
    xt::xarray<E, xt::layout_type::row_major> a = expression;
    Shape shape(a.shape().begin(), a.shape().end());
    return ctx.from_host(shape, std::vector<E>(a.begin(), a.end()));
}

// Writes a tensor as a .npy file (little-endian, C order), readable by numpy.load. The bytes are xtensor's public
// xt::dump_npy, for any element type; fgclep's own writer (eval::write_npy) needs no xtensor.
template <Backend B, class E>
void save_npy(Context<B>& ctx, const std::filesystem::path& path, const Tensor<B, E>& t) {
    const std::vector<E> host = ctx.to_host(t);
    std::vector<std::size_t> shape(t.shape().begin(), t.shape().end());
    const std::string bytes = xt::dump_npy(xt::adapt(host.data(), host.size(), xt::no_ownership(), shape));
    std::ofstream out(path, std::ios::binary);
    if (!out) fail("cannot write the .npy file '{}'", path.string());
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) fail("writing the .npy file '{}' failed (disk full?)", path.string());
}

// Reads a .npy file of element type E (no conversion: a file of another dtype is an error that says so).
template <class E, Backend B>
Tensor<B, E> load_npy(Context<B>& ctx, const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot open the .npy file '{}'", path.string());
    xt::xarray<E, xt::layout_type::row_major> a;
    try {
        a = xt::load_npy<E, xt::layout_type::row_major>(in);
    } catch (const std::exception& e) {
        fail("'{}' is not a readable .npy file of the expected element type: {}", path.string(), e.what());
    }
    if (!in) fail("'{}' is truncated: it holds fewer values than its header declares", path.string());
    return ctx.from_host(Shape(a.shape().begin(), a.shape().end()), std::vector<E>(a.begin(), a.end()));
}

}  // namespace fgclep::interop
