// Evaluates a trained CLEP / FG-CLEP model on one labelled task (fgclep::eval): zero-shot classification with and
// without the 12-lead ensemble, text -> ECG retrieval with the class prompts, linear probing of the frozen backbone
// at 1/10/100% of the training split; prints a table, writes results.json and the test embeddings as .npy.
//
//   evaluate --corpus CORPUS --task diagnosis|feature [--weights runs/stage3/model.safetensors] [--model tiny]
//   evaluate --split benchmark/data_split/ptbxl/super_class/ptbxl_super_class_{}.csv --root /data/ptb-xl
//            --prompts benchmark/CKEPE_prompt.json --model full --weights model.safetensors
//            [--probe 1,10,100] [--subsets benchmark/linear_probe_subsets.csv --dataset ptbxl_super_class]
//
// Options: --out DIR (runs/eval), --probe LIST of percentages or "none" (default 100), --probe-epochs N (30; MERL
// uses 100), --probe-selection val|test (val: the epoch with the best validation AUC; test: MERL's best test AUC),
// --no-ensemble, --max-records N (per split, for quick runs), --batch-size, --workers, --vocab, --seed, and the
// device: --device cpu|cuda[:N] (CUDA in a build with FGCLEP_CUDA=ON), --threads, --precision fp32|bf16, --tf32.
// Without --weights the model is freshly initialised (a smoke test: expect chance-level results).
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
#include <fgclep/eval/zero_shot.hpp>
#include <fgclep/pipeline/evaluation.hpp>
#include <fgclep/pipeline/model_config.hpp>
#include <fgclep/pipeline/training_stages.hpp>

#include <fstream>
#include <optional>
#include <set>
#include <sstream>

using namespace fgclep;

namespace {
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

// The task: a synthetic corpus's task, or any split files in the benchmark's layout; none (after the usage line)
// when neither is given.
std::optional<pipeline::EvalTask> parse_task(const cli::Args& args) {
    std::string pattern = args.str("--split"), task = args.str("--task", "diagnosis");
    std::filesystem::path root = args.str("--root");
    eval::PromptMap prompt_map;
    if (args.has("--corpus")) {
        const std::filesystem::path corpus = args.str("--corpus");
        if (task != "diagnosis" && task != "feature") fail("--task must be diagnosis or feature, got '{}'", task);
        pattern = (corpus / fmt::format("eval/{0}/synthetic_{0}_{{}}.csv", task)).string();
        if (root.empty()) root = corpus;
        prompt_map = task == "diagnosis" ? eval::condition_prompts() : eval::feature_prompts();
    } else if (pattern.empty() || pattern.find("{}") == std::string::npos) {
        fmt::print(stderr,
                   "usage: evaluate (--corpus DIR --task diagnosis|feature | --split PATTERN_WITH_{{}} --root DIR) "
                   "[--prompts JSON] [--weights FILE] [--model tiny|full] [--probe 1,10,100] [--out DIR]\n");
        return std::nullopt;
    } else if (args.has("--task") == false) {
        task = std::filesystem::path(fmt::format(fmt::runtime(pattern), "test")).stem().string();
    }
    if (args.has("--prompts"))
        for (auto& [k, v] : eval::load_prompt_file(args.str("--prompts"))) prompt_map[k] = v;
    return pipeline::EvalTask{.name = task, .split_pattern = pattern, .root = root, .prompts = prompt_map};
}

// The options besides the task; the others are read where they are used.
struct Options {
    pipeline::ModelSize size{};
    std::filesystem::path out;
    std::vector<double> ratios;    // the linear probes' shares of the training split; empty: no probing
    std::int64_t max_records = 0;  // per split; 0: all
    std::string selection;         // the probe's epoch chosen on "val" or "test"
};

Options parse_options(const cli::Args& args) {
    Options o;
    o.size = pipeline::model_size_from_string(args.str("--model", "tiny"));
    o.out = args.str("--out", "runs/eval");
    o.ratios = parse_ratios(args.str("--probe", "100"));
    o.max_records = args.integer("--max-records", 0);
    o.selection = args.str("--probe-selection", "val");
    if (o.selection != "val" && o.selection != "test")
        fail("--probe-selection must be val or test, got '{}'", o.selection);
    return o;
}

// One split of the task ("train", "val", "test"), its labels in the order of `class_names` (empty: the split's own).
data::EcgDataset load_split(const pipeline::EvalTask& task, const char* which,
                            const std::vector<std::string>& class_names, std::int64_t max_records) {
    data::EcgDataset d = data::load_benchmark_split(task.split(which), task.root, {.class_names = class_names});
    if (max_records > 0 && max_records < d.size()) d.entries.resize(static_cast<std::size_t>(max_records));
    return d;
}

// What the evaluation steps share: the command line, the task and its test split, and what the steps produce: the
// model's label, the test split encoded, the class prompts and the results' rows.
struct Evaluation {
    const cli::Args& args;
    const Options& options;
    const pipeline::EvalTask& task;
    const data::EcgDataset& test;
    const ReportTokenizer& tokenizer;
    std::uint64_t seed = 1;
    std::string model_label{};
    eval::EncodedSplit enc{};
    eval::ClassPrompts prompts{};
    eval::EvaluationResults results{};

    eval::EvaluationResult row(std::string method, std::string protocol) const {
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
    if (e.args.has("--weights")) {
        pipeline::load_weights(e.args.str("--weights"), ctx, model);
        e.model_label = fmt::format("{} {}", pipeline::to_string(e.options.size), e.args.str("--weights"));
    } else {
        fmt::print("note: no --weights given; evaluating a freshly initialised model\n");
    }
}

// A split's embeddings, and its pooled backbone features when `pooled` (for the linear probes).
template <class Model, class B>
eval::EncodedSplit encode(Model& model, Context<B>& ctx, const Evaluation& e, const data::EcgDataset& d, bool pooled) {
    data::BatchStream stream(d, data::Preprocessor(pipeline::preprocess_options(e.options.size)),
                             {.batch_size = e.args.integer("--batch-size", 32),
                              .workers = static_cast<int>(e.args.integer("--workers", 2)),
                              .shuffle = false});
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
    if (!e.args.has("--no-ensemble")) {
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
    const data::EcgDataset train = load_split(e.task, "train", e.test.class_names, o.max_records),
                           val = load_split(e.task, "val", e.test.class_names, o.max_records);
    const eval::EncodedSplit tr = encode(model, ctx, e, train, true), va = encode(model, ctx, e, val, true);
    eval::LinearProbeOptions po;
    po.epochs = e.args.integer("--probe-epochs", 30);
    po.selection = o.selection == "val" ? eval::ProbeSelection::validation : eval::ProbeSelection::best_test;
    po.seed = e.seed;
    for (double ratio : o.ratios) {
        const eval::ProbeSubset subset = eval::probe_subset(
            train.size(), ratio,
            {.subsets_csv = e.args.str("--subsets"), .dataset = e.args.str("--dataset"), .seed = e.seed});
        const eval::EncodedSplit part = keep_rows(tr, subset.rows);
        const eval::LinearProbeResult p = eval::linear_probe(part.features, part.labels, va.features, va.labels,
                                                             e.enc.features, e.enc.labels, e.test.class_names, po);
        eval::EvaluationResult& pr = e.results.add(
            e.row(fmt::format("linear probe {}%", ratio), fmt::format("{}; {}", p.protocol(), subset.source)), p.test);
        pr.extra["train records"] = static_cast<double>(part.features.rows());
        if (po.selection == eval::ProbeSelection::validation) pr.extra["val AUC"] = p.val.macro;
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
    for (const auto& n : e.test.class_names) names << n << "\n";
    fmt::print("wrote {}/results.json and test_*.npy\n", out.string());
}
}  // namespace

int main(int argc, char** argv) try {
    const cli::Args args(argc, argv, {"--no-ensemble", "--tf32"});
    std::vector<std::string> known{
        "--corpus",  "--task",    "--split",       "--root",       "--prompts",      "--weights",
        "--model",   "--vocab",   "--out",         "--probe",      "--probe-epochs", "--probe-selection",
        "--subsets", "--dataset", "--max-records", "--batch-size", "--workers",      "--seed"};
    known.insert(known.end(), cli::device_flags.begin(), cli::device_flags.end());
    args.check_known(known);
    const std::optional<pipeline::EvalTask> task = parse_task(args);
    if (!task) return 1;
    const Options o = parse_options(args);
    const data::EcgDataset test = load_split(*task, "test", {}, o.max_records);
    fmt::print("task {}: {} test records, {} classes\n", task->name, test.size(), test.class_names.size());

    const ReportTokenizer tokenizer = pipeline::make_tokenizer(o.size, args.str("--vocab"), FGCLEP_DEFAULT_VOCAB);
    const auto seed = static_cast<std::uint64_t>(args.integer("--seed", 1));
    const auto vocab_size = static_cast<std::int64_t>(tokenizer.vocabulary().size());

    return cli::with_context(args, "evaluate", [&](auto& ctx) {
        return cli::with_model<cli::backend_of<decltype(ctx)>>(o.size, vocab_size, seed, [&](auto& model) {
            Evaluation e{.args = args, .options = o, .task = *task, .test = test, .tokenizer = tokenizer, .seed = seed};
            load_model(model, ctx, e);
            e.enc = encode(model, ctx, e, test, !o.ratios.empty());
            e.prompts = eval::class_prompts(test.class_names, task->prompts);
            if (!e.prompts.fallbacks.empty())
                fmt::print("note: {} classes have no prompt and use their name as text\n", e.prompts.fallbacks.size());
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
