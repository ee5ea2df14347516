// Dropout: statistics of the mask, determinism from (seed, offset), fresh masks on successive calls, backward
// through the same mask, eval/p=0/p=1 behaviour, gradient check in train and eval mode, errors.
#include "fixture.hpp"

#include "fgclep/nn/dropout.hpp"
#include "fgclep/testing/gradcheck.hpp"

#include <cmath>

using namespace fgclep;
using test::random_tensor;

TEST_CASE_TEMPLATE("Dropout keeps about 1 - p of 1e5 elements and scales them by 1 / (1 - p)", T, float, double) {
    using B = Cpu<T>;
    const std::int64_t n = 100000;
    for (double p : {0.1, 0.5, 0.9}) {
        INFO("p = ", p);
        Context<B> ctx;
        ctx.training = true;
        Model<Dropout, B> model(Dropout::Options{p});
        auto x = random_tensor(ctx, Shape{n}, 3);
        auto y = model.forward(ctx, x);
        CHECK(ctx.offset == std::uint64_t(n));
        std::int64_t kept = 0;
        double worst = 0;
        for (std::int64_t i = 0; i < n; ++i) {
            if (y[i] == T(0)) continue;
            ++kept;
            worst = std::max(worst, std::abs(double(y[i]) - double(x[i]) / (1 - p)) / std::abs(double(x[i]) / (1 - p)));
        }
        // The kept fraction is binomial: its standard deviation is sqrt(p (1 - p) / n) <= 0.0016; allow 5 of them.
        const double fraction = double(kept) / double(n), sigma = std::sqrt(p * (1 - p) / double(n));
        CHECK(std::abs(fraction - (1 - p)) < 5 * sigma);
        CHECK(worst < (std::is_same_v<T, float> ? 1e-6 : 1e-14));
    }
}

TEST_CASE("Dropout's mask depends only on seed and offset, and moves on with every call") {
    using B = Cpu<float>;
    Model<Dropout, B> model(Dropout::Options{0.5});
    Context<B> a, b;
    a.training = b.training = true;
    auto x = a.full(Shape{1000}, 1.0f);
    auto ya = a.to_host(model.forward(a, x));
    auto yb = b.to_host(model.forward(b, x));
    CHECK(ya == yb);  // same seed, same offset 0
    auto ya2 = a.to_host(model.forward(a, x));
    CHECK(ya2 != ya);  // the second call draws counters 1000..1999
    CHECK(a.offset == 2000);
    Context<B> c;
    c.training = true;
    c.offset = 1000;
    CHECK(c.to_host(model.forward(c, x)) == ya2);  // so the stream can be resumed from a checkpoint
    Context<B> d;
    d.training = true;
    d.seed = 12345;
    CHECK(d.to_host(model.forward(d, x)) != ya);
}

TEST_CASE_TEMPLATE("Dropout's backward applies the mask of its forward pass", T, float, double) {
    using B = Cpu<T>;
    Context<B> ctx;
    ctx.training = true;
    Model<Dropout, B> model(Dropout::Options{0.3});
    auto x = random_tensor(ctx, Shape{40, 50}, 1);
    auto y = model.forward(ctx, x);
    auto other = Model<Dropout, B>(Dropout::Options{0.3});
    other.forward(ctx, x);  // another layer draws in between: the mask must not change
    auto dy = random_tensor(ctx, Shape{40, 50}, 2);
    auto dx = model.backward(ctx, dy);
    int dropped = 0;
    for (std::int64_t i = 0; i < x.numel(); ++i) {
        if (y[i] == T(0)) {
            ++dropped;
            CHECK(dx[i] == T(0));
        } else {
            CHECK(dx[i] == doctest::Approx(double(dy[i]) / 0.7).epsilon(1e-6));
        }
    }
    CHECK(dropped > 0);
}

TEST_CASE("Dropout is the identity in eval mode and for p = 0, and gives zeros for p = 1") {
    using B = Cpu<float>;
    Context<B> ctx;
    auto x = random_tensor(ctx, Shape{4, 5}, 7);
    Model<Dropout, B> model(Dropout::Options{0.5});
    auto y = model.forward(ctx, x);  // eval
    CHECK(y.data() == x.data());     // no copy
    CHECK(ctx.offset == 0);          // and no random numbers used
    CHECK(model.backward(ctx, x).data() == x.data());

    ctx.training = true;
    Model<Dropout, B> none(Dropout::Options{0.0});
    CHECK(none.forward(ctx, x).data() == x.data());
    CHECK(none.backward(ctx, x).data() == x.data());

    Model<Dropout, B> all(Dropout::Options{1.0});
    auto z = all.forward(ctx, x);
    auto dz = all.backward(ctx, x);
    for (std::int64_t i = 0; i < x.numel(); ++i) {
        CHECK(z[i] == 0.0f);  // not NaN from 0 * inf
        CHECK(dz[i] == 0.0f);
    }
}

TEST_CASE("Dropout passes the gradient check in train and eval mode") {
    using B = Cpu<double>;
    for (bool training : {true, false}) {
        INFO("training ", training);
        Context<B> ctx;
        ctx.training = training;
        ctx.offset = 77;
        Model<Dropout, B> model(Dropout::Options{0.3});
        auto result = testing::gradcheck(model, ctx, random_tensor(ctx, Shape{6, 7}, 4));
        INFO(result.report());
        CHECK(result.ok);
        CHECK(result.checked == 42);
        CHECK(ctx.offset == 77);  // every evaluation drew the same counters: the checker rewinds the stream
    }
}

TEST_CASE("Dropout rejects p outside [0, 1] and misuse, naming itself") {
    using B = Cpu<float>;
    CHECK_THROWS_WITH_AS(([] { Model<Dropout, B> m(Dropout::Options{1.5}); }()),
                         "fgclep: Dropout needs p in [0, 1], got 1.5", Error);
    CHECK_THROWS_WITH_AS(([] { Model<Dropout, B> m(Dropout::Options{-0.1}); }()),
                         "fgclep: Dropout needs p in [0, 1], got -0.1", Error);
    CHECK_THROWS_AS(([] { Model<Dropout, B> m(Dropout::Options{std::nan("")}); }()), Error);
    Context<B> ctx;
    ctx.training = true;
    Model<Dropout, B> model(Dropout::Options{0.1}, 0, "text.encoder.layer.2.output.dropout");
    CHECK_THROWS_WITH_AS(model.backward(ctx, ctx.zeros(Shape{2})),
                         "fgclep: text.encoder.layer.2.output.dropout (Dropout): backward needs a forward pass first",
                         Error);
    model.forward(ctx, ctx.zeros(Shape{2, 3}));
    CHECK_THROWS_WITH_AS(model.backward(ctx, ctx.zeros(Shape{3, 2})),
                         "fgclep: text.encoder.layer.2.output.dropout (Dropout): expected an output gradient of shape "
                         "(2, 3), got (3, 2)",
                         Error);
}
