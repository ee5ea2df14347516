#pragma once
// Linear probing: a logistic-regression layer on frozen ECG features, trained with BCE, scored by macro AUC (percent).
// Features are the backbone's global-average-pooled features (encode_ecgs with pooled_features = true), an (N, D)
// host matrix; the probe runs on the host in double and is deterministic given the seed.
//
// The recipe is MERL's (Adam, batch 16), but epochs default to 30, a CPU budget: set epochs = 100 for the reference.
// The test AUC is reported at the epoch with the best validation AUC; ProbeSelection::best_test, MERL's protocol,
// peeks at the test set and is only for comparing with published numbers. probe_protocol_options(ProbeProtocol::merl)
// sets all of MERL's values at once. Details and subsets: docs/evaluation.md.
#include "fgclep/core/error.hpp"
#include "fgclep/core/rng.hpp"
#include "fgclep/data/csv.hpp"
#include "fgclep/eval/metrics.hpp"
#include "fgclep/loss/pair_batch.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

namespace fgclep::eval {

enum class ProbeSelection { validation, best_test };

inline std::string_view to_string(ProbeSelection s) {
    return s == ProbeSelection::validation ? "selected on validation AUC" : "best test AUC over epochs (MERL)";
}

struct LinearProbeOptions {
    std::int64_t epochs = 30;  // MERL: 100
    std::int64_t batch_size = 16;
    double lr = 1e-3, weight_decay = 1e-4;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    ProbeSelection selection = ProbeSelection::validation;
    std::uint64_t seed = 42;
};

// Named protocols: `validation` (the default: the options above, the epoch chosen on the validation split) and
// `merl`, MERL's finetune recipe as its published numbers were made: Adam lr 1e-3, weight decay 1e-4, batch 16,
// 100 epochs, and the best *test* AUC over the epochs reported (it looks at the test set; use it only to compare
// with published numbers).
enum class ProbeProtocol { validation, merl };

inline std::string_view to_string(ProbeProtocol p) { return p == ProbeProtocol::validation ? "val" : "merl"; }
inline ProbeProtocol probe_protocol_from_string(std::string_view s) {
    if (s == "val" || s == "validation") return ProbeProtocol::validation;
    if (s == "merl") return ProbeProtocol::merl;
    fail("probe protocol must be 'val' or 'merl', got '{}'", s);
}

// Every option of a protocol (the seed is the caller's).
inline LinearProbeOptions probe_protocol_options(ProbeProtocol p, std::uint64_t seed = 42) {
    LinearProbeOptions o;
    o.seed = seed;
    if (p == ProbeProtocol::merl) {
        o.epochs = 100;
        o.batch_size = 16;
        o.lr = 1e-3;
        o.weight_decay = 1e-4;
        o.beta1 = 0.9;
        o.beta2 = 0.999;
        o.eps = 1e-8;
        o.selection = ProbeSelection::best_test;
    }
    return o;
}

struct LinearProbeResult {
    MacroAuc test;                    // at the selected epoch (macro in percent)
    MacroAuc val;                     // at the selected epoch (empty under best_test when no validation was given)
    std::int64_t selected_epoch = 0;  // 1-based
    ProbeSelection selection = ProbeSelection::validation;
    std::vector<double> val_curve, test_curve, loss_curve;  // per epoch: macro AUC (percent), mean training loss
    HostMatrix weight;                                      // (D, C) at the selected epoch
    Eigen::RowVectorXd bias;                                // (C)
    std::int64_t train_records = 0;
    std::string protocol() const {
        return fmt::format("{}, epoch {}/{}", to_string(selection), selected_epoch,
                           static_cast<std::int64_t>(test_curve.size()));
    }
};

// Rows of a matrix, in the order given.
inline HostMatrix select_rows(const HostMatrix& m, const std::vector<std::int64_t>& rows) {
    HostMatrix out(static_cast<Eigen::Index>(rows.size()), m.cols());
    for (std::size_t i = 0; i < rows.size(); ++i) {
        if (rows[i] < 0 || rows[i] >= m.rows()) fail("select_rows: row {} of a matrix with {} rows", rows[i], m.rows());
        out.row(static_cast<Eigen::Index>(i)) = m.row(rows[i]);
    }
    return out;
}

// Logits (N, C) of the probe.
inline HostMatrix probe_logits(const HostMatrix& features, const HostMatrix& weight, const Eigen::RowVectorXd& bias) {
    HostMatrix z = features * weight;
    z.rowwise() += bias;
    return z;
}

// The probe itself: weight (D, C), bias (C) and their Adam moments. step() is one optimizer step on a batch,
// exactly torch's BCEWithLogitsLoss (mean) + Adam(weight_decay) step (tests/fixtures/make_eval.py checks it).
struct LogisticProbe {
    HostMatrix weight;
    Eigen::RowVectorXd bias;
    HostMatrix mw, vw;
    Eigen::RowVectorXd mb, vb;
    std::int64_t steps = 0;

    LogisticProbe(HostMatrix w, Eigen::RowVectorXd b)
        : weight(std::move(w)),
          bias(std::move(b)),
          mw(HostMatrix::Zero(weight.rows(), weight.cols())),
          vw(HostMatrix::Zero(weight.rows(), weight.cols())),
          mb(Eigen::RowVectorXd::Zero(bias.size())),
          vb(Eigen::RowVectorXd::Zero(bias.size())) {}

    // nn.Linear(D, C)'s initialisation: weight and bias U(-1/sqrt(D), 1/sqrt(D)).
    static LogisticProbe initialised(Eigen::Index d, Eigen::Index c, HostRng& rng) {
        const double bound = 1 / std::sqrt(static_cast<double>(d));
        HostMatrix w(d, c);
        for (Eigen::Index j = 0; j < c; ++j)  // nn.Linear's weight is (C, D): draw it in that order
            for (Eigen::Index i = 0; i < d; ++i) w(i, j) = rng.uniform(-bound, bound);
        Eigen::RowVectorXd b(c);
        for (Eigen::Index j = 0; j < c; ++j) b(j) = rng.uniform(-bound, bound);
        return LogisticProbe(std::move(w), std::move(b));
    }

    HostMatrix logits(const HostMatrix& x) const { return probe_logits(x, weight, bias); }

    // One step on a batch x (B, D), y (B, C); returns the batch's mean BCE before the step.
    double step(const HostMatrix& x, const HostMatrix& y, const LinearProbeOptions& o) {
        const Eigen::Index size = x.rows(), c = weight.cols();
        const HostMatrix z = logits(x);
        // BCE with logits, mean over the batch's records and classes; dL/dz = (sigmoid(z) - y) / (B C).
        HostMatrix dz(size, c);
        double loss = 0;
        for (Eigen::Index r = 0; r < size; ++r)
            for (Eigen::Index k = 0; k < c; ++k) {
                const double zz = z(r, k), yy = y(r, k);
                loss += -(yy * fgclep::detail::log_sigmoid(zz) + (1 - yy) * fgclep::detail::log_sigmoid(-zz));
                dz(r, k) = (fgclep::detail::sigmoid(zz) - yy) / static_cast<double>(size * c);
            }
        // torch.optim.Adam's weight_decay: an L2 term added to the gradient (of the bias too).
        const HostMatrix gw = x.transpose() * dz + o.weight_decay * weight;
        const Eigen::RowVectorXd gb = dz.colwise().sum() + o.weight_decay * bias;
        ++steps;
        const double c1 = 1 - std::pow(o.beta1, static_cast<double>(steps));
        const double c2 = 1 - std::pow(o.beta2, static_cast<double>(steps));
        mw = o.beta1 * mw + (1 - o.beta1) * gw;
        vw = o.beta2 * vw + (1 - o.beta2) * gw.cwiseAbs2();
        mb = o.beta1 * mb + (1 - o.beta1) * gb;
        vb = o.beta2 * vb + (1 - o.beta2) * gb.cwiseAbs2();
        // p -= lr * (m / c1) / (sqrt(v / c2) + eps), as torch computes it
        weight.array() -= o.lr * (mw.array() / c1) / ((vw.array() / c2).sqrt() + o.eps);
        bias.array() -= o.lr * (mb.array() / c1) / ((vb.array() / c2).sqrt() + o.eps);
        return loss / static_cast<double>(size * c);
    }
};

inline LinearProbeResult linear_probe(const HostMatrix& train_x, const HostMatrix& train_y, const HostMatrix& val_x,
                                      const HostMatrix& val_y, const HostMatrix& test_x, const HostMatrix& test_y,
                                      const std::vector<std::string>& class_names = {},
                                      const LinearProbeOptions& options = {}) {
    const Eigen::Index n = train_x.rows(), d = train_x.cols(), c = train_y.cols();
    if (train_y.rows() != n) fail("linear_probe: {} training features but {} label rows", n, train_y.rows());
    if (n == 0) fail("linear_probe: no training records");
    if (test_x.cols() != d || test_y.cols() != c || test_x.rows() != test_y.rows())
        fail("linear_probe: test features ({}, {}) / labels ({}, {}) do not match training ({}, {}) / ({}, {})",
             test_x.rows(), test_x.cols(), test_y.rows(), test_y.cols(), n, d, n, c);
    const bool have_val = val_x.rows() > 0;
    if (have_val && (val_x.cols() != d || val_y.cols() != c || val_x.rows() != val_y.rows()))
        fail("linear_probe: validation features ({}, {}) / labels ({}, {}) do not match training ({}, {}) / ({}, {})",
             val_x.rows(), val_x.cols(), val_y.rows(), val_y.cols(), n, d, n, c);
    if (options.selection == ProbeSelection::validation && !have_val)
        fail("linear_probe: selection on validation needs validation features");
    if (options.epochs < 1 || options.batch_size < 1)
        fail("linear_probe: epochs and batch_size must be >= 1, got {} and {}", options.epochs, options.batch_size);

    HostRng rng(options.seed);
    LogisticProbe probe = LogisticProbe::initialised(d, c, rng);

    LinearProbeResult out;
    out.selection = options.selection;
    out.train_records = n;
    double best = -1;
    std::vector<std::int64_t> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), std::int64_t{0});
    for (std::int64_t epoch = 1; epoch <= options.epochs; ++epoch) {
        for (std::int64_t i = n - 1; i > 0; --i)
            std::swap(order[static_cast<std::size_t>(i)], order[rng.next() % static_cast<std::uint64_t>(i + 1)]);
        double loss_sum = 0;
        for (std::int64_t start = 0; start < n; start += options.batch_size) {
            const std::int64_t size = std::min(options.batch_size, n - start);
            const std::vector<std::int64_t> rows(order.begin() + start, order.begin() + start + size);
            const HostMatrix x = select_rows(train_x, rows), y = select_rows(train_y, rows);
            loss_sum += probe.step(x, y, options) * static_cast<double>(size);
        }
        out.loss_curve.push_back(loss_sum / static_cast<double>(n));
        MacroAuc test = macro_auc(probe.logits(test_x), test_y, class_names);
        MacroAuc val = have_val ? macro_auc(probe.logits(val_x), val_y, class_names) : MacroAuc{};
        out.test_curve.push_back(test.macro);
        out.val_curve.push_back(val.macro);
        const double key = options.selection == ProbeSelection::validation ? val.macro : test.macro;
        if (std::isnan(key))
            fail("linear_probe: no class of the {} split has both label values",
                 options.selection == ProbeSelection::validation ? "validation" : "test");
        if (key > best) {  // the first of equally good epochs
            best = key;
            out.selected_epoch = epoch;
            out.test = std::move(test);
            out.val = std::move(val);
            out.weight = probe.weight;
            out.bias = probe.bias;
        }
    }
    return out;
}

// The training rows of a linear-probe setting.
struct ProbeSubset {
    std::vector<std::int64_t> rows;       // 0-based data rows of the train split, ascending
    std::vector<std::string> record_ids;  // from the subsets file (empty for a random subset)
    std::string source;                   // where the rows come from, for the results
};

struct ProbeSubsetOptions {
    std::filesystem::path subsets_csv{};  // the benchmark's linear_probe_subsets.csv; empty: random subset
    std::string dataset{};                // its dataset column: ptbxl_super_class, icbeb, chapman, ...
    std::string protocol = "merl_sklearn_tts";
    std::uint64_t seed = 42;  // for a random subset
};

// ratio_percent of n_train rows (1, 10, 100): all rows at 100; the reference's rows when the subsets file lists
// (dataset, protocol, ratio) — its n_train_rows must equal n_train, else the split is another one and that is an
// error —; else floor(ratio/100 x n_train) rows drawn with the seed.
inline ProbeSubset probe_subset(std::int64_t n_train, double ratio_percent, const ProbeSubsetOptions& options = {}) {
    if (!(ratio_percent > 0 && ratio_percent <= 100))
        fail("probe_subset: ratio must be in (0, 100], got {}", ratio_percent);
    ProbeSubset out;
    if (ratio_percent == 100) {
        out.rows.resize(static_cast<std::size_t>(n_train));
        std::iota(out.rows.begin(), out.rows.end(), std::int64_t{0});
        out.source = "all training records";
        return out;
    }
    if (!options.subsets_csv.empty() && !options.dataset.empty()) {
        data::CsvReader csv(options.subsets_csv);
        const std::size_t cd = csv.column("dataset"), cp = csv.column("protocol"), cr = csv.column("ratio"),
                          cn = csv.column("n_train_rows"), ci = csv.column("row_index"), cid = csv.column("record_id");
        while (csv.next()) {
            if (csv.field(cd) != options.dataset || csv.field(cp) != options.protocol) continue;
            if (std::stod(std::string(csv.field(cr))) != ratio_percent) continue;
            const std::int64_t listed_n = std::stoll(std::string(csv.field(cn)));
            if (listed_n != n_train)
                fail("probe_subset: '{}' lists {} training rows for {} but the split has {}; it is another split",
                     options.subsets_csv.string(), listed_n, options.dataset, n_train);
            out.rows.push_back(std::stoll(std::string(csv.field(ci))));
            out.record_ids.emplace_back(csv.field(cid));
        }
        if (!out.rows.empty()) {
            // Ascending rows; ids follow.
            std::vector<std::size_t> idx(out.rows.size());
            std::iota(idx.begin(), idx.end(), std::size_t{0});
            std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return out.rows[a] < out.rows[b]; });
            ProbeSubset sorted;
            for (auto i : idx) {
                sorted.rows.push_back(out.rows[i]);
                sorted.record_ids.push_back(out.record_ids[i]);
            }
            sorted.source =
                fmt::format("{} ({} {}%)", options.subsets_csv.filename().string(), options.protocol, ratio_percent);
            return sorted;
        }
    }
    // sklearn's train_test_split(train_size = r / 100): floor(train_size * N).
    const auto keep = static_cast<std::int64_t>(std::floor(ratio_percent / 100 * static_cast<double>(n_train)));
    if (keep < 1) fail("probe_subset: {}% of {} training records is none", ratio_percent, n_train);
    std::vector<std::int64_t> order(static_cast<std::size_t>(n_train));
    std::iota(order.begin(), order.end(), std::int64_t{0});
    HostRng rng = HostRng::for_name(options.seed, "probe_subset");
    for (std::int64_t i = n_train - 1; i > 0; --i)
        std::swap(order[static_cast<std::size_t>(i)], order[rng.next() % static_cast<std::uint64_t>(i + 1)]);
    out.rows.assign(order.begin(), order.begin() + keep);
    std::sort(out.rows.begin(), out.rows.end());
    out.source = fmt::format("random {}% (seed {})", ratio_percent, options.seed);
    return out;
}

}  // namespace fgclep::eval
