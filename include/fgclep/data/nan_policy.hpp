#pragma once
// What to do with invalid samples: NaN (WFDB's invalid-sample marker, a lead absent in a segment) and +-Inf.
// MIMIC-IV-ECG has records with NaN; MERL's imputation lets them through, MELP drops such records (method.md
// section 5). Here the policy is explicit and everything it does is counted:
//
//   error:        the first non-finite sample is an error naming the record, the lead and the sample
//   drop:         the record is dropped (apply_nan_policy returns false)
//   interpolate:  per lead, linearly between the nearest finite samples; before the first / after the last finite
//                 sample, that sample's value (nearest)
//   zero:         non-finite samples become 0
//
// A lead with no finite sample at all cannot be interpolated: AllInvalidLead says whether it becomes zeros or drops
// the record (under `zero` it is zeros; under `error` and `drop` the policy itself decides).
// LoadIssues gets one entry per affected record ("non-finite samples interpolated: record 'x': 17 samples in
// lead(s) II, V3"); NanReport gives the sample counts.
//
// The default is `interpolate` (the benchmark's preprocessing, method.md section 5). The FG-CLEP paper "discarded
// ECGs with unexpected situations" and MELP drops records with NaN: that is `drop` ({.policy = NanPolicy::drop}),
// under which a record is skipped by Preprocessor/BatchStream/the record cache and counted ("record dropped:
// non-finite samples"), never a crash. Names for command lines: to_string / nan_policy_from_string.
#include "fgclep/data/ecg_record.hpp"
#include "fgclep/data/load_issues.hpp"

#include <fmt/ranges.h>

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

namespace fgclep::data {

enum class NanPolicy { error, drop, interpolate, zero };
enum class AllInvalidLead { zero_fill, drop_record };

inline std::string_view to_string(NanPolicy p) {
    switch (p) {
        case NanPolicy::error:
            return "error";
        case NanPolicy::drop:
            return "drop";
        case NanPolicy::interpolate:
            return "interpolate";
        case NanPolicy::zero:
            return "zero";
    }
    return "?";
}

// "error", "drop", "interpolate" or "zero" (as to_string writes them); anything else is an error naming them.
inline NanPolicy nan_policy_from_string(std::string_view name) {
    for (NanPolicy p : {NanPolicy::error, NanPolicy::drop, NanPolicy::interpolate, NanPolicy::zero})
        if (name == to_string(p)) return p;
    fail(
        "unknown NaN policy '{}': expected 'error', 'drop' (the paper's: discard the record), 'interpolate' (the "
        "default) or 'zero'",
        name);
}

inline std::string_view to_string(AllInvalidLead a) {
    return a == AllInvalidLead::zero_fill ? "zero_fill" : "drop_record";
}

// "zero_fill" or "drop_record"; anything else is an error naming them.
inline AllInvalidLead all_invalid_lead_from_string(std::string_view name) {
    for (AllInvalidLead a : {AllInvalidLead::zero_fill, AllInvalidLead::drop_record})
        if (name == to_string(a)) return a;
    fail("unknown all-invalid-lead choice '{}': expected 'zero_fill' (the default) or 'drop_record'", name);
}

struct NanOptions {
    NanPolicy policy = NanPolicy::interpolate;                    // the benchmark's; the paper's is NanPolicy::drop
    AllInvalidLead all_invalid_lead = AllInvalidLead::zero_fill;  // under interpolate only
};

// What the policy found and did to one record.
struct NanReport {
    std::int64_t nonfinite_samples = 0;  // NaN or Inf samples found
    std::int64_t invalid_leads = 0;      // leads with no finite sample
    bool dropped = false;
    bool affected() const { return nonfinite_samples > 0; }
};

// Linear interpolation over the non-finite samples of one lead; false if the lead has no finite sample.
inline bool interpolate_nonfinite(std::span<double> x) {
    const auto n = static_cast<std::int64_t>(x.size());
    std::int64_t prev = -1;  // last finite index
    for (std::int64_t i = 0; i <= n; ++i) {
        if (i < n && !std::isfinite(x[static_cast<std::size_t>(i)])) continue;
        // [prev + 1, i) is a run of non-finite samples between finite prev (or the start) and i (or the end).
        if (i == n && prev < 0) return n == 0;
        for (std::int64_t k = prev + 1; k < i; ++k) {
            double v;
            if (prev < 0)
                v = x[static_cast<std::size_t>(i)];
            else if (i == n)
                v = x[static_cast<std::size_t>(prev)];
            else {
                const double w = static_cast<double>(k - prev) / static_cast<double>(i - prev);
                v = x[static_cast<std::size_t>(prev)] +
                    w * (x[static_cast<std::size_t>(i)] - x[static_cast<std::size_t>(prev)]);
            }
            x[static_cast<std::size_t>(k)] = v;
        }
        prev = i;
    }
    return true;
}

// Applies the policy in place; returns false when the record is to be dropped. Throws under NanPolicy::error.
inline bool apply_nan_policy(EcgRecord& record, const NanOptions& options, LoadIssues* issues = nullptr,
                             NanReport* report_out = nullptr) {
    NanReport report;
    std::vector<std::string> bad_leads, invalid_leads;
    for (std::int64_t c = 0; c < record.channels(); ++c) {
        std::int64_t bad = 0, first_bad = -1;
        const auto x = record.channel(c);
        for (std::size_t t = 0; t < x.size(); ++t)
            if (!std::isfinite(x[t])) {
                if (first_bad < 0) first_bad = static_cast<std::int64_t>(t);
                ++bad;
            }
        if (bad == 0) continue;
        if (options.policy == NanPolicy::error)
            fail("record '{}': lead '{}' has a non-finite value ({}) at sample {} ({} such samples in the lead)",
                 record.name, record.leads[static_cast<std::size_t>(c)], x[static_cast<std::size_t>(first_bad)],
                 first_bad, bad);
        report.nonfinite_samples += bad;
        bad_leads.push_back(record.leads[static_cast<std::size_t>(c)]);
        if (bad == static_cast<std::int64_t>(x.size())) {
            ++report.invalid_leads;
            invalid_leads.push_back(record.leads[static_cast<std::size_t>(c)]);
        }
    }
    if (report_out) *report_out = report;
    if (!report.affected()) return true;

    const bool drop =
        options.policy == NanPolicy::drop || (options.policy == NanPolicy::interpolate && report.invalid_leads > 0 &&
                                              options.all_invalid_lead == AllInvalidLead::drop_record);
    if (drop) {
        report.dropped = true;
        if (report_out) *report_out = report;
        if (issues)
            issues->add("record dropped: non-finite samples",
                        fmt::format("record '{}': {} NaN/Inf samples in lead(s) {}{}", record.name,
                                    report.nonfinite_samples, fmt::join(bad_leads, ", "),
                                    invalid_leads.empty()
                                        ? std::string()
                                        : fmt::format(" ({} with no finite sample)", fmt::join(invalid_leads, ", "))));
        return false;
    }
    for (std::int64_t c = 0; c < record.channels(); ++c) {
        auto x = record.channel(c);
        if (options.policy == NanPolicy::interpolate && interpolate_nonfinite(x)) continue;
        for (double& v : x)
            if (!std::isfinite(v)) v = 0;  // NanPolicy::zero, or a lead with nothing to interpolate from
    }
    if (issues) {
        issues->add(
            options.policy == NanPolicy::zero ? "non-finite samples set to zero" : "non-finite samples interpolated",
            fmt::format("record '{}': {} NaN/Inf samples in lead(s) {}", record.name, report.nonfinite_samples,
                        fmt::join(bad_leads, ", ")));
        if (!invalid_leads.empty())
            issues->add("lead without finite samples, zero-filled",
                        fmt::format("record '{}': lead(s) {}", record.name, fmt::join(invalid_leads, ", ")));
    }
    return true;
}

}  // namespace fgclep::data
