#pragma once
// Where training pairs come from. A pair source knows how many ECG-report pairs it has and loads any subset of
// them, by index, into host memory; the trainer decides the order (seeded shuffling, resumable) and asks for one
// batch at a time, so a source never has to hold the corpus in memory.
//
//   struct MySource {
//       std::int64_t size() const;
//       fgclep::HostPairs load(std::span<const std::int64_t> indices);   // in the order given
//   };
//
// InMemoryPairs is the simplest source (tests, small corpora); the data module's dataset loaders are others.
#include "fgclep/core/error.hpp"
#include "fgclep/core/shape.hpp"

#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace fgclep {

// A batch on the host: ECGs (N, leads, L) in float, and one report per ECG.
struct HostPairs {
    Shape ecg_shape;
    std::vector<float> ecg;
    std::vector<std::string> reports;
    std::int64_t size() const { return static_cast<std::int64_t>(reports.size()); }
};

template <class S>
concept PairSource = requires(S& s, std::span<const std::int64_t> indices) {
    { s.size() } -> std::convertible_to<std::int64_t>;
    { s.load(indices) } -> std::same_as<HostPairs>;
};

// Pairs held in memory: all ECGs have the same shape (leads, L).
class InMemoryPairs {
public:
    InMemoryPairs(std::int64_t leads, std::int64_t length) : leads_(leads), length_(length) {
        if (leads < 1 || length < 1)
            fail("InMemoryPairs needs leads >= 1 and length >= 1, got {} and {}", leads, length);
    }
    void add(std::span<const float> ecg, std::string report) {
        if (static_cast<std::int64_t>(ecg.size()) != leads_ * length_)
            fail("InMemoryPairs: pair {} has {} samples, expected {} leads x {} = {}", reports_.size(), ecg.size(),
                 leads_, length_, leads_ * length_);
        ecg_.insert(ecg_.end(), ecg.begin(), ecg.end());
        reports_.push_back(std::move(report));
    }
    std::int64_t size() const { return static_cast<std::int64_t>(reports_.size()); }
    HostPairs load(std::span<const std::int64_t> indices) const {
        HostPairs out;
        const std::int64_t n = static_cast<std::int64_t>(indices.size()), per = leads_ * length_;
        out.ecg_shape = Shape{n, leads_, length_};
        out.ecg.reserve(static_cast<std::size_t>(n * per));
        for (std::int64_t i : indices) {
            if (i < 0 || i >= size()) fail("InMemoryPairs: index {} is outside [0, {})", i, size());
            out.ecg.insert(out.ecg.end(), ecg_.begin() + i * per, ecg_.begin() + (i + 1) * per);
            out.reports.push_back(reports_[static_cast<std::size_t>(i)]);
        }
        return out;
    }

private:
    std::int64_t leads_, length_;
    std::vector<float> ecg_;
    std::vector<std::string> reports_;
};

}  // namespace fgclep
