#pragma once
// Evaluation results: one row per (task, method, protocol), printed as a table and written as JSON.
//
//   EvaluationResults results;
//   results.add({.task = "diagnosis", .method = "zero-shot", .protocol = "single prompt"}, auc);
//   fmt::print("{}", results.table());
//   results.write_json("runs/eval/results.json");
//
// Units: macro_auc in percent (x100, as the benchmark reports); per_class in [0, 1]; retrieval values in [0, 1].
#include "fgclep/core/error.hpp"
#include "fgclep/eval/metrics.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace fgclep::eval {

struct EvaluationResult {
    std::string task{};      // "ptbxl_super_class", "diagnosis", ...
    std::string method{};    // "zero-shot", "zero-shot ensemble", "linear probe 10%", "retrieval", ...
    std::string protocol{};  // how it was measured: "test split", "selected on val (epoch 12)", "best test epoch", ...
    std::string model{};     // which model / checkpoint, free text
    double macro_auc = std::numeric_limits<double>::quiet_NaN();  // percent
    std::vector<std::string> class_names{};
    std::vector<double> per_class{};  // [0, 1], NaN where skipped
    std::vector<std::string> skipped{};
    std::map<std::string, double> extra{};  // anything else: "precision@1", "val_macro_auc", "epoch", ...
    std::int64_t records = 0;
};

inline nlohmann::json to_json(const EvaluationResult& r) {
    auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
    nlohmann::json per_class = nlohmann::json::object();
    for (std::size_t c = 0; c < r.per_class.size(); ++c)
        per_class[c < r.class_names.size() ? r.class_names[c] : fmt::format("class {}", c)] = number(r.per_class[c]);
    nlohmann::json extra = nlohmann::json::object();
    for (const auto& [k, v] : r.extra) extra[k] = number(v);
    return {{"task", r.task},
            {"method", r.method},
            {"protocol", r.protocol},
            {"model", r.model},
            {"macro_auc", number(r.macro_auc)},
            {"macro_auc_unit", "percent"},
            {"per_class_auc", per_class},
            {"skipped_classes", r.skipped},
            {"records", r.records},
            {"extra", extra}};
}

struct EvaluationResults {
    std::vector<EvaluationResult> rows;

    EvaluationResult& add(EvaluationResult r) { return rows.emplace_back(std::move(r)); }
    // A row from a macro AUC: copies the AUC fields into r.
    EvaluationResult& add(EvaluationResult r, const MacroAuc& auc) {
        r.macro_auc = auc.macro;
        r.class_names = auc.class_names;
        r.per_class = auc.per_class;
        r.skipped = auc.skipped;
        return add(std::move(r));
    }

    // The table: task, method, protocol, macro AUC (%), evaluated/total classes, and the extra values.
    std::string table() const {
        std::size_t wt = 4, wm = 6, wp = 8;
        for (const auto& r : rows) {
            wt = std::max(wt, r.task.size());
            wm = std::max(wm, r.method.size());
            wp = std::max(wp, r.protocol.size());
        }
        std::string out = fmt::format("{:<{}}  {:<{}}  {:<{}}  {:>9}  {:>7}  {}\n", "task", wt, "method", wm,
                                      "protocol", wp, "macro AUC", "classes", "other");
        out += std::string(wt + wm + wp + 9 + 7 + 13, '-') + "\n";
        for (const auto& r : rows) {
            std::string other;
            for (const auto& [k, v] : r.extra) other += fmt::format("{}{}={:.4g}", other.empty() ? "" : " ", k, v);
            const std::string auc = std::isfinite(r.macro_auc) ? fmt::format("{:.2f}", r.macro_auc) : "-";
            const std::size_t evaluated = r.per_class.size() - r.skipped.size();
            const std::string classes = r.per_class.empty() ? "-" : fmt::format("{}/{}", evaluated, r.per_class.size());
            out += fmt::format("{:<{}}  {:<{}}  {:<{}}  {:>9}  {:>7}  {}\n", r.task, wt, r.method, wm, r.protocol, wp,
                               auc, classes, other);
        }
        return out;
    }

    nlohmann::json json() const {
        nlohmann::json j = nlohmann::json::array();
        for (const auto& r : rows) j.push_back(to_json(r));
        return {{"results", j}};
    }

    void write_json(const std::filesystem::path& path) const {
        if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
        std::ofstream f(path, std::ios::trunc);
        if (!f) fail("cannot write results to '{}'", path.string());
        f << json().dump(2) << "\n";
        if (!f) fail("writing results to '{}' failed", path.string());
    }
};

}  // namespace fgclep::eval
