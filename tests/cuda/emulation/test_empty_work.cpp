// Every primitive of Cuda<float> given empty work (a zero element count, zero rows, an empty batch) returns without
// launching a kernel: a GPU refuses a grid of zero blocks (cudaErrorInvalidConfiguration), so such a launch would be
// a bug that only a device shows. The emulator counts launches, which makes it visible here.
#include <fgclep/fgclep.hpp>

#include <fgclep/backend/cuda.hpp>

#include <doctest/doctest.h>

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

using namespace fgclep;

TEST_CASE("emulation: empty work launches no kernel in any primitive") {
    Context<Cuda<float>> ctx;
    Tensor<Cuda<float>> buffer = ctx.zeros(Shape{64});
    Tensor<Cuda<float>, std::int32_t> ints = ctx.from_host(Shape{8}, std::vector<std::int32_t>(8, 0));
    float* p = buffer.data();
    std::int32_t* id = ints.data();
    const fn::AdamWStep<float> step{};
    const std::vector<std::pair<std::string, std::function<void()>>> calls{
        {"unary", [&] { ops::unary(ctx, fn::Relu{}, 0, p, p); }},
        {"unary_backward", [&] { ops::unary_backward(ctx, fn::GeluErf{}, 0, p, p, p, p); }},
        {"add", [&] { ops::add(ctx, 0, p, p, p); }},
        {"axpy", [&] { ops::axpy(ctx, 0, 2.0f, p, p); }},
        {"scale", [&] { ops::scale(ctx, 0, 2.0f, p, p); }},
        {"add_bias_rows", [&] { ops::add_bias_rows(ctx, 0, 4, p, p); }},
        {"add_bias_channels", [&] { ops::add_bias_channels(ctx, 0, 3, 5, p, p); }},
        {"transpose_middle", [&] { ops::transpose_middle(ctx, p, 0, 2, 3, 4, p); }},
        {"dropout", [&] { ops::dropout(ctx, 0, 0.5f, 1, 0, p, p); }},
        {"im2col_1d", [&] { ops::im2col_1d(ctx, p, 0, 2, 8, 3, 1, 1, 1, 8, p); }},
        {"col2im_1d", [&] { ops::col2im_1d(ctx, p, 0, 2, 8, 3, 1, 1, 1, 8, p); }},
        {"layer_norm_forward", [&] { ops::layer_norm_forward(ctx, p, 0, 4, p, p, 1e-5f, p, p, p); }},
        {"layer_norm_backward", [&] { ops::layer_norm_backward(ctx, p, p, 0, 0, p, p, p, p, p, p); }},
        {"masked_softmax_forward", [&] { ops::masked_softmax_forward(ctx, p, 0, 3, 4, id, 1.0f, p); }},
        {"softmax_backward", [&] { ops::softmax_backward(ctx, p, p, 0, 4, 1.0f, p); }},
        {"mean_last", [&] { ops::mean_last(ctx, 0, 4, p, p); }},
        {"broadcast_last", [&] { ops::broadcast_last(ctx, 0, 4, 1.0f, p, p); }},
        {"max_pool_1d_forward", [&] { ops::max_pool_1d_forward(ctx, p, 0, 8, 3, 2, 1, 4, p, id); }},
        {"max_pool_1d_backward", [&] { ops::max_pool_1d_backward(ctx, p, id, 0, 8, 4, p); }},
        {"embedding_gather", [&] { ops::embedding_gather(ctx, p, 4, 2, id, 0, p); }},
        {"embedding_scatter_add", [&] { ops::embedding_scatter_add(ctx, p, id, 0, 4, 0, p); }},
        {"adamw_update", [&] { ops::adamw_update(ctx, 0, step, p, p, p, p); }},
        {"gemm", [&] { ops::gemm(ctx, false, false, 0, 4, 3, 1.0f, p, 3, p, 4, 0.0f, p, 4); }},
    };
    for (const auto& [name, call] : calls) {
        INFO("ops::", name);
        const auto before = fgclep_emulation::counters().launches;
        call();
        ctx.synchronize();
        CHECK(fgclep_emulation::counters().launches == before);
        CHECK(cudaGetLastError() == cudaSuccess);
    }
    // sum_squares of nothing is 0 (two tiny launches are its only way to write the device result, so it is not
    // counted here: its launch geometry for n = 0 is one block, checked by test_cuda_mapping).
    CHECK(ops::sum_squares(ctx, 0, p) == 0.0);
}
