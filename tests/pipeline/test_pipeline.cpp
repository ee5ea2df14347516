// The pipeline's stage functions on a tiny generated corpus: stage 1 writes checkpoints and resumes (a second run
// continues, it does not restart), stage 2 writes provenance for every record (one JSON line each, read back here
// without the library's reader) and reuses it, stage 3 starts from the stage-1 weights, and the evaluation's macro
// AUCs equal an AUC computed here from the model's own embeddings (a tiny FgClep, and a stand-in whose scores are
// known). Each test case stands alone (the corpus is made by whichever case runs first; every case writes under its
// own directory), so any one runs with -tc. Also: a Hugging Face text encoder (tests/fixtures/hf_bert) inside the
// pipeline's model.
#include <doctest/doctest.h>

#include "fgclep/core/hash.hpp"
#include "fgclep/data/datasets/benchmark_split.hpp"
#include "fgclep/data/datasets/mimic_iv_ecg.hpp"
#include "fgclep/features/knowledge_base.hpp"
#include "fgclep/io/hf_checkpoint.hpp"
#include "fgclep/pipeline/evaluation.hpp"
#include "fgclep/pipeline/feature_stage.hpp"
#include "fgclep/pipeline/model_config.hpp"
#include "fgclep/pipeline/training_stages.hpp"
#include "fgclep/synth/corpus.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
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

// ROC AUC by its definition (the share of (positive, negative) pairs ranked right), computed independently of
// fgclep::eval. Scores computed here and by the library may differ in the last bits (other summation orders), so
// pairs closer than `eps` may be ordered either way: `low` counts them as wrong, `high` as right (the library counts
// a tie one half), and the library's AUC must lie in [low, high]. NaN bounds: the class has one label value only.
struct AucBounds {
    double low = std::nan(""), high = std::nan("");
};
AucBounds reference_auc(const std::vector<double>& scores, const std::vector<float>& labels, double eps) {
    double low = 0, high = 0, pairs = 0;
    for (std::size_t p = 0; p < scores.size(); ++p) {
        if (labels[p] != 1) continue;
        for (std::size_t n = 0; n < scores.size(); ++n) {
            if (labels[n] != 0) continue;
            pairs += 1;
            const double d = scores[p] - scores[n];
            if (d > eps) {
                low += 1;
                high += 1;
            } else if (d >= -eps) {
                high += 1;
            }
        }
    }
    if (pairs == 0) return {};
    return {low / pairs, high / pairs};
}

// A stand-in model whose scores are known: an ECG embeds as 8 of its preprocessed samples (fixed leads and times),
// a text as a unit vector drawn from a seed hashed from the text, both L2-normalised. So every text, each lead
// variant of the ensemble included, has its own direction, and the test computes every score from the signal alone.
struct KnownScores {
    static constexpr std::int64_t dim = 8;
    static std::vector<float> normalised(std::vector<float> v) {
        double n = 0;
        for (float x : v) n += static_cast<double>(x) * x;
        for (float& x : v) x = static_cast<float>(x / std::sqrt(n));
        return v;
    }
    // One record, (leads, length) channel-major.
    static std::vector<float> ecg_embedding(const float* record, std::int64_t leads, std::int64_t length) {
        std::vector<float> e(dim);
        for (std::int64_t k = 0; k < dim; ++k) e[k] = record[(k % leads) * length + (97 * k + 13) % length];
        return normalised(e);
    }
    static std::vector<float> text_embedding(const std::string& text) {
        HostRng rng(fnv1a64(text));
        std::vector<float> t(dim);
        for (auto& x : t) x = static_cast<float>(rng.normal());
        return normalised(t);
    }
    Tensor<Cpu<float>> encode_ecg(Context<Cpu<float>>& ctx, const Tensor<Cpu<float>>& ecg) {
        const auto x = ctx.to_host(ecg);
        const std::int64_t n = ecg.size(0), leads = ecg.size(1), length = ecg.size(2);
        std::vector<float> out;
        for (std::int64_t i = 0; i < n; ++i) {
            const auto e = ecg_embedding(x.data() + i * leads * length, leads, length);
            out.insert(out.end(), e.begin(), e.end());
        }
        return ctx.from_host(Shape{n, dim}, out);
    }
    template <class Texts>
    Tensor<Cpu<float>> encode_text(Context<Cpu<float>>& ctx, const ReportTokenizer&, const Texts& texts) {
        std::vector<float> out;
        for (const auto& t : texts) {
            const auto e = text_embedding(t);
            out.insert(out.end(), e.begin(), e.end());
        }
        return ctx.from_host(Shape{static_cast<std::int64_t>(texts.size()), dim}, out);
    }
};

// One line of a JSONL file per element.
std::vector<nlohmann::json> read_jsonl(const fs::path& path) {
    std::vector<nlohmann::json> lines;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
    return lines;
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
    fs::remove_all(run);              // this case starts the run itself
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
    // This case's own directory and its own stage-1 weights (a model of another seed than the two below), so that it
    // needs no other case to have run.
    const fs::path run = f.dir / "stages23";
    fs::remove_all(run);
    const fs::path stage1 = run / "stage1";
    fs::create_directories(stage1);
    {
        TestModel stage1_model(test_options(f.vocab()), 11);
        pipeline::save_weights(pipeline::weights_path(stage1), ctx, stage1_model);
    }
    TestModel model(test_options(f.vocab()), 5);
    const std::vector<float> own_weights = values(ctx, model);
    pipeline::load_weights(pipeline::weights_path(stage1), ctx, model);
    const std::vector<float> stage1_weights = values(ctx, model);
    CHECK(max_abs_diff(own_weights, stage1_weights) > 1e-2);

    auto kb = features::KnowledgeBase::builtin();
    pipeline::FeatureStageOptions fo;
    fo.preprocess = pipeline::preprocess_options(pipeline::ModelSize::tiny);
    fo.threshold = 0.5;
    const fs::path stage2 = run / "stage2";
    const pipeline::FeatureStageResult r2 = pipeline::run_features(model, ctx, f.tokenizer, f.pairs, kb, stage2, fo);
    CHECK_FALSE(r2.reused);
    CHECK(r2.records.size() == f.pairs.entries.size());
    CHECK(r2.statistics.proposed > 0);
    CHECK(r2.provenance == stage2 / "features.jsonl");

    // The provenance file, parsed here: one line per record, in order, with the record's id, path and report, the
    // knowledge base's candidates, a probability for each, and kept = those above the threshold.
    const auto candidates = features::propose_candidates(kb, f.pairs);
    const auto lines = read_jsonl(stage2 / "features.jsonl");
    REQUIRE(lines.size() == f.pairs.entries.size());
    std::int64_t proposed = 0, kept = 0;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        CAPTURE(i);
        const auto& l = lines[i];
        const auto& e = f.pairs.entries[i];
        CHECK(l.at("index").get<std::int64_t>() == static_cast<std::int64_t>(i));
        CHECK(l.at("id").get<std::string>() == e.id);
        CHECK(l.at("record").get<std::string>() == e.record.string());
        CHECK(l.at("report").get<std::string>() == e.report);
        CHECK(l.at("threshold").get<double>() == 0.5);
        std::vector<std::string> distinct;  // the candidates, each once, in the order proposed
        for (const auto& c : candidates[i])
            if (std::find(distinct.begin(), distinct.end(), c) == distinct.end()) distinct.push_back(c);
        const auto proposed_here = l.at("proposed").get<std::vector<std::string>>();
        CHECK(proposed_here == distinct);
        const auto p = l.at("probabilities").get<std::vector<double>>();
        REQUIRE(p.size() == proposed_here.size());
        std::vector<std::string> above;
        for (std::size_t k = 0; k < p.size(); ++k) {
            CHECK(p[k] >= 0);
            CHECK(p[k] <= 1);
            if (p[k] > 0.5) above.push_back(proposed_here[k]);
        }
        std::vector<std::string> kept_here;
        for (const auto& k : l.at("kept")) kept_here.push_back(k.at("feature").get<std::string>());
        CHECK(kept_here == above);
        CHECK(l.at("augmented_report").get<std::string>() == features::augment_report(e.report, kept_here));
        // The result returned is what was written.
        CHECK(r2.records[i].proposed == proposed_here);
        CHECK(r2.records[i].kept_features() == kept_here);
        proposed += static_cast<std::int64_t>(proposed_here.size());
        kept += static_cast<std::int64_t>(kept_here.size());
    }
    CHECK(proposed == r2.statistics.proposed);
    CHECK(kept == r2.statistics.kept);
    {
        std::ifstream in(stage2 / "statistics.txt");
        const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        CHECK(text == r2.statistics.summary());
    }
    const pipeline::FeatureStageResult again = pipeline::run_features(model, ctx, f.tokenizer, f.pairs, kb, stage2, fo);
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
                                                run / "stage3", stage_options(1, 1e-12));
    CHECK(r3.finished);
    CHECK_FALSE(r3.resumed);
    CHECK(r3.steps == 4);
    CHECK(max_abs_diff(values(ctx, fresh), stage1_weights) < 1e-6);
    CHECK(fs::exists(pipeline::weights_path(run / "stage3")));

    CHECK_THROWS_WITH_AS(pipeline::run_fgclep(fresh, ctx, f.tokenizer, augmented, run / "none.safetensors",
                                              run / "stage3b", stage_options(1, 1e-3)),
                         doctest::Contains("do not exist"), Error);
}

TEST_CASE("pipeline: the evaluation's zero-shot macro AUCs equal an AUC computed here from the model's embeddings") {
    auto& f = fixture();
    Context<Cpu<float>> ctx(Cpu<float>::State{2});
    TestModel model(test_options(f.vocab()), 1);
    pipeline::EvaluateOptions eo;
    eo.preprocess = pipeline::preprocess_options(pipeline::ModelSize::tiny);
    eo.model_label = "test";
    const auto tasks = pipeline::synthetic_tasks(f.corpus);
    const eval::EvaluationResults r = pipeline::evaluate(model, ctx, f.tokenizer, tasks, eo);
    REQUIRE(r.rows.size() == 4);
    CHECK(r.rows[0].method == "zero-shot");
    CHECK(r.rows[1].method == "zero-shot ensemble");
    CHECK(r.rows[2].per_class.size() == synth::feature_count);

    // The expectation, by hand: each test record read and preprocessed on its own, all encoded in one batch; each
    // class text (and its 12 "in lead x" variants for the ensemble) encoded; the score of a class is the cosine of
    // the embeddings (the maximum over the 13 texts for the ensemble), and its AUC is counted pair by pair.
    const data::Preprocessor preprocessor(eo.preprocess);
    for (std::size_t t = 0; t < tasks.size(); ++t) {
        const data::EcgDataset test = data::load_benchmark_split(tasks[t].split("test"), tasks[t].root);
        const auto n = static_cast<std::size_t>(test.size());
        REQUIRE(n > 10);
        std::vector<float> ecg;
        for (std::int64_t i = 0; i < test.size(); ++i) {
            const auto rec = preprocessor.apply(test.read(i));
            REQUIRE(rec.has_value());
            ecg.insert(ecg.end(), rec->samples.begin(), rec->samples.end());
        }
        const auto dim = static_cast<std::size_t>(test_options(f.vocab()).ecg.head.output_dim);
        const auto e = ctx.to_host(
            model.encode_ecg(ctx, ctx.from_host(Shape{test.size(), preprocessor.leads(), preprocessor.length()}, ecg)));
        const eval::ClassPrompts prompts = eval::class_prompts(test.class_names, tasks[t].prompts);
        for (bool ensemble : {false, true}) {
            const eval::EvaluationResult& row = r.rows[2 * t + (ensemble ? 1 : 0)];
            INFO(row.task << " " << row.method);
            CHECK(row.task == tasks[t].name);
            CHECK(row.method == (ensemble ? "zero-shot ensemble" : "zero-shot"));
            CHECK(row.model == "test");
            CHECK(row.records == test.size());
            REQUIRE(row.per_class.size() == test.class_names.size());
            double low_sum = 0, high_sum = 0, classes = 0;
            for (std::size_t c = 0; c < test.class_names.size(); ++c) {
                CAPTURE(test.class_names[c]);
                std::vector<std::string> texts{prompts.texts[c]};
                if (ensemble) texts = eval::lead_ensemble(prompts.texts[c]);
                const auto te = ctx.to_host(model.encode_text(ctx, f.tokenizer, texts));
                std::vector<double> scores(n, -2);
                std::vector<float> labels(n);
                for (std::size_t i = 0; i < n; ++i) {
                    labels[i] = test.entries[i].labels[c];
                    for (std::size_t k = 0; k < texts.size(); ++k) {
                        double cos = 0;  // the embeddings are L2-normalised by the model
                        for (std::size_t d = 0; d < dim; ++d)
                            cos += static_cast<double>(e[i * dim + d]) * static_cast<double>(te[k * dim + d]);
                        scores[i] = std::max(scores[i], cos);
                    }
                }
                const AucBounds ref = reference_auc(scores, labels, 1e-12);
                if (std::isnan(ref.low)) {
                    CHECK(std::isnan(row.per_class[c]));
                    continue;
                }
                CHECK(row.per_class[c] >= ref.low - 1e-12);
                CHECK(row.per_class[c] <= ref.high + 1e-12);
                low_sum += ref.low;
                high_sum += ref.high;
                classes += 1;
            }
            REQUIRE(classes >= 2);
            const double low = 100 * low_sum / classes, high = 100 * high_sum / classes;
            REQUIRE(high - low < 1);  // the near-ties leave little room: the comparison below means something
            CHECK(row.macro_auc >= low - 1e-9);
            CHECK(row.macro_auc <= high + 1e-9);
        }
    }
}

TEST_CASE("pipeline: the evaluation of a model whose scores are known gives the AUCs counted here, ensemble included") {
    // Every text has its own embedding here (unlike the untrained FgClep's, which barely depend on the text), so the
    // ensemble's scores differ from the plain ones, and a prompt given to the wrong class, a record scored against the
    // wrong labels or an ensemble not taken changes the AUCs.
    auto& f = fixture();
    Context<Cpu<float>> ctx(Cpu<float>::State{2});
    KnownScores model;
    pipeline::EvaluateOptions eo;
    eo.preprocess = pipeline::preprocess_options(pipeline::ModelSize::tiny);
    eo.model_label = "known";
    eo.batch_size = 5;  // several batches per split
    const auto tasks = pipeline::synthetic_tasks(f.corpus);
    const eval::EvaluationResults r = pipeline::evaluate(model, ctx, f.tokenizer, tasks, eo);
    REQUIRE(r.rows.size() == 4);
    const data::Preprocessor preprocessor(eo.preprocess);
    for (std::size_t t = 0; t < tasks.size(); ++t) {
        const data::EcgDataset test = data::load_benchmark_split(tasks[t].split("test"), tasks[t].root);
        const auto n = static_cast<std::size_t>(test.size());
        std::vector<std::vector<float>> ecg_embeddings;
        for (std::int64_t i = 0; i < test.size(); ++i) {
            const auto rec = preprocessor.apply(test.read(i));
            REQUIRE(rec.has_value());
            const std::vector<float> x(rec->samples.begin(), rec->samples.end());
            ecg_embeddings.push_back(KnownScores::ecg_embedding(x.data(), rec->channels(), rec->length));
        }
        const eval::ClassPrompts prompts = eval::class_prompts(test.class_names, tasks[t].prompts);
        double plain_sum = 0, ensemble_sum = 0;
        for (bool ensemble : {false, true}) {
            const eval::EvaluationResult& row = r.rows[2 * t + (ensemble ? 1 : 0)];
            INFO(row.task << " " << row.method);
            CHECK(row.task == tasks[t].name);
            CHECK(row.method == (ensemble ? "zero-shot ensemble" : "zero-shot"));
            CHECK(row.model == "known");
            CHECK(row.records == test.size());
            REQUIRE(row.per_class.size() == test.class_names.size());
            double sum = 0, classes = 0;
            for (std::size_t c = 0; c < test.class_names.size(); ++c) {
                CAPTURE(test.class_names[c]);
                std::vector<std::string> texts{prompts.texts[c]};
                if (ensemble) texts = eval::lead_ensemble(prompts.texts[c]);
                REQUIRE(texts.size() == (ensemble ? 13u : 1u));
                std::vector<double> scores(n, -2);
                std::vector<float> labels(n);
                for (std::size_t i = 0; i < n; ++i) {
                    labels[i] = test.entries[i].labels[c];
                    for (const auto& text : texts) {
                        const auto te = KnownScores::text_embedding(text);
                        double cos = 0;
                        for (std::int64_t d = 0; d < KnownScores::dim; ++d)
                            cos += static_cast<double>(ecg_embeddings[i][d]) * static_cast<double>(te[d]);
                        scores[i] = std::max(scores[i], cos);
                    }
                }
                const AucBounds ref = reference_auc(scores, labels, 1e-12);
                if (std::isnan(ref.low)) {
                    CHECK(std::isnan(row.per_class[c]));
                    continue;
                }
                REQUIRE(ref.high - ref.low < 1e-9);  // no near-ties: the expected value is exact
                CHECK(row.per_class[c] == doctest::Approx(ref.low).epsilon(1e-12));
                sum += ref.low;
                classes += 1;
            }
            REQUIRE(classes >= 2);
            CHECK(row.macro_auc == doctest::Approx(100 * sum / classes).epsilon(1e-12));
            (ensemble ? ensemble_sum : plain_sum) = sum;
        }
        CHECK(plain_sum != ensemble_sum);  // the ensemble does make a difference here
    }
}

TEST_CASE("pipeline: a pretrained text encoder inside FgClep: the checkpoint's architecture, weights and tokenizer") {
    using B = Cpu<float>;
    Context<B> ctx;
    const auto dir = io::HfBertDirectory::open(fs::path(FGCLEP_FIXTURES) / "hf_bert");  // model.safetensors
    auto options = pipeline::with_pretrained_text(pipeline::tiny_options<B>(100), dir);
    CHECK(options.text.bert.num_hidden_layers == 12);
    CHECK(options.text.bert.vocab_size == 256);
    pipeline::TinyModel<B> model(options, 3);
    pipeline::TinyModel<B> reference(options, 3);
    const io::LoadResult r = pipeline::load_pretrained_text(model, ctx, dir);
    Model<Bert, B> bert(dir.options, 9);
    io::load_bert_weights(bert.arena(), ctx.state, dir);
    for (const auto& e : bert.arena().params()) {
        CAPTURE(e.name);
        CHECK(ctx.to_host(model.parameter("lm_model." + e.name).value) == ctx.to_host(e.param->value));
    }
    std::size_t text_loaded = 0;
    for (const auto& name : r.loaded) text_loaded += name.rfind("lm_model.", 0) == 0;
    CHECK(text_loaded == bert.arena().params().size());
    // The projection head and the ECG encoder keep their initialisation.
    for (const auto& e : model.arena().params())
        if (e.name.rfind("lm_model.", 0) != 0) {
            CAPTURE(e.name);
            CHECK(ctx.to_host(e.param->value) == ctx.to_host(reference.parameter(e.name).value));
        }
    // The tokenizer: the directory's vocabulary, cased (its tokenizer_config.json), cut at the checkpoint's 64 tokens
    // (below the tiny model's 96).
    const ReportTokenizer tokenizer = pipeline::make_tokenizer(pipeline::ModelSize::tiny, dir);
    CHECK(tokenizer.max_length() == 64);
    CHECK(tokenizer.vocabulary().size() == 256);
    CHECK(tokenizer.vocabulary().encode("Sinus")[0] != tokenizer.vocabulary().encode("sinus")[0]);
    // A prefix under which the model has nothing is an error, not a silent no-op.
    CHECK_THROWS_WITH_AS(io::load_bert_weights(model.arena(), ctx.state, dir, "text.lm_model"),
                         doctest::Contains("the model has no parameter under 'text.lm_model.'"), Error);
}
