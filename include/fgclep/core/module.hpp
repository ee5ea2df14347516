#pragma once
// Module: what every layer implementation inherits, its place in the model (the PyTorch-style path) and its
// type name, so that errors say where they happened. Visitor: walks a module tree building those paths.
#include "fgclep/core/error.hpp"
#include "fgclep/core/shape.hpp"

#include <string>
#include <string_view>

namespace fgclep {

class Module {
public:
    explicit Module(std::string_view type) : type_(type) {}

    // The state_dict prefix of this module, e.g. "ecg.layer1.0.conv1"; empty for a model's root.
    const std::string& path() const { return path_; }
    std::string_view type() const { return type_; }
    void set_path(std::string path) { path_ = std::move(path); }

protected:
    template <class... Args>
    [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
        fail_in(path_, type_, format, std::forward<Args>(args)...);
    }
    // Checks the rank and, where expected is non-negative, the size of each dimension; -1 means any.
    void expect_shape(const Shape& got, std::initializer_list<std::int64_t> expected, std::string_view what) const {
        bool ok = got.rank() == static_cast<int>(expected.size());
        int i = 0;
        for (auto e : expected) {
            if (ok && e >= 0 && got[i] != e) ok = false;
            ++i;
        }
        if (!ok) {
            std::string want = "(";
            i = 0;
            for (auto e : expected)
                want += fmt::format("{}{}", i++ ? ", " : "", e < 0 ? std::string("*") : std::to_string(e));
            want += expected.size() == 1 ? ",)" : ")";
            fail("expected {} of shape {}, got {}", what, want, got);
        }
    }

private:
    std::string type_;
    std::string path_;
};

// Base for visitors of a module tree. A module's visit(v) calls v.param(p), v.buffer(b), v.counter(c) for its own
// state and v.module("name", child) for each child, in state_dict order. This base keeps the dotted prefix and
// gives every module its path; derived visitors override param/buffer/counter (by name hiding) as they need.
template <class Derived>
class Visitor {
public:
    // An empty name makes the child transparent: its state appears at this level (Named<"", ...>), which is how
    // a composition reproduces PyTorch names such as "conv1.weight" inside a residual block.
    template <class M>
    void module(std::string_view name, M& child) {
        if (name.empty()) {
            child.set_path(prefix_.empty() ? std::string() : prefix_.substr(0, prefix_.size() - 1));
            child.visit(static_cast<Derived&>(*this));
            return;
        }
        const auto saved = prefix_.size();
        prefix_.append(name);
        child.set_path(prefix_);
        prefix_.push_back('.');
        child.visit(static_cast<Derived&>(*this));
        prefix_.resize(saved);
    }
    template <class P>
    void param(P&) {}
    template <class P>
    void buffer(P&) {}
    template <class P>
    void counter(P&) {}

    // The full state_dict name of a local name at the current position.
    std::string full_name(std::string_view local) const { return prefix_ + std::string(local); }

    // Visits a root module, whose path is `prefix` (empty for a model's root).
    template <class M>
    void walk(M& root, std::string_view prefix = {}) {
        root.set_path(std::string(prefix));
        prefix_ = prefix.empty() ? std::string() : std::string(prefix) + ".";
        root.visit(static_cast<Derived&>(*this));
        prefix_.clear();
    }

private:
    std::string prefix_;
};

}  // namespace fgclep
