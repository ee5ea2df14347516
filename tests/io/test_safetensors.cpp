// safetensors reading and writing, and state_dict loading by name: round trips, the byte layout Python reads,
// and clear errors for truncated or corrupt files.
#include "fixture.hpp"

#include "fgclep/nn/activation.hpp"
#include "fgclep/nn/linear.hpp"
#include "fgclep/nn/sequential.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>

using namespace fgclep;

namespace {
std::filesystem::path temp_dir() {
    auto d = std::filesystem::temp_directory_path() / "fgclep_test_safetensors";
    std::filesystem::create_directories(d);
    return d;
}
std::vector<char> read_all(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_all(const std::filesystem::path& p, const std::vector<char>& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
}  // namespace

TEST_CASE("a written safetensors file reads back with dtypes, shapes, values and metadata") {
    const auto path = temp_dir() / "roundtrip.safetensors";
    io::SafetensorsWriter w;
    std::vector<float> a{1.5f, -2, 3, 4, 5, 6};
    std::vector<std::int64_t> n{42};
    w.add<float>("layer.weight", Shape{2, 3}, a);
    w.add<std::int64_t>("layer.num_batches_tracked", Shape{}, n);
    w.metadata("format", "pt");
    w.write(path);
    CHECK_FALSE(std::filesystem::exists(path.string() + ".tmp"));

    auto bytes = read_all(path);
    std::uint64_t header_len;
    std::memcpy(&header_len, bytes.data(), 8);
    CHECK(header_len % 8 == 0);
    CHECK(bytes.size() == 8 + header_len + 6 * 4 + 8);

    auto f = io::SafetensorsFile::read(path);
    CHECK(f.names() == std::vector<std::string>{"layer.num_batches_tracked", "layer.weight"});
    CHECK(f.entry("layer.weight").dtype == "F32");
    CHECK(f.shape("layer.weight") == Shape{2, 3});
    CHECK(f.get<float>("layer.weight") == a);
    CHECK(f.get<double>("layer.weight")[0] == 1.5);
    CHECK(f.get<std::int64_t>("layer.num_batches_tracked")[0] == 42);
    CHECK(f.metadata().at("format") == "pt");
    CHECK_THROWS_WITH_AS(f.entry("nope"), doctest::Contains("has no tensor named 'nope'"), Error);
}

TEST_CASE("files written by Python's fixture writer are read (the format is the real one)") {
    auto f = test::fixture("linear_composition.safetensors");
    CHECK(f.entry("linear.weight").dtype == "F64");
    CHECK(f.shape("linear.weight") == Shape{3, 5});
    CHECK(f.metadata().at("made_by") == "tests/fixtures/make_linear_composition.py");
}

TEST_CASE("truncated and corrupt files give errors that name the file and the tensor") {
    const auto dir = temp_dir();
    io::SafetensorsWriter w;
    std::vector<double> v(10, 1.0);
    w.add<double>("x", Shape{10}, v);
    w.write(dir / "good.safetensors");
    auto good = read_all(dir / "good.safetensors");

    auto cut = good;
    cut.resize(cut.size() - 9);
    write_all(dir / "cut.safetensors", cut);
    CHECK_THROWS_WITH_AS(
        io::SafetensorsFile::read(dir / "cut.safetensors"),
        doctest::Contains(
            "cut.safetensors' is truncated or corrupt: tensor 'x' spans bytes [0, 80) of a 71-byte data section"),
        Error);

    auto tiny = good;
    tiny.resize(5);
    write_all(dir / "tiny.safetensors", tiny);
    CHECK_THROWS_WITH_AS(io::SafetensorsFile::read(dir / "tiny.safetensors"),
                         doctest::Contains("is not a safetensors file"), Error);

    auto garbled = good;
    garbled[9] = '#';  // breaks the JSON header
    write_all(dir / "garbled.safetensors", garbled);
    CHECK_THROWS_WITH_AS(io::SafetensorsFile::read(dir / "garbled.safetensors"),
                         doctest::Contains("garbled.safetensors' has a malformed safetensors header"), Error);

    auto huge = good;
    const std::uint64_t bogus = 1ull << 40;
    std::memcpy(huge.data(), &bogus, 8);
    write_all(dir / "huge.safetensors", huge);
    CHECK_THROWS_WITH_AS(io::SafetensorsFile::read(dir / "huge.safetensors"),
                         doctest::Contains("the header claims 1099511627776 bytes"), Error);
    CHECK_THROWS_WITH_AS(io::SafetensorsFile::read(dir / "absent.safetensors"),
                         doctest::Contains("cannot open safetensors file"), Error);
    std::filesystem::remove_all(dir);
}

using Mlp = Sequential<Linear, ReLU, Linear>;

TEST_CASE("a model's state saves and loads by state_dict name, with clear errors for mismatches") {
    const auto dir = temp_dir();
    Context<Cpu<float>> ctx;
    Model<Mlp, Cpu<float>> a({{3, 4}, {}, {4, 2}}, 1), b({{3, 4}, {}, {4, 2}}, 2);
    io::SafetensorsWriter w;
    io::add_state(w, a.arena(), ctx.state, "ecg.");
    w.write(dir / "a.safetensors");

    auto result = io::load_state(b.arena(), ctx.state, dir / "a.safetensors", {"ecg.", false});
    CHECK(result.loaded.size() == 4);
    CHECK(result.unexpected.empty());
    CHECK(ctx.to_host(b.arena().values()) == ctx.to_host(a.arena().values()));

    Model<Mlp, Cpu<float>> wide({{3, 5}, {}, {5, 2}});
    CHECK_THROWS_WITH_AS(
        io::load_state(wide.arena(), ctx.state, dir / "a.safetensors", {"ecg.", false}),
        doctest::Contains("tensor 'ecg.0.weight' has shape (4, 3), but the model's '0.weight' has shape (5, 3)"),
        Error);
    CHECK_THROWS_WITH_AS(
        io::load_state(b.arena(), ctx.state, dir / "a.safetensors", {"text.", false}),
        doctest::Contains("has no tensor 'text.0.weight', which the model needs for parameter '0.weight'"), Error);
    auto lenient = io::load_state(b.arena(), ctx.state, dir / "a.safetensors", {"text.", true});
    CHECK(lenient.missing.size() == 4);
    CHECK(lenient.unexpected.size() == 4);
    std::filesystem::remove_all(dir);
}

TEST_CASE("a load that fails part-way leaves the model unchanged") {
    const auto dir = temp_dir();
    Context<Cpu<float>> ctx;
    Model<Mlp, Cpu<float>> source({{3, 4}, {}, {4, 2}}, 1), target({{3, 4}, {}, {4, 5}}, 2);
    io::SafetensorsWriter w;
    io::add_state(w, source.arena(), ctx.state);
    w.write(dir / "partial.safetensors");
    const auto before = ctx.to_host(target.arena().values());
    // 0.weight and 0.bias match, 2.weight does not: nothing may be written.
    CHECK_THROWS_WITH_AS(
        io::load_state(target.arena(), ctx.state, dir / "partial.safetensors"),
        doctest::Contains("tensor '2.weight' has shape (2, 4), but the model's '2.weight' has shape (5, 4)"), Error);
    CHECK(ctx.to_host(target.arena().values()) == before);
    std::filesystem::remove_all(dir);
}

TEST_CASE("a header whose shape overflows the element count is refused, naming the file and tensor") {
    const auto dir = temp_dir();
    const std::string header = R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})";
    std::vector<char> bytes(8);
    const std::uint64_t len = header.size();
    std::memcpy(bytes.data(), &len, 8);
    bytes.insert(bytes.end(), header.begin(), header.end());
    write_all(dir / "overflow.safetensors", bytes);
    CHECK_THROWS_WITH_AS(io::SafetensorsFile::read(dir / "overflow.safetensors"),
                         doctest::Contains("overflow.safetensors': tensor 'x' has an invalid shape"), Error);
    std::filesystem::remove_all(dir);
}
