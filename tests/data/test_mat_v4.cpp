// MATLAB v4 reading against files written by SciPy (tests/fixtures/make_mat_v4.py): every numeric type, both
// byte orders, complex values; the WFDB .mat container of JS00001; errors that name the file and the variable.
#include "fixture.hpp"

#include "fgclep/data/mat_v4.hpp"

#include <cstring>
#include <fstream>

using namespace fgclep;
using namespace fgclep::data;

namespace {
const std::string dir = std::string(FGCLEP_FIXTURES) + "/mat_v4/";
doctest::Contains contains(const std::string& s) { return doctest::Contains(s.c_str()); }
std::vector<std::uint8_t> bytes_of(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void put_u32(std::vector<std::uint8_t>& b, std::size_t at, std::uint32_t v) { std::memcpy(b.data() + at, &v, 4); }
}  // namespace

TEST_CASE("every numeric type in both byte orders reads the values SciPy wrote") {
    for (const char* file : {"types_le.mat", "types_be.mat"}) {
        CAPTURE(file);
        const auto vars = read_mat_v4(dir + file);
        REQUIRE(vars.size() == 8);
        auto get = [&](const std::string& name) -> const MatV4Variable& {
            for (const auto& v : vars)
                if (v.name == name) return v;
            FAIL("no variable " << name);
            return vars[0];
        };
        const bool big = std::string(file) == "types_be.mat";
        for (const auto& v : vars) CHECK(v.big_endian == big);
        const auto& f64 = get("f64");
        CHECK(f64.type == MatV4Type::float64);
        CHECK(f64.rows == 2);
        CHECK(f64.cols == 3);
        CHECK(f64.at(0, 0) == 1.5);
        CHECK(f64.at(0, 1) == -2.25);
        CHECK(f64.at(0, 2) == 3e300);
        CHECK(f64.at(1, 2) == 1e-300);
        CHECK(std::signbit(f64.at(1, 1)));
        CHECK(get("f32").type == MatV4Type::float32);
        CHECK(get("f32").real == std::vector<double>{1.5, -2.5, 3.25});
        CHECK(get("i32").type == MatV4Type::int32);
        CHECK(get("i32").real == std::vector<double>{-2147483648.0, 2147483647.0, 7});
        CHECK(get("i16").type == MatV4Type::int16);
        CHECK(get("i16").real == std::vector<double>{-32768, 32767, -1, 5});
        CHECK(get("u16").type == MatV4Type::uint16);
        CHECK(get("u16").real == std::vector<double>{0, 65535, 40000});
        CHECK(get("u8").type == MatV4Type::uint8);
        CHECK(get("u8").real == std::vector<double>{0, 255, 128});
        const auto& c = get("cplx");
        CHECK(c.is_complex());
        CHECK(c.real == std::vector<double>{1, -3});
        CHECK(c.imag == std::vector<double>{2, -4});
        const auto& val = get("val");  // 3 x 4 of -6..5, row-major in numpy: val(r, c) = -6 + 4r + c
        for (int r = 0; r < 3; ++r)
            for (int col = 0; col < 4; ++col) CHECK(val.at(r, col) == -6 + 4 * r + col);
        CHECK(read_mat_v4_variable(dir + file, "u16").real == get("u16").real);
    }
}

TEST_CASE("the WFDB .mat container of JS00001 has its values 24 bytes in") {
    const std::string js = std::string(FGCLEP_FIXTURES) + "/wfdb/JS00001.mat";
    const auto v = read_mat_v4_variable(js, "val");
    CHECK(v.type == MatV4Type::int16);
    CHECK(v.rows == 12);
    CHECK(v.cols == 5000);
    CHECK(v.data_offset == 24);
    CHECK(v.at(0, 0) == -254);  // the header's initial value of lead I
    const auto bytes = bytes_of(js);
    CHECK(mat_v4_first_data_offset(std::span(bytes).first(64), static_cast<std::int64_t>(bytes.size()), js) == 24);
}

TEST_CASE("errors: wrong type codes, truncated files, a missing variable, v5 files; each names the file") {
    const auto good = bytes_of(dir + "types_le.mat");
    const std::string src = "test.mat";
    auto bad = [&](std::vector<std::uint8_t> b, const std::string& message) {
        CHECK_THROWS_WITH_AS(parse_mat_v4(b, src), contains("fgclep: '" + src + "'" + message), Error);
    };
    auto b = good;
    put_u32(b, 0, 3000);  // VAX D
    bad(b,
        ": variable at byte 0 has type code 3000 (byte order 3): not a little- or big-endian IEEE MATLAB v4 variable");
    b = good;
    put_u32(b, 0, 100);
    bad(b, ": variable at byte 0 has type code 100 with O = 1 (must be 0)");
    b = good;
    put_u32(b, 0, 60);
    bad(b, ": variable at byte 0 has type code 60 with unknown precision 6");
    b = good;
    put_u32(b, 0, 2);
    bad(b, ": variable at byte 0 is a sparse matrix (type code 2), which is not supported");
    b = good;
    put_u32(b, 12, 2);
    bad(b, ": variable at byte 0 has imaginary flag 2 (must be 0 or 1)");
    b = good;
    put_u32(b, 4, 0x80000000u);
    bad(b, ": variable at byte 0 has a negative shape");
    b = good;
    put_u32(b, 4, 1000000);
    bad(b,
        " is truncated: variable 'f64' (1000000 x 3, 8 bytes) needs 24000000 bytes at byte 24, the file has 313 left");
    b = good;
    put_u32(b, 4, 0x7FFFFFFF);  // rows x cols x 8 bytes overflows 64 bits: still "truncated", not a length_error
    put_u32(b, 8, 0x7FFFFFFF);
    bad(b,
        " is truncated: variable 'f64' (2147483647 x 2147483647, 8 bytes) needs 3.6893488113059365e+19 bytes at "
        "byte 24, the file has 313 left");
    b = good;
    put_u32(b, 16, 5000);
    bad(b, " is truncated or corrupt: variable at byte 0 has a 5000-byte name, 317 bytes remain");
    b = good;
    b[23] = 'x';  // the name's NUL
    bad(b, ": the name of the variable at byte 0 is not NUL-terminated");
    b = good;
    b.resize(good.size() - 1);  // the last variable loses a byte
    bad(b, " is truncated: variable 'val'");
    b.resize(10);
    bad(b, " is truncated: a MATLAB v4 variable header at byte 0 needs 20 bytes, 10 remain");
    bad({}, " is empty, not a MATLAB v4 file");
    std::vector<std::uint8_t> v5(128, ' ');
    std::memcpy(v5.data(), "MATLAB 5.0 MAT-file", 19);
    bad(v5, " is a MATLAB v5 file; only MATLAB v4 (Level 4) files are read (save with -v4)");
    CHECK_THROWS_WITH_AS(parse_mat_v4_variable(good, "ecg", src),
                         contains("'test.mat' has no variable 'ecg' (it has: f64, f32, i32, i16, u16, u8, cplx, val)"),
                         Error);
    CHECK_THROWS_WITH_AS(read_mat_v4(dir + "missing.mat"), contains("cannot open MATLAB file '" + dir + "missing.mat'"),
                         Error);
    const auto vars = parse_mat_v4(good, src);
    CHECK_THROWS_WITH_AS(vars[0].at(2, 0), contains("variable 'f64': element (2, 0) is outside its 2 x 3 shape"),
                         Error);
}
