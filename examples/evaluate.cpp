// Evaluates a trained CLEP / FG-CLEP model on one labelled task (fgclep::eval): zero-shot classification with and
// without the 12-lead ensemble, text -> ECG retrieval with the class prompts, linear probing of the frozen backbone
// at 1/10/100% of the training split; prints a table, writes results.json and the test embeddings as .npy.
//
//   evaluate --corpus CORPUS --task diagnosis|feature [--weights runs/stage3/model.safetensors] [--model tiny]
//   evaluate --split benchmark/data_split/ptbxl/super_class/ptbxl_super_class_{}.csv --root /data/ptb-xl
//            --prompts benchmark/CKEPE_prompt.json --model full --weights model.safetensors
//            [--probe 1,10,100] [--subsets benchmark/linear_probe_subsets.csv --dataset ptbxl_super_class]
//
// The benchmark's rules (docs/evaluation.md): CPSC2018 (icbeb split files) keeps the first 5 s of each record,
// zero-padded to 10 s (--no-cpsc-cut keeps 10 s); --split-rule merl (default: MERL's split files) or paper (the
// paper's 70/10/20 of the pooled CPSC2018 / CSN records, seeded by --split-seed); --probe-protocol val (default:
// the epoch chosen on validation) or merl (MERL's: 100 epochs, Adam 1e-3, wd 1e-4, batch 16, best test AUC).
// `evaluate --help` lists every option. Without --weights the model is freshly initialised (a smoke test: expect
// chance-level results).
//
// Files in OUT: results.json; test_embeddings.npy (N, P float32, L2-normalised), test_labels.npy (N, C),
// test_scores.npy (N, C zero-shot cosines), test_scores_ensemble.npy (the ensemble's), test_features.npy (N, D
// pooled backbone features, when probing), class_names.txt; load them in Python with numpy.load for t-SNE.
#include "pipeline_cli.hpp"

#include <fgclep/data/batch_stream.hpp>
#include <fgclep/data/datasets/benchmark_split.hpp>
#include <fgclep/eval/export.hpp>
#include <fgclep/eval/linear_probe.hpp>
#include <fgclep/eval/prompts.hpp>
#include <fgclep/eval/results.hpp>
#include <fgclep/eval/retrieval.hpp>
#include <fgclep/eval/splits.hpp>
#include <fgclep/eval/zero_shot.hpp>
#include <fgclep/pipeline/evaluation.hpp>
#include <fgclep/pipeline/model_config.hpp>
#include <fgclep/pipeline/training_stages.hpp>

#include <fstream>
#include <set>
#include <sstream>

using namespace fgclep;

namespace {
// Everything on the command line besides the model and the device.
struct Flags {
    std::string corpus, split, task, root, prompts, weights;
    std::string out = "runs/eval";
    std::string probe = "100";
    std::string probe_protocol = "val";
    std::int64_t probe_epochs = 30;
    std::string probe_selection = "val";
    std::string subsets, dataset;
    std::string split_rule = "merl";
    std::int64_t split_seed = 42;
    bool no_cpsc_cut = false, no_ensemble = false;
    std::int64_t max_records = 0, batch_size = 32, workers = 2;
};

std::vector<double> parse_ratios(const std::string& text) {
    std::vector<double> out;
    if (text == "none" || text.empty()) return out;
    std::stringstream ss(text);
    for (std::string part; std::getline(ss, part, ',');) {
        char* end = nullptr;
        const double v = std::strtod(part.c_str(), &end);
        if (part.empty() || *end != '\0' || !(v > 0 && v <= 100))
            fail("--probe: '{}' is not a percentage in (0, 100]", part);
        out.push_back(v);
    }
    return out;
}

// The rows of an encoded split whose source index is in `rows` (the subset's CSV data rows; load_benchmark_split
// keeps one entry per data row, so entry index = row).
eval::EncodedSplit keep_rows(const eval::EncodedSplit& s, const std::vector<std::int64_t>& rows) {
    const std::set<std::int64_t> wanted(rows.begin(), rows.end());
    std::vector<std::int64_t> at;
    for (std::size_t i = 0; i < s.indices.size(); ++i)
        if (wanted.count(s.indices[i])) at.push_back(static_cast<std::int64_t>(i));
    eval::EncodedSplit out;
    out.features = eval::select_rows(s.features, at);
    out.labels = eval::select_rows(s.labels, at);
    for (auto i : at) out.indices.push_back(s.indices[static_cast<std::size_t>(i)]);
    return out;
}

// The task: a synthetic corpus's task, or any split files in the benchmark's layout.
pipeline::EvalTask make_task(const Flags& f) {
    std::string pattern = f.split, task = f.task;
    std::filesystem::path root = f.root;
    eval::PromptMap prompt_map;
    if (!f.corpus.empty()) {
        const std::filesystem::path corpus = f.corpus;
        if (task.empty()) task = "diagnosis";
        if (task != "diagnosis" && task != "feature") fail("--task must be diagnosis or feature, got '{}'", task);
        pattern = (corpus / fmt::format("eval/{0}/synthetic_{0}_{{}}.csv", task)).string();
        if (root.empty()) root = corpus;
        prompt_map = task == "diagnosis" ? eval::condition_prompts() : eval::feature_prompts();
    } else if (task.empty()) {
        task = std::filesystem::path(fmt::format(fmt::runtime(pattern), "test")).stem().string();
    }
    if (!f.prompts.empty())
        for (auto& [k, v] : eval::load_prompt_file(f.prompts)) prompt_map[k] = v;
    return pipeline::EvalTask{.name = task, .split_pattern = pattern, .root = root, .prompts = prompt_map};
}

// The options besides the task, checked against each other.
struct Options {
    pipeline::ModelSize size{};
    std::filesystem::path out;
    std::vector<double> ratios;  // the linear probes' shares of the training split; empty: no probing
    eval::LinearProbeOptions probe{};
    eval::ProbeProtocol protocol = eval::ProbeProtocol::validation;
    eval::SplitRule split_rule = eval::SplitRule::merl;
    eval::PaperSplitOptions paper_split{};
};

Options make_options(const Flags& f, const cli::ModelFlags& m, const CLI::App& app) {
    Options o;
    o.size = m.size();
    o.out = f.out;
    o.ratios = parse_ratios(f.probe);
    o.protocol = eval::probe_protocol_from_string(f.probe_protocol);
    o.probe = eval::probe_protocol_options(o.protocol, static_cast<std::uint64_t>(m.seed));
    if (o.protocol == eval::ProbeProtocol::merl) {
        if (app.count("--probe-epochs") > 0 || app.count("--probe-selection") > 0)
            fail(
                "--probe-protocol merl sets all of MERL's values (100 epochs, the best test AUC over them): drop "
                "--probe-epochs and --probe-selection, or use --probe-protocol val");
    } else {
        o.probe.epochs = f.probe_epochs;
        o.probe.selection =
            f.probe_selection == "val" ? eval::ProbeSelection::validation : eval::ProbeSelection::best_test;
    }
    o.split_rule = eval::split_rule_from_string(f.split_rule);
    o.paper_split.seed = static_cast<std::uint64_t>(f.split_seed);
    return o;
}

// The first `max_records` entries of a split (0: all).
void truncate(data::EcgDataset& d, std::int64_t max_records) {
    if (max_records > 0 && max_records < d.size()) d.entries.resize(static_cast<std::size_t>(max_records));
}

// What the evaluation steps share: the command line, the task and its splits, and what the steps produce: the
// model's label, the test split encoded, the class prompts and the results' rows.
struct Evaluation {
    const Flags& flags;
    const Options& options;
    const pipeline::EvalTask& task;
    const eval::TaskSplits& splits;
    const data::PreprocessOptions& preprocess;
    const ReportTokenizer& tokenizer;
    std::string model_label{};
    eval::EncodedSplit enc{};
    eval::ClassPrompts prompts{};
    eval::EvaluationResults results{};

    const data::EcgDataset& test() const { return splits.test; }
    eval::EvaluationResult row(std::string method, std::string protocol) const {
        if (splits.rule == eval::SplitRule::paper)
            protocol += fmt::format("; paper split, seed {}", options.paper_split.seed);
        eval::EvaluationResult r{
            .task = task.name, .method = std::move(method), .protocol = std::move(protocol), .model = model_label};
        r.records = enc.size();
        return r;
    }
};

// The weights of --weights, or none (a freshly initialised model); sets the label of the results' model column.
template <class Model, class B>
void load_model(Model& model, Context<B>& ctx, Evaluation& e) {
    e.model_label = fmt::format("{} (untrained)", pipeline::to_string(e.options.size));
    if (!e.flags.weights.empty()) {
        pipeline::load_weights(e.flags.weights, ctx, model);
        e.model_label = fmt::format("{} {}", pipeline::to_string(e.options.size), e.flags.weights);
    } else {
        fmt::print("note: no --weights given; evaluating a freshly initialised model\n");
    }
}

// A split's embeddings, and its pooled backbone features when `pooled` (for the linear probes).
template <class Model, class B>
eval::EncodedSplit encode(Model& model, Context<B>& ctx, const Evaluation& e, const data::EcgDataset& d, bool pooled) {
    data::BatchStream stream(
        d, data::Preprocessor(e.preprocess),
        {.batch_size = e.flags.batch_size, .workers = static_cast<int>(e.flags.workers), .shuffle = false});
    eval::EncodedSplit enc = eval::encode_ecgs(model, ctx, stream, {.embeddings = true, .pooled_features = pooled});
    if (stream.skipped() > 0) fmt::print("{}", stream.issues().summary());
    return enc;
}

// Zero-shot, plain and with the lead ensemble (whose scores are written at once); returns the plain one.
template <class Model, class B>
eval::ZeroShotResult add_zero_shot(Model& model, Context<B>& ctx, Evaluation& e) {
    eval::ZeroShotResult plain = eval::zero_shot(model, ctx, e.tokenizer, e.enc, e.prompts);
    e.results.add(e.row("zero-shot", "test split, cosine"), plain.auc);
    if (!plain.auc.warning.empty()) fmt::print("warning: {}\n", plain.auc.warning);
    if (!e.flags.no_ensemble) {
        const eval::ZeroShotResult ens = eval::zero_shot(model, ctx, e.tokenizer, e.enc, e.prompts, {.ensemble = true});
        e.results.add(e.row("zero-shot ensemble", "test split, max cosine of 13 texts"), ens.auc);
        eval::write_npy(e.options.out / "test_scores_ensemble.npy", ens.scores);
    }
    return plain;
}

// Retrieval with the class prompts as queries.
template <class Model, class B>
void add_retrieval(Model& model, Context<B>& ctx, Evaluation& e) {
    const eval::RetrievalMetrics ret = eval::text_to_ecg_retrieval(model, ctx, e.tokenizer, e.enc, e.prompts);
    eval::EvaluationResult& r = e.results.add(e.row("retrieval", "class prompts as queries"));
    for (std::size_t j = 0; j < ret.ks.size(); ++j) {
        r.extra[fmt::format("P@{}", ret.ks[j])] = ret.precision[j];
        r.extra[fmt::format("R@{}", ret.ks[j])] = ret.recall[j];
    }
}

// Linear probes of the frozen backbone, one per --probe share of the training split.
template <class Model, class B>
void add_linear_probes(Model& model, Context<B>& ctx, Evaluation& e) {
    const Options& o = e.options;
    const eval::EncodedSplit tr = encode(model, ctx, e, e.splits.train, true),
                             va = encode(model, ctx, e, e.splits.val, true);
    for (double ratio : o.ratios) {
        const eval::ProbeSubset subset =
            eval::probe_subset(e.splits.train.size(), ratio,
                               {.subsets_csv = e.flags.subsets, .dataset = e.flags.dataset, .seed = o.probe.seed});
        const eval::EncodedSplit part = keep_rows(tr, subset.rows);
        const eval::LinearProbeResult p =
            eval::linear_probe(part.features, part.labels, va.features, va.labels, e.enc.features, e.enc.labels,
                               e.test().class_names, o.probe);
        eval::EvaluationResult& pr = e.results.add(
            e.row(fmt::format("linear probe {}%", ratio), fmt::format("{}; {}", p.protocol(), subset.source)), p.test);
        pr.extra["train records"] = static_cast<double>(part.features.rows());
        if (o.probe.selection == eval::ProbeSelection::validation) pr.extra["val AUC"] = p.val.macro;
    }
}

// The table, results.json, the test split's embeddings, labels, scores and features, and the class names.
void report(const Evaluation& e, const eval::ZeroShotResult& plain) {
    const std::filesystem::path& out = e.options.out;
    fmt::print("\n{}", e.results.table());
    e.results.write_json(out / "results.json");
    eval::write_npy(out / "test_embeddings.npy", e.enc.embeddings);
    eval::write_npy(out / "test_labels.npy", e.enc.labels);
    eval::write_npy(out / "test_scores.npy", plain.scores);
    if (e.enc.features.size() > 0) eval::write_npy(out / "test_features.npy", e.enc.features);
    std::ofstream names(out / "class_names.txt");
    for (const auto& n : e.test().class_names) names << n << "\n";
    fmt::print("wrote {}/results.json and test_*.npy\n", out.string());
}

void add_flags(CLI::App& app, Flags& f) {
    auto* corpus = app.add_option("--corpus", f.corpus,
                                  "a synthetic corpus (generate_corpus): evaluate its --task on eval/<task>/")
                       ->check(CLI::ExistingDirectory);
    app.add_option("--split", f.split,
                   "split files in the benchmark's layout, a path with {} for train/val/test, e.g. "
                   "ptbxl_super_class_{}.csv (ptbxl, icbeb or chapman layout)")
        ->excludes(corpus)
        ->check(CLI::Validator(
            [](std::string& p) -> std::string {
                return p.find("{}") == std::string::npos ? "'" + p + "' has no {} for train/val/test" : "";
            },
            "PATTERN_WITH_{}"));
    app.add_option("--task", f.task,
                   "with --corpus: diagnosis (default) or feature; with --split: the task's name in the results "
                   "(default: the test file's stem)");
    app.add_option("--root", f.root, "the dataset root the split files' record paths are relative to")
        ->check(CLI::ExistingDirectory);
    app.add_option("--prompts", f.prompts, "class prompts, CKEPE_prompt.json-style (label code -> text)")
        ->check(CLI::ExistingFile);
    app.add_option("--weights", f.weights,
                   "the model's weights (a stage's model.safetensors); without it a freshly initialised model")
        ->check(CLI::ExistingFile);
    app.add_option("--out", f.out, "where results.json and the .npy files go")->capture_default_str();
    app.add_option("--probe", f.probe,
                   "linear probes: percentages of the training split, comma-separated (1,10,100), or none")
        ->capture_default_str();
    app.add_option("--probe-protocol", f.probe_protocol,
                   "val: the test AUC at the epoch with the best validation AUC (--probe-epochs, --probe-selection "
                   "refine it); merl: MERL's protocol, all its values: Adam lr 1e-3, weight decay 1e-4, batch 16, 100 "
                   "epochs, the best test AUC over the epochs (it looks at the test set: only to compare with "
                   "published numbers)")
        ->check(CLI::IsMember({"val", "merl"}))
        ->capture_default_str();
    app.add_option("--probe-epochs", f.probe_epochs, "linear-probe epochs under --probe-protocol val (MERL: 100)")
        ->check(cli::positive)
        ->capture_default_str();
    app.add_option("--probe-selection", f.probe_selection,
                   "under --probe-protocol val: the epoch chosen on val, or on test (MERL's best test AUC)")
        ->check(CLI::IsMember({"val", "test"}))
        ->capture_default_str();
    app.add_option("--subsets", f.subsets,
                   "linear_probe_subsets.csv: the reference's 1%/10% training rows (MERL's split files only)")
        ->check(CLI::ExistingFile);
    app.add_option("--dataset", f.dataset, "the subsets file's dataset column: ptbxl_super_class, icbeb, chapman, ...");
    app.add_option("--split-rule", f.split_rule,
                   "merl: MERL's split files as they are (the published numbers' splits); paper: CPSC2018 and CSN "
                   "records pooled from the three files and split 70/10/20 at random with --split-seed (the paper's "
                   "sizes, not its unpublished assignment; PTB-XL keeps its official folds)")
        ->check(CLI::IsMember({"merl", "paper"}))
        ->capture_default_str();
    app.add_option("--split-seed", f.split_seed, "seed of --split-rule paper")
        ->check(cli::non_negative)
        ->capture_default_str();
    app.add_flag("--no-cpsc-cut", f.no_cpsc_cut,
                 "CPSC2018 (icbeb split files): keep 10 s instead of the benchmark's first 5 s zero-padded to 10 s");
    app.add_flag("--no-ensemble", f.no_ensemble, "skip the 12-lead zero-shot ensemble");
    app.add_option("--max-records", f.max_records, "the first N records of each split (0: all), for quick runs")
        ->check(cli::non_negative)
        ->capture_default_str();
    app.add_option("--batch-size", f.batch_size, "ECGs per encoder batch")->check(cli::positive)->capture_default_str();
    app.add_option("--workers", f.workers, "threads reading and preprocessing records")
        ->check(cli::positive)
        ->capture_default_str();
}
}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "Evaluates a trained CLEP / FG-CLEP model on one labelled task: zero-shot classification with and without the "
        "12-lead ensemble, text -> ECG retrieval with the class prompts, linear probes of the frozen backbone; prints "
        "a table and writes results.json and the test embeddings as .npy (docs/evaluation.md). The task is a "
        "synthetic corpus's (--corpus) or split files in the MERL benchmark's layout (--split).",
        "evaluate"};
    cli::ModelFlags model_flags;
    model_flags.add_to(app, /*training=*/false);
    cli::DeviceFlags device_flags;
    device_flags.add_to(app);
    Flags flags;
    add_flags(app, flags);
    cli::parse(app, argc, argv);
    if (flags.corpus.empty() && flags.split.empty()) {
        fmt::print(stderr, "evaluate: give --corpus DIR or --split PATTERN_WITH_{{}} (see --help)\n");
        return cli::usage_error;
    }
    try {
        const pipeline::EvalTask task = make_task(flags);
        const Options o = make_options(flags, model_flags, app);
        if (o.split_rule == eval::SplitRule::paper && !flags.subsets.empty())
            fail(
                "--subsets lists rows of MERL's training files; with --split-rule paper the 1%/10% subsets are "
                "drawn at random (drop --subsets)");
        eval::TaskSplits splits = pipeline::load_task_splits(task, o.split_rule, o.paper_split, !o.ratios.empty());
        for (auto* d : {&splits.train, &splits.val, &splits.test}) truncate(*d, flags.max_records);
        const data::SplitLayout layout = task.layout();
        const data::PreprocessOptions preprocess =
            pipeline::task_preprocess(pipeline::preprocess_options(o.size), layout, !flags.no_cpsc_cut);
        fmt::print("task {}: {} test records, {} classes\n{}\n{}\n", task.name, splits.test.size(),
                   splits.test.class_names.size(), splits.description,
                   pipeline::describe_task_preprocess(preprocess, layout));

        const cli::TextSetup text = cli::text_setup(model_flags);
        fmt::print("{}\n", text.description);
        return cli::with_context(device_flags, "evaluate", [&](auto& ctx) {
            return cli::with_model(ctx, model_flags, text, cli::ModelUse{}, [&](auto& model) {
                Evaluation e{.flags = flags,
                             .options = o,
                             .task = task,
                             .splits = splits,
                             .preprocess = preprocess,
                             .tokenizer = text.tokenizer};
                load_model(model, ctx, e);
                e.enc = encode(model, ctx, e, splits.test, !o.ratios.empty());
                e.prompts = eval::class_prompts(splits.test.class_names, task.prompts);
                if (!e.prompts.fallbacks.empty())
                    fmt::print("note: {} classes have no prompt and use their name as text\n",
                               e.prompts.fallbacks.size());
                const eval::ZeroShotResult plain = add_zero_shot(model, ctx, e);
                add_retrieval(model, ctx, e);
                if (!o.ratios.empty()) add_linear_probes(model, ctx, e);
                report(e, plain);
                return 0;
            });
        });
    } catch (const std::exception& e) {
        fmt::print(stderr, "evaluate: {}\n", e.what());
        return 1;
    }
}
