// The gradient checker itself: what it samples, and the errors its pass rule must catch (a small gradient that is
// wrong by a percent, a tensor whose gradient is zero everywhere) and must not raise (a zero expected by design).
#include <doctest/doctest.h>

#include "fgclep/fgclep.hpp"
#include "fgclep/testing/gradcheck.hpp"

#include <algorithm>
#include <set>

using namespace fgclep;

namespace {
// y = x + scale * w (w broadcast over the rows), with backward's dw off by the relative `error`, and a second
// parameter `unused` the forward pass never reads.
struct ScaledShift {
    struct Options {
        std::int64_t features = 3;
        double scale = 1;
        double error = 0;
    };
    static constexpr std::string_view name = "ScaledShift";
    template <Backend B>
    struct impl : Module {
        Options options;
        Param<B> w, unused;
        explicit impl(const Options& o)
            : Module(ScaledShift::name),
              options(o),
              w("w", {o.features}, Decay::no, Init::normal(1.0)),
              unused("unused", {o.features}, Decay::no, Init::normal(1.0)) {}
        template <class V>
        void visit(V& v) {
            v.param(w);
            v.param(unused);
        }
        Tensor<B> forward(Context<B>& ctx, const Tensor<B>& x) {
            Tensor<B> y = ctx.clone(x);
            const std::int64_t rows = x.numel() / options.features;
            for (std::int64_t r = 0; r < rows; ++r)
                for (std::int64_t j = 0; j < options.features; ++j)
                    y.data()[r * options.features + j] += options.scale * w.value.data()[j];
            return y;
        }
        Tensor<B> backward(Context<B>& ctx, const Tensor<B>& dy) {
            const std::int64_t rows = dy.numel() / options.features;
            for (std::int64_t r = 0; r < rows; ++r)
                for (std::int64_t j = 0; j < options.features; ++j)
                    w.grad.data()[j] += (1 + options.error) * options.scale * dy.data()[r * options.features + j];
            return ctx.clone(dy);
        }
    };
};

// At x = 0 the probe is small, so its central differences keep their digits even for a tiny w gradient.
testing::GradcheckResult check_shift(ScaledShift::Options o, testing::GradcheckOptions checker = {}) {
    using B = Cpu<double>;
    Context<B> ctx;
    ctx.training = true;
    Model<ScaledShift, B> model(o, 3);
    return testing::gradcheck(model, ctx, ctx.from_host(Shape{2, o.features}, std::vector<double>(2 * o.features, 0.0)),
                              checker);
}
}  // namespace

TEST_CASE("the gradient checker samples distinct elements, one per stratum, the ends included") {
    HostRng rng(1);
    for (std::int64_t n : {1, 7, 200, 201, 1000, 12345}) {
        const auto idx = testing::detail::sample_indices(n, 200, rng);
        CHECK(static_cast<std::int64_t>(idx.size()) == std::min<std::int64_t>(n, 200));
        CHECK(std::set<std::int64_t>(idx.begin(), idx.end()).size() == idx.size());
        CHECK(std::is_sorted(idx.begin(), idx.end()));
        CHECK(idx.front() == 0);
        CHECK(idx.back() == n - 1);
        if (n > 200)
            for (std::size_t s = 0; s < idx.size(); ++s) {  // stratum s is [s n / k, (s + 1) n / k)
                CHECK(idx[s] >= static_cast<std::int64_t>(s) * n / 200);
                CHECK(idx[s] < static_cast<std::int64_t>(s + 1) * n / 200);
            }
    }
}

TEST_CASE("the gradient checker holds small gradients to a relative error") {
    // dw is about 1e-5; a 1 % error in it is 1e-7 absolute, which an absolute rule at tolerance 1e-6 would pass.
    auto result = check_shift({.scale = 1e-5, .error = 0.01}, {.expect_zero_gradient = {"unused"}});
    CHECK_FALSE(result.ok);
    CHECK(result.max_error == doctest::Approx(0.01).epsilon(1e-3));
    CHECK(result.worst.starts_with("w["));
    CHECK(result.report().find("w[0]: analytic") != std::string::npos);
    // The same layer without the error passes, and reports its worst relative error.
    result = check_shift({.scale = 1e-5}, {.expect_zero_gradient = {"unused"}});
    INFO(result.report());
    CHECK(result.ok);
    CHECK(result.max_error < 1e-6);
    CHECK(result.checked == 6 + 3 + 3);  // input, w, unused
}

TEST_CASE("the gradient checker refuses a tensor whose gradient is zero everywhere, unless told to expect it") {
    auto result = check_shift({});
    CHECK_FALSE(result.ok);
    CHECK(result.report().find("unused: the gradient is zero at all 3 checked elements") != std::string::npos);
    // Told, it checks the analytic gradient is zero too.
    CHECK(check_shift({}, {.expect_zero_gradient = {"unused"}}).ok);
    // A name matches as a whole path component: "shift.unused" would match "unused", "nused" does not.
    CHECK_FALSE(check_shift({}, {.expect_zero_gradient = {"nused"}}).ok);
    // An expected zero that is not zero fails.
    result = check_shift({}, {.expect_zero_gradient = {"unused", "w"}});
    CHECK_FALSE(result.ok);
    CHECK(result.report().find("w: expected a zero gradient") != std::string::npos);
}
