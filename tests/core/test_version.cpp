// fgclep/version.hpp is generated from project(fgclep VERSION ...): its macros must agree with it and each other.
#include "fgclep/version.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <string>

TEST_CASE("the generated version header carries the project's version") {
    CHECK(std::string(FGCLEP_VERSION_STRING) == FGCLEP_PROJECT_VERSION);
    CHECK(fmt::format("{}.{}.{}", FGCLEP_VERSION_MAJOR, FGCLEP_VERSION_MINOR, FGCLEP_VERSION_PATCH) ==
          FGCLEP_PROJECT_VERSION);
    static_assert(FGCLEP_VERSION ==
                  FGCLEP_MAKE_VERSION(FGCLEP_VERSION_MAJOR, FGCLEP_VERSION_MINOR, FGCLEP_VERSION_PATCH));
    static_assert(FGCLEP_MAKE_VERSION(0, 10, 0) > FGCLEP_MAKE_VERSION(0, 9, 9));
}
