// Stage 2 validation: the threshold rule (kept iff p > threshold), each distinct candidate encoded once, the
// augmented report, statistics, the provenance file and its loader, precision/recall against a ground truth;
// then the whole stage on a small synthetic corpus with a tiny FgClep whose calibration (t', b) is set so that
// its probabilities are known. This is the only file of test_features that instantiates FgClep.
#include "error_text.hpp"
#include "fgclep/data/datasets/mimic_iv_ecg.hpp"
#include "fgclep/features/candidate_source.hpp"
#include "fgclep/features/ground_truth.hpp"
#include "fgclep/features/knowledge_base.hpp"
#include "fgclep/features/provenance.hpp"
#include "fgclep/features/validation.hpp"
#include "fgclep/loss/sigmoid.hpp"
#include "fgclep/models/fgclep.hpp"
#include "fgclep/synth/corpus.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <unistd.h>

using fgclep::test::error_text;

using namespace fgclep;
using namespace fgclep::features;

namespace {

using Dbl = Cpu<double>;

std::filesystem::path fresh_dir(const std::string& name) {
    auto dir =
        std::filesystem::temp_directory_path() / ("fgclep-test-validation-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

// A stand-in model whose probabilities are a table: an ECG is a one-hot "kind" (its samples), a text embeds as its
// row of probabilities per kind, and probability() is the dot product, so p(record, text) = table[text][kind].
struct TableModel {
    static constexpr std::int64_t kinds = 3;
    std::map<std::string, std::vector<double>> table;
    std::vector<std::string> encoded;  // every text encode_text was given, in order
    int text_calls = 0, ecg_calls = 0;

    Tensor<Dbl> encode_ecg(Context<Dbl>& ctx, const Tensor<Dbl>& ecg) {
        ++ecg_calls;
        const std::int64_t n = ecg.size(0), per = ecg.numel() / n;
        const auto x = ctx.to_host(ecg);
        std::vector<double> out(static_cast<std::size_t>(n * kinds));
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t k = 0; k < kinds; ++k)
                out[static_cast<std::size_t>(i * kinds + k)] = x[static_cast<std::size_t>(i * per + k)];
        return ctx.from_host(Shape{n, kinds}, out);
    }
    template <class Texts>
    Tensor<Dbl> encode_text(Context<Dbl>& ctx, const ReportTokenizer&, const Texts& texts) {
        ++text_calls;
        std::vector<double> out;
        for (const auto& t : texts) {
            encoded.push_back(t);
            const auto it = table.find(t);
            REQUIRE_MESSAGE(it != table.end(), t);
            out.insert(out.end(), it->second.begin(), it->second.end());
        }
        return ctx.from_host(Shape{static_cast<std::int64_t>(texts.size()), kinds}, out);
    }
    HostMatrix probability(Context<Dbl>& ctx, const Tensor<Dbl>& e, const Tensor<Dbl>& t) {
        const auto a = ctx.to_host(e), b = ctx.to_host(t);
        HostMatrix p(e.size(0), t.size(0));
        for (Eigen::Index i = 0; i < p.rows(); ++i)
            for (Eigen::Index j = 0; j < p.cols(); ++j) {
                double s = 0;
                for (std::int64_t k = 0; k < kinds; ++k)
                    s += a[static_cast<std::size_t>(i * kinds + k)] * b[static_cast<std::size_t>(j * kinds + k)];
                p(i, j) = s;
            }
        return p;
    }
};

// A batch of records of the given kinds (one lead, 4 samples: the one-hot kind and a zero).
data::Batch batch_of(std::vector<std::int64_t> indices, std::vector<int> kinds, std::vector<std::string> reports,
                     std::vector<std::int64_t> skipped = {}) {
    data::Batch b;
    b.indices = std::move(indices);
    b.skipped = std::move(skipped);
    b.ecg_shape = Shape{static_cast<std::int64_t>(b.indices.size()), 1, 4};
    for (int k : kinds)
        for (int j = 0; j < 4; ++j) b.ecg.push_back(j == k ? 1.0f : 0.0f);
    b.reports = std::move(reports);
    return b;
}

struct Setup {
    TableModel model;
    std::vector<data::Batch> batches;
    std::vector<std::vector<std::string>> candidates;
    Setup() {
        //                     kind 0   kind 1   kind 2
        model.table["a"] = {0.99, 0.10, 0.95};
        model.table["b"] = {0.20, 0.96, 0.9500001};
        model.table["c"] = {0.50, 0.50, 0.50};
        model.table["d"] = {0.97, 0.97, 0.97};
        candidates = {{"a", "b"}, {"b", "c", "d"}, {"a", "b", "a"}, {}, {"d"}};
        // Records 2 and 0 (kinds 2, 0), then 1 and 3 (kinds 1, 0) with record 4 skipped (unreadable).
        batches.push_back(batch_of({2, 0}, {2, 0}, {"report two.", "report zero."}));
        batches.push_back(batch_of({1, 3}, {1, 0}, {"report one", ""}, {4}));
    }
};

}  // namespace

TEST_CASE("augment_report: the report, then the kept features as sentences") {
    const std::vector<std::string> one{"prolonged pr interval"}, two{"absent p waves", "fibrillatory waves"};
    CHECK(augment_report("sinus rhythm. prolonged pr interval. borderline ecg.", one) ==
          "sinus rhythm. prolonged pr interval. borderline ecg. prolonged pr interval.");
    CHECK(augment_report("atrial fibrillation. abnormal ecg.", two) ==
          "atrial fibrillation. abnormal ecg. absent p waves. fibrillatory waves.");
    CHECK(augment_report("atrial fibrillation  ", two) == "atrial fibrillation. absent p waves. fibrillatory waves.");
    CHECK(augment_report("sinus rhythm.", {}) == "sinus rhythm.");
    CHECK(augment_report("", one) == "prolonged pr interval.");
}

TEST_CASE("validation keeps a candidate iff its probability exceeds the threshold, and encodes each text once") {
    Setup s;
    Context<Dbl> ctx;
    std::vector<std::int64_t> progress;
    const ValidationResult r = validate_features(
        s.model, ctx, ReportTokenizer{}, s.batches, std::span<const std::vector<std::string>>(s.candidates),
        {.threshold = 0.95,
         .text_batch_size = 3,
         .progress = [&](std::int64_t d, std::int64_t) { progress.push_back(d); }},
        [](std::int64_t i) {
            return RecordIdentity{"id" + std::to_string(i), "files/r" + std::to_string(i)};
        });

    // Each distinct candidate once, in first-seen order, in batches of 3.
    CHECK(s.model.encoded == std::vector<std::string>{"a", "b", "c", "d"});
    CHECK(s.model.text_calls == 2);
    CHECK(s.model.ecg_calls == 2);
    CHECK(progress == std::vector<std::int64_t>{2, 5});

    REQUIRE(r.records.size() == 5);
    for (std::int64_t i = 0; i < 5; ++i) CHECK(r.records[static_cast<std::size_t>(i)].index == i);
    const auto& r0 = r.records[0];  // kind 0
    CHECK(r0.id == "id0");
    CHECK(r0.record == "files/r0");
    CHECK(r0.report == "report zero.");
    CHECK(r0.proposed == std::vector<std::string>{"a", "b"});
    CHECK(r0.probabilities == std::vector<double>{0.99, 0.20});
    CHECK(r0.kept == std::vector<KeptFeature>{{"a", 0.99}});
    CHECK(r0.augmented_report == "report zero. a.");
    const auto& r1 = r.records[1];  // kind 1: b 0.96 and d 0.97 kept, c 0.5 not
    CHECK(r1.kept == std::vector<KeptFeature>{{"b", 0.96}, {"d", 0.97}});
    CHECK(r1.augmented_report == "report one. b. d.");
    const auto& r2 =
        r.records[2];  // kind 2: a is exactly 0.95 (not above), b just above; "a" proposed twice counts once
    CHECK(r2.proposed == std::vector<std::string>{"a", "b"});
    CHECK(r2.kept == std::vector<KeptFeature>{{"b", 0.9500001}});
    const auto& r3 = r.records[3];  // no candidates
    CHECK(r3.proposed.empty());
    CHECK(r3.kept.empty());
    CHECK(r3.augmented_report == "");
    const auto& r4 = r.records[4];  // skipped by the batch source
    CHECK(r4.skipped);
    CHECK(r4.kept.empty());
    CHECK(r4.probabilities.size() == 1);
    CHECK(std::isnan(r4.probabilities[0]));

    const ValidationStatistics& st = r.statistics;
    CHECK(st.threshold == 0.95);
    CHECK(st.records == 4);
    CHECK(st.skipped == 1);
    CHECK(st.records_with_candidates == 3);
    CHECK(st.records_with_kept == 3);
    CHECK(st.proposed == 7);
    CHECK(st.kept == 4);
    CHECK(st.distinct_candidates == 4);
    CHECK(st.kept_share() == doctest::Approx(4.0 / 7));
    REQUIRE(st.per_feature.size() == 4);
    CHECK(st.per_feature[0].feature == "a");  // order of first proposal: record 0 first
    CHECK(st.per_feature[0].proposed == 2);
    CHECK(st.per_feature[0].kept == 1);
    CHECK(st.per_feature[0].kept_share() == 0.5);
    CHECK(st.per_feature[0].mean_probability == doctest::Approx((0.99 + 0.95) / 2));
    CHECK(st.per_feature[1].feature == "b");
    CHECK(st.per_feature[1].proposed == 3);
    CHECK(st.per_feature[1].kept == 2);
    CHECK(st.per_feature[3].feature == "d");
    CHECK(st.per_feature[3].kept_share() == 1.0);
    CHECK(st.summary().find("4 of 7 proposed features kept") != std::string::npos);

    // Another threshold, same model: 0.5 keeps c (0.5 is not above 0.5) no more, a at 0.95 yes.
    Setup s2;
    const ValidationResult low =
        validate_features(s2.model, ctx, ReportTokenizer{}, s2.batches,
                          std::span<const std::vector<std::string>>(s2.candidates), {.threshold = 0.5});
    CHECK(low.records[1].kept_features() == std::vector<std::string>{"b", "d"});
    CHECK(low.records[2].kept_features() == std::vector<std::string>{"a", "b"});
    CHECK(low.records[0].id.empty());
}

TEST_CASE("validation errors: records outside the candidates, repeated records, bad options") {
    Setup s;
    Context<Dbl> ctx;
    std::vector<std::vector<std::string>> short_candidates(2);
    CHECK(error_text([&] {
              validate_features(s.model, ctx, ReportTokenizer{}, s.batches,
                                std::span<const std::vector<std::string>>(short_candidates));
          }).find("a batch holds record 2 but candidates are given for 2 records") != std::string::npos);
    std::vector<data::Batch> twice{batch_of({0}, {0}, {"x"}), batch_of({0}, {0}, {"x"})};
    CHECK(error_text([&] {
              validate_features(s.model, ctx, ReportTokenizer{}, twice,
                                std::span<const std::vector<std::string>>(s.candidates));
          }).find("record 0 comes twice") != std::string::npos);
    CHECK(error_text([&] {
              validate_features(s.model, ctx, ReportTokenizer{}, s.batches,
                                std::span<const std::vector<std::string>>(s.candidates), {.threshold = 1.5});
          }).find("threshold must be in [0, 1]") != std::string::npos);
}

TEST_CASE("provenance: written atomically, read back, and turned into stage 3's reports") {
    Setup s;
    Context<Dbl> ctx;
    const ValidationResult r = validate_features(
        s.model, ctx, ReportTokenizer{}, s.batches, std::span<const std::vector<std::string>>(s.candidates), {},
        [](std::int64_t i) {
            return RecordIdentity{i == 1 ? "" : "id" + std::to_string(i), "files/r" + std::to_string(i)};
        });
    const auto dir = fresh_dir("provenance");
    const auto file = dir / "out" / "features.jsonl";
    write_provenance(file, r);
    // Nothing but the file itself: the temporary was renamed.
    std::int64_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir / "out")) files += e.is_regular_file();
    CHECK(files == 1);

    double threshold = 0;
    const auto back = read_provenance(file, &threshold);
    CHECK(threshold == 0.95);
    REQUIRE(back.size() == r.records.size());
    for (std::size_t i = 0; i < back.size(); ++i) {
        const auto &a = r.records[i], &b = back[i];
        CHECK(a.index == b.index);
        CHECK(a.id == b.id);
        CHECK(a.record == b.record);
        CHECK(a.report == b.report);
        CHECK(a.proposed == b.proposed);
        CHECK(a.kept == b.kept);
        CHECK(a.augmented_report == b.augmented_report);
        CHECK(a.skipped == b.skipped);
        REQUIRE(a.probabilities.size() == b.probabilities.size());
        for (std::size_t k = 0; k < a.probabilities.size(); ++k)
            CHECK((a.probabilities[k] == b.probabilities[k] ||
                   (std::isnan(a.probabilities[k]) && std::isnan(b.probabilities[k]))));
    }
    // The first line, as documented.
    std::ifstream in(file);
    std::string first;
    std::getline(in, first);
    CHECK(first == R"({"index":0,"id":"id0","record":"files/r0","report":"report zero.","proposed":["a","b"],)"
                   R"("probabilities":[0.99,0.2],"kept":[{"feature":"a","probability":0.99}],)"
                   R"("augmented_report":"report zero. a.","threshold":0.95})");
    CHECK(validation_statistics(back, 0.95).kept == r.statistics.kept);

    // Stage 3's dataset: records paired by id, or by record path where the line has none (record 1); a record
    // with no line, or a skipped one, keeps its report.
    data::EcgDataset original;
    original.name = "test";
    for (int i = 0; i < 6; ++i)
        original.entries.push_back(
            {"id" + std::to_string(i), "files/r" + std::to_string(i), "original " + std::to_string(i), {}, -1});
    std::int64_t replaced = 0;
    const data::EcgDataset stage3 = with_augmented_reports(original, file, &replaced);
    CHECK(replaced == 4);  // records 0-3; 4 was skipped, 5 has no line
    CHECK(stage3.entries[0].report == "report zero. a.");
    CHECK(stage3.entries[1].report == "report one. b. d.");
    CHECK(stage3.entries[2].report == "report two. b.");
    CHECK(stage3.entries[3].report == "");  // the batch's report for it was empty, and nothing was kept
    CHECK(stage3.entries[4].report == "original 4");
    CHECK(stage3.entries[5].report == "original 5");
    const auto map = augmented_reports(back);
    CHECK(map.at("id0") == "report zero. a.");
    CHECK(map.at("files/r1") == "report one. b. d.");
    CHECK(map.count("id4") == 0);

    // Overwriting replaces the file whole.
    ValidationResult fewer = r;
    fewer.records.resize(2);
    write_provenance(file, fewer);
    CHECK(read_provenance(file).size() == 2);

    // Errors name the file and the line.
    std::ofstream(dir / "bad.jsonl") << first << "\n\n{\"report\": \"x\"}\n";
    const std::string e = error_text([&] { read_provenance(dir / "bad.jsonl"); });
    CHECK(e.find((dir / "bad.jsonl").string() + "' line 3") != std::string::npos);
    CHECK(error_text([&] { read_provenance(dir / "missing.jsonl"); }).find("cannot open") != std::string::npos);
}

TEST_CASE("precision and recall of proposed and kept features against a hand-made ground truth") {
    const auto dir = fresh_dir("truth");
    std::ofstream(dir / "ground_truth.csv")
        << "subject_id,study_id,path,set,conditions,features,report_states_features,heart_rate_bpm\n"
        << "1,100,files/"
           "a,pretrain,atrial_fibrillation,irregularly_irregular_rhythm;absent_p_waves;fibrillatory_waves,0,80.0\n"
        << "2,200,files/b,pretrain,sinus_rhythm,,0,70.0\n"
        << "3,300,files/"
           "c,pretrain,first_degree_av_block;sinus_bradycardia,heart_rate_below_60;prolonged_pr_interval,1,50.0\n";
    const FeatureGroundTruth truth = read_feature_ground_truth(dir / "ground_truth.csv");
    CHECK(truth.vocabulary.size() == synth::feature_count);
    CHECK(truth.by_id.at("300") == std::vector<std::string>{"heart rate below 60 bpm", "prolonged pr interval"});
    CHECK(truth.by_record.at("files/b").empty());

    auto record = [](std::string id, std::string path, std::vector<std::string> proposed,
                     std::vector<std::string> kept) {
        RecordValidation r;
        r.id = std::move(id);
        r.record = std::move(path);
        r.proposed = std::move(proposed);
        for (auto& k : kept) r.kept.push_back({k, 0.99});
        return r;
    };
    std::vector<RecordValidation> records{
        // AF: proposes all three true ones, a false one and one the truth cannot judge; keeps two true, one false.
        record("100", "",
               {"irregularly irregular rr intervals", "absent p waves", "fibrillatory waves",
                "heart rate above 100 bpm", "narrow qrs complex"},
               {"absent p waves", "fibrillatory waves", "heart rate above 100 bpm"}),
        // Sinus rhythm, matched by path: two unjudged proposals, nothing true to find.
        record("", "files/b", {"normal p waves", "regular rr intervals"}, {"normal p waves"}),
        // Bradycardia + 1st degree block: proposes one of the two true ones and keeps it.
        record("300", "", {"prolonged pr interval", "prolonged qt interval"}, {"prolonged pr interval"}),
        record("999", "files/none", {"absent p waves"}, {}),  // no ground-truth row
    };
    const FeatureRecovery m = evaluate_feature_recovery(truth, records);
    CHECK(m.records == 3);
    CHECK(m.unmatched_records == 1);
    CHECK(m.unjudged_proposed == 3);
    CHECK(m.unjudged_kept == 1);
    // proposed: TP 3 + 1, FP 1 + 1, FN 0 + 1 (heart rate below 60)
    CHECK(m.proposed.true_positives == 4);
    CHECK(m.proposed.false_positives == 2);
    CHECK(m.proposed.false_negatives == 1);
    CHECK(m.proposed.precision() == doctest::Approx(4.0 / 6));
    CHECK(m.proposed.recall() == doctest::Approx(4.0 / 5));
    // kept: TP 2 + 1, FP 1, FN 1 (irregular) + 1 (rate)
    CHECK(m.kept.true_positives == 3);
    CHECK(m.kept.false_positives == 1);
    CHECK(m.kept.false_negatives == 2);
    CHECK(m.kept.precision() == doctest::Approx(0.75));
    CHECK(m.kept.recall() == doctest::Approx(0.6));
    const auto row = [&](std::string_view f) {
        return *std::find_if(m.per_feature.begin(), m.per_feature.end(), [&](auto& r) { return r.feature == f; });
    };
    CHECK(row("absent p waves").present == 1);
    CHECK(row("absent p waves").kept.precision() == 1.0);
    CHECK(row("irregularly irregular rr intervals").proposed.recall() == 1.0);
    CHECK(row("irregularly irregular rr intervals").kept.recall() == 0.0);
    CHECK(row("heart rate above 100 bpm").present == 0);
    CHECK(row("heart rate above 100 bpm").kept.false_positives == 1);
    CHECK(row("heart rate below 60 bpm").proposed.false_negatives == 1);
    CHECK(m.summary().find("kept precision 0.750 recall 0.600") != std::string::npos);

    std::ofstream(dir / "bad.csv")
        << "subject_id,study_id,path,set,conditions,features\n1,2,p,pretrain,,absent_p_waves;nope\n";
    CHECK(error_text([&] { read_feature_ground_truth(dir / "bad.csv"); }).find("unknown feature 'nope'") !=
          std::string::npos);
}

// ---------------------------------------------------------------------------------------------------------------
// The whole stage on a synthetic corpus, with a tiny FgClep: exp(t') = 1e-4 makes the cosine negligible, so every
// probability is sigmoid(b) within 1e-4, and b decides what is kept; then (t', b) set so that the probabilities vary
// with record and candidate across the threshold, each recomputed here from the model's embeddings.

namespace {

using Tiny = FgClep<ResNet1D18, Bert, SigmoidLoss>;

Tiny::Options tiny_options(double bias, double scale = 1e-4) {
    Tiny::Options o;
    o.ecg.backbone = {.leads = 12, .base_width = 2, .stages = {1, 1}, .input_length = 128};
    o.ecg.head.embed_dim = 8;
    o.ecg.head.num_heads = 2;
    o.ecg.head.output_dim = 8;
    o.text.bert.vocab_size = 16;
    o.text.bert.hidden_size = 8;
    o.text.bert.num_hidden_layers = 1;
    o.text.bert.num_attention_heads = 2;
    o.text.bert.intermediate_size = 16;
    o.text.bert.max_position_embeddings = 32;
    o.text.head = {0, 8, 8};
    o.loss<SigmoidLoss>().logit_scale = std::log(scale);
    o.loss<SigmoidLoss>().logit_bias = bias;
    return o;
}

ReportTokenizer tiny_tokenizer() {
    std::vector<std::string> vocab{"[PAD]",  "[UNK]", "[CLS]", "[SEP]", "[MASK]", "p",    "waves", "qrs",
                                   "absent", "wide",  "st",    "t",     "wave",   "rate", "heart", "."};
    return ReportTokenizer(text::WordPiece(vocab, {.lower_case = true}), 24);
}

}  // namespace

TEST_CASE("stage 2 on a synthetic corpus with a tiny FgClep: knowledge base, validation, provenance, recovery") {
    const auto dir = fresh_dir("corpus");
    synth::write_corpus(dir, {.records = 12, .eval_records = 0, .seed = 5, .threads = 1, .progress = false});
    const data::EcgDataset dataset = data::load_mimic_iv_ecg(dir);
    REQUIRE(dataset.size() == 12);
    const KnowledgeBase kb = KnowledgeBase::builtin();
    const auto candidates = propose_candidates(kb, dataset);
    data::PreprocessOptions pre;
    pre.crop = {.keep = 128, .length = 128};
    const data::Preprocessor preprocessor(pre);
    const FeatureGroundTruth truth = read_feature_ground_truth(dir / "ground_truth.csv");
    const ReportTokenizer tokenizer = tiny_tokenizer();
    Context<Cpu<float>> ctx;
    ValidationOptions options;
    options.stream.batch_size = 5;
    options.text_batch_size = 16;

    // b = 3: p = sigmoid(3) = 0.9526 > 0.95, everything is kept.
    Tiny keep_all(tiny_options(3.0), 1);
    const ValidationResult all = validate_dataset(keep_all, ctx, tokenizer, dataset, preprocessor,
                                                  std::span<const std::vector<std::string>>(candidates), options);
    REQUIRE(all.records.size() == 12);
    std::int64_t proposed = 0;
    for (std::int64_t i = 0; i < 12; ++i) {
        const auto& r = all.records[static_cast<std::size_t>(i)];
        CHECK(r.index == i);
        CHECK(r.id == dataset.entry(i).id);
        CHECK(r.record == dataset.entry(i).record.string());
        CHECK(r.report == dataset.entry(i).report);
        CHECK(r.proposed == candidates[static_cast<std::size_t>(i)]);
        CHECK(r.kept.size() == r.proposed.size());
        for (double p : r.probabilities) CHECK(p == doctest::Approx(1 / (1 + std::exp(-3.0))).epsilon(1e-3));
        CHECK(r.augmented_report == augment_report(r.report, r.proposed));
        proposed += static_cast<std::int64_t>(r.proposed.size());
    }
    CHECK(proposed > 12);
    CHECK(all.statistics.kept == all.statistics.proposed);
    CHECK(all.statistics.records_with_kept == all.statistics.records_with_candidates);

    // Against the generator's truth: the reports state every condition, so the proposals recall every feature.
    const FeatureRecovery m = evaluate_feature_recovery(truth, all);
    CHECK(m.records == 12);
    CHECK(m.unmatched_records == 0);
    CHECK(m.proposed.recall() == 1.0);
    CHECK(m.kept.true_positives == m.proposed.true_positives);
    CHECK(m.kept.false_positives == m.proposed.false_positives);

    // A stricter threshold on the same model keeps nothing; b = 2.9 (p = 0.948) keeps nothing at 0.95 either.
    options.threshold = 0.96;
    const ValidationResult strict = validate_dataset(keep_all, ctx, tokenizer, dataset, preprocessor,
                                                     std::span<const std::vector<std::string>>(candidates), options);
    CHECK(strict.statistics.kept == 0);
    CHECK(strict.statistics.proposed == all.statistics.proposed);
    options.threshold = 0.95;
    Tiny keep_none(tiny_options(2.9), 1);
    const ValidationResult none = validate_dataset(keep_none, ctx, tokenizer, dataset, preprocessor,
                                                   std::span<const std::vector<std::string>>(candidates), options);
    CHECK(none.statistics.kept == 0);
    for (const auto& r : none.records) CHECK(r.augmented_report == r.report);
    const FeatureRecovery m0 = evaluate_feature_recovery(truth, none);
    CHECK(m0.kept.true_positives == 0);
    CHECK(m0.kept.recall() == 0.0);

    // Probabilities that vary with the record and the candidate. The untrained model's cosines lie within ~1e-2 of
    // one value, so (t', b) are set from them: the middle half spans logits -4..4. The expectation, by hand: the
    // records read and preprocessed one by one, encoded in the batches validation forms (records with candidates,
    // 5 at a time: the same shapes give the same embeddings to the last bit), each candidate encoded alone (so is it in
    // validation, text_batch_size = 1), the cosine of the two embeddings, p = sigmoid(exp(t') cos + b) with the
    // model's own (t', b). The threshold is put in a gap near the median of these probabilities, so that about half
    // are kept.
    Tiny varied(tiny_options(0.0, 1.0), 1);
    std::vector<std::int64_t> with_candidates;
    for (std::int64_t i = 0; i < 12; ++i)
        if (!all.records[static_cast<std::size_t>(i)].proposed.empty()) with_candidates.push_back(i);
    REQUIRE(with_candidates.size() > 5);
    std::map<std::int64_t, std::vector<float>> ecg_embedding;
    for (std::size_t begin = 0; begin < with_candidates.size(); begin += 5) {
        const std::size_t end = std::min(with_candidates.size(), begin + 5);
        std::vector<float> x;
        for (std::size_t j = begin; j < end; ++j) {
            const auto rec = preprocessor.apply(dataset.read(with_candidates[j]));
            REQUIRE(rec.has_value());
            x.insert(x.end(), rec->samples.begin(), rec->samples.end());
        }
        const auto n = static_cast<std::int64_t>(end - begin);
        const auto e = ctx.to_host(
            varied.encode_ecg(ctx, ctx.from_host(Shape{n, preprocessor.leads(), preprocessor.length()}, x)));
        const std::size_t dim = e.size() / static_cast<std::size_t>(n);
        for (std::size_t j = begin; j < end; ++j)
            ecg_embedding[with_candidates[j]].assign(e.begin() + static_cast<std::ptrdiff_t>((j - begin) * dim),
                                                     e.begin() + static_cast<std::ptrdiff_t>((j - begin + 1) * dim));
    }
    std::map<std::string, std::vector<float>> text_embedding;
    std::vector<std::vector<double>> cosines(12);
    std::vector<double> all_cos;
    for (std::int64_t i : with_candidates) {
        const auto& e = ecg_embedding[i];
        for (const auto& c : all.records[static_cast<std::size_t>(i)].proposed) {
            if (!text_embedding.contains(c))
                text_embedding[c] = ctx.to_host(varied.encode_text(ctx, tokenizer, std::vector<std::string>{c}));
            const auto& t = text_embedding[c];
            REQUIRE(t.size() == e.size());
            double cos = 0;  // both embeddings are L2-normalised by the model
            for (std::size_t k = 0; k < e.size(); ++k) cos += static_cast<double>(e[k]) * static_cast<double>(t[k]);
            cosines[static_cast<std::size_t>(i)].push_back(cos);
            all_cos.push_back(cos);
        }
    }
    std::sort(all_cos.begin(), all_cos.end());
    REQUIRE(all_cos.size() > 20);
    const double q1 = all_cos[all_cos.size() / 4], median = all_cos[all_cos.size() / 2],
                 q3 = all_cos[3 * all_cos.size() / 4];
    REQUIRE(q3 > q1);
    {
        const std::vector<float> t{static_cast<float>(std::log(8 / (q3 - q1)))},
            bias{static_cast<float>(-8 / (q3 - q1) * median)};
        Cpu<float>::upload(ctx.state, varied.parameter("sigmoid_loss.logit_scale").value.data(), t.data(), 1);
        Cpu<float>::upload(ctx.state, varied.parameter("sigmoid_loss.logit_bias").value.data(), bias.data(), 1);
    }
    const double scale =
        std::exp(static_cast<double>(ctx.to_host(varied.parameter("sigmoid_loss.logit_scale").value)[0]));
    const double b = ctx.to_host(varied.parameter("sigmoid_loss.logit_bias").value)[0];
    std::vector<std::vector<double>> expected(12);
    std::vector<double> all_p;
    for (std::size_t i = 0; i < 12; ++i)
        for (double cos : cosines[i]) {
            expected[i].push_back(1 / (1 + std::exp(-(scale * cos + b))));
            all_p.push_back(expected[i].back());
        }
    std::sort(all_p.begin(), all_p.end());
    REQUIRE(all_p.size() > 20);
    double threshold = -1;
    for (std::size_t d = 0; d + 1 < all_p.size() / 2 && threshold < 0; ++d)  // outwards from the median
        for (std::size_t k : {all_p.size() / 2 - 1 - d, all_p.size() / 2 + d})
            if (threshold < 0 && k + 1 < all_p.size() && all_p[k + 1] - all_p[k] > 1e-3)
                threshold = (all_p[k] + all_p[k + 1]) / 2;
    REQUIRE(threshold > 0);
    REQUIRE(threshold < 1);
    options.threshold = threshold;
    options.text_batch_size = 1;
    const ValidationResult mixed = validate_dataset(varied, ctx, tokenizer, dataset, preprocessor,
                                                    std::span<const std::vector<std::string>>(candidates), options);
    REQUIRE(mixed.records.size() == 12);
    std::int64_t kept = 0, dropped = 0, records_with_both = 0, records_varying = 0;
    for (std::int64_t i = 0; i < 12; ++i) {
        CAPTURE(i);
        const auto& r = mixed.records[static_cast<std::size_t>(i)];
        const auto& want = expected[static_cast<std::size_t>(i)];
        REQUIRE(r.probabilities.size() == want.size());
        std::vector<KeptFeature> should_keep;
        for (std::size_t k = 0; k < want.size(); ++k) {
            CHECK(r.probabilities[k] == doctest::Approx(want[k]).epsilon(1e-9));
            if (want[k] > threshold) should_keep.push_back({r.proposed[k], r.probabilities[k]});
        }
        CHECK(r.kept == should_keep);
        CHECK(r.augmented_report == augment_report(r.report, r.kept_features()));
        const auto k = static_cast<std::int64_t>(should_keep.size()), n = static_cast<std::int64_t>(want.size());
        kept += k;
        dropped += n - k;
        records_with_both += k > 0 && k < n;
        const auto [lowest, highest] = std::minmax_element(want.begin(), want.end());
        records_varying += *highest - *lowest > 1e-3;
    }
    // Both sides of the threshold are exercised (one record straddles it), and a record's candidates have different
    // probabilities (so the comparison above also catches a probability given to the wrong candidate).
    CHECK(kept > 20);
    CHECK(dropped > 20);
    CHECK(records_with_both >= 1);
    CHECK(records_varying >= 6);
    CHECK(mixed.statistics.kept == kept);
    CHECK(mixed.statistics.proposed == kept + dropped);

    // Provenance to stage 3: the dataset with the augmented reports.
    write_provenance(dir / "features.jsonl", all);
    std::int64_t replaced = 0;
    const data::EcgDataset stage3 = with_augmented_reports(dataset, dir / "features.jsonl", &replaced);
    CHECK(replaced == 12);
    for (std::int64_t i = 0; i < 12; ++i)
        CHECK(stage3.entries[static_cast<std::size_t>(i)].report ==
              all.records[static_cast<std::size_t>(i)].augmented_report);

    CHECK(error_text([&] {
              std::vector<std::vector<std::string>> wrong(3);
              validate_dataset(keep_all, ctx, tokenizer, dataset, preprocessor,
                               std::span<const std::vector<std::string>>(wrong));
          }).find("3 candidate lists for the 12 records") != std::string::npos);
}
