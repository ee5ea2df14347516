#pragma once
// Lead order: put a record's channels in a target order, found by lead NAME, never by position. MIMIC-IV-ECG
// stores I, II, III, aVR, aVF, aVL, V1-V6; PTB-XL, CPSC2018 and Chapman-Shaoxing store aVL before aVF, so a
// model trained on MIMIC order and probed on PTB-XL in file order sees two leads swapped (method.md section 5).
//
//   EcgRecord r = reorder_leads(ptbxl_record, mimic_lead_order());   // rows 4 and 5 swapped, by name
//
// Names match case-insensitively and ignoring surrounding spaces ("AVR" == "aVR", " v1" == "V1"). A target lead
// the record lacks is an error naming the record and the lead, or, with MissingLead::zero_fill, a row of zeros
// that is counted in LoadIssues (kind "lead missing, zero-filled").
#include "fgclep/data/ecg_record.hpp"
#include "fgclep/data/load_issues.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace fgclep::data {

// The MIMIC-IV-ECG order, the benchmark's: aVF before aVL.
inline const std::vector<std::string>& mimic_lead_order() {
    static const std::vector<std::string> order{"I",  "II", "III", "aVR", "aVF", "aVL",
                                                "V1", "V2", "V3",  "V4",  "V5",  "V6"};
    return order;
}
// The order PTB-XL, CPSC2018 and Chapman-Shaoxing-Ningbo ship: aVL before aVF.
inline const std::vector<std::string>& standard_lead_order() {
    static const std::vector<std::string> order{"I",  "II", "III", "aVR", "aVL", "aVF",
                                                "V1", "V2", "V3",  "V4",  "V5",  "V6"};
    return order;
}

// The key two lead names are compared by: trimmed, lower-case.
inline std::string lead_key(std::string_view name) {
    auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
    while (!name.empty() && is_space(name.front())) name.remove_prefix(1);
    while (!name.empty() && is_space(name.back())) name.remove_suffix(1);
    std::string key(name);
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return key;
}

enum class MissingLead {
    error,      // a target lead the record lacks is an error naming both
    zero_fill,  // ... or a row of zeros, counted in LoadIssues
};

struct LeadOrderOptions {
    std::vector<std::string> target = mimic_lead_order();  // empty: keep the record's channels as they are
    MissingLead missing = MissingLead::error;
};

// The record's channels in the order of `target`, copied by name; channels not in `target` are left out.
inline EcgRecord reorder_leads(const EcgRecord& record, const LeadOrderOptions& options = {},
                               LoadIssues* issues = nullptr) {
    record.check();
    if (options.target.empty()) return record;
    EcgRecord out;
    out.name = record.name;
    out.fs = record.fs;
    out.length = record.length;
    out.leads = options.target;
    out.units.assign(options.target.size(), std::string());
    out.samples.assign(options.target.size() * static_cast<std::size_t>(record.length), 0.0);
    for (std::size_t t = 0; t < options.target.size(); ++t) {
        const std::string want = lead_key(options.target[t]);
        std::int64_t found = -1;
        for (std::int64_t c = 0; c < record.channels(); ++c) {
            if (lead_key(record.leads[static_cast<std::size_t>(c)]) != want) continue;
            if (found >= 0)
                fail("record '{}': lead '{}' appears twice (channels {} and {}); the target order is ambiguous",
                     record.name, options.target[t], found, c);
            found = c;
        }
        if (found < 0) {
            if (options.missing == MissingLead::error)
                fail("record '{}' has no lead '{}' (it has: {})", record.name, options.target[t],
                     fmt::join(record.leads, ", "));
            if (issues)
                issues->add("lead missing, zero-filled",
                            fmt::format("record '{}': lead '{}'", record.name, options.target[t]));
            continue;
        }
        const auto src = record.channel(found);
        std::copy(src.begin(), src.end(),
                  out.samples.begin() + static_cast<std::ptrdiff_t>(t * static_cast<std::size_t>(record.length)));
        if (!record.units.empty()) out.units[t] = record.units[static_cast<std::size_t>(found)];
    }
    return out;
}

inline EcgRecord reorder_leads(const EcgRecord& record, const std::vector<std::string>& target) {
    return reorder_leads(record, LeadOrderOptions{target, MissingLead::error});
}

}  // namespace fgclep::data
