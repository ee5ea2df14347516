#pragma once
// What batch sources and the preprocessed cache read records from, and how one record becomes a model input.
//
//   template <RecordSource S>: s.size(), s.read(i) -> EcgRecord, s.report(i) -> something a std::string can be
//   built from. EcgDataset is one; tests use in-memory sources. read() and report() are called from several
//   worker threads at once, so they must be safe to call concurrently on a const source (EcgDataset's are:
//   each read opens its own files).
//
//   LabelledRecordSource adds s.labels(i) -> a range of float (multi-hot), for evaluation batches.
//
// A source may name its records for messages and for the cache key with record_path(i) (EcgDataset) or
// record_name(i); without either, records are named by index and the cache key hashes the reports instead.
#include "fgclep/core/error.hpp"
#include "fgclep/core/hash.hpp"
#include "fgclep/data/ecg_record.hpp"
#include "fgclep/data/load_issues.hpp"
#include "fgclep/data/preprocess.hpp"

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fgclep::data {

template <class S>
concept RecordSource = requires(const S& s, std::int64_t i) {
    { s.size() } -> std::convertible_to<std::int64_t>;
    { s.read(i) } -> std::same_as<EcgRecord>;
    std::string(s.report(i));
};

template <class S>
concept LabelledRecordSource = RecordSource<S> && requires(const S& s, std::int64_t i) {
    { s.labels(i) } -> std::convertible_to<std::span<const float>>;
};

// "record 7 ('files/p1000/.../40689238')": how messages name a source's record.
template <RecordSource S>
std::string record_label(const S& source, std::int64_t i) {
    if constexpr (requires { source.record_path(i).string(); })
        return fmt::format("record {} ('{}')", i, source.record_path(i).string());
    else if constexpr (requires { std::string(source.record_name(i)); })
        return fmt::format("record {} ('{}')", i, std::string(source.record_name(i)));
    else
        return fmt::format("record {}", i);
}

// A hash of the source's record list: the record paths (or names, or reports) in order, and their number.
// FNV-1a from the legacy basis (see core/hash.hpp), so existing record caches keep their keys.
template <RecordSource S>
std::uint64_t record_list_hash(const S& source) {
    const auto n = static_cast<std::int64_t>(source.size());
    std::uint64_t h = fnv1a64(fmt::format("n={};", n), fnv1a64_legacy_basis);
    for (std::int64_t i = 0; i < n; ++i) {
        if constexpr (requires { source.record_path(i).string(); })
            h = fnv1a64(source.record_path(i).string(), h);
        else if constexpr (requires { std::string(source.record_name(i)); })
            h = fnv1a64(std::string(source.record_name(i)), h);
        else
            h = fnv1a64(std::string(source.report(i)), h);
        h = fnv1a64("\n", h);
    }
    return h;
}

// One record read and preprocessed into float (leads, length), or why not.
struct PreparedRecord {
    enum class Status : std::uint8_t { missing = 0, ok = 1, failed = 2, dropped = 3 };
    Status status = Status::missing;
    std::vector<float> ecg;
    std::string message;  // why it failed, naming the record
};

// Reads and preprocesses record i into `out` (leads x length floats). A data error (fgclep::Error from reading or
// preprocessing, a record of the wrong shape) gives Status::failed with the message; other exceptions propagate.
// The returned record's ecg is left empty: the samples are in `out`.
template <RecordSource S>
PreparedRecord prepare_record_into(const S& source, std::int64_t i, const Preprocessor& preprocessor,
                                   std::span<float> out) {
    PreparedRecord result;
    try {
        std::optional<EcgRecord> r = preprocessor.apply(source.read(i));
        if (!r) {
            result.status = PreparedRecord::Status::dropped;
            result.message = fmt::format("{}: dropped by the NaN policy", record_label(source, i));
            return result;
        }
        if (r->channels() != preprocessor.leads() || r->length != preprocessor.length() ||
            r->samples.size() != out.size())
            fail("record '{}' has shape ({}, {}) after preprocessing, expected ({}, {})", r->name, r->channels(),
                 r->length, preprocessor.leads(), preprocessor.length());
        std::copy(r->samples.begin(), r->samples.end(), out.begin());
        result.status = PreparedRecord::Status::ok;
    } catch (const Error& e) {
        result.status = PreparedRecord::Status::failed;
        // Without the error's own "fgclep: " prefix: the message is re-raised (or listed) with one prefix.
        result.message = fmt::format("{}: {}", record_label(source, i), reason(e));
    }
    return result;
}

// The same with the samples in the returned record's ecg.
template <RecordSource S>
PreparedRecord prepare_record(const S& source, std::int64_t i, const Preprocessor& preprocessor) {
    std::vector<float> ecg(static_cast<std::size_t>(preprocessor.leads() * preprocessor.length()));
    PreparedRecord r = prepare_record_into(source, i, preprocessor, std::span<float>(ecg));
    if (r.status == PreparedRecord::Status::ok) r.ecg = std::move(ecg);
    return r;
}

}  // namespace fgclep::data
