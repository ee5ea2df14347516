// Shape, Tensor, Context and the random number generators.
#include <doctest/doctest.h>

#include "fgclep/backend/cpu.hpp"
#include "fgclep/core/context.hpp"
#include "fgclep/core/rng.hpp"

#include <cmath>
#include <set>
#include <span>
#include <type_traits>
#include <utility>

using namespace fgclep;

TEST_CASE("Shape counts, indexes from the end and prints like PyTorch") {
    Shape s{2, 3, 4};
    CHECK(s.rank() == 3);
    CHECK(s.numel() == 24);
    CHECK(s[-1] == 4);
    CHECK(s.rows() == 6);
    CHECK(s.with_last(7) == Shape{2, 3, 7});
    CHECK(s.str() == "(2, 3, 4)");
    CHECK(Shape{5}.str() == "(5,)");
    CHECK(Shape{}.numel() == 1);
    CHECK_THROWS_WITH_AS(s[3], "fgclep: dimension 3 is out of range for a shape of rank 3", Error);
    CHECK_THROWS_AS((Shape{1, 2, 3, 4, 5, 6, 7, 8, 9}), Error);
    CHECK(fmt::format("{}", s) == "(2, 3, 4)");
}

TEST_CASE("Tensors share storage on copy, reshape and slice") {
    Context<Cpu<float>> ctx;
    auto t = ctx.from_host(Shape{3, 2}, std::vector<float>{1, 2, 3, 4, 5, 6});
    auto u = t;
    u[0] = 10;
    CHECK(t[0] == 10);
    auto r = t.reshape(Shape{2, 3});
    CHECK(r.data() == t.data());
    auto s = t.slice(1, 3);
    CHECK(s.shape() == Shape{2, 2});
    CHECK(s[0] == 3);
    CHECK_THROWS_WITH_AS(t.reshape(Shape{4, 2}),
                         "fgclep: cannot reshape a tensor of shape (3, 2) (6 elements) to (4, 2) (8 elements)", Error);
    CHECK_THROWS_AS(t.slice(2, 4), Error);
    auto c = ctx.clone(t);
    c[1] = -1;
    CHECK(t[1] == 2);
    CHECK(ctx.to_host(c) == std::vector<float>{10, -1, 3, 4, 5, 6});
    CHECK_THROWS_AS(ctx.from_host(Shape{2}, std::vector<float>{1, 2, 3}), Error);
    CHECK(reinterpret_cast<std::uintptr_t>(ctx.empty(Shape{7}).data()) % 64 == 0);
}

TEST_CASE("Context fills new tensors with the sentinel when asked") {
    Context<Cpu<double>> ctx;
    ctx.fill_new_tensors = std::nan("");
    auto t = ctx.empty(Shape{4});
    for (double v : t.host()) CHECK(std::isnan(v));
    ctx.fill_new_tensors.reset();
    auto z = ctx.zeros(Shape{4});
    for (double v : z.host()) CHECK(v == 0);
    auto ids = ctx.full<std::int32_t>(Shape{2}, 7);
    CHECK(ids[1] == 7);
}

TEST_CASE("Philox is deterministic, depends on key and counter, and is uniform enough") {
    CHECK(Philox::generate(1, 2).v[0] == Philox::generate(1, 2).v[0]);
    CHECK(Philox::generate(1, 2).v[0] != Philox::generate(1, 3).v[0]);
    CHECK(Philox::generate(1, 2).v[0] != Philox::generate(2, 2).v[0]);
    // Known-answer test from the Random123 distribution (philox4x32-10, counter 0, key 0).
    auto z = Philox::generate(0, 0);
    CHECK(z.v[0] == 0x6627e8d5u);
    CHECK(z.v[1] == 0xe169c58du);
    CHECK(z.v[2] == 0xbc57ac4cu);
    CHECK(z.v[3] == 0x9b00dbd8u);
    double sum = 0;
    const int n = 100000;
    for (int i = 0; i < n; ++i) {
        float u = Philox::uniform(42, static_cast<std::uint64_t>(i));
        REQUIRE(u >= 0.0f);
        REQUIRE(u < 1.0f);
        sum += u;
    }
    CHECK(std::abs(sum / n - 0.5) < 0.005);
}

TEST_CASE("HostRng is deterministic per seed and per name") {
    HostRng a(3), b(3), c(4);
    CHECK(a.next() == b.next());
    CHECK(a.next() != c.next());
    CHECK(HostRng::for_name(1, "x.weight").next() == HostRng::for_name(1, "x.weight").next());
    CHECK(HostRng::for_name(1, "x.weight").next() != HostRng::for_name(1, "x.bias").next());
    double s = 0, s2 = 0;
    for (int i = 0; i < 20000; ++i) {
        double v = a.normal();
        s += v;
        s2 += v * v;
    }
    CHECK(std::abs(s / 20000) < 0.05);
    CHECK(std::abs(s2 / 20000 - 1) < 0.05);
}

TEST_CASE("large CPU tensors reuse cached blocks; small ones and overflow go to the system") {
    auto& cache = cpu::CachingAllocator::instance();
    cache.release_cached();
    Context<Cpu<float>> ctx;
    const Shape big{1 << 18};  // 1 MiB of floats
    float* first = nullptr;
    {
        auto t = ctx.empty(big);
        first = t.data();
    }
    const auto before = cache.stats();
    CHECK(before.cached_bytes == std::size_t(1) << 20);
    {
        auto t = ctx.empty(big);
        CHECK(t.data() == first);  // the same block, already paged in
        CHECK(cache.stats().hits == before.hits + 1);
        CHECK(cache.stats().cached_bytes == 0);
        auto u = ctx.empty(big);  // a second live tensor of that size needs a new block
        CHECK(u.data() != first);
    }
    CHECK(cache.stats().cached_bytes == std::size_t(2) << 20);
    { auto small = ctx.empty(Shape{16}); }
    CHECK(cache.stats().cached_bytes == std::size_t(2) << 20);  // small blocks are not cached
    cache.set_limit(std::size_t(1) << 20);                      // releases what is cached, then holds at most 1 MiB
    CHECK(cache.stats().cached_bytes == 0);
    {
        auto a = ctx.empty(big);
        auto b = ctx.empty(big);
    }
    CHECK(cache.stats().cached_bytes == std::size_t(1) << 20);
    cache.set_limit(cpu::CachingAllocator::default_limit());
}

TEST_CASE("a moved-from tensor is undefined, not a dangling view") {
    Context<Cpu<float>> ctx;
    auto a = ctx.zeros(Shape{3});
    auto b = std::move(a);
    CHECK(b.defined());
    CHECK_FALSE(a.defined());  // NOLINT(bugprone-use-after-move): checking the moved-from state is the point
    CHECK(a.data() == nullptr);
    CHECK(a.numel() == 1);  // a rank-0 shape
    Tensor<Cpu<float>> c;
    c = std::move(b);
    CHECK_FALSE(b.defined());  // NOLINT(bugprone-use-after-move)
    CHECK(c.numel() == 3);
}

TEST_CASE("shapes refuse element counts that overflow, and rows() survives a zero last dimension") {
    CHECK_THROWS_WITH_AS((Shape{std::int64_t(1) << 32, std::int64_t(1) << 32}),
                         doctest::Contains("overflows a 64-bit element count"), Error);
    CHECK((Shape{3, 0}).rows() == 3);
    CHECK((Shape{3, 0}).numel() == 0);
    CHECK((Shape{}).rows() == 1);
}

TEST_CASE("the NaN sentinel fills floating-point tensors only") {
    Context<Cpu<float>> ctx;
    ctx.fill_new_tensors = std::nan("");
    auto f = ctx.empty(Shape{2});
    CHECK(std::isnan(f[0]));
    auto i = ctx.empty<std::int32_t>(Shape{2});  // must not convert NaN to int (undefined behaviour)
    CHECK(i.numel() == 2);
}

TEST_CASE("a const tensor hands out read-only elements; a tensor handle writes through") {
    using Tn = Tensor<Cpu<float>>;
    static_assert(std::is_same_v<decltype(std::declval<const Tn&>().data()), const float*>);
    static_assert(std::is_same_v<decltype(std::declval<Tn&>().data()), float*>);
    static_assert(std::is_same_v<decltype(std::declval<const Tn&>()[0]), const float&>);
    static_assert(std::is_same_v<decltype(std::declval<const Tn&>().host()), std::span<const float>>);
    Context<Cpu<float>> ctx;
    const Tn t = ctx.zeros(Shape{3});
    Tn handle = t;  // a shallow copy: the same storage, written through the non-const handle
    handle[1] = 5;
    CHECK(t[1] == 5);
}
