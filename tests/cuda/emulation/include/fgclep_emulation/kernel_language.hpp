#pragma once
// The CUDA kernel language as ordinary C++ run on the host (tests only; implemented in
// tests/cuda/emulation/runtime.cpp). With it, g++ compiles backend/cuda/kernels.cuh unchanged.
//
//   __global__, __device__, __host__, __forceinline__   ordinary functions
//   __launch_bounds__(n)                                 compiled away (a block larger than 1024 threads is still
//                                                        refused at launch, as every GPU does)
//   __shared__                                           a static variable: shared by the threads of a block.
//                                                        Blocks run one after another, so a block never sees
//                                                        another running block's shared memory; what a block
//                                                        leaves behind is what the next one finds (on a GPU it
//                                                        would be garbage: do not read shared memory you have
//                                                        not written)
//   threadIdx, blockIdx, blockDim, gridDim               per OS thread
//   __syncthreads()                                      a real barrier of the block's threads; a block whose
//                                                        threads do not all reach it (some returned) is reported
//   __shfl_*_sync, __syncwarp, __ballot_sync             real exchanges among the lanes of a warp (32
//                                                        consecutive threads); only full-warp masks (the active
//                                                        lanes of the warp) are supported, and reported otherwise
//   atomicAdd and friends                                std::atomic_ref
#include "fgclep_emulation/runtime.hpp"

#include <math.h>  // the device math functions, global as CUDA has them (sqrt, exp, isnan, fmax, INFINITY)

#include <atomic>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#define FGCLEP_CUDA_HOST_EMULATION 1

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

inline thread_local uint3 threadIdx{0, 0, 0};
inline thread_local uint3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim{1, 1, 1};
inline thread_local dim3 gridDim{1, 1, 1};
constexpr int warpSize = 32;

namespace fgclep_emulation {
// A barrier of the calling thread's block.
void sync_block();
// Every lane of the calling thread's warp deposits `value` and receives what `mode` says (ShuffleMode below).
// `mask` must name every lane of the warp.
std::uint64_t warp_exchange(unsigned mask, std::uint64_t value, int mode, int operand, int width);
// What warp_exchange returns to each lane: the value of lane operand, lane ^ operand, lane + operand, lane - operand
// (within segments of `width` lanes; out of range: its own), its own (__syncwarp), or the ballot of all lanes.
enum ShuffleMode : int {
    shuffle_index = 0,
    shuffle_xor = 1,
    shuffle_down = 2,
    shuffle_up = 3,
    shuffle_none = 4,
    shuffle_ballot = 5
};

template <class V>
V shuffle(unsigned mask, V value, int mode, int operand, int width) {
    static_assert(std::is_trivially_copyable_v<V> && sizeof(V) <= 8, "warp shuffles move values of up to 8 bytes");
    std::uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(V));
    bits = warp_exchange(mask, bits, mode, operand, width);
    V out;
    std::memcpy(&out, &bits, sizeof(V));
    return out;
}
// A ballot: bit i set when lane i's predicate is true.
unsigned warp_ballot(unsigned mask, bool predicate);
}  // namespace fgclep_emulation

inline void __syncthreads() { fgclep_emulation::sync_block(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
    (void)fgclep_emulation::warp_exchange(mask, 0, fgclep_emulation::shuffle_none, 0, warpSize);
}
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }

template <class V>
V __shfl_sync(unsigned mask, V v, int src_lane, int width = warpSize) {
    return fgclep_emulation::shuffle(mask, v, fgclep_emulation::shuffle_index, src_lane, width);
}
template <class V>
V __shfl_xor_sync(unsigned mask, V v, int lane_mask, int width = warpSize) {
    return fgclep_emulation::shuffle(mask, v, fgclep_emulation::shuffle_xor, lane_mask, width);
}
template <class V>
V __shfl_down_sync(unsigned mask, V v, unsigned delta, int width = warpSize) {
    return fgclep_emulation::shuffle(mask, v, fgclep_emulation::shuffle_down, static_cast<int>(delta), width);
}
template <class V>
V __shfl_up_sync(unsigned mask, V v, unsigned delta, int width = warpSize) {
    return fgclep_emulation::shuffle(mask, v, fgclep_emulation::shuffle_up, static_cast<int>(delta), width);
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
    return fgclep_emulation::warp_ballot(mask, predicate != 0);
}
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
inline int __all_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) == __ballot_sync(mask, 1); }

// Atomics return the old value, as CUDA's do.
template <class V>
V atomicAdd(V* address, V value) {
    return std::atomic_ref<V>(*address).fetch_add(value);
}
template <class V>
V atomicSub(V* address, V value) {
    return std::atomic_ref<V>(*address).fetch_sub(value);
}
template <class V>
V atomicExch(V* address, V value) {
    return std::atomic_ref<V>(*address).exchange(value);
}
namespace fgclep_emulation {
// Stores `value` where `replaces(value, old)`, atomically; returns the old value.
template <class V, class Replaces>
V atomic_replace_if(V* address, V value, Replaces replaces) {
    std::atomic_ref<V> a(*address);
    V old = a.load();
    while (replaces(value, old) && !a.compare_exchange_weak(old, value)) {
    }
    return old;
}
}  // namespace fgclep_emulation
template <class V>
V atomicMax(V* address, V value) {
    return fgclep_emulation::atomic_replace_if(address, value, [](V v, V old) { return old < v; });
}
template <class V>
V atomicMin(V* address, V value) {
    return fgclep_emulation::atomic_replace_if(address, value, [](V v, V old) { return v < old; });
}
template <class V>
V atomicCAS(V* address, V compare, V value) {
    std::atomic_ref<V>(*address).compare_exchange_strong(compare, value);
    return compare;
}

template <class V>
V __ldg(const V* p) {
    return *p;
}

// cudaLaunchKernel as the toolkit's C++ overload takes it (a typed kernel pointer, the arguments as an array of
// pointers to values of the kernel's parameter types). The values are copied at the call, as CUDA does.
template <class... Params>
cudaError_t cudaLaunchKernel(void (*kernel)(Params...), dim3 grid, dim3 block, void** args,
                             std::size_t shared_bytes = 0, cudaStream_t stream = nullptr) {
    auto values = [&]<std::size_t... I>(std::index_sequence<I...>) {
        return std::tuple<std::decay_t<Params>...>(*static_cast<std::decay_t<Params>*>(args[I])...);
    }
    (std::index_sequence_for<Params...>{});
    return fgclep_emulation::launch(grid, block, shared_bytes, stream,
                                    [kernel, values]() { std::apply(kernel, values); });
}
