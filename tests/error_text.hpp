#pragma once
// test::error_text(f): the message of the fgclep::Error that f throws, or "(no error)". Tests then check the wording
// (that it names the file, line, record or module path) with ordinary string assertions. Other exceptions pass
// through, so a test sees them as failures.
#include "fgclep/core/error.hpp"

#include <string>

namespace fgclep::test {

template <class F>
std::string error_text(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace fgclep::test
