// The pipeline's stage functions on a tiny generated corpus: stage 1 writes checkpoints and resumes (a second run
// continues, it does not restart), stage 2 writes provenance for every record and reuses it, stage 3 starts from the
// stage-1 weights, and the evaluation returns macro AUCs in [0, 100].
#include <doctest/doctest.h>

#include "fgclep/data/datasets/mimic_iv_ecg.hpp"
#include "fgclep/features/knowledge_base.hpp"
#include "fgclep/pipeline/evaluation.hpp"
#include "fgclep/pipeline/feature_stage.hpp"
#include "fgclep/pipeline/model_config.hpp"
#include "fgclep/pipeline/training_stages.hpp"
#include "fgclep/synth/corpus.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <string>
#include <vector>

using namespace fgclep;
namespace fs = std::filesystem;

namespace {

using TestModel = pipeline::TinyModel<>;

// Smaller still than ModelSize::tiny, so that a test trains in a second.
TestModel::Options test_options(std::int64_t vocab) {
    TestModel::Options o = pipeline::tiny_options(vocab);
    o.ecg.backbone.base_width = 8;
    o.ecg.head.embed_dim = o.ecg.head.output_dim = 32;
    o.text.bert.hidden_size = 32;
    o.text.bert.intermediate_size = 64;
    o.text.bert.num_hidden_layers = 1;
    o.text.head = {0, 32, 32};
    return o;
}

struct Fixture {
    fs::path dir;
    fs::path corpus;
    ReportTokenizer tokenizer;
    data::EcgDataset pairs;
    Fixture() {
        dir = fs::temp_directory_path() / fmt::format("fgclep_test_pipeline_{}", ::getpid());
        fs::remove_all(dir);
        corpus = dir / "corpus";
        synth::CorpusOptions co;
        co.records = 64;
        co.eval_records = 160;
        co.seed = 3;
        co.threads = 2;
        co.progress = false;
        synth::write_corpus(corpus, co);
        tokenizer = pipeline::make_tokenizer(pipeline::ModelSize::tiny,
                                             std::string(FGCLEP_FIXTURES) + "/bert/bert-base-cased-vocab.txt");
        pairs = data::load_mimic_iv_ecg(corpus);
    }
    ~Fixture() { fs::remove_all(dir); }
    std::int64_t vocab() const { return static_cast<std::int64_t>(tokenizer.vocabulary().size()); }
};

Fixture& fixture() {
    static Fixture f;
    return f;
}

pipeline::TrainStageOptions stage_options(std::int64_t epochs, double lr) {
    pipeline::TrainStageOptions o;
    o.preprocess = pipeline::preprocess_options(pipeline::ModelSize::tiny);
    o.trainer.optimizer.lr = lr;
    o.trainer.epochs = epochs;
    o.trainer.batch_size = 16;
    o.trainer.max_grad_norm = 5;
    o.trainer.progress = ProgressMode::off;
    return o;
}

std::vector<std::int64_t> logged_steps(const fs::path& log) {
    std::vector<std::int64_t> steps;
    std::ifstream f(log);
    for (std::string line; std::getline(f, line);) {
        const auto j = nlohmann::json::parse(line);
        if (j.at("event") == "step") steps.push_back(j.at("step").get<std::int64_t>());
    }
    return steps;
}

std::vector<float> values(Context<Cpu<float>>& ctx, TestModel& m) { return ctx.to_host(m.arena().values()); }

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(static_cast<double>(a[i]) - b[i]));
    return d;
}

}  // namespace

TEST_CASE("pipeline: model configurations and the vocabulary") {
    CHECK(pipeline::model_size_from_string("tiny") == pipeline::ModelSize::tiny);
    CHECK(pipeline::model_size_from_string("full") == pipeline::ModelSize::full);
    CHECK_THROWS_WITH_AS(pipeline::model_size_from_string("huge"), doctest::Contains("'tiny' or 'full'"), Error);
    const auto p = pipeline::preprocess_options(pipeline::ModelSize::tiny);
    CHECK(p.target_fs == 100);
    CHECK(p.crop.length == 1000);
    CHECK(pipeline::preprocess_options(pipeline::ModelSize::full).crop.length == 5000);
    CHECK_THROWS_WITH_AS(pipeline::find_vocab("/no/such/vocab.txt"), doctest::Contains("does not exist"), Error);
    TestModel tiny(pipeline::tiny_options(fixture().vocab()), 1);
    CHECK(tiny.parameter_count() > 1'000'000);  // the vocabulary's embeddings alone: 28996 x 64
    CHECK(tiny.parameter_count() < 5'000'000);
}

TEST_CASE("pipeline: stage 1 writes checkpoints and weights, and a second run resumes") {
    auto& f = fixture();
    Context<Cpu<float>> ctx(Cpu<float>::State{2});
    const fs::path run = f.dir / "stage1";
    auto o = stage_options(2, 1e-3);  // 64 pairs / 16 = 4 steps per epoch, 8 in all
    o.trainer.max_steps = 3;
    {
        TestModel model(test_options(f.vocab()), 1);
        const TrainResult r = pipeline::run_clep(model, ctx, f.tokenizer, f.pairs, run, o);
        CHECK_FALSE(r.finished);
        CHECK(r.steps == 3);
        CHECK(r.total_steps == 8);
        CHECK_FALSE(fs::exists(pipeline::weights_path(run)));  // not complete yet
        CHECK(list_checkpoints(run / "checkpoints").size() == 1);
        CHECK(fs::exists(run / "log.jsonl"));
    }
    o.trainer.max_steps = 0;
    TestModel model(test_options(f.vocab()), 1);
    const TrainResult r = pipeline::run_clep(model, ctx, f.tokenizer, f.pairs, run, o);
    CHECK(r.resumed);
    CHECK(r.finished);
    CHECK(r.steps == 8);
    CHECK(fs::exists(pipeline::weights_path(run)));
    // Continued, not restarted: steps 1..8 logged once each.
    CHECK(logged_steps(run / "log.jsonl") == std::vector<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 8});
    // The weights file holds the trained model.
    TestModel reloaded(test_options(f.vocab()), 99);
    CHECK(max_abs_diff(values(ctx, reloaded), values(ctx, model)) > 1e-3);
    pipeline::load_weights(pipeline::weights_path(run), ctx, reloaded);
    CHECK(max_abs_diff(values(ctx, reloaded), values(ctx, model)) == 0);
    // A third run has nothing left to do.
    const TrainResult again = pipeline::run_clep(model, ctx, f.tokenizer, f.pairs, run, o);
    CHECK(again.finished);
    CHECK(logged_steps(run / "log.jsonl").size() == 8);
}

TEST_CASE("pipeline: stage 2 validates every record's candidates and stage 3 starts from the stage-1 weights") {
    auto& f = fixture();
    Context<Cpu<float>> ctx(Cpu<float>::State{2});
    const fs::path stage1 = f.dir / "stage1";
    REQUIRE(fs::exists(pipeline::weights_path(stage1)));  // the previous test case
    TestModel model(test_options(f.vocab()), 5);
    pipeline::load_weights(pipeline::weights_path(stage1), ctx, model);
    const std::vector<float> stage1_weights = values(ctx, model);

    auto kb = features::KnowledgeBase::builtin();
    pipeline::FeatureStageOptions fo;
    fo.preprocess = pipeline::preprocess_options(pipeline::ModelSize::tiny);
    fo.threshold = 0.5;
    const pipeline::FeatureStageResult r2 = pipeline::run_features(model, ctx, f.tokenizer, f.pairs, kb, f.dir / "stage2", fo);
    CHECK_FALSE(r2.reused);
    CHECK(r2.records.size() == f.pairs.entries.size());
    CHECK(r2.statistics.proposed > 0);
    CHECK(fs::exists(f.dir / "stage2" / "features.jsonl"));
    CHECK(fs::exists(f.dir / "stage2" / "statistics.txt"));
    const pipeline::FeatureStageResult again = pipeline::run_features(model, ctx, f.tokenizer, f.pairs, kb, f.dir / "stage2", fo);
    CHECK(again.reused);
    CHECK(again.statistics.kept == r2.statistics.kept);
    CHECK(again.statistics.proposed == r2.statistics.proposed);

    std::int64_t replaced = 0;
    const data::EcgDataset augmented = features::with_augmented_reports(f.pairs, r2.records, &replaced);
    CHECK(replaced == static_cast<std::int64_t>(f.pairs.entries.size()));

    // With a vanishing learning rate, stage 3 ends where it started: at the stage-1 weights, not at the fresh
    // model's own initialisation.
    TestModel fresh(test_options(f.vocab()), 7);
    const std::vector<float> fresh_weights = values(ctx, fresh);
    CHECK(max_abs_diff(fresh_weights, stage1_weights) > 1e-2);
    const TrainResult r3 = pipeline::run_fgclep(fresh, ctx, f.tokenizer, augmented, pipeline::weights_path(stage1),
                                                f.dir / "stage3", stage_options(1, 1e-12));
    CHECK(r3.finished);
    CHECK_FALSE(r3.resumed);
    CHECK(r3.steps == 4);
    CHECK(max_abs_diff(values(ctx, fresh), stage1_weights) < 1e-6);
    CHECK(fs::exists(pipeline::weights_path(f.dir / "stage3")));

    CHECK_THROWS_WITH_AS(pipeline::run_fgclep(fresh, ctx, f.tokenizer, augmented, f.dir / "none.safetensors",
                                              f.dir / "stage3b", stage_options(1, 1e-3)),
                         doctest::Contains("do not exist"), Error);
}

TEST_CASE("pipeline: the evaluation gives zero-shot macro AUCs in [0, 100] for both synthetic tasks") {
    auto& f = fixture();
    Context<Cpu<float>> ctx(Cpu<float>::State{2});
    TestModel model(test_options(f.vocab()), 1);
    pipeline::EvaluateOptions eo;
    eo.preprocess = pipeline::preprocess_options(pipeline::ModelSize::tiny);
    eo.model_label = "test";
    const eval::EvaluationResults r = pipeline::evaluate(model, ctx, f.tokenizer, pipeline::synthetic_tasks(f.corpus), eo);
    REQUIRE(r.rows.size() == 4);
    for (const auto& row : r.rows) {
        INFO(row.task << " " << row.method);
        CHECK((row.task == "diagnosis" || row.task == "feature"));
        CHECK(row.model == "test");
        CHECK(row.records > 0);
        CHECK(std::isfinite(row.macro_auc));
        CHECK(row.macro_auc >= 0);
        CHECK(row.macro_auc <= 100);
    }
    CHECK(r.rows[0].method == "zero-shot");
    CHECK(r.rows[1].method == "zero-shot ensemble");
    CHECK(r.rows[2].per_class.size() == synth::feature_count);
}
