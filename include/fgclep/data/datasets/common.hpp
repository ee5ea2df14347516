#pragma once
// Small pieces the dataset loaders share: number parsing with file/line messages, walking a dataset root once
// for its WFDB headers, the `# Dx:` codes of CinC-style headers, and multi-hot label vectors by class name.
#include "fgclep/core/error.hpp"
#include "fgclep/data/load_issues.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

namespace fgclep::data::dataset_detail {

inline std::string_view trim(std::string_view s) {
    const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && space(s.front())) s.remove_prefix(1);
    while (!s.empty() && space(s.back())) s.remove_suffix(1);
    return s;
}

// An integer written as "15709" or, as pandas writes integer columns that have gaps, "15709.0".
inline std::optional<std::int64_t> parse_integer(std::string_view s) {
    s = trim(s);
    if (s.size() > 2 && s.ends_with(".0")) s.remove_suffix(2);
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return value;
}

// A 0/1 label cell: "0", "1", "0.0", "1.0", "True", "False".
inline std::optional<float> parse_label(std::string_view s) {
    s = trim(s);
    if (s == "1" || s == "1.0" || s == "True" || s == "true") return 1.0f;
    if (s == "0" || s == "0.0" || s == "False" || s == "false") return 0.0f;
    return std::nullopt;
}

inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

// Every file under `root` whose name ends with `extension` (".hea"), as paths relative to root without the
// extension, sorted (directory order differs between file systems; a sorted list makes loading reproducible).
// One walk of the tree: a Chapman root has 45,152 headers in 46 x 10 folders.
inline std::vector<std::filesystem::path> find_records(const std::filesystem::path& root, std::string_view extension) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(root, ec)) fail("dataset root '{}' is not a directory", root.string());
    std::vector<fs::path> out;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
    if (ec) fail("cannot list dataset root '{}': {}", root.string(), ec.message());
    for (; it != end; it.increment(ec)) {
        if (ec) fail("cannot list dataset root '{}': {}", root.string(), ec.message());
        const fs::path& p = it->path();
        if (p.extension() != extension) continue;
        if (!it->is_regular_file(ec)) continue;
        out.push_back(p.lexically_relative(root).replace_extension());
    }
    std::sort(out.begin(), out.end());
    return out;
}

// The codes of a CinC-style "Dx: 164889003,59118001" header comment ("#Dx:" and "# Dx :" both occur), or
// nullopt when the header has no Dx comment. Codes are trimmed; empty ones (a trailing comma) are left out.
inline std::optional<std::vector<std::string>> dx_codes(const std::vector<std::string>& comments) {
    for (const std::string& comment : comments) {
        std::string_view c = trim(comment);
        if (c.size() < 2 || !iequals(c.substr(0, 2), "dx")) continue;
        c = trim(c.substr(2));
        if (c.empty() || c.front() != ':') continue;
        c.remove_prefix(1);
        std::vector<std::string> codes;
        while (!c.empty()) {
            const std::size_t comma = c.find(',');
            const std::string_view code = trim(c.substr(0, comma));
            if (!code.empty()) codes.emplace_back(code);
            if (comma == std::string_view::npos) break;
            c.remove_prefix(comma + 1);
        }
        return codes;
    }
    return std::nullopt;
}

// Class name -> index, for building multi-hot vectors.
inline std::unordered_map<std::string, std::size_t> class_index(const std::vector<std::string>& class_names) {
    std::unordered_map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < class_names.size(); ++i)
        if (!index.emplace(class_names[i], i).second) fail("class '{}' is listed twice", class_names[i]);
    return index;
}

}  // namespace fgclep::data::dataset_detail
