#pragma once
// Preprocessor: the steps that turn a record as read into a model input of fixed shape (leads, length): lead order
// by name, the NaN/Inf policy, resampling, crop/pad, normalisation, in that order (resampling needs finite samples).
// The defaults are the benchmark's (method.md section 5): MIMIC-IV-ECG lead order, 500 Hz, 5000 samples, min-max per
// record, NaN interpolated. The FG-CLEP paper discards records with NaN/Inf instead: nan.policy = NanPolicy::drop
// (apply() returns nullopt; BatchStream and the record cache skip the record and count it).
//
//   Preprocessor pre;                                        // benchmark defaults
//   std::optional<EcgRecord> x = pre.apply(record);          // nullopt: dropped by the NaN policy (counted)
//
// apply() is const and thread-safe (batch sources call it from worker threads). Each step: docs/data-pipeline.md.
#include "fgclep/data/crop_pad.hpp"
#include "fgclep/data/ecg_record.hpp"
#include "fgclep/data/lead_order.hpp"
#include "fgclep/data/load_issues.hpp"
#include "fgclep/data/nan_policy.hpp"
#include "fgclep/data/normalize.hpp"
#include "fgclep/data/resample.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace fgclep::data {

struct PreprocessOptions {
    LeadOrderOptions leads{};  // MIMIC-IV-ECG order, a missing lead is an error
    NanOptions nan{};          // interpolate (the paper: drop); a lead with no finite sample becomes zeros
    double target_fs = 500;    // 0: keep each record's rate (then records must agree for batching)
    ResampleEdge resample_edge = ResampleEdge::zero;
    CropPadOptions crop{};         // keep 5000, length 5000
    NormalizeOptions normalize{};  // min-max per record

    void validate() const {
        crop.validate();
        if (target_fs < 0 || !std::isfinite(target_fs))
            fail("preprocessing: target_fs must be >= 0 (0: keep), got {}", target_fs);
    }
    // Every option in one line: the cache key hashes it, so any change here invalidates a preprocessed cache.
    std::string fingerprint() const {
        return fmt::format(
            "leads=[{}] missing={} nan={} all_invalid={} fs={:.17g} edge={} keep={} length={} norm={} "
            "mm_eps={:.17g} z_eps={:.17g}",
            fmt::join(leads.target, ","), static_cast<int>(leads.missing), to_string(nan.policy),
            static_cast<int>(nan.all_invalid_lead), target_fs, static_cast<int>(resample_edge), crop.keep, crop.length,
            to_string(normalize.method), normalize.min_max_eps, normalize.zscore_eps);
    }
};

// Counts over every record a preprocessor has seen (LoadIssues has the per-record messages).
struct PreprocessCounts {
    std::int64_t records = 0;            // records given to apply()
    std::int64_t dropped = 0;            // dropped by the NaN policy
    std::int64_t nonfinite_records = 0;  // records with at least one NaN/Inf sample
    std::int64_t nonfinite_samples = 0;  // NaN/Inf samples found in the selected leads
    std::int64_t invalid_leads = 0;      // leads with no finite sample
    std::int64_t missing_leads = 0;      // target leads zero-filled because the record lacks them
    std::int64_t resampled = 0;          // records whose rate differed from target_fs
    std::int64_t short_records = 0;      // records with fewer samples than crop.keep (zero-padded further)
};

class Preprocessor {
public:
    explicit Preprocessor(PreprocessOptions options = {}) : options_(std::move(options)) { options_.validate(); }
    Preprocessor(const Preprocessor& other) : Preprocessor(other.options_) {}
    Preprocessor& operator=(const Preprocessor&) = delete;

    const PreprocessOptions& options() const { return options_; }
    // Shape of every record apply() returns: (leads(), length()). leads() is 0 when the target order is empty
    // (the record's own channels are kept).
    std::int64_t leads() const { return static_cast<std::int64_t>(options_.leads.target.size()); }
    std::int64_t length() const { return options_.crop.length; }

    // The record preprocessed, or std::nullopt when the NaN policy drops it. Errors (a missing lead under
    // MissingLead::error, NanPolicy::error, a rate that cannot be resampled) are fgclep::Error naming the record.
    std::optional<EcgRecord> apply(const EcgRecord& record) const {
        ++counters_.records;
        EcgRecord r = reorder_leads(record, options_.leads, &issues_);
        if (!options_.leads.target.empty())
            for (const auto& lead : options_.leads.target) {
                bool present = false;
                for (const auto& have : record.leads) present = present || lead_key(have) == lead_key(lead);
                if (!present) ++counters_.missing_leads;
            }

        NanReport nan;
        const bool keep = apply_nan_policy(r, options_.nan, &issues_, &nan);
        if (nan.affected()) {
            ++counters_.nonfinite_records;
            counters_.nonfinite_samples += nan.nonfinite_samples;
            counters_.invalid_leads += nan.invalid_leads;
        }
        if (!keep) {
            ++counters_.dropped;
            return std::nullopt;
        }

        if (options_.target_fs > 0 && r.fs != options_.target_fs) {
            if (!(r.fs > 0))
                fail("record '{}': sampling rate {} Hz, cannot resample to {} Hz", r.name, r.fs, options_.target_fs);
            const auto& resampler = resampler_for(r.fs);
            EcgRecord out;
            out.name = r.name;
            out.fs = options_.target_fs;
            out.length = resampler.output_length(r.length);
            out.leads = r.leads;
            out.units = r.units;
            out.samples.reserve(static_cast<std::size_t>(r.channels() * out.length));
            for (std::int64_t c = 0; c < r.channels(); ++c) {
                const auto y = resampler.apply(r.channel(c));
                out.samples.insert(out.samples.end(), y.begin(), y.end());
            }
            r = std::move(out);
            ++counters_.resampled;
        }

        const std::int64_t keep_samples = options_.crop.keep < 0 ? options_.crop.length : options_.crop.keep;
        if (r.length < keep_samples) {
            ++counters_.short_records;
            issues_.add("record shorter than kept length, zero-padded",
                        fmt::format("record '{}': {} samples at {} Hz, {} kept", r.name, r.length, r.fs, keep_samples));
        }
        r = crop_pad(std::move(r), options_.crop);
        normalize(r, options_.normalize);
        return r;
    }

    const LoadIssues& issues() const { return issues_; }
    PreprocessCounts counts() const {
        PreprocessCounts c;
        c.records = counters_.records;
        c.dropped = counters_.dropped;
        c.nonfinite_records = counters_.nonfinite_records;
        c.nonfinite_samples = counters_.nonfinite_samples;
        c.invalid_leads = counters_.invalid_leads;
        c.missing_leads = counters_.missing_leads;
        c.resampled = counters_.resampled;
        c.short_records = counters_.short_records;
        return c;
    }

private:
    const PolyphaseResampler& resampler_for(double fs) const {
        std::lock_guard lock(mutex_);
        auto& r = resamplers_[fs];
        if (!r) r = std::make_unique<PolyphaseResampler>(fs, options_.target_fs, options_.resample_edge);
        return *r;
    }

    struct Counters {
        std::atomic<std::int64_t> records{0}, dropped{0}, nonfinite_records{0}, nonfinite_samples{0}, invalid_leads{0},
            missing_leads{0}, resampled{0}, short_records{0};
    };
    PreprocessOptions options_;
    mutable LoadIssues issues_;
    mutable Counters counters_;
    mutable std::mutex mutex_;
    mutable std::map<double, std::unique_ptr<PolyphaseResampler>> resamplers_;  // one filter per source rate
};

}  // namespace fgclep::data
