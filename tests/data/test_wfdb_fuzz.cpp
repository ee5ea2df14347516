// Fuzz-style robustness: random bytes and random mutations of real headers, data files and .mat files go to the
// header parser, the format decoders, the MATLAB v4 reader and the whole WFDB reader. Every outcome must be a
// result or an fgclep::Error: no crash, no other exception, no allocation a header alone asked for (the reader
// checks sizes against the files first). Run under -fsanitize=address,undefined to catch memory errors.
#include "fixture.hpp"

#include "fgclep/data/mat_v4.hpp"
#include "fgclep/data/wfdb_formats.hpp"
#include "fgclep/data/wfdb_header.hpp"
#include "fgclep/data/wfdb_reader.hpp"

#include <filesystem>
#include <fstream>
#include <random>

using namespace fgclep;
using namespace fgclep::data;

namespace {

const std::string wfdb_dir = std::string(FGCLEP_FIXTURES) + "/wfdb/";

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void spit(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Counts outcomes; anything but success or fgclep::Error fails the test with the input's description.
struct Outcomes {
    int ok = 0, errors = 0;
    template <class F>
    void run(F&& f, const std::string& what) {
        try {
            f();
            ++ok;
        } catch (const Error&) {
            ++errors;
        } catch (const std::exception& e) {
            FAIL("non-fgclep exception " << e.what() << " for " << what);
        }
    }
};

// Characters headers are made of, so random strings reach deep into the grammar.
const std::string header_alphabet = "0123456789 \n\t#/()+-x:.e~abcdmVr";

std::string mutate(std::string s, std::mt19937_64& rng) {
    std::uniform_int_distribution<int> kind(0, 6);
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
        const std::size_t at = s.empty() ? 0 : rng() % s.size();
        switch (kind(rng)) {
            case 0:
                if (!s.empty()) s[at] = static_cast<char>(rng());
                break;  // any byte
            case 1:
                if (!s.empty()) s[at] = header_alphabet[rng() % header_alphabet.size()];
                break;  // a likely one
            case 2:
                s.insert(at, 1, header_alphabet[rng() % header_alphabet.size()]);
                break;
            case 3:
                if (!s.empty()) s.erase(at, 1 + rng() % 8);
                break;
            case 4:
                s.insert(at, std::to_string(static_cast<std::int64_t>(rng())));
                break;  // huge numbers
            case 5:
                if (!s.empty()) s[at] ^= static_cast<char>(1u << (rng() % 8));
                break;  // a bit flip
            default:
                s.resize(s.size() - std::min<std::size_t>(s.size(), rng() % 16));
                break;  // truncation
        }
    }
    return s;
}

}  // namespace

TEST_CASE("fuzz: the header parser takes random bytes and mutated real headers") {
    std::mt19937_64 rng(20261121);
    Outcomes out;
    for (int i = 0; i < 3000; ++i) {
        std::string s(rng() % 200, ' ');
        const bool any = i % 2 == 0;
        for (auto& c : s) c = any ? static_cast<char>(rng()) : header_alphabet[rng() % header_alphabet.size()];
        out.run([&] { parse_wfdb_header(s, "random.hea"); }, "random header");
    }
    std::vector<std::string> real;
    for (const char* f : {"100.hea", "JS00001.hea", "00001_lr.hea", "03700181.hea", "12726.hea", "binformats.hea",
                          "test01_00s_skewframe.hea", "multi-segment/s00001/s00001-2896-10-10-00-31.hea",
                          "multi-segment/s00001/3975656_layout.hea", "multi-segment/041s/041s.hea"})
        real.push_back(slurp(wfdb_dir + f));
    for (int i = 0; i < 6000; ++i) {
        const std::string s = mutate(real[static_cast<std::size_t>(i) % real.size()], rng);
        out.run(
            [&] {
                auto h = parse_wfdb_header(s, "mutated.hea");
                // What a header claims stays within the parser's limits.
                CHECK(h.n_signals <= wfdb_max_signals);
                for (const auto& sig : h.signals) CHECK((sig.samples_per_frame >= 1 && wfdb_format_known(sig.format)));
            },
            "mutated header:\n" + s);
    }
    MESSAGE("headers: " << out.ok << " parsed, " << out.errors << " rejected");
    CHECK(out.ok > 1000);
    CHECK(out.errors > 1000);
}

TEST_CASE("fuzz: format decoders on random bytes stay inside their buffers; encode/decode round trips") {
    std::mt19937_64 rng(7);
    const int formats[] = {8, 16, 24, 32, 61, 80, 160, 212, 310, 311};
    for (int i = 0; i < 4000; ++i) {
        const int f = formats[i % 10];
        const std::int64_t k0 = static_cast<std::int64_t>(rng() % 50), n = static_cast<std::int64_t>(rng() % 60);
        const std::int64_t start = wfdb_group_start_byte(f, k0);
        const std::int64_t end = n > 0 ? wfdb_bytes_through_sample(f, k0 + n - 1) : start;
        // Exactly the bytes needed, in a vector of that size (ASan sees any overread).
        std::vector<std::uint8_t> bytes(static_cast<std::size_t>(end - start));
        for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
        std::vector<std::int32_t> v(static_cast<std::size_t>(n));
        decode_wfdb(f, bytes.data(), static_cast<std::int64_t>(bytes.size()), k0, n, v.data());
        bool in_range = true;
        for (auto x : v)
            in_range &= f == 8 ? (x >= -128 && x <= 127) : (x >= wfdb_invalid_marker(f) && x <= wfdb_format_max(f));
        CHECK_MESSAGE(in_range, "format " << f);
        // Too few bytes is an error, not an overread.
        if (n > 0 && !bytes.empty())
            CHECK_THROWS_AS(decode_wfdb(f, bytes.data(), static_cast<std::int64_t>(bytes.size()) - 1, k0, n, v.data()),
                            Error);
        // The size arithmetic agrees with itself: the bytes through sample k hold it, one byte less does not.
        CHECK(wfdb_samples_in_bytes(f, wfdb_bytes_through_sample(f, k0)) >= k0 + 1);
        CHECK(wfdb_samples_in_bytes(f, wfdb_bytes_through_sample(f, k0) - 1) <= k0);
    }
    for (int f : {16, 61, 80, 160, 212, 24, 32}) {
        std::vector<std::int32_t> v(1 + rng() % 101);
        std::uniform_int_distribution<std::int64_t> value(wfdb_invalid_marker(f), wfdb_format_max(f));
        for (auto& x : v) x = static_cast<std::int32_t>(value(rng));
        const auto bytes = encode_wfdb(f, v.data(), static_cast<std::int64_t>(v.size()));
        CHECK(static_cast<std::int64_t>(bytes.size()) ==
              wfdb_bytes_through_sample(f, static_cast<std::int64_t>(v.size()) - 1));
        // Decoding any sub-range gives the same values.
        const std::int64_t k0 = static_cast<std::int64_t>(rng() % v.size());
        const std::int64_t n = static_cast<std::int64_t>(v.size()) - k0;
        const std::int64_t start = wfdb_group_start_byte(f, k0);
        std::vector<std::int32_t> back(static_cast<std::size_t>(n));
        decode_wfdb(f, bytes.data() + start, static_cast<std::int64_t>(bytes.size()) - start, k0, n, back.data());
        CHECK_MESSAGE(std::equal(back.begin(), back.end(), v.begin() + k0), "format " << f);
    }
    std::uint8_t b[4] = {1, 2, 3, 4};
    std::int32_t x;
    CHECK_THROWS_WITH_AS(decode_wfdb(17, b, 4, 0, 1, &x), "fgclep: WFDB format 17 has no data layout", Error);
}

TEST_CASE("fuzz: the MATLAB v4 reader takes random bytes and mutated real files") {
    std::mt19937_64 rng(99);
    Outcomes out;
    for (int i = 0; i < 3000; ++i) {
        std::vector<std::uint8_t> b(rng() % 120);
        for (auto& x : b) x = static_cast<std::uint8_t>(i % 3 == 0 ? rng() % 8 : rng());
        out.run([&] { parse_mat_v4(b, "random.mat"); }, "random .mat");
    }
    const std::string le = slurp(std::string(FGCLEP_FIXTURES) + "/mat_v4/types_le.mat"),
                      be = slurp(std::string(FGCLEP_FIXTURES) + "/mat_v4/types_be.mat"),
                      js = slurp(wfdb_dir + "JS00001.mat").substr(0, 4096);
    for (int i = 0; i < 4000; ++i) {
        const std::string& src = i % 3 == 0 ? le : i % 3 == 1 ? be : js;
        std::string s = src;
        const int edits = 1 + static_cast<int>(rng() % 3);
        for (int e = 0; e < edits; ++e) {
            // Mostly hit the headers (the first 20 bytes of a variable), sometimes anywhere.
            const std::size_t at = rng() % 2 ? rng() % std::min<std::size_t>(s.size(), 40) : rng() % s.size();
            if (rng() % 5 == 0)
                s.resize(at);
            else
                s[at] = static_cast<char>(rng());
            if (s.empty()) break;
        }
        std::vector<std::uint8_t> b(s.begin(), s.end());
        out.run([&] { parse_mat_v4(b, "mutated.mat"); }, "mutated .mat");
        out.run([&] { parse_mat_v4_variable(b, "val", "mutated.mat"); }, "mutated .mat (val)");
    }
    MESSAGE(".mat: " << out.ok << " read, " << out.errors << " rejected");
    CHECK(out.errors > 1000);
}

TEST_CASE("fuzz: the whole reader on mutated headers and data files of real records") {
    std::mt19937_64 rng(5);
    std::random_device rd;
    const auto dir = std::filesystem::temp_directory_path() / fmt::format("fgclep_test_wfdb_fuzz_{:x}", rd());
    std::filesystem::create_directories(dir);
    struct Source {
        std::string record, data_file;
    };
    const Source sources[] = {
        {"100_3chan", "100_3chan.dat"}, {"binformats", "binformats.d5"},     {"test01_00s_skewframe", "test01_00s.dat"},
        {"JS00001", "JS00001.mat"},     {"00001_lr", "00001_lr.dat"},        {"310derive", "310derive.dat"},
        {"311derive", "311derive.dat"}, {"3000003_0003", "3000003_0003.dat"}};
    for (const auto& s : sources) spit(dir / s.data_file, slurp(wfdb_dir + s.data_file));
    for (int d = 0; d < 10; ++d)
        spit(dir / fmt::format("binformats.d{}", d), slurp(wfdb_dir + fmt::format("binformats.d{}", d)));
    Outcomes out;
    for (int i = 0; i < 1500; ++i) {
        const auto& s = sources[static_cast<std::size_t>(i) % std::size(sources)];
        const std::string hea = slurp(wfdb_dir + s.record + ".hea");
        const std::string dat = slurp(wfdb_dir + s.data_file);
        const bool mutate_data = i % 3 == 0;
        spit(dir / (s.record + ".hea"), mutate_data ? hea : mutate(hea, rng));
        if (mutate_data) spit(dir / s.data_file, mutate(dat, rng));
        WfdbReadOptions o;
        o.max_values = 1 << 24;
        if (i % 4 == 1) {
            o.from = static_cast<std::int64_t>(rng() % 50);
            o.to = o.from + static_cast<std::int64_t>(rng() % 50);
        }
        if (i % 5 == 2) o.channels = {static_cast<int>(rng() % 4), static_cast<int>(rng() % 3)};
        o.expand_frames = i % 7 == 3;
        out.run([&] { read_wfdb(dir / s.record, o); }, "record " + s.record);
        out.run([&] { read_ecg(dir / s.record, o); }, "record " + s.record + " (physical)");
        if (mutate_data) spit(dir / s.data_file, dat);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    MESSAGE("records: " << out.ok << " read, " << out.errors << " rejected");
    CHECK(out.ok > 300);
    CHECK(out.errors > 300);
}
