// fgclep::eval with a model: encoding a split, zero-shot (with and without the lead ensemble) and retrieval with a
// tiny untrained FgClep, checked against the model's own encode/similarity; the linear probe on a separable
// problem and its epoch selection; embeddings exported as .npy and read back. The only FgClep instantiation of
// the eval tests (each costs a minute of compile time).
#include "fixture.hpp"

#include "fgclep/data/batch_stream.hpp"
#include "fgclep/eval/export.hpp"
#include "fgclep/eval/linear_probe.hpp"
#include "fgclep/eval/retrieval.hpp"
#include "fgclep/eval/zero_shot.hpp"
#include "fgclep/fgclep.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

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
