// Model and ParameterArena: state_dict names and order, layout by decay group, initialisation, freezing.
#include <doctest/doctest.h>

#include "fgclep/backend/cpu.hpp"
#include "fgclep/core/model.hpp"
#include "fgclep/nn/activation.hpp"
#include "fgclep/nn/linear.hpp"
#include "fgclep/nn/sequential.hpp"

#include <cmath>

using namespace fgclep;

using Mlp = Sequential<Named<"fc1", Linear>, GELU, Named<"fc2", Linear>>;

TEST_CASE("parameters are reported in state_dict order and laid out by decay group") {
    Model<Mlp, Cpu<float>> m({{4, 3}, {}, {3, 2}});
    auto& params = m.arena().params();
    REQUIRE(params.size() == 4);
    CHECK(params[0].name == "fc1.weight");
    CHECK(params[1].name == "fc1.bias");
    CHECK(params[2].name == "fc2.weight");
    CHECK(params[3].name == "fc2.bias");
    // Decayed weights first (12 + 6 elements), then the biases.
    CHECK(params[0].offset == 0);
    CHECK(params[2].offset == 12);
    CHECK(params[1].offset == 18);
    CHECK(params[3].offset == 21);
    CHECK(m.arena().values().numel() == 23);
    CHECK(m.parameter("fc2.weight").value.data() == m.arena().values().data() + 12);
    auto segments = m.arena().trainable_segments();
    REQUIRE(segments.size() == 2);
    CHECK(segments[0].size == 18);
    CHECK(segments[0].decay == Decay::yes);
    CHECK(segments[1].size == 5);
    CHECK(m.module().get<2>().path() == "fc2");
}

TEST_CASE("initialisation follows PyTorch's distributions and depends only on seed and name") {
    Model<Mlp, Cpu<double>> a({{400, 3}, {}, {3, 2}}, 7), b({{400, 3}, {}, {3, 2}}, 7), c({{400, 3}, {}, {3, 2}}, 8);
    auto w = a.parameter("fc1.weight").value.host();
    const double bound = 1 / std::sqrt(400.0);
    double max = 0;
    for (double v : w) max = std::max(max, std::abs(v));
    CHECK(max <= bound);
    CHECK(max > 0.9 * bound);
    CHECK(a.parameter("fc1.weight").value[5] == b.parameter("fc1.weight").value[5]);
    CHECK(a.parameter("fc1.weight").value[5] != c.parameter("fc1.weight").value[5]);
    for (double v : a.arena().grads().host()) CHECK(v == 0);
}

TEST_CASE("freezing by prefix respects dotted boundaries and rejects typos") {
    using Deep = Sequential<Linear, Linear, Linear, Linear, Linear, Linear, Linear, Linear, Linear, Linear, Linear>;
    typename Deep::Options o;
    Model<Deep, Cpu<float>> m(
        o = {{2, 2}, {2, 2}, {2, 2}, {2, 2}, {2, 2}, {2, 2}, {2, 2}, {2, 2}, {2, 2}, {2, 2}, {2, 2}}, 0, "enc");
    CHECK(m.freeze("enc.1") == 2);  // enc.1.weight, enc.1.bias; not enc.10.*
    CHECK_FALSE(m.parameter("enc.1.weight").trainable);
    CHECK(m.parameter("enc.10.weight").trainable);
    CHECK(m.parameter_count(true) == m.parameter_count() - 6);
    CHECK_THROWS_WITH_AS(m.freeze("enc.99"), doctest::Contains("no parameter is named 'enc.99' or lies under it"),
                         Error);
    // Frozen parameters split the optimizer's segments.
    CHECK(m.arena().trainable_segments().size() == 4);
    CHECK(m.unfreeze("enc") == 22);
    CHECK(m.arena().trainable_segments().size() == 2);
}

TEST_CASE("the summary lists every parameter with its shape") {
    Model<Mlp, Cpu<float>> m({{4, 3}, {}, {3, 2}});
    m.freeze("fc1");
    const std::string s = m.summary();
    CHECK(s.find("fc1.weight") != std::string::npos);
    CHECK(s.find("(3, 4)") != std::string::npos);
    CHECK(s.find("parameter (frozen)") != std::string::npos);
    CHECK(s.find("23 parameters, 8 trainable") != std::string::npos);
}

TEST_CASE("two tensors under one state_dict name are refused when the model is built") {
    using Clash = Sequential<Named<"", Linear>, Named<"", Linear>>;
    CHECK_THROWS_WITH_AS((Model<Clash, Cpu<float>>({{2, 2}, {2, 2}})),
                         doctest::Contains("two tensors of the model are both named 'weight'"), Error);
}

TEST_CASE("a moved Model keeps its arena where its parameters point") {
    Model<Mlp, Cpu<float>> a({{4, 3}, {}, {3, 2}});
    const float* values = a.arena().values().data();
    auto* arena = &a.arena();
    Model<Mlp, Cpu<float>> b = std::move(a);
    CHECK(&b.arena() == arena);
    CHECK(b.arena().values().data() == values);
    CHECK(b.parameter("fc1.weight").value.data() == values);
}
