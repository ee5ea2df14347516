// WarmupCosine: parity with Hugging Face's get_cosine_schedule_with_warmup under LambdaLR, boundaries, errors.
#include "fixture.hpp"

#include "fgclep/optim/schedule.hpp"

#include <cmath>

using namespace fgclep;

namespace {
WarmupCosine from_fixture(const io::SafetensorsFile& f, const std::string& name) {
    const auto c = f.get<double>("schedule." + name + ".config");
    return {c[0], static_cast<std::int64_t>(c[1]), static_cast<std::int64_t>(c[2]), c[3]};
}
// Relative closeness (doctest::Approx adds an absolute tolerance of epsilon, too coarse for lr ~ 1e-5).
bool close(double got, double expected, double rtol) {
    return got == expected || std::abs(got - expected) <= rtol * std::abs(expected);
}
}  // namespace

TEST_CASE("WarmupCosine gives LambdaLR's learning rate of every step, boundaries included") {
    auto f = test::fixture("optim.safetensors");
    for (std::string name : {"standard", "no_warmup", "min_lr", "tiny", "fraction"}) {
        const WarmupCosine schedule = from_fixture(f, name);
        const auto expected = f.get<double>("schedule." + name + ".lr");
        REQUIRE(expected.size() == static_cast<std::size_t>(schedule.total_steps + 1));
        for (std::int64_t k = 0; k <= schedule.total_steps; ++k) {
            INFO("schedule ", name, ", step ", k);
            CHECK(close(schedule.lr(k), expected[static_cast<std::size_t>(k)], 1e-13));
        }
    }
}

TEST_CASE("WarmupCosine boundaries: 0 at the start of a warm-up, base_lr at its end, min_lr from total_steps on") {
    const WarmupCosine s{1e-3, 10, 100};
    CHECK(s.lr(0) == 0.0);
    CHECK(close(s.lr(1), 1e-4, 1e-14));
    CHECK(close(s.lr(9), 9e-4, 1e-14));
    CHECK(s.lr(10) == 1e-3);
    CHECK(close(s.lr(55), 0.5e-3, 1e-12));  // half-way through the cosine
    CHECK(s.lr(100) == 0.0);
    CHECK(s.lr(101) == 0.0);  // clamped: the Hugging Face formula would rise again
    CHECK(s.lr(250) == 0.0);
    for (std::int64_t k = 10; k < 100; ++k) CHECK(s.lr(k + 1) < s.lr(k));

    const WarmupCosine floor{0.1, 3, 12, 0.01};
    CHECK(floor.lr(0) == 0.0);  // the warm-up starts from 0, not from min_lr (as Hugging Face's min-lr variant)
    CHECK(floor.lr(3) == 0.1);
    CHECK(floor.lr(12) == 0.01);
    CHECK(floor.lr(13) == 0.01);
    CHECK(floor.lr(11) > 0.01);

    const WarmupCosine none{2e-5, 0, 7};
    CHECK(none.lr(0) == 2e-5);
    CHECK(none.lr(7) == 0.0);

    const WarmupCosine all_warmup{1.0, 4, 4};
    CHECK(all_warmup.lr(3) == 0.75);
    CHECK(all_warmup.lr(4) == 0.0);
}

TEST_CASE("WarmupCosine::from_fraction rounds the warm-up up, as Hugging Face's warmup_ratio") {
    CHECK(WarmupCosine::from_fraction(2e-5, 1000, 0.1).warmup_steps == 100);
    CHECK(WarmupCosine::from_fraction(2e-5, 25, 0.1).warmup_steps == 3);
    CHECK(WarmupCosine::from_fraction(2e-5, 100, 0.07).warmup_steps == 8);  // 100 * 0.07 == 7.000000000000001
    CHECK(WarmupCosine::from_fraction(2e-5, 7, 0.1).warmup_steps == 1);
    CHECK(WarmupCosine::from_fraction(2e-5, 7, 0.0).warmup_steps == 0);
    CHECK(WarmupCosine::from_fraction(2e-5, 7, 1.0).warmup_steps == 7);
    const auto s = WarmupCosine::from_fraction(3e-4, 30, 0.1, 1e-5);
    CHECK(s.warmup_steps == 3);
    CHECK(s.base_lr == 3e-4);
    CHECK(s.total_steps == 30);
    CHECK(s.min_lr == 1e-5);
    auto f = test::fixture("optim.safetensors");
    const auto reference = from_fixture(f, "fraction");
    CHECK(WarmupCosine::from_fraction(reference.base_lr, reference.total_steps, 0.1).warmup_steps ==
          reference.warmup_steps);
}

TEST_CASE("WarmupCosine refuses nonsensical settings") {
    CHECK_THROWS_WITH_AS(WarmupCosine({-1e-3, 0, 10}).lr(0),
                         "fgclep: WarmupCosine needs a finite base_lr >= 0, got -0.001", Error);
    CHECK_THROWS_WITH_AS(WarmupCosine({1e-3, 0, 10, 2e-3}).lr(0),
                         "fgclep: WarmupCosine needs 0 <= min_lr <= base_lr, got min_lr = 0.002 with base_lr = 0.001",
                         Error);
    CHECK_THROWS_WITH_AS(WarmupCosine({1e-3, 0, 0}).lr(0), "fgclep: WarmupCosine needs total_steps >= 1, got 0", Error);
    CHECK_THROWS_WITH_AS(WarmupCosine({1e-3, 11, 10}).lr(0),
                         "fgclep: WarmupCosine needs 0 <= warmup_steps <= total_steps, got warmup_steps = 11 with "
                         "total_steps = 10",
                         Error);
    CHECK_THROWS_WITH_AS(WarmupCosine({1e-3, -1, 10}).validate(),
                         "fgclep: WarmupCosine needs 0 <= warmup_steps <= total_steps, got warmup_steps = -1 with "
                         "total_steps = 10",
                         Error);
    CHECK_THROWS_WITH_AS(WarmupCosine({1e-3, 1, 10}).lr(-1), "fgclep: WarmupCosine: the step must be >= 0, got -1",
                         Error);
    CHECK_THROWS_WITH_AS(WarmupCosine::from_fraction(1e-3, 10, 1.5),
                         "fgclep: WarmupCosine needs a warm-up fraction in [0, 1], got 1.5", Error);
    CHECK_THROWS_WITH_AS(WarmupCosine::from_fraction(1e-3, 0, 0.1),
                         "fgclep: WarmupCosine needs total_steps >= 1, got 0", Error);
    CHECK_NOTHROW(WarmupCosine({0.0, 0, 1}).lr(0));
}
