#pragma once
// module_summary(model): a table of the model's modules - path, type, parameter count of the subtree (and how
// many of those train) - down to a depth, complementing Model::summary(), which lists every tensor.
//
//   fmt::print("{}", fgclep::module_summary(model, 2));
//
// Modules visited under an empty name (Named<"", ...>, the conv + BN units of a ResNet block) are not rows of
// their own: their children appear at their parent's level, as in the state_dict.
#include "fgclep/core/model.hpp"
#include "fgclep/core/module.hpp"
#include "fgclep/core/param.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

namespace fgclep {

struct ModuleRow {
    std::string path;
    std::string type;
    int depth = 0;  // 0 for the root
    std::int64_t parameters = 0, trainable = 0;
};

namespace detail {
template <Backend B>
struct ModuleCounter : Visitor<ModuleCounter<B>> {
    std::vector<ModuleRow> rows;
    std::vector<std::size_t> open;  // rows whose subtree is being visited

    template <class M>
    void module(std::string_view name, M& child) {
        if (name.empty()) {  // transparent: its state counts towards the rows already open
            Visitor<ModuleCounter<B>>::module(name, child);
            return;
        }
        rows.push_back({"", std::string(child.type()), static_cast<int>(open.size()), 0, 0});
        open.push_back(rows.size() - 1);
        Visitor<ModuleCounter<B>>::module(name, child);  // sets child's path
        rows[open.back()].path = child.path();
        open.pop_back();
    }
    void param(Param<B>& p) {
        for (std::size_t r : open) {
            rows[r].parameters += p.shape.numel();
            if (p.trainable) rows[r].trainable += p.shape.numel();
        }
    }
};
}  // namespace detail

// Every module of `model` down to `max_depth` levels below the root (the root is row 0).
template <class S, class B>
std::vector<ModuleRow> module_rows(Model<S, B>& model, int max_depth = 1 << 30) {
    detail::ModuleCounter<B> counter;
    auto& root = model.module();
    const std::string root_path = root.path();
    counter.rows.push_back({root_path, std::string(root.type()), 0, 0, 0});
    counter.open.push_back(0);
    counter.walk(root, root_path);
    std::vector<ModuleRow> rows;
    for (auto& r : counter.rows)
        if (r.depth <= max_depth) rows.push_back(r);
    return rows;
}

// The table as text: one row per module, indented by depth, with parameter counts.
template <class S, class B>
std::string module_summary(Model<S, B>& model, int max_depth = 1 << 30) {
    const auto rows = module_rows(model, max_depth);
    std::size_t width = 6;
    for (auto& r : rows) width = std::max(width, r.path.size() + 2 * static_cast<std::size_t>(r.depth) + 6);
    std::string out = fmt::format("{:<{}}  {:<20} {:>12} {:>12}\n", "module", width, "type", "parameters", "trainable");
    for (auto& r : rows) {
        const std::string label =
            std::string(2 * static_cast<std::size_t>(r.depth), ' ') + (r.path.empty() ? std::string("<root>") : r.path);
        out += fmt::format("{:<{}}  {:<20} {:>12} {:>12}\n", label, width, r.type, r.parameters, r.trainable);
    }
    return out;
}

}  // namespace fgclep
