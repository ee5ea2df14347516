// Linear: PyTorch parity (forward, input and parameter gradients), gradient check, errors, freezing.
#include "fixture.hpp"

#include "fgclep/nn/linear.hpp"
#include "fgclep/testing/gradcheck.hpp"

using namespace fgclep;

TEST_CASE_TEMPLATE("Linear matches torch.nn.Linear", T, float, double) {
    using B = Cpu<T>;
    auto f = test::fixture("linear_composition.safetensors");
    Context<B> ctx;
    ctx.training = true;
    Model<Linear, B> model(Linear::Options{5, 3});
    test::load_weights(model, ctx, f, "linear.");
    auto y = model.forward(ctx, test::tensor_from(ctx, f, "linear.x"));
    test::check_close(ctx, y, f, "linear.y");
    model.zero_grad(ctx);
    auto dx = model.backward(ctx, test::tensor_from(ctx, f, "linear.dy"));
    test::check_close(ctx, dx, f, "linear.dx");
    test::check_close(ctx, model.parameter("weight").grad, f, "linear.grad.weight");
    test::check_close(ctx, model.parameter("bias").grad, f, "linear.grad.bias");
}

TEST_CASE("Linear passes the gradient check, with and without bias") {
    using B = Cpu<double>;
    for (bool bias : {true, false}) {
        Context<B> ctx;
        ctx.training = true;
        Model<Linear, B> model(Linear::Options{6, 4, bias}, 3);
        HostRng rng(1);
        std::vector<double> x(3 * 2 * 6);
        for (auto& v : x) v = rng.normal();
        auto result = testing::gradcheck(model, ctx, ctx.from_host(Shape{3, 2, 6}, x));
        INFO(result.report());
        CHECK(result.ok);
        CHECK(result.checked == 36 + 24 + (bias ? 4 : 0));
    }
}

namespace {
struct Broken {
    struct Options {};
    static constexpr std::string_view name = "Broken";
    template <Backend B>
    struct impl : Linear::impl<B> {
        explicit impl(const Options&) : Linear::impl<B>(Linear::Options{3, 2}) {}
        Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
            B::fill(ctx.state, this->weight.grad.data(), this->weight.grad.numel(), typename B::value_type(0));
            return Linear::impl<B>::backward(ctx, dy);
        }
    };
};
}  // namespace

TEST_CASE("the gradient checker catches a layer that assigns parameter gradients instead of accumulating") {
    // A Linear whose weight gradient is written with beta = 0 would pass a naive check; the random G0
    // pre-fill must expose it. We simulate the bug by zeroing the gradient arena inside backward.
    using B = Cpu<double>;
    Context<B> ctx;
    ctx.training = true;
    Model<Broken, B> model;
    auto result = testing::gradcheck(model, ctx, ctx.from_host(Shape{2, 3}, std::vector<double>{1, 2, 3, 4, 5, 6}));
    CHECK_FALSE(result.ok);
}

TEST_CASE("Linear reports a wrong input shape with its module path") {
    using B = Cpu<float>;
    Context<B> ctx;
    Model<Linear, B> model(Linear::Options{5, 3}, 0, "text.proj");
    CHECK_THROWS_WITH_AS(model.forward(ctx, ctx.zeros(Shape{2, 4})),
                         "fgclep: text.proj (Linear): expected input (*, 5), got (2, 4)", Error);
    CHECK_THROWS_WITH_AS(model.backward(ctx, ctx.zeros(Shape{2, 3})),
                         "fgclep: text.proj (Linear): backward needs a forward pass in training mode first", Error);
    CHECK_THROWS_AS(([] { Model<Linear, B> m(Linear::Options{0, 3}); }()), Error);
}

TEST_CASE("a frozen Linear leaves its gradients alone but still passes the input gradient back") {
    using B = Cpu<double>;
    Context<B> ctx;
    ctx.training = true;
    Model<Linear, B> model(Linear::Options{4, 2});
    CHECK(model.freeze("weight") == 1);
    auto result = testing::gradcheck(model, ctx, ctx.from_host(Shape{1, 4}, std::vector<double>{0.5, -1, 2, 0.1}));
    INFO(result.report());
    CHECK(result.ok);
}

TEST_CASE("a wrong output gradient leaves the saved input, so backward can be retried") {
    using B = Cpu<float>;
    Context<B> ctx;
    ctx.training = true;
    Model<Linear, B> model(Linear::Options{3, 2});
    model.forward(ctx, ctx.zeros(Shape{4, 3}));
    CHECK_THROWS_AS(model.backward(ctx, ctx.zeros(Shape{4, 5})), Error);
    CHECK(model.backward(ctx, ctx.zeros(Shape{4, 2})).shape() == Shape{4, 3});
}

TEST_CASE("GEMM thread counts are per context and leave Eigen's and OpenMP's settings alone") {
    using B = Cpu<float>;
    const int eigen_before = Eigen::nbThreads();
#if defined(_OPENMP)
    const int omp_before = omp_get_max_threads();
#endif
    Context<B> one(B::State{1});
    Model<Linear, B> model(Linear::Options{64, 64});
    model.forward(one, one.zeros(Shape{256, 64}));
    CHECK(Eigen::nbThreads() == eigen_before);
#if defined(_OPENMP)
    CHECK(omp_get_max_threads() == omp_before);
#endif
}

namespace {
// Forgets to write its first output element.
struct Forgetful {
    struct Options {};
    static constexpr std::string_view name = "Forgetful";
    template <Backend B>
    struct impl : Module {
        explicit impl(const Options&) : Module(Forgetful::name) {}
        template <class V>
        void visit(V&) {}
        Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
            Tensor<B> y = ctx.empty(x.shape());
            for (std::int64_t i = 1; i < x.numel(); ++i) y.data()[i] = x.data()[i];
            return y;
        }
        Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) { return ctx.clone(dy); }
    };
};
}  // namespace

TEST_CASE("the gradient checker catches an output element the forward pass never writes") {
    using B = Cpu<double>;
    Context<B> ctx;
    ctx.training = true;
    Model<Forgetful, B> model;
    auto result = testing::gradcheck(model, ctx, ctx.from_host(Shape{3}, std::vector<double>{1, 2, 3}));
    CHECK_FALSE(result.ok);
    CHECK(result.report().find("output element 0 was never written") != std::string::npos);
    CHECK_FALSE(ctx.fill_new_tensors.has_value());  // the sentinel does not leak into the caller's context
}

TEST_CASE("ops::matmul reads tensors as (rows, last) matrices and refuses shapes that do not fit") {
    using B = Cpu<double>;
    Context<B> ctx;
    const Tensor<B> a = ctx.from_host(Shape{2, 1, 3}, std::vector<double>{1, 2, 3, 4, 5, 6});  // (2, 3)
    const Tensor<B> w = ctx.from_host(Shape{2, 3}, std::vector<double>{1, 0, 1, 0, 1, 0});
    Tensor<B> y = ctx.zeros(Shape{2, 1, 2});
    ops::matmul(ctx, a, w, y, {.trans_b = true});  // y = a w^T
    CHECK(ctx.to_host(y) == std::vector<double>{4, 2, 10, 5});
    ops::matmul(ctx, a, w, y, {.trans_b = true, .alpha = 0.5, .beta = 1});  // accumulates
    CHECK(ctx.to_host(y) == std::vector<double>{6, 3, 15, 7.5});
    Tensor<B> wrong = ctx.zeros(Shape{3, 2});
    CHECK_THROWS_WITH_AS(ops::matmul(ctx, a, w, wrong, {.trans_b = true}),
                         "fgclep: matmul: (2, 1, 3) times (2, 3)^T does not fit into (3, 2)", Error);
}
