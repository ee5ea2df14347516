// torch.save (zip) checkpoints read without Python: every dtype, views and shared storages against values saved
// alongside as safetensors (tests/fixtures/make_torch_checkpoints.py), loading a model through load_state,
// conversion to safetensors, and clear errors (never a crash, never a call) for broken or hostile files.
#include "fixture.hpp"

#include "fgclep/io/torch_checkpoint.hpp"
#include "fgclep/nn/activation.hpp"
#include "fgclep/nn/linear.hpp"
#include "fgclep/nn/sequential.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

using namespace fgclep;

namespace {
std::string fixture_path(const std::string& file) { return std::string(FGCLEP_FIXTURES) + "/" + file; }
std::vector<char> read_all(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
std::filesystem::path temp_dir() {
    auto d = std::filesystem::temp_directory_path() / "fgclep_test_torch_checkpoint";
    std::filesystem::create_directories(d);
    return d;
}
std::uint32_t u32(const std::vector<char>& b, std::size_t at) {
    std::uint32_t v;
    std::memcpy(&v, b.data() + at, 4);
    return v;
}
std::size_t find_u32(const std::vector<char>& b, std::uint32_t signature, bool last = false) {
    std::size_t found = std::string::npos;
    for (std::size_t i = 0; i + 4 <= b.size(); ++i)
        if (u32(b, i) == signature) {
            found = i;
            if (!last) break;
        }
    REQUIRE(found != std::string::npos);
    return found;
}

// Checks every tensor of a checkpoint against the expected values (F64 or I64) in a safetensors file.
void check_against(const io::TorchCheckpoint& c, const io::SafetensorsFile& expected) {
    CHECK(c.names() == expected.names());
    for (auto& name : expected.names()) {
        INFO("tensor ", name);
        CHECK(c.shape(name) == expected.shape(name));
        if (expected.entry(name).dtype == "I64")
            CHECK(c.get<std::int64_t>(name) == expected.get<std::int64_t>(name));
        else
            CHECK(c.get<double>(name) == expected.get<double>(name));
    }
}
}  // namespace

TEST_CASE("a torch.save'd dict of tensors reads with every dtype, 0-d, empty, strided and shared tensors") {
    auto c = io::TorchCheckpoint::read(fixture_path("torch_state.bin"));
    check_against(c, test::fixture("torch_state_expected.safetensors"));

    CHECK(c.tensor("f32").dtype == "F32");
    CHECK(c.tensor("f64").dtype == "F64");
    CHECK(c.tensor("f16").dtype == "F16");
    CHECK(c.tensor("bf16").dtype == "BF16");
    CHECK(c.tensor("i64").dtype == "I64");
    CHECK(c.tensor("i32").dtype == "I32");
    CHECK(c.tensor("u8").dtype == "U8");
    CHECK(c.tensor("bool").dtype == "BOOL");
    CHECK(c.shape("scalar") == Shape{});
    CHECK(c.get<float>("scalar") == std::vector<float>{3.25f});
    CHECK(c.shape("empty") == Shape{0, 3});
    CHECK(c.get<float>("empty").empty());
    CHECK(c.get<std::int64_t>("i64") == std::vector<std::int64_t>{0, -1, 1ll << 40, -(1ll << 40) - 3});
    const auto f16 = c.get<float>("f16");
    CHECK(std::vector<float>(f16.begin(), f16.begin() + 3) == std::vector<float>{1.5f, -0.25f, 65504.0f});
    CHECK(f16[3] == doctest::Approx(6e-5).epsilon(1e-3));  // a float16 subnormal
    CHECK(c.get<std::uint8_t>("bool") == std::vector<std::uint8_t>{1, 0, 1});

    // The transpose is stored as a view of its 24-element base: gathered through strides (1, 6) from offset 7.
    const auto& t = c.tensor("transposed");
    CHECK(t.shape == Shape{4, 2});
    CHECK(t.strides == std::vector<std::int64_t>{1, 6});
    CHECK(t.storage_offset == 7);
    CHECK(t.storage.size() == 24 * 4);
    // base[i, j] = (6 i + j) / 2 - 3 and transposed[j, i] = base[1 + i, 1 + j].
    CHECK(c.get<double>("transposed") == std::vector<double>{0.5, 3.5, 1, 4, 1.5, 4.5, 2, 5});

    // Two tensors on one storage, at different offsets.
    const auto& a = c.tensor("shared.a");
    const auto& b = c.tensor("shared.b");
    CHECK(a.storage_key == b.storage_key);
    CHECK(a.storage.data() == b.storage.data());
    CHECK(a.storage_offset == 2);
    CHECK(b.storage_offset == 11);
    CHECK(c.get<double>("shared.b")[0] == doctest::Approx(11.0 / 7).epsilon(1e-15));

    // An nn.Parameter is pickled through torch._utils._rebuild_parameter; it reads as its tensor.
    CHECK(c.shape("param") == Shape{2, 2});
    CHECK(c.tensor("param").dtype == "F32");

    CHECK_THROWS_WITH_AS(c.tensor("nope"), doctest::Contains("torch_state.bin' has no tensor named 'nope'"), Error);
}

TEST_CASE("an archive with ZIP64 records everywhere reads the same as the original") {
    auto c = io::TorchCheckpoint::read(fixture_path("torch_zip64.bin"));
    check_against(c, test::fixture("torch_state_expected.safetensors"));
    // The fixture really exercises ZIP64: it has the ZIP64 end record and locator.
    auto bytes = read_all(fixture_path("torch_zip64.bin"));
    find_u32(bytes, 0x06064b50u);
    find_u32(bytes, 0x07064b50u);
}

TEST_CASE("an nn.Module state_dict (OrderedDict with _metadata) reads, num_batches_tracked as int64") {
    auto c = io::TorchCheckpoint::read(fixture_path("torch_module.bin"));
    check_against(c, test::fixture("torch_module_expected.safetensors"));
    CHECK(c.tensor("1.num_batches_tracked").dtype == "I64");
    CHECK(c.shape("1.num_batches_tracked") == Shape{});
    CHECK(c.get<std::int64_t>("1.num_batches_tracked") == std::vector<std::int64_t>{3});
    CHECK(c.shape("0.weight") == Shape{4, 3});
}

using Mlp = Sequential<Linear, ReLU, Linear>;

TEST_CASE_TEMPLATE("load_state loads a model from a torch .bin exactly as from the same weights in safetensors", T,
                   float, double) {
    using B = Cpu<T>;
    Context<B> ctx;
    auto expected = test::fixture("torch_mlp_expected.safetensors");
    Model<Mlp, B> from_bin({{4, 6}, {}, {6, 3}}, 1), from_safetensors({{4, 6}, {}, {6, 3}}, 2);
    auto result = io::load_state(from_bin.arena(), ctx.state, io::TorchCheckpoint::read(fixture_path("torch_mlp.bin")));
    CHECK(result.loaded.size() == 4);
    CHECK(result.missing.empty());
    CHECK(result.unexpected.empty());
    auto safetensors_result = io::load_state(from_safetensors.arena(), ctx.state, expected, {"", false});
    CHECK(safetensors_result.unexpected == std::vector<std::string>{"x", "y"});
    CHECK(ctx.to_host(from_bin.arena().values()) == ctx.to_host(from_safetensors.arena().values()));

    auto y = from_bin.forward(ctx, test::tensor_from(ctx, expected, "x"));
    test::check_close(ctx, y, expected, "y", std::is_same_v<T, float> ? 1e-4 : 1e-12,
                      std::is_same_v<T, float> ? 1e-5 : 1e-12);

    // A file prefix (Hugging Face's "bert.") is looked up the same way as for safetensors.
    Model<Mlp, B> prefixed({{4, 6}, {}, {6, 3}});
    CHECK_THROWS_WITH_AS(
        io::load_state(prefixed.arena(), ctx.state, io::TorchCheckpoint::read(fixture_path("torch_mlp.bin")),
                       {"bert.", false}),
        doctest::Contains(
            "torch_mlp.bin' has no tensor 'bert.0.weight', which the model needs for parameter '0.weight'"),
        Error);
}

TEST_CASE("a torch checkpoint converts to safetensors with names, shapes and values; 16-bit floats become F32") {
    const auto dir = temp_dir();
    auto c = io::TorchCheckpoint::read(fixture_path("torch_state.bin"));
    auto widened = io::convert_to_safetensors(c, dir / "state.safetensors");
    CHECK(widened == std::vector<std::string>{"bf16", "f16"});
    auto s = io::SafetensorsFile::read(dir / "state.safetensors");
    auto expected = test::fixture("torch_state_expected.safetensors");
    CHECK(s.names() == expected.names());
    for (auto& name : expected.names()) {
        INFO("tensor ", name);
        CHECK(s.shape(name) == expected.shape(name));
        CHECK(s.get<double>(name) == expected.get<double>(name));
    }
    CHECK(s.entry("f32").dtype == "F32");
    CHECK(s.entry("f64").dtype == "F64");
    CHECK(s.entry("f16").dtype == "F32");
    CHECK(s.entry("bf16").dtype == "F32");
    CHECK(s.entry("i64").dtype == "I64");
    CHECK(s.entry("i32").dtype == "I32");
    CHECK(s.entry("u8").dtype == "U8");
    CHECK(s.entry("bool").dtype == "BOOL");
    CHECK(s.entry("transposed").end - s.entry("transposed").begin == 8 * 4);  // the view only, not its base
    CHECK(s.metadata().at("format") == "pt");
    std::filesystem::remove_all(dir);
}

TEST_CASE("truncated, corrupt and unsupported files are refused naming the file, record and tensor") {
    const auto dir = temp_dir();
    const auto good = read_all(fixture_path("torch_module.bin"));
    auto parse = [](std::vector<char> b, const std::string& name) {
        return io::TorchCheckpoint::parse(std::move(b), name);
    };

    auto cut = good;
    cut.resize(good.size() / 2);
    CHECK_THROWS_WITH_AS(parse(cut, "cut.bin"), doctest::Contains("'cut.bin' is not a zip file"), Error);
    CHECK_THROWS_WITH_AS(parse({'P', 'K'}, "tiny.bin"), doctest::Contains("'tiny.bin' is not a torch checkpoint"),
                         Error);
    CHECK_THROWS_WITH_AS(io::TorchCheckpoint::read(dir / "absent.bin"),
                         doctest::Contains("cannot open torch checkpoint"), Error);

    // Central directory: a bad entry signature, and an offset past the end of the file.
    auto corrupt = good;
    const std::size_t cd = find_u32(good, 0x02014b50u);
    corrupt[cd + 3] = 0x7f;
    CHECK_THROWS_WITH_AS(parse(corrupt, "corrupt.bin"),
                         doctest::Contains("'corrupt.bin' has a corrupt zip central directory: entry 0"), Error);
    auto moved = good;
    const std::size_t eocd = find_u32(good, 0x06054b50u, true);
    const std::uint32_t far = 0x7fffffff;
    std::memcpy(moved.data() + eocd + 16, &far, 4);
    CHECK_THROWS_WITH_AS(parse(moved, "moved.bin"),
                         doctest::Contains("'moved.bin' is truncated or corrupt: its central directory spans"), Error);

    // A flipped data byte fails the CRC check, naming the record.
    auto flipped = good;
    const std::size_t pkl = find_u32(good, 0x04034b50u);  // the first record is data.pkl
    flipped[pkl + 30 + 21 + 40] ^= 0x01;  // inside data.pkl's bytes (name "torch_module/data.pkl" is 21 characters)
    CHECK_THROWS_WITH_AS(parse(flipped, "flipped.bin"),
                         doctest::Contains("record 'torch_module/data.pkl' fails its CRC check"), Error);

    // A deflated record: set the method in the central directory.
    auto deflated = good;
    deflated[cd + 10] = 8;
    CHECK_THROWS_WITH_AS(parse(deflated, "deflated.bin"),
                         doctest::Contains("record 'torch_module/data.pkl' is compressed (zip method 8, deflate)"),
                         Error);

    CHECK_THROWS_WITH_AS(
        io::TorchCheckpoint::read(fixture_path("torch_missing_data.bin")),
        doctest::Contains(
            "torch_missing_data.bin': tensor '1.num_batches_tracked' needs record 'torch_module/data/6', which the file lacks"),
        Error);
    CHECK_THROWS_WITH_AS(
        io::TorchCheckpoint::read(fixture_path("torch_bigendian.bin")),
        doctest::Contains(
            "torch_bigendian.bin' was saved on a big-endian machine (record 'torch_module/byteorder' says 'big')"),
        Error);
    CHECK_THROWS_WITH_AS(io::TorchCheckpoint::read(fixture_path("torch_nested.bin")),
                         doctest::Contains("torch_nested.bin': state_dict entry 'model' is a dict, not a tensor"),
                         Error);
    CHECK_THROWS_WITH_AS(io::TorchCheckpoint::read(fixture_path("torch_mlp_expected.safetensors")),
                         doctest::Contains("is not a zip file"), Error);
    std::filesystem::remove_all(dir);
}

TEST_CASE("a pickle that references os.system is refused before anything runs") {
    std::filesystem::remove("/tmp/fgclep_pwned");
    CHECK_THROWS_WITH_AS(
        io::TorchCheckpoint::read(fixture_path("torch_evil_global.bin")),
        doctest::Contains("torch_evil_global.bin' record 'torch_module/data.pkl': refusing the global 'os.system'"),
        Error);
    CHECK_THROWS_WITH_AS(io::TorchCheckpoint::read(fixture_path("torch_evil_global.bin")),
                         doctest::Contains("(at byte 2 of the pickle)"), Error);
    CHECK_FALSE(std::filesystem::exists("/tmp/fgclep_pwned"));
}

namespace {
// Replaces data.pkl's bytes (same length) and fixes its CRC in the central directory (torch's writer leaves the
// local header's CRC and sizes to a data descriptor), so that the pickle machine, not the CRC check, sees the change.
std::vector<char> with_pickle(std::vector<char> zip, std::size_t central, std::size_t begin,
                              const std::vector<char>& pickle) {
    std::memcpy(zip.data() + begin, pickle.data(), pickle.size());
    const std::uint32_t crc = io::crc32(pickle.data(), pickle.size());
    std::memcpy(zip.data() + central + 16, &crc, 4);
    return zip;
}
}  // namespace

TEST_CASE("unknown opcodes and malformed pickles give errors naming the opcode and offset") {
    const auto good = read_all(fixture_path("torch_module.bin"));
    const std::size_t local = find_u32(good, 0x04034b50u), central = find_u32(good, 0x02014b50u);
    std::uint16_t name_len, extra_len;
    std::memcpy(&name_len, good.data() + local + 26, 2);
    std::memcpy(&extra_len, good.data() + local + 28, 2);
    std::uint32_t size;
    std::memcpy(&size, good.data() + central + 24, 4);
    REQUIRE(size > 40);
    const std::size_t begin = local + 30 + name_len + extra_len;
    std::vector<char> pickle(good.begin() + static_cast<std::ptrdiff_t>(begin),
                             good.begin() + static_cast<std::ptrdiff_t>(begin + size));
    REQUIRE(pickle[2] == 'c');  // PROTO 2, then GLOBAL collections OrderedDict

    auto bad = pickle;
    bad[2] = 'i';  // INST: an opcode a state_dict never uses
    CHECK_THROWS_WITH_AS(
        io::TorchCheckpoint::parse(with_pickle(good, central, begin, bad), "inst.bin"),
        doctest::Contains(
            "'inst.bin' record 'torch_module/data.pkl': unsupported pickle opcode 0x69 (at byte 2 of the pickle)"),
        Error);
    auto cut = pickle;
    std::fill(cut.begin() + 40, cut.end(), '(');  // MARKs to the end: no STOP
    CHECK_THROWS_WITH_AS(io::TorchCheckpoint::parse(with_pickle(good, central, begin, cut), "nostop.bin"),
                         doctest::Contains("the pickle ends without STOP"), Error);

    // Fuzz the pickle alone (CRC fixed up): byte changes either load or throw fgclep::Error, never crash.
    std::mt19937 rng(1234);
    int loaded = 0, refused = 0;
    for (int i = 0; i < 1000; ++i) {
        auto mutated = pickle;
        const int flips = 1 + static_cast<int>(rng() % 3);
        for (int k = 0; k < flips; ++k) mutated[rng() % mutated.size()] = static_cast<char>(rng() % 256);
        try {
            auto c = io::TorchCheckpoint::parse(with_pickle(good, central, begin, mutated), "fuzz.bin");
            for (auto& name : c.names()) (void)c.get<double>(name);
            ++loaded;
        } catch (const Error&) {
            ++refused;
        }
    }
    CHECK(loaded + refused == 1000);
    CHECK(refused > 0);
    MESSAGE("pickle fuzz: ", loaded, " loaded, ", refused, " refused");
}

TEST_CASE("random byte flips anywhere in a good file never crash: they load or throw fgclep::Error") {
    const auto good = read_all(fixture_path("torch_state.bin"));
    std::mt19937 rng(99);
    int loaded = 0, refused = 0;
    for (int i = 0; i < 2000; ++i) {
        auto mutated = good;
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < flips; ++k) {
            // Half the flips hit the zip headers near the end, where the central directory lies.
            const std::size_t at = (rng() % 2)
                                       ? rng() % mutated.size()
                                       : mutated.size() - 1 - rng() % std::min<std::size_t>(mutated.size(), 1200);
            mutated[at] = static_cast<char>(rng() % 256);
        }
        if (rng() % 8 == 0) mutated.resize(rng() % mutated.size());
        try {
            auto c = io::TorchCheckpoint::parse(std::move(mutated), "fuzz.bin");
            for (auto& name : c.names()) (void)c.get<double>(name);
            ++loaded;
        } catch (const Error&) {
            ++refused;
        }
    }
    CHECK(loaded + refused == 2000);
    CHECK(refused > 0);
    MESSAGE("zip fuzz: ", loaded, " loaded, ", refused, " refused");
}
