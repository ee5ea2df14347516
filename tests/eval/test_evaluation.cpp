// fgclep::eval with a model: encoding a split, zero-shot (with and without the lead ensemble) and retrieval with a
// tiny untrained FgClep, checked against the model's own encode/similarity; free-text retrieval over a streamed
// corpus with the model's calibrated probabilities; the linear probe on a separable problem, its epoch selection
// and MERL's named protocol; embeddings exported as .npy and read back; the benchmark's rules on the real fixtures
// (CPSC2018's first-5-s cut on a real CinC-format record, MERL's split files and the paper's 70/10/20 split). The
// only FgClep instantiation of the eval tests (each costs a minute of compile time).
#include "fixture.hpp"

#include "fgclep/data/batch_stream.hpp"
#include "fgclep/data/wfdb_reader.hpp"
#include "fgclep/data/wfdb_writer.hpp"
#include "fgclep/eval/corpus_retrieval.hpp"
#include "fgclep/eval/export.hpp"
#include "fgclep/eval/linear_probe.hpp"
#include "fgclep/eval/retrieval.hpp"
#include "fgclep/eval/splits.hpp"
#include "fgclep/eval/zero_shot.hpp"
#include "fgclep/fgclep.hpp"
#include "fgclep/pipeline/evaluation.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

using namespace fgclep;
using namespace fgclep::eval;

namespace {
constexpr std::int64_t leads = 2, length = 64;
using TinyModel = FgClep<ResNet1D18, Bert, SigmoidLoss>;

TinyModel tiny_model() {
    TinyModel::Options o;
    o.ecg.backbone = {.leads = leads, .base_width = 4, .stages = {1, 1, 1}, .input_length = length};
    o.ecg.head = {.in_channels = 0, .embed_dim = 16, .num_heads = 2, .output_dim = 16, .reference_length = 0};
    o.text.bert = {.vocab_size = 40,
                   .hidden_size = 16,
                   .num_hidden_layers = 1,
                   .num_attention_heads = 2,
                   .intermediate_size = 32,
                   .max_position_embeddings = 32};
    o.text.head = {0, 16, 16};
    return TinyModel(o, 3);
}

ReportTokenizer tiny_tokenizer() {
    std::vector<std::string> vocab{"[PAD]",        "[UNK]",  "[CLS]", "[SEP]", "[MASK]", ".",     ",",      "in",
                                   "lead",         "i",      "ii",    "iii",   "avr",    "avl",   "avf",    "v1",
                                   "v2",           "v3",     "v4",    "v5",    "v6",     "sinus", "rhythm", "atrial",
                                   "fibrillation", "absent", "p",     "waves", "wide",   "qrs",   "complex"};
    return ReportTokenizer(text::WordPiece(vocab, {.lower_case = true}), 32);
}

// Batches as a BatchStream gives them: records with signals, reports and 0/1 labels of 3 classes.
std::vector<data::Batch> batches(std::int64_t n, std::int64_t batch_size, std::uint64_t seed) {
    HostRng rng(seed);
    std::vector<data::Batch> out;
    for (std::int64_t start = 0; start < n; start += batch_size) {
        data::Batch b;
        const std::int64_t size = std::min(batch_size, n - start);
        b.ecg_shape = Shape{size, leads, length};
        b.classes = 3;
        for (std::int64_t i = 0; i < size; ++i) {
            b.indices.push_back(100 + start + i);
            for (std::int64_t t = 0; t < leads * length; ++t)
                b.ecg.push_back(static_cast<float>(std::sin(0.2 * static_cast<double>(t) * (1 + rng.uniform())) +
                                                   0.3 * rng.normal()));
            for (int c = 0; c < 3; ++c) b.labels.push_back(rng.uniform() < 0.5 ? 1.0f : 0.0f);
            b.reports.push_back("sinus rhythm.");
        }
        out.push_back(std::move(b));
    }
    return out;
}

// Macro ROC AUC (percent) by its definition, independent of eval::macro_auc: over the classes with both label values,
// the mean share of (positive, negative) pairs ranked right, ties one half. The scores here and the library's come
// from different batchings, so pairs closer than `eps` may be ordered either way: `low` counts them wrong, `high` right.
struct MacroBounds {
    double low = 0, high = 0;
    std::int64_t classes = 0;
};
MacroBounds reference_macro_auc(const HostMatrix& scores, const std::vector<std::vector<float>>& labels, double eps) {
    MacroBounds m;
    for (Eigen::Index c = 0; c < scores.cols(); ++c) {
        double low = 0, high = 0, pairs = 0;
        for (std::size_t p = 0; p < labels.size(); ++p) {
            if (labels[p][static_cast<std::size_t>(c)] != 1) continue;
            for (std::size_t n = 0; n < labels.size(); ++n) {
                if (labels[n][static_cast<std::size_t>(c)] != 0) continue;
                pairs += 1;
                const double d = scores(static_cast<Eigen::Index>(p), c) - scores(static_cast<Eigen::Index>(n), c);
                low += d > eps;
                high += d >= -eps;
            }
        }
        if (pairs == 0) continue;
        m.low += low / pairs;
        m.high += high / pairs;
        ++m.classes;
    }
    m.low *= 100.0 / static_cast<double>(m.classes);
    m.high *= 100.0 / static_cast<double>(m.classes);
    return m;
}
}  // namespace

TEST_CASE("encode_ecgs, zero_shot (plain and lead ensemble) and retrieval with a tiny FgClep") {
    TinyModel model = tiny_model();
    Context<Cpu<float>> ctx(Cpu<float>::State{1});
    const ReportTokenizer tokenizer = tiny_tokenizer();
    const auto data = batches(13, 5, 1);  // batches of 5, 5, 3

    const EncodedSplit split = encode_ecgs(model, ctx, data, {.pooled_features = true});
    REQUIRE(split.size() == 13);
    CHECK(split.embeddings.cols() == 16);
    CHECK(split.features.rows() == 13);
    CHECK(split.features.cols() == model.ecg_encoder().backbone.out_channels());
    CHECK(split.labels.cols() == 3);
    CHECK(split.indices.front() == 100);
    CHECK(split.indices.back() == 112);
    CHECK(split.labels(7, 1) == data[1].labels[2 * 3 + 1]);
    for (Eigen::Index i = 0; i < split.size(); ++i)
        CHECK(split.embeddings.row(i).norm() == doctest::Approx(1).epsilon(1e-5));
    // The same as one batch of all 13 through the model directly: batching does not change an embedding.
    std::vector<float> all;
    for (const auto& b : data) all.insert(all.end(), b.ecg.begin(), b.ecg.end());
    const auto direct = ctx.to_host(model.encode_ecg(ctx, ctx.from_host(Shape{13, leads, length}, all)));
    for (Eigen::Index i = 0; i < 13; ++i)
        for (Eigen::Index j = 0; j < 16; ++j)
            CHECK(split.embeddings(i, j) ==
                  doctest::Approx(direct[static_cast<std::size_t>(i * 16 + j)]).epsilon(1e-4));

    const ClassPrompts prompts =
        class_prompts({"sinus_rhythm", "atrial_fibrillation", "absent_p_waves"}, synthetic_prompts());
    // Scores are the model's cosines: compare with FgClep::similarity on the prompt texts.
    const ZeroShotResult plain = zero_shot(model, ctx, tokenizer, split, prompts);
    const Tensor<Cpu<float>> ecg_all = model.encode_ecg(ctx, ctx.from_host(Shape{13, leads, length}, all));
    const HostMatrix cos = model.similarity(ctx, ecg_all, model.encode_text(ctx, tokenizer, prompts.texts));
    REQUIRE(plain.scores.rows() == 13);
    REQUIRE(plain.scores.cols() == 3);
    for (Eigen::Index i = 0; i < 13; ++i)
        for (Eigen::Index c = 0; c < 3; ++c) CHECK(plain.scores(i, c) == doctest::Approx(cos(i, c)).epsilon(1e-4));
    CHECK(plain.texts.size() == 3);
    // The AUC against one counted here from the hand-computed cosines and the batches' own labels (records in the
    // order given): a zero-shot that scored the wrong records, misaligned labels or ranked ties wrongly differs.
    std::vector<std::vector<float>> labels;
    for (const auto& b : data)
        for (std::int64_t i = 0; i < b.size(); ++i)
            labels.emplace_back(b.labels.begin() + i * 3, b.labels.begin() + (i + 1) * 3);
    REQUIRE(labels.size() == 13);
    const MacroBounds expected = reference_macro_auc(cos, labels, 1e-5);
    REQUIRE(expected.classes == 3);
    REQUIRE(expected.high - expected.low < 1e-9);  // no near-ties among these scores: the value is exact
    CHECK(plain.auc.macro == doctest::Approx(expected.low).epsilon(1e-12));
    CHECK(plain.auc.macro > 0);  // an untrained model ranks at random, not perfectly or perfectly wrong
    CHECK(plain.auc.macro < 100);

    // The ensemble: 13 texts per class, score = max of their cosines, so never below the plain score.
    const ZeroShotResult ens = zero_shot(model, ctx, tokenizer, split, prompts, {.ensemble = true});
    CHECK(ens.texts.size() == 39);
    CHECK(ens.texts[14] == "atrial fibrillation in lead i");
    const HostMatrix ens_cos = model.similarity(ctx, ecg_all, model.encode_text(ctx, tokenizer, ens.texts));
    HostMatrix ens_expected(13, 3);
    for (Eigen::Index i = 0; i < 13; ++i)
        for (Eigen::Index c = 0; c < 3; ++c) {
            ens_expected(i, c) = ens_cos.row(i).segment(13 * c, 13).maxCoeff();
            CHECK(ens.scores(i, c) >= plain.scores(i, c) - 1e-12);
            CHECK(ens.scores(i, c) == doctest::Approx(ens_expected(i, c)).epsilon(1e-4));
        }
    const MacroBounds ens_auc = reference_macro_auc(ens_expected, labels, 1e-5);
    REQUIRE(ens_auc.high - ens_auc.low < 1e-9);
    CHECK(ens.auc.macro == doctest::Approx(ens_auc.low).epsilon(1e-12));

    // Labels made from the model's own similarity (a different code path): zero-shot must then rank perfectly,
    // which fails if classes, prompts or records were misaligned anywhere.
    EncodedSplit relabelled = split;
    for (Eigen::Index c = 0; c < 3; ++c) {
        std::vector<double> col(13);
        for (Eigen::Index i = 0; i < 13; ++i) col[static_cast<std::size_t>(i)] = cos(i, c);
        std::nth_element(col.begin(), col.begin() + 6, col.end());
        for (Eigen::Index i = 0; i < 13; ++i) relabelled.labels(i, c) = cos(i, c) > col[6] ? 1 : 0;
    }
    CHECK(zero_shot(model, ctx, tokenizer, relabelled, prompts).auc.macro == doctest::Approx(100));
    const RetrievalMetrics r = text_to_ecg_retrieval(model, ctx, tokenizer, relabelled, prompts);
    CHECK(r.ks == std::vector<std::int64_t>{1, 5, 10});
    CHECK(r.precision[0] == doctest::Approx(1));  // the best-scoring record of each class is labelled with it
    CHECK(r.precision[1] == doctest::Approx(1));
    CHECK(r.recall[2] == doctest::Approx(1));  // all 6 positives are in the top 10
    const auto hits = retrieve(model, ctx, tokenizer, relabelled, {prompts.texts[1]}, 3);
    REQUIRE(hits[0].size() == 3);
    CHECK(hits[0][0].cosine >= hits[0][1].cosine);
    CHECK(hits[0][0].index == 100 + hits[0][0].row);
    CHECK(hits[0][0].cosine == doctest::Approx(cos(hits[0][0].row, 1)).epsilon(1e-4));

    CHECK_THROWS_WITH(zero_shot(model, ctx, tokenizer, split, class_prompts({"a", "b"})),
                      doctest::Contains("2 class prompts but the split has 3 label columns"));

    // Embeddings for t-SNE: written as .npy (float32) and read back.
    const auto path = std::filesystem::temp_directory_path() / "fgclep_test_eval" / "embeddings.npy";
    write_npy(path, split.embeddings);
    const NpyArray a = read_npy(path);
    CHECK(a.shape == std::vector<std::int64_t>{13, 16});
    for (Eigen::Index i = 0; i < split.embeddings.size(); ++i)
        CHECK(a.values[static_cast<std::size_t>(i)] == static_cast<float>(split.embeddings.data()[i]));
}

namespace {
// A separable 3-class multi-label problem: y_c = [w_c . x > 0].
void separable(std::int64_t n, std::uint64_t seed, HostMatrix& x, HostMatrix& y) {
    HostRng w_rng(99), rng(seed);
    HostMatrix w(8, 3);
    for (Eigen::Index i = 0; i < w.size(); ++i) w.data()[i] = w_rng.normal();
    x.resize(n, 8);
    for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = rng.normal();
    y = ((x * w).array() > 0).cast<double>();
}
}  // namespace

TEST_CASE("linear_probe learns a separable problem; selection on validation picks the val-best epoch") {
    HostMatrix tx, ty, vx, vy, sx, sy;
    separable(400, 1, tx, ty);
    separable(100, 2, vx, vy);
    separable(200, 3, sx, sy);
    const LinearProbeResult r = linear_probe(tx, ty, vx, vy, sx, sy, {"a", "b", "c"}, {.epochs = 15, .lr = 1e-2});
    CHECK(r.test.macro > 99);
    CHECK(r.loss_curve.back() < r.loss_curve.front());
    REQUIRE(r.val_curve.size() == 15);
    const auto best_val = std::max_element(r.val_curve.begin(), r.val_curve.end());
    CHECK(r.selected_epoch == best_val - r.val_curve.begin() + 1);
    CHECK(r.test.macro == r.test_curve[static_cast<std::size_t>(r.selected_epoch - 1)]);
    CHECK(r.protocol().find("selected on validation") != std::string::npos);
    CHECK(r.weight.rows() == 8);
    CHECK(r.weight.cols() == 3);
    // Deterministic given the seed.
    const LinearProbeResult again = linear_probe(tx, ty, vx, vy, sx, sy, {}, {.epochs = 15, .lr = 1e-2});
    CHECK(again.weight == r.weight);

    // Validation labels inverted: the better the probe, the worse its validation AUC, so validation selection
    // must pick an early epoch with a worse test AUC than the best-test protocol (MERL's) reports.
    const HostMatrix inverted = 1 - vy.array();
    const LinearProbeResult by_val = linear_probe(tx, ty, vx, inverted, sx, sy, {}, {.epochs = 15, .lr = 1e-2});
    const LinearProbeResult by_test = linear_probe(tx, ty, vx, inverted, sx, sy, {},
                                                   {.epochs = 15, .lr = 1e-2, .selection = ProbeSelection::best_test});
    const auto best_test = std::max_element(by_test.test_curve.begin(), by_test.test_curve.end());
    CHECK(by_test.selected_epoch == best_test - by_test.test_curve.begin() + 1);
    CHECK(by_test.test.macro == *best_test);
    CHECK(by_val.selected_epoch < by_test.selected_epoch);
    CHECK(by_val.test.macro < by_test.test.macro);
    CHECK(by_test.protocol().find("best test") != std::string::npos);

    CHECK_THROWS_WITH(linear_probe(tx, ty, HostMatrix(), HostMatrix(), sx, sy),
                      doctest::Contains("selection on validation needs validation features"));
    CHECK_THROWS_WITH(linear_probe(tx, ty, vx, vy, sx.leftCols(4), sy), doctest::Contains("do not match training"));
}

TEST_CASE("linear probe on a subset of the training rows") {
    HostMatrix tx, ty, vx, vy, sx, sy;
    separable(1000, 4, tx, ty);
    separable(100, 5, vx, vy);
    separable(200, 6, sx, sy);
    const ProbeSubset s = probe_subset(tx.rows(), 10);
    REQUIRE(s.rows.size() == 100);
    const LinearProbeResult r =
        linear_probe(select_rows(tx, s.rows), select_rows(ty, s.rows), vx, vy, sx, sy, {}, {.epochs = 30, .lr = 3e-2});
    CHECK(r.train_records == 100);
    CHECK(r.test.macro > 95);
}

TEST_CASE(
    "probe_protocol_options: MERL's protocol is all of MERL's values; selection by test picks the best-test epoch") {
    const LinearProbeOptions merl = probe_protocol_options(ProbeProtocol::merl, 5);
    CHECK(merl.epochs == 100);
    CHECK(merl.batch_size == 16);
    CHECK(merl.lr == 1e-3);
    CHECK(merl.weight_decay == 1e-4);
    CHECK(merl.beta1 == 0.9);  // torch.optim.Adam's defaults
    CHECK(merl.beta2 == 0.999);
    CHECK(merl.eps == 1e-8);
    CHECK(merl.selection == ProbeSelection::best_test);
    CHECK(merl.seed == 5);
    const LinearProbeOptions val = probe_protocol_options(ProbeProtocol::validation);
    CHECK(val.selection == ProbeSelection::validation);
    CHECK(val.epochs == LinearProbeOptions{}.epochs);
    CHECK(probe_protocol_from_string("merl") == ProbeProtocol::merl);
    CHECK(probe_protocol_from_string("val") == ProbeProtocol::validation);
    CHECK_THROWS_WITH(probe_protocol_from_string("test"), doctest::Contains("'val' or 'merl'"));

    // MERL's protocol on the separable problem: it learns it, and reports the maximum of the test curve, at the
    // first epoch that reaches it, whatever the validation curve says (here inverted: the better the probe, the
    // worse its validation AUC, so the validation protocol stops early and reports less).
    HostMatrix tx, ty, vx, vy, sx, sy;
    separable(400, 11, tx, ty);
    separable(100, 12, vx, vy);
    separable(200, 13, sx, sy);
    const HostMatrix inverted_val = 1 - vy.array();
    const LinearProbeResult r = linear_probe(tx, ty, vx, inverted_val, sx, sy, {"a", "b", "c"}, merl);
    REQUIRE(r.test_curve.size() == 100);
    const auto best = std::max_element(r.test_curve.begin(), r.test_curve.end());  // the first of equal maxima
    CHECK(r.selected_epoch == best - r.test_curve.begin() + 1);
    CHECK(r.test.macro == *best);
    CHECK(r.test.macro > 95);
    CHECK(r.selection == ProbeSelection::best_test);
    CHECK(r.protocol().find("best test AUC over epochs (MERL), epoch") != std::string::npos);
    CHECK(r.protocol().find("/100") != std::string::npos);
    LinearProbeOptions by_val = merl;
    by_val.selection = ProbeSelection::validation;
    const LinearProbeResult v = linear_probe(tx, ty, vx, inverted_val, sx, sy, {}, by_val);
    const auto best_val = std::max_element(v.val_curve.begin(), v.val_curve.end());
    CHECK(v.selected_epoch == best_val - v.val_curve.begin() + 1);
    CHECK(v.selected_epoch < r.selected_epoch);
    CHECK(v.test.macro < r.test.macro);
    // Test labels inverted instead: the test curve falls as the probe learns, and MERL's protocol picks an early
    // epoch, again the curve's maximum (a protocol that reported a fixed or the last epoch fails one of the two).
    const HostMatrix inverted_test = 1 - sy.array();
    const LinearProbeResult f = linear_probe(tx, ty, vx, vy, sx, inverted_test, {}, merl);
    const auto best_f = std::max_element(f.test_curve.begin(), f.test_curve.end());
    CHECK(f.selected_epoch == best_f - f.test_curve.begin() + 1);
    CHECK(f.test.macro == *best_f);
    CHECK(f.selected_epoch < r.selected_epoch);
    CHECK(f.test_curve.back() < *best_f);
}

namespace {
// A tiny model's input records, written as 2-lead WFDB files, for retrieve_from_corpus.
data::EcgDataset write_corpus(const std::filesystem::path& dir, std::int64_t n, std::uint64_t seed) {
    std::filesystem::remove_all(dir);
    HostRng rng(seed);
    data::EcgDataset d;
    d.name = "tiny corpus";
    d.root = dir;
    for (std::int64_t i = 0; i < n; ++i) {
        data::EcgRecord r;
        r.name = fmt::format("r{}", i);
        r.fs = 500;
        r.length = length;
        r.leads = {"I", "II"};
        r.units = {"mV", "mV"};
        for (std::int64_t t = 0; t < leads * length; ++t)
            r.samples.push_back(std::sin(0.2 * static_cast<double>(t) * (1 + rng.uniform())) + 0.3 * rng.normal());
        const std::filesystem::path rel = fmt::format("files/p{0}/s{0}/{0}", 4000 + i);
        data::write_wfdb(dir / rel, r);
        data::DatasetEntry e;
        e.id = std::to_string(4000 + i);
        e.record = rel;
        e.report = fmt::format("report {}", i);
        d.entries.push_back(std::move(e));
    }
    return d;
}
}  // namespace

TEST_CASE("retrieve_top_k / retrieve_from_corpus: free-text queries, ranked, with the model's calibrated probability") {
    TinyModel model = tiny_model();
    Context<Cpu<float>> ctx(Cpu<float>::State{1});
    const ReportTokenizer tokenizer = tiny_tokenizer();
    auto data = batches(13, 5, 7);
    for (auto& b : data)
        for (std::size_t i = 0; i < b.reports.size(); ++i) b.reports[i] = fmt::format("report of {}", b.indices[i]);
    const std::vector<std::string> queries{"wide qrs complex", "absent p waves", "atrial fibrillation in lead v1"};

    // The reference: all 13 ECGs in one batch through the model, FgClep::similarity and FgClep::probability.
    std::vector<float> all;
    for (const auto& b : data) all.insert(all.end(), b.ecg.begin(), b.ecg.end());
    const auto ecg_all = model.encode_ecg(ctx, ctx.from_host(Shape{13, leads, length}, all));
    const auto text = model.encode_text(ctx, tokenizer, queries);
    const HostMatrix cos = model.similarity(ctx, ecg_all, text), prob = model.probability(ctx, ecg_all, text);
    const MatchCalibration calibration = model.calibration(ctx);

    const CorpusRetrieval r = retrieve_top_k(model, ctx, tokenizer, data, queries, {.top_k = 4});
    CHECK(r.encoded == 13);
    CHECK(r.top_k == 4);
    CHECK(r.calibration.scale == calibration.scale);
    CHECK(r.calibration.bias == calibration.bias);
    CHECK(calibration.scale == doctest::Approx(10));  // the untrained SigmoidLoss: t = log 10, b = -10
    CHECK(calibration.bias == doctest::Approx(-10));
    // The expected ranking: every cosine of the same batches (encode_ecgs: the same embeddings), sorted whole.
    const EncodedSplit split = encode_ecgs(model, ctx, data);
    const HostMatrix exact = split.embeddings * encode_texts(model, ctx, tokenizer, queries).transpose();
    REQUIRE(r.queries.size() == 3);
    for (std::size_t q = 0; q < queries.size(); ++q) {
        INFO("query ", queries[q]);
        CHECK(r.queries[q].query == queries[q]);
        std::vector<Eigen::Index> order(13);
        std::iota(order.begin(), order.end(), Eigen::Index{0});
        const auto col = static_cast<Eigen::Index>(q);
        std::sort(order.begin(), order.end(), [&](auto a, auto b) { return exact(a, col) > exact(b, col); });
        for (std::size_t j = 0; j + 1 < 5; ++j) REQUIRE(exact(order[j], col) - exact(order[j + 1], col) > 1e-12);
        REQUIRE(r.queries[q].hits.size() == 4);
        for (std::size_t j = 0; j < 4; ++j) {
            const CorpusHit& h = r.queries[q].hits[j];
            CHECK(h.index == 100 + order[j]);
            CHECK(h.report == fmt::format("report of {}", h.index));
            CHECK(h.cosine == doctest::Approx(exact(order[j], col)).epsilon(1e-12));
            // The model's own cosine and probability (FgClep::similarity, FgClep::probability on one batch of all).
            CHECK(h.cosine == doctest::Approx(cos(order[j], col)).epsilon(1e-4));
            CHECK(h.probability == calibration.probability(h.cosine));
            CHECK(h.probability == doctest::Approx(prob(order[j], col)).epsilon(1e-4));
            if (j > 0) CHECK(h.probability <= r.queries[q].hits[j - 1].probability);
        }
    }

    // k larger than the corpus: every record once, best first.
    const CorpusRetrieval every = retrieve_top_k(model, ctx, tokenizer, data, queries, {.top_k = 50});
    for (const auto& q : every.queries) {
        REQUIRE(q.hits.size() == 13);
        std::set<std::int64_t> seen;
        for (std::size_t j = 0; j < q.hits.size(); ++j) {
            seen.insert(q.hits[j].index);
            if (j > 0) CHECK(q.hits[j].cosine <= q.hits[j - 1].cosine);
        }
        CHECK(seen.size() == 13);
    }
    CHECK(every.queries[1].hits.front().index == r.queries[1].hits.front().index);
    CHECK_THROWS_WITH(retrieve_top_k(model, ctx, tokenizer, data, queries, {.top_k = 0}),
                      doctest::Contains("top_k must be >= 1"));

    // Equal cosines (one ECG twice, each alone in its batch, so computed identically): the lower index ranks first,
    // whichever comes first in the stream.
    std::vector<data::Batch> twice(2, data[0]);
    for (auto& b : twice) {
        b.ecg_shape = Shape{1, leads, length};
        b.ecg.resize(static_cast<std::size_t>(leads * length));
        b.labels.resize(3);
        b.reports.resize(1);
    }
    twice[0].indices = {7};
    twice[1].indices = {3};
    const CorpusRetrieval tie = retrieve_top_k(model, ctx, tokenizer, twice, queries, {.top_k = 1});
    REQUIRE(tie.queries[0].hits.size() == 1);
    CHECK(tie.queries[0].hits[0].index == 3);
    const CorpusRetrieval both = retrieve_top_k(model, ctx, tokenizer, twice, queries, {.top_k = 2});
    CHECK(both.queries[0].hits[0].cosine == both.queries[0].hits[1].cosine);
    CHECK(both.queries[0].hits[0].index == 3);

    // A corpus on disk, streamed in batches of 3: the hits name the dataset's ids, records and reports.
    const auto dir = std::filesystem::temp_directory_path() / "fgclep_test_eval" / "retrieval_corpus";
    const data::EcgDataset corpus = write_corpus(dir, 8, 9);
    data::PreprocessOptions pre;
    pre.leads.target = {"I", "II"};
    pre.crop = {.keep = length, .length = length};
    const CorpusRetrieval c = retrieve_from_corpus(model, ctx, tokenizer, corpus, data::Preprocessor(pre), queries,
                                                   {.top_k = 3, .batch_size = 3, .workers = 1});
    CHECK(c.encoded == 8);
    CHECK(c.skipped == 0);
    // The same ranking as retrieve_top_k on the preprocessed records in the same batches of 3.
    std::vector<data::Batch> threes;
    const data::Preprocessor preprocessor(pre);
    for (std::int64_t i = 0; i < 8; ++i) {
        if (i % 3 == 0) threes.emplace_back();
        data::Batch& b = threes.back();
        const auto x = preprocessor.apply(corpus.read(i));
        REQUIRE(x.has_value());
        b.ecg.insert(b.ecg.end(), x->samples.begin(), x->samples.end());
        b.indices.push_back(i);
        b.ecg_shape = Shape{b.size(), leads, length};
    }
    const CorpusRetrieval expected = retrieve_top_k(model, ctx, tokenizer, threes, queries, {.top_k = 3});
    for (std::size_t q = 0; q < queries.size(); ++q) {
        REQUIRE(c.queries[q].hits.size() == 3);
        for (std::size_t j = 0; j < 3; ++j) {
            const CorpusHit& h = c.queries[q].hits[j];
            CHECK(h.index == expected.queries[q].hits[j].index);
            CHECK(h.id == std::to_string(4000 + h.index));
            CHECK(h.report == fmt::format("report {}", h.index));
            CHECK(h.record == fmt::format("files/p{0}/s{0}/{0}", 4000 + h.index));
            CHECK(h.cosine == expected.queries[q].hits[j].cosine);
        }
    }
    // The table and the JSON carry every hit.
    const std::string table = c.table();
    CHECK(table.find("wide qrs complex") != std::string::npos);
    CHECK(table.find(c.queries[0].hits[0].id) != std::string::npos);
    const nlohmann::json j = c.json();
    CHECK(j["queries"].size() == 3);
    CHECK(j["queries"][2]["hits"].size() == 3);
    CHECK(j["queries"][0]["hits"][0]["probability"].get<double>() == c.queries[0].hits[0].probability);
    CHECK(j["queries"][0]["hits"][0]["rank"].get<int>() == 1);
    CHECK(j["calibration"]["scale"].get<double>() == calibration.scale);
}

namespace {
// A model that records every ECG batch it is given (the inputs the evaluation's preprocessing made) and embeds
// every ECG and text alike.
struct RecordingModel {
    std::vector<std::vector<float>> inputs;  // one per record: (leads, length)
    Shape shape;                             // of the last batch
    Tensor<Cpu<float>> encode_ecg(Context<Cpu<float>>& ctx, const Tensor<Cpu<float>>& x) {
        const auto v = ctx.to_host(x);
        const std::int64_t n = x.size(0), per = x.numel() / n;
        shape = x.shape();
        for (std::int64_t i = 0; i < n; ++i) inputs.emplace_back(v.begin() + i * per, v.begin() + (i + 1) * per);
        return unit_rows(ctx, n);
    }
    template <class Texts>
    Tensor<Cpu<float>> encode_text(Context<Cpu<float>>& ctx, const ReportTokenizer&, const Texts& texts) {
        return unit_rows(ctx, static_cast<std::int64_t>(texts.size()));
    }
    static Tensor<Cpu<float>> unit_rows(Context<Cpu<float>>& ctx, std::int64_t n) {
        std::vector<float> e(static_cast<std::size_t>(2 * n), 0.0f);
        for (std::int64_t i = 0; i < n; ++i) e[static_cast<std::size_t>(2 * i)] = 1;
        return ctx.from_host(Shape{n, 2}, e);
    }
};

std::filesystem::path fresh_dir(const std::string& name) {
    const auto d = std::filesystem::temp_directory_path() / "fgclep_test_eval" / name;
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    return d;
}
std::string first_line(const std::filesystem::path& p) {
    std::ifstream f(p);
    std::string line;
    std::getline(f, line);
    return line;
}
void write_text(const std::filesystem::path& p, const std::string& text) {
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
}
const std::filesystem::path benchmark_fixtures = std::filesystem::path(FGCLEP_FIXTURES) / "datasets" / "benchmark";
}  // namespace

TEST_CASE("task_preprocess: CPSC2018's first 5 s, zero-padded to 10 s before min-max; other layouts untouched") {
    using data::SplitLayout;
    const data::PreprocessOptions full = pipeline::preprocess_options(pipeline::ModelSize::full);
    CHECK(pipeline::task_preprocess(full, SplitLayout::icbeb).crop.keep == 2500);
    CHECK(pipeline::task_preprocess(full, SplitLayout::icbeb).crop.length == 5000);
    CHECK(pipeline::task_preprocess(full, SplitLayout::icbeb, false).crop.keep == 5000);
    CHECK(pipeline::task_preprocess(full, SplitLayout::ptbxl).crop.keep == 5000);
    CHECK(pipeline::task_preprocess(full, SplitLayout::chapman).crop.keep == 5000);
    // The tiny model's 100 Hz input: the same 5 s.
    const data::PreprocessOptions tiny = pipeline::preprocess_options(pipeline::ModelSize::tiny);
    CHECK(pipeline::task_preprocess(tiny, SplitLayout::icbeb).crop.keep == 500);
    CHECK(pipeline::task_preprocess(tiny, SplitLayout::icbeb).crop.length == 1000);
}

TEST_CASE("evaluate on a CPSC2018 (icbeb) task feeds the model the first 2500 samples and zeros, min-max over both") {
    // No CPSC2018 signal file is in reach (their .mat files are binary and absent from every store), so the record is
    // the real CinC-format record JS00001 (12 leads, 500 Hz, 10 s, MATLAB v4, as PhysioNet ships CPSC2018; its Dx
    // AF and RBBB are CPSC's AFIB and CRBBB), listed in an icbeb split file with the real file's header.
    const auto root = fresh_dir("cpsc_cut");
    std::filesystem::create_directories(root / "g1");
    for (const char* ext : {".hea", ".mat"})
        std::filesystem::copy_file(std::filesystem::path(FGCLEP_FIXTURES) / "wfdb" / (std::string("JS00001") + ext),
                                   root / "g1" / (std::string("JS00001") + ext),
                                   std::filesystem::copy_options::overwrite_existing);
    const std::string header = first_line(benchmark_fixtures / "icbeb" / "icbeb_test.csv");
    REQUIRE(header ==
            "patient_id,ecg_id,filename,validation,age,sex,scp_codes,AFIB,VPC,NORM,1AVB,CRBBB,STE,PAC,CLBBB,STD");
    for (const char* which : {"train", "val", "test"})
        write_text(root / "split" / fmt::format("icbeb_{}.csv", which),
                   header + "\n1,1,JS00001,False,85.0,1,{},1,0,0,0,1,0,0,0,0\n");
    const pipeline::EvalTask task{
        .name = "icbeb", .split_pattern = (root / "split" / "icbeb_{}.csv").string(), .root = root, .prompts = {}};
    CHECK(task.layout() == data::SplitLayout::icbeb);

    // The expectation by hand from the record as read: leads in MIMIC order by name, the first 2500 samples and
    // 2500 zeros, one min and max over all of them.
    const data::EcgRecord raw = data::read_ecg(root / "g1" / "JS00001");
    REQUIRE(raw.length == 5000);
    REQUIRE(raw.channels() == 12);
    const auto& order = data::mimic_lead_order();
    double lo = 0, hi = 0;  // the zeros take part
    for (std::int64_t c = 0; c < 12; ++c)
        for (std::int64_t t = 0; t < 2500; ++t) {
            lo = std::min(lo, raw.channel(c)[static_cast<std::size_t>(t)]);
            hi = std::max(hi, raw.channel(c)[static_cast<std::size_t>(t)]);
        }
    const auto expected = [&](std::int64_t lead, std::int64_t t) {
        const auto src = std::find(raw.leads.begin(), raw.leads.end(), order[static_cast<std::size_t>(lead)]);
        const double x = t < 2500 ? raw.channel(src - raw.leads.begin())[static_cast<std::size_t>(t)] : 0.0;
        return (x - lo) / (hi - lo + 1e-8);
    };

    Context<Cpu<float>> ctx(Cpu<float>::State{1});
    const ReportTokenizer tokenizer = tiny_tokenizer();
    pipeline::EvaluateOptions options;  // the default: 500 Hz, 5000 samples, the CPSC cut on
    options.zero_shot = false;
    options.workers = 1;
    RecordingModel model;
    pipeline::evaluate(model, ctx, tokenizer, {task}, options);
    REQUIRE(model.inputs.size() == 1);
    CHECK(model.shape == Shape{1, 12, 5000});
    const std::vector<float>& x = model.inputs[0];
    const double zero = expected(0, 4999);
    CHECK(zero > 0.01);  // the padding is not at the minimum: the record goes below zero
    for (std::int64_t lead = 0; lead < 12; ++lead) {
        INFO("lead ", order[static_cast<std::size_t>(lead)]);
        for (std::int64_t t : {std::int64_t{0}, std::int64_t{1}, std::int64_t{1234}, std::int64_t{2499}})
            CHECK(x[static_cast<std::size_t>(lead * 5000 + t)] == doctest::Approx(expected(lead, t)).epsilon(1e-5));
        bool padded = true;
        for (std::int64_t t = 2500; t < 5000; ++t)
            padded = padded && x[static_cast<std::size_t>(lead * 5000 + t)] == static_cast<float>(zero);
        CHECK(padded);
    }

    // Without the cut (cpsc_cut = false) the whole 10 s are kept: the second half is the signal, not padding.
    options.cpsc_cut = false;
    RecordingModel uncut;
    pipeline::evaluate(uncut, ctx, tokenizer, {task}, options);
    REQUIRE(uncut.inputs.size() == 1);
    std::set<float> second_half(uncut.inputs[0].begin() + 2500, uncut.inputs[0].begin() + 5000);
    CHECK(second_half.size() > 100);
}

TEST_CASE(
    "load_task_splits on the real split-file fixtures: MERL's files by default, the paper's 70/10/20 as an option") {
    using eval::SplitRule;
    CHECK(paper_split_sizes(45152) == SplitSizes{31606, 4515, 9031});  // the paper's Table 4, CSN
    CHECK(paper_split_sizes(6877) == SplitSizes{4813, 687, 1377});     // CPSC2018 (the paper: 4800 / 684 / 1383)
    CHECK(paper_split_sizes(10) == SplitSizes{7, 1, 2});
    CHECK(paper_split_sizes(0) == SplitSizes{0, 0, 0});
    CHECK_THROWS_WITH(paper_split_sizes(10, {.train = 0.9, .val = 0.1}), doctest::Contains("leave a test share"));
    CHECK(split_rule_from_string("paper") == SplitRule::paper);
    CHECK_THROWS_WITH(split_rule_from_string("random"), doctest::Contains("'merl' or 'paper'"));

    // CPSC2018: the fixture holds the real rows of A0001..A0020 (18 train, 2 val, 0 test); the icbeb layout looks
    // for each A####.hea under the root, so empty ones are made (no signal is read here).
    const auto root = fresh_dir("splits_icbeb");
    for (int i = 1; i <= 20; ++i) write_text(root / "g1" / fmt::format("A{:04d}.hea", i), "");
    const pipeline::EvalTask icbeb{.name = "icbeb",
                                   .split_pattern = (benchmark_fixtures / "icbeb" / "icbeb_{}.csv").string(),
                                   .root = root,
                                   .prompts = {}};
    const eval::TaskSplits merl = pipeline::load_task_splits(icbeb);
    CHECK(merl.rule == SplitRule::merl);
    CHECK(merl.sizes() == SplitSizes{18, 2, 0});
    CHECK(merl.val.entries[0].id == "A0015");
    CHECK(merl.description.find("MERL's") != std::string::npos);

    const eval::TaskSplits paper = pipeline::load_task_splits(icbeb, SplitRule::paper, {.seed = 42});
    CHECK(paper.rule == SplitRule::paper);
    CHECK(paper.sizes() == SplitSizes{14, 2, 4});  // 70/10/20 of 20
    CHECK(paper.description.find("seed 42") != std::string::npos);
    // Every record in exactly one split, with the labels its row gives.
    std::map<std::string, std::vector<float>> labels;
    for (const auto* d : {&merl.train, &merl.val, &merl.test})
        for (const auto& e : d->entries) labels[e.id] = e.labels;
    REQUIRE(labels.size() == 20);
    std::multiset<std::string> ids;
    for (const auto* d : {&paper.train, &paper.val, &paper.test}) {
        CHECK(d->class_names == merl.test.class_names);
        for (const auto& e : d->entries) {
            ids.insert(e.id);
            CHECK(e.labels == labels.at(e.id));
        }
    }
    CHECK(ids.size() == 20);
    CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == 20);
    // Same seed, same split; another seed, another assignment of the same sizes.
    const auto ids_of = [](const data::EcgDataset& d) {
        std::vector<std::string> v;
        for (const auto& e : d.entries) v.push_back(e.id);
        return v;
    };
    const eval::TaskSplits again = pipeline::load_task_splits(icbeb, SplitRule::paper, {.seed = 42});
    CHECK(ids_of(again.train) == ids_of(paper.train));
    CHECK(ids_of(again.val) == ids_of(paper.val));
    CHECK(ids_of(again.test) == ids_of(paper.test));
    const eval::TaskSplits other = pipeline::load_task_splits(icbeb, SplitRule::paper, {.seed = 7});
    CHECK(other.sizes() == paper.sizes());
    CHECK(ids_of(other.test) != ids_of(paper.test));
    // The split depends on the records, not on the order they are listed in.
    data::EcgDataset pooled = eval::pool_splits({merl.test, merl.val, merl.train});
    std::reverse(pooled.entries.begin(), pooled.entries.end());
    CHECK(ids_of(eval::paper_split(pooled, {.seed = 42}).test) == ids_of(paper.test));

    // CSN: the real rows of JS00001..JS00020 and JS18048 (9 train, 0 val, 2 test); 38 substring-built classes.
    const pipeline::EvalTask chapman{.name = "chapman",
                                     .split_pattern = (benchmark_fixtures / "chapman" / "chapman_{}.csv").string(),
                                     .root = root,
                                     .prompts = {}};
    CHECK(pipeline::load_task_splits(chapman).sizes() == SplitSizes{9, 0, 2});
    const eval::TaskSplits csn = pipeline::load_task_splits(chapman, SplitRule::paper);
    CHECK(csn.sizes() == SplitSizes{7, 1, 3});
    CHECK(csn.test.class_names.size() == 38);

    // PTB-XL keeps its official folds under the paper's rule (the paper follows them; MERL's files are those folds).
    const pipeline::EvalTask super{
        .name = "super",
        .split_pattern = (benchmark_fixtures / "ptbxl" / "super_class" / "ptbxl_super_class_{}.csv").string(),
        .root = root,
        .prompts = {}};
    const eval::TaskSplits folds = pipeline::load_task_splits(super, SplitRule::paper);
    CHECK(folds.rule == SplitRule::merl);
    CHECK(folds.sizes() == SplitSizes{363, 75, 70});
    CHECK(folds.description.find("official folds") != std::string::npos);

    // A larger pool: exactly 70/10/20, each record once.
    data::EcgDataset many;
    many.name = "many";
    for (int i = 0; i < 1000; ++i) {
        data::DatasetEntry e;
        e.id = fmt::format("r{}", i);
        many.entries.push_back(std::move(e));
    }
    const eval::TaskSplits big = eval::paper_split(many, {.seed = 3});
    CHECK(big.sizes() == SplitSizes{700, 100, 200});
    std::set<std::string> all;
    for (const auto* d : {&big.train, &big.val, &big.test})
        for (const auto& e : d->entries) all.insert(e.id);
    CHECK(all.size() == 1000);
    // A record listed twice in the pooled files is kept once and counted.
    const data::EcgDataset twice = eval::pool_splits({merl.val, merl.val});
    CHECK(twice.size() == 2);
    CHECK(twice.issues.count("duplicate record") == 2);
}
