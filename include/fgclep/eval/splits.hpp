#pragma once
// The train/val/test split of a benchmark task, by one of two rules:
//
//   SplitRule::merl   (the default) MERL's split files as they are: CPSC2018 4950/551/1376, CSN 16546/1860/4620,
//                     PTB-XL the official folds. The published numbers of MERL, MELP and FG-CLEP, and the rows of
//                     linear_probe_subsets.csv, are on these files.
//   SplitRule::paper  the FG-CLEP paper's (appendix B: "For CPSC2018 and CSN, we split the dataset as 70%:10%:20%"):
//                     the records pooled and split again, 70/10/20, at random with a seed. PTB-XL keeps its official
//                     folds under both rules (the paper follows them too, and MERL's files are those folds).
//
//   SplitSizes s = paper_split_sizes(45152);              // {31606, 4515, 9031}: Table 4's CSN sizes
//   TaskSplits p = paper_split(pool_splits({train, val, test}), {.seed = 42});
//
// How paper_split assigns records: sorted by id (so the result does not depend on the order of the files or
// rows), then a seeded Fisher-Yates shuffle; the first floor(0.7 N) records train, the next floor(0.1 N) validate,
// the rest test. Not stratified: the paper does not say it stratified, and its assignment is unpublished, so only
// its sizes can be matched, never its records. Same seed and same records: the same split. docs/evaluation.md.
#include "fgclep/core/error.hpp"
#include "fgclep/core/rng.hpp"
#include "fgclep/data/dataset.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace fgclep::eval {

enum class SplitRule { merl, paper };

inline std::string_view to_string(SplitRule r) { return r == SplitRule::merl ? "merl" : "paper"; }
inline SplitRule split_rule_from_string(std::string_view s) {
    if (s == "merl") return SplitRule::merl;
    if (s == "paper") return SplitRule::paper;
    fail("split rule must be 'merl' or 'paper', got '{}'", s);
}

struct SplitSizes {
    std::int64_t train = 0, val = 0, test = 0;
    std::int64_t total() const { return train + val + test; }
    bool operator==(const SplitSizes&) const = default;
};

struct PaperSplitOptions {
    double train = 0.7, val = 0.1;  // shares of the records; the test split has the rest
    std::uint64_t seed = 42;

    void validate() const {
        if (!(train > 0) || !(val >= 0) || !(train + val < 1))
            fail("paper split: shares train {} and val {} must be > 0, >= 0 and leave a test share", train, val);
    }
};

// floor(train N) and floor(val N) records, the rest for testing. 45,152 CSN records: 31,606 / 4,515 / 9,031, the
// paper's Table 4. (Its CPSC2018 sizes, 4,800 / 684 / 1,383, add up to 6,867, ten fewer than the dataset's 6,877
// records, and are not 70/10/20 of either count: 6,877 records give 4,813 / 687 / 1,377.)
inline SplitSizes paper_split_sizes(std::int64_t n, const PaperSplitOptions& options = {}) {
    options.validate();
    if (n < 0) fail("paper split: {} records", n);
    // The small epsilon keeps 0.7 x 10 at 7 although 0.7 is not exact in binary.
    const auto part = [&](double share) {
        return static_cast<std::int64_t>(std::floor(share * static_cast<double>(n) + 1e-9));
    };
    SplitSizes s;
    s.train = part(options.train);
    s.val = part(options.val);
    s.test = n - s.train - s.val;
    return s;
}

// A task's three splits and how they were made.
struct TaskSplits {
    data::EcgDataset train, val, test;
    SplitRule rule = SplitRule::merl;
    std::string description;  // one line for the log: the rule, the sizes, the seed
    SplitSizes sizes() const { return {train.size(), val.size(), test.size()}; }
};

// The records of several splits of one dataset as one dataset: the entries in the order given, the first
// dataset's root, name and class names (every part must have the same class names, in the same order: load the
// files with the test split's class_names). A record id met again is left out and counted ("duplicate record").
inline data::EcgDataset pool_splits(const std::vector<data::EcgDataset>& parts) {
    if (parts.empty()) fail("pool_splits: no splits");
    data::EcgDataset out;
    out.name = parts.front().name;
    out.root = parts.front().root;
    out.class_names = parts.front().class_names;
    std::unordered_set<std::string> seen;
    for (const data::EcgDataset& p : parts) {
        if (p.class_names != out.class_names)
            fail("pool_splits: '{}' and '{}' have different class names or class orders", out.name, p.name);
        if (p.root != out.root)
            fail("pool_splits: '{}' and '{}' have different roots ({} and {})", out.name, p.name, out.root.string(),
                 p.root.string());
        out.issues.merge(p.issues);
        for (const data::DatasetEntry& e : p.entries) {
            if (!seen.insert(e.id).second) {
                out.issues.add("duplicate record", fmt::format("{}: {} is listed again", p.name, e.id));
                continue;
            }
            out.entries.push_back(e);
        }
    }
    return out;
}

// The paper's rule on `records` (all of a dataset, or pool_splits of its split files): see the top of this file.
inline TaskSplits paper_split(const data::EcgDataset& records, const PaperSplitOptions& options = {}) {
    const SplitSizes sizes = paper_split_sizes(records.size(), options);
    std::vector<std::int64_t> order(static_cast<std::size_t>(records.size()));
    std::iota(order.begin(), order.end(), std::int64_t{0});
    const auto key = [&](std::int64_t i) -> const data::DatasetEntry& {
        return records.entries[static_cast<std::size_t>(i)];
    };
    std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
        if (key(a).id != key(b).id) return key(a).id < key(b).id;
        return key(a).record < key(b).record;
    });
    // Positions in the id order, shuffled: the first sizes.train go to train, and so on.
    std::vector<std::int64_t> shuffled(order.size());
    std::iota(shuffled.begin(), shuffled.end(), std::int64_t{0});
    HostRng rng = HostRng::for_name(options.seed, "paper_split");
    for (std::int64_t i = static_cast<std::int64_t>(shuffled.size()) - 1; i > 0; --i)
        std::swap(shuffled[static_cast<std::size_t>(i)], shuffled[rng.next() % static_cast<std::uint64_t>(i + 1)]);

    TaskSplits out;
    out.rule = SplitRule::paper;
    const auto make = [&](data::EcgDataset& d, std::string_view which, std::int64_t from, std::int64_t count) {
        d.name = fmt::format("{} [paper {}]", records.name, which);
        d.root = records.root;
        d.class_names = records.class_names;
        std::vector<std::int64_t> positions(shuffled.begin() + from, shuffled.begin() + from + count);
        std::sort(positions.begin(), positions.end());  // each split in id order
        for (std::int64_t p : positions) d.entries.push_back(key(order[static_cast<std::size_t>(p)]));
    };
    make(out.train, "train", 0, sizes.train);
    make(out.val, "val", sizes.train, sizes.val);
    make(out.test, "test", sizes.train + sizes.val, sizes.test);
    out.test.issues = records.issues;
    out.description =
        fmt::format("paper split: {} records at random (seed {}), {:g}/{:g}/{:g}%: {} train, {} val, {} test",
                    records.size(), options.seed, 100 * options.train, 100 * options.val,
                    100 * (1 - options.train - options.val), sizes.train, sizes.val, sizes.test);
    return out;
}

}  // namespace fgclep::eval
