// torch.save (zip) checkpoints read without Python: every dtype, views and shared storages against values saved
// alongside as safetensors (tests/fixtures/make_torch_checkpoints.py), loading a model through load_state,
// conversion to safetensors, and clear errors (never a crash, never a call) for broken or hostile files.
#include "fixture.hpp"
#include "io/resident_memory.hpp"
#include "io/torch_zip.hpp"

#include "fgclep/io/torch_checkpoint.hpp"
#include "fgclep/nn/activation.hpp"
#include "fgclep/nn/linear.hpp"
#include "fgclep/nn/sequential.hpp"

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <type_traits>

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

namespace {
template <class T>
std::span<const char> as_bytes(const std::vector<T>& v) {
    return {reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T)};
}
}  // namespace

TEST_CASE("a 64 MiB torch checkpoint is read through a memory map: resident memory grows by its size, not twice") {
    const auto dir = temp_dir();
    const auto path = dir / "large.bin";
    // One 32 MiB storage (as BERT's word embeddings are the largest) and eight of 4 MiB, aligned as torch does.
    constexpr std::int64_t big = 8 << 20, small = 1 << 20, layers = 8;
    {
        std::vector<float> embeddings(static_cast<std::size_t>(big));
        for (std::size_t i = 0; i < embeddings.size(); ++i) embeddings[i] = static_cast<float>(i % 1000) * 0.5f;
        std::vector<std::vector<float>> weights;
        std::vector<test::TorchZipTensor> tensors{
            {"embeddings", "torch.FloatStorage", "0", big, 0, {big / 1024, 1024}, {1024, 1}}};
        std::vector<std::pair<std::string, std::span<const char>>> storages{{"0", as_bytes(embeddings)}};
        weights.reserve(layers);
        for (std::int64_t k = 0; k < layers; ++k) {
            weights.emplace_back(static_cast<std::size_t>(small), static_cast<float>(k));
            const std::string key = std::to_string(k + 1);
            tensors.push_back({"layer." + std::to_string(k) + ".weight",
                               "torch.FloatStorage",
                               key,
                               small,
                               0,
                               {1024, small / 1024},
                               {small / 1024, 1}});
            storages.emplace_back(key, as_bytes(weights.back()));
        }
        test::write_torch_zip(path, "large", tensors, storages);
    }
    const std::int64_t tensor_bytes = (big + layers * small) * 4;

    // The peak of the resident set while the checkpoint is open and every tensor is converted into a model-sized
    // destination (one vector per tensor, as load_state holds them), against the resident set before.
    const bool measured = test::reset_peak_resident_memory();
    const auto before = test::resident_memory();
    std::vector<std::vector<float>> model;
    {
        const auto c = io::TorchCheckpoint::read(path);
        model.reserve(c.names().size());
        for (auto& name : c.names()) model.push_back(c.get<float>(name));
    }
    const auto after = test::resident_memory();

    REQUIRE(model.size() == layers + 1);
    CHECK(model[0].size() == static_cast<std::size_t>(big));
    CHECK(model[0][1999] == 499.5f);
    CHECK(model[0][static_cast<std::size_t>(big) - 1] == static_cast<float>((big - 1) % 1000) * 0.5f);
    CHECK(model[layers][12345] == static_cast<float>(layers - 1));
    const double peak = static_cast<double>(after.peak - before.rss) / static_cast<double>(tensor_bytes);
    const double held = static_cast<double>(after.rss - before.rss) / static_cast<double>(tensor_bytes);
    MESSAGE("reading a ", tensor_bytes >> 20, " MiB torch checkpoint: peak resident growth ", peak,
            "x the tensor bytes, ", held, "x held after the file is closed");
    if (!measured) {
        MESSAGE("VmHWM cannot be reset here (/proc/self/clear_refs): the peak is not checked");
    } else {
        // The destination is 1x; the mapped pages of the record being checked or converted add a few MiB (the
        // CRC check reads each record whole: the largest, 32 MiB, before the destination exists). Reading the file
        // into a buffer first, as fgclep did before, peaks at 2x or more. 1.3 leaves room for the allocator and the
        // kernel's fault-around without letting a second copy of the data pass.
        CHECK(peak < 1.3);
        CHECK(peak > 0.9);
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("every dtype converts from records at odd offsets: unaligned mapped bytes, contiguous or strided") {
    const auto dir = temp_dir();
    const std::vector<std::uint16_t> f16{0x3E00, 0xB400, 0x7BFF,
                                         0x0001, 0xFC00, 0x3C00};   // 1.5 -0.25 65504 2^-24 -inf 1
    const std::vector<std::uint16_t> bf16{0x3FC0, 0xC000, 0x7F7F};  // 1.5, -2, the largest finite bfloat16
    const std::vector<float> f32{0.1f, -3.5f, 1e30f, 4.0f};
    const std::vector<double> f64{0.1, -1e300};
    const std::vector<std::int64_t> i64{-5, 1ll << 40};
    const std::vector<std::int32_t> i32{-7, 1 << 30};
    test::write_torch_zip(dir / "odd.bin", "odd",
                          {{"f16", "torch.HalfStorage", "0", 6, 0, {6}, {1}},
                           {"f16.t", "torch.HalfStorage", "0", 6, 0, {3, 2}, {1, 3}},  // a transpose of (2, 3)
                           {"f16.tail", "torch.HalfStorage", "0", 6, 3, {1, 3}, {3, 1}},
                           {"bf16", "torch.BFloat16Storage", "1", 3, 0, {3}, {1}},
                           {"f32", "torch.FloatStorage", "2", 4, 0, {2, 2}, {2, 1}},
                           {"f64", "torch.DoubleStorage", "3", 2, 0, {2}, {1}},
                           {"i64", "torch.LongStorage", "4", 2, 0, {2}, {1}},
                           {"i32", "torch.IntStorage", "5", 2, 1, {}, {}}},
                          {{"0", as_bytes(f16)},
                           {"1", as_bytes(bf16)},
                           {"2", as_bytes(f32)},
                           {"3", as_bytes(f64)},
                           {"4", as_bytes(i64)},
                           {"5", as_bytes(i32)}},
                          1);
    const auto c = io::TorchCheckpoint::read(dir / "odd.bin");
    for (auto& name : c.names()) {
        INFO("tensor ", name);
        CHECK(reinterpret_cast<std::uintptr_t>(c.tensor(name).storage.data()) % 64 == 1);
    }
    const float tiny = std::ldexp(1.0f, -24);
    CHECK(c.get<float>("f16") == std::vector<float>{1.5f, -0.25f, 65504.0f, tiny, -INFINITY, 1.0f});
    CHECK(c.get<float>("f16.t") == std::vector<float>{1.5f, tiny, -0.25f, -INFINITY, 65504.0f, 1.0f});
    CHECK(c.get<double>("f16.tail") == std::vector<double>{tiny, -INFINITY, 1.0});
    const float largest_bf16 = std::bit_cast<float>(std::uint32_t{0x7F7F0000});
    CHECK(c.get<float>("bf16") == std::vector<float>{1.5f, -2.0f, largest_bf16});
    CHECK(c.get<float>("f32") == f32);
    CHECK(c.get<double>("f64") == f64);
    CHECK(c.get<std::int64_t>("i64") == i64);
    CHECK(c.get<std::int64_t>("i32") == std::vector<std::int64_t>{1 << 30});
    CHECK(c.contiguous_bytes("f16.t").size() == 12);
    std::filesystem::remove_all(dir);
}

TEST_CASE("an empty checkpoint, and one that changes size while it is open, are errors naming the file") {
    static_assert(!std::is_copy_constructible_v<io::TorchCheckpoint> &&
                  std::is_nothrow_move_constructible_v<io::TorchCheckpoint>);
    const auto dir = temp_dir();
    { std::ofstream(dir / "empty.bin", std::ios::binary); }
    CHECK_THROWS_WITH_AS(io::TorchCheckpoint::read(dir / "empty.bin"),
                         doctest::Contains("empty.bin' is not a torch checkpoint: 0 bytes is too short for a zip file"),
                         Error);

    const auto path = dir / "shrinks.bin";
    const std::vector<float> v(5000, 2.5f);
    test::write_torch_zip(path, "shrinks", {{"x", "torch.FloatStorage", "0", 5000, 0, {5000}, {1}}},
                          {{"0", as_bytes(v)}});
    auto c = io::TorchCheckpoint::read(path);
    const auto size = std::filesystem::file_size(path);
    std::filesystem::resize_file(path, size - 4096);  // would be SIGBUS on reading the lost pages
    const std::string shrank =
        fmt::format("'{}' changed size while it was open: {} bytes, now {}", path.string(), size, size - 4096);
    CHECK_THROWS_WITH_AS(c.get<float>("x"), doctest::Contains(shrank.c_str()), Error);
    std::filesystem::resize_file(path, size + 10);
    CHECK_THROWS_WITH_AS(c.get<double>("x"), doctest::Contains("changed size while it was open"), Error);
    CHECK_THROWS_WITH_AS(c.contiguous_bytes("x"), doctest::Contains("changed size while it was open"), Error);
    std::filesystem::remove_all(dir);
}
