#pragma once
// fgclep::Error: every error the library raises, worded as a sentence that says where it happened.
#include <fmt/format.h>

#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>

namespace fgclep {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// "fgclep: <module path> (<Type>): <what went wrong>", the shape users grep for. An empty path means the
// root module of a model.
template <class... Args>
[[noreturn]] void fail_in(std::string_view path, std::string_view type, fmt::format_string<Args...> format,
                          Args&&... args) {
    throw Error(fmt::format("fgclep: {} ({}): {}", path.empty() ? std::string_view("<root>") : path, type,
                            fmt::format(format, std::forward<Args>(args)...)));
}

// For errors that belong to no module (I/O, options, the optimizer): "fgclep: <what went wrong>".
template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
    throw Error("fgclep: " + fmt::format(format, std::forward<Args>(args)...));
}

// An error's message without its "fgclep: " prefix, for wrapping it in another message that adds its own.
inline std::string_view reason(const std::exception& e) {
    std::string_view what = e.what();
    if (what.starts_with("fgclep: ")) what.remove_prefix(8);
    return what;
}

}  // namespace fgclep
