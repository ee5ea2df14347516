#pragma once
// CandidateSource: what proposes candidate waveform features for reports in FG-CLEP's stage 2. Two exist: the
// embedded knowledge base (knowledge_base.hpp, no server) and the LLM client (fgclep/llm/llm_features.hpp).
//
//   template <CandidateSource S>: s.candidates(std::span<const std::string> reports)
//       -> std::vector<std::vector<std::string>>, one list per report, in the order given.
//
//   auto candidates = propose_candidates(kb, dataset);  // one list per record of any RecordSource
//
// The method may be non-const (a client with a cache or a connection) and may throw fgclep::Error.
#include "fgclep/core/error.hpp"

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace fgclep::features {

template <class S>
concept CandidateSource = requires(S& s, std::span<const std::string> reports) {
    { s.candidates(reports) } -> std::convertible_to<std::vector<std::vector<std::string>>>;
};

struct ProposeOptions {
    std::int64_t chunk = 1024;  // reports asked at once (a client may checkpoint between chunks)
    std::function<void(std::int64_t done, std::int64_t total)> progress{};
};

// The candidates of every record of a source with size() and report(i) (an EcgDataset), in record order.
template <CandidateSource S, class Records>
requires requires(const Records& r, std::int64_t i) {
    { r.size() } -> std::convertible_to<std::int64_t>;
    std::string(r.report(i));
}
std::vector<std::vector<std::string>> propose_candidates(S& source, const Records& records,
                                                         const ProposeOptions& options = {}) {
    if (options.chunk < 1) fail("propose_candidates: chunk must be >= 1, got {}", options.chunk);
    const auto n = static_cast<std::int64_t>(records.size());
    std::vector<std::vector<std::string>> out;
    out.reserve(static_cast<std::size_t>(n));
    std::vector<std::string> reports;
    for (std::int64_t begin = 0; begin < n; begin += options.chunk) {
        const std::int64_t end = std::min(n, begin + options.chunk);
        reports.clear();
        for (std::int64_t i = begin; i < end; ++i) reports.emplace_back(records.report(i));
        std::vector<std::vector<std::string>> part = source.candidates(std::span<const std::string>(reports));
        if (part.size() != reports.size())
            fail("propose_candidates: the candidate source answered {} lists for {} reports", part.size(),
                 reports.size());
        for (auto& p : part) out.push_back(std::move(p));
        if (options.progress) options.progress(end, n);
    }
    return out;
}

}  // namespace fgclep::features
