// Dispatch by backend type (backend/ops.hpp): a layer calls the primitives of the backend it is instantiated with,
// even when that backend and its primitives are declared after the layer's header, as backend/cuda.hpp may be.
// Here the layer headers come first; then a backend that records every primitive call and computes with the CPU's.
#include "fgclep/backend/cpu.hpp"
#include "fgclep/core/model.hpp"
#include "fgclep/nn/activation.hpp"
#include "fgclep/nn/linear.hpp"
#include "fgclep/nn/sequential.hpp"

// --- declared only now, after every layer header ---
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

namespace {
std::vector<std::string> recorded;  // the primitives the recording backend was asked for, in order

// A host backend with the CPU's memory, distinct as a type, so that its primitives are chosen by its type alone.
struct Recording : fgclep::Cpu<float> {
    static constexpr std::string_view name = "Recording";
};
}  // namespace

namespace fgclep {
template <>
struct Primitives<Recording> {
    using Cpu = Primitives<fgclep::Cpu<float>>;
    // The CPU's context type for the same state: the recording backend delegates the arithmetic.
    static Context<fgclep::Cpu<float>> cpu(Context<Recording>& ctx) {
        Context<fgclep::Cpu<float>> c;
        c.state.threads = ctx.state.threads;
        return c;
    }
    template <class... A>
    static void gemm(Context<Recording>& ctx, A&&... a) {
        recorded.push_back("gemm");
        auto c = cpu(ctx);
        Cpu::gemm(c, std::forward<A>(a)...);
    }
    template <class... A>
    static void add_bias_rows(Context<Recording>& ctx, A&&... a) {
        recorded.push_back("add_bias_rows");
        auto c = cpu(ctx);
        Cpu::add_bias_rows(c, std::forward<A>(a)...);
    }
    template <class... A>
    static void sum_rows(Context<Recording>& ctx, A&&... a) {
        recorded.push_back("sum_rows");
        auto c = cpu(ctx);
        Cpu::sum_rows(c, std::forward<A>(a)...);
    }
    template <class F, class... A>
    static void unary(Context<Recording>& ctx, F f, A&&... a) {
        recorded.push_back("unary");
        auto c = cpu(ctx);
        Cpu::unary(c, f, std::forward<A>(a)...);
    }
    template <class F, class... A>
    static void unary_backward(Context<Recording>& ctx, F f, A&&... a) {
        recorded.push_back("unary_backward");
        auto c = cpu(ctx);
        Cpu::unary_backward(c, f, std::forward<A>(a)...);
    }
};
}  // namespace fgclep

using namespace fgclep;

TEST_CASE("a layer calls the primitives of its backend type, declared after the layer headers") {
    static_assert(Backend<Recording>);
    recorded.clear();
    Model<Sequential<Linear, ReLU>, Recording> recording({{3, 2}, {}}, /*seed=*/1);
    Model<Sequential<Linear, ReLU>, Cpu<float>> cpu({{3, 2}, {}}, /*seed=*/1);
    Context<Recording> rctx;
    Context<Cpu<float>> cctx;
    rctx.training = cctx.training = true;
    const std::vector<float> x{0.5f, -1.f, 2.f, 1.5f, 0.25f, -0.75f};
    const auto yr = rctx.to_host(recording.forward(rctx, rctx.from_host(Shape{2, 3}, x)));
    const auto yc = cctx.to_host(cpu.forward(cctx, cctx.from_host(Shape{2, 3}, x)));
    CHECK(recorded == std::vector<std::string>{"gemm", "add_bias_rows", "unary"});
    CHECK(yr == yc);  // same initialisation, same arithmetic

    recorded.clear();
    recording.zero_grad(rctx);
    recording.backward(rctx, rctx.full(Shape{2, 2}, 1.0f));
    CHECK(recorded == std::vector<std::string>{"unary_backward", "gemm", "gemm", "sum_rows"});
}
