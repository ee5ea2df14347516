// The xtensor edge: zero-copy views, copies, and .npy files that numpy's format defines.
#include <doctest/doctest.h>

#include "fgclep/backend/cpu.hpp"
#include "fgclep/eval/export.hpp"
#include "fgclep/interop/xtensor.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <type_traits>

using namespace fgclep;

TEST_CASE("as_xtensor views the tensor's memory with its shape") {
    Context<Cpu<float>> ctx;
    auto t = ctx.from_host(Shape{2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6});
    auto v = interop::as_xtensor(t);
    CHECK(v.dimension() == 2);
    CHECK(v(1, 2) == 6);
    v(0, 1) = 20;  // writes through
    CHECK(t[1] == 20);
    CHECK(xt::sum(v)() == doctest::Approx(39));
    const auto& ct = t;  // a const tensor gives a read-only view
    static_assert(!std::is_assignable_v<decltype(interop::as_xtensor(ct)(0, 0)), float>);
    CHECK(interop::as_xtensor(ct)(0, 1) == 20);
}

TEST_CASE("from_xtensor copies an expression in row-major order") {
    Context<Cpu<double>> ctx;
    xt::xarray<double> a = {{1.0, 2.0}, {3.0, 4.0}};
    auto t = interop::from_xtensor(ctx, xt::transpose(a));
    CHECK(t.shape() == Shape{2, 2});
    CHECK(ctx.to_host(t) == std::vector<double>{1, 3, 2, 4});
}

TEST_CASE(".npy files round-trip and are checked") {
    Context<Cpu<float>> ctx;
    const auto dir = std::filesystem::temp_directory_path() / "fgclep_test_npy";
    std::filesystem::create_directories(dir);
    auto t = ctx.from_host(Shape{2, 2, 3}, std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11.5f});
    interop::save_npy(ctx, dir / "a.npy", t);
    {
        // The header numpy writes: magic, version 1.0, then a dict with descr '<f4', C order and the shape.
        std::ifstream in(dir / "a.npy", std::ios::binary);
        std::string head(128, '\0');
        in.read(head.data(), 128);
        CHECK(head.substr(1, 5) == "NUMPY");
        CHECK(head.find("'descr': '<f4'") != std::string::npos);
        CHECK(head.find("'shape': (2, 2, 3)") != std::string::npos);
    }
    auto back = interop::load_npy<float>(ctx, dir / "a.npy");
    CHECK(back.shape() == t.shape());
    CHECK(ctx.to_host(back) == ctx.to_host(t));

    CHECK_THROWS_WITH_AS(interop::load_npy<double>(ctx, dir / "a.npy"),
                         doctest::Contains("a.npy' is not a readable .npy file"), Error);
    std::filesystem::resize_file(dir / "a.npy", std::filesystem::file_size(dir / "a.npy") - 8);
    CHECK_THROWS_WITH_AS(interop::load_npy<float>(ctx, dir / "a.npy"), doctest::Contains("is truncated"), Error);
    CHECK_THROWS_WITH_AS(interop::load_npy<float>(ctx, dir / "missing.npy"),
                         doctest::Contains("cannot open the .npy file"), Error);
    std::filesystem::remove_all(dir);
}

TEST_CASE("save_npy (xtensor's xt::dump_npy) writes the bytes of the library's own writer (eval::write_npy)") {
    const auto dir = std::filesystem::temp_directory_path() / "fgclep_test_npy_same";
    std::filesystem::create_directories(dir);
    const auto bytes = [](const std::filesystem::path& p) {
        std::ifstream in(p, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    };
    const std::vector<double> v{0.5, -1, 2, 3.25, 4, 1e-3};
    Context<Cpu<float>> cf;
    interop::save_npy(cf, dir / "xf.npy", cf.from_host(Shape{2, 3}, std::vector<float>(v.begin(), v.end())));
    eval::write_npy(dir / "ef.npy", {2, 3}, v.data(), eval::NpyType::float32);
    CHECK(bytes(dir / "xf.npy") == bytes(dir / "ef.npy"));
    Context<Cpu<double>> cd;
    interop::save_npy(cd, dir / "xd.npy", cd.from_host(Shape{6}, v));
    eval::write_npy(dir / "ed.npy", {6}, v.data(), eval::NpyType::float64);
    CHECK(bytes(dir / "xd.npy") == bytes(dir / "ed.npy"));
    CHECK(eval::read_npy(dir / "xd.npy").values == v);
    std::filesystem::remove_all(dir);
}
