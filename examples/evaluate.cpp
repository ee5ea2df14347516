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
// --no-ensemble, --max-records N (per split, for quick runs), --batch-size, --workers, --threads, --vocab, --seed.
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
#include <fgclep/pipeline/model_config.hpp>
#include <fgclep/pipeline/training_stages.hpp>

#include <fstream>
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
}  // namespace

int main(int argc, char** argv) try {
    const cli::Args args(argc, argv, {"--no-ensemble"});
    args.check_known({"--corpus", "--task", "--split", "--root", "--prompts", "--weights", "--model", "--vocab",
                      "--out",
                      "--probe", "--probe-epochs", "--probe-selection", "--subsets", "--dataset", "--max-records",
                      "--batch-size", "--workers", "--threads", "--seed"});
    // The task: a synthetic corpus's task, or any split files in the benchmark's layout.
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
        return 1;
    } else if (args.has("--task") == false) {
        task = std::filesystem::path(fmt::format(fmt::runtime(pattern), "test")).stem().string();
    }
    if (args.has("--prompts"))
        for (auto& [k, v] : eval::load_prompt_file(args.str("--prompts"))) prompt_map[k] = v;
    auto split_path = [&](const char* which) { return fmt::format(fmt::runtime(pattern), which); };

    const auto size = pipeline::model_size_from_string(args.str("--model", "tiny"));
    const std::filesystem::path out = args.str("--out", "runs/eval");
    const auto ratios = parse_ratios(args.str("--probe", "100"));
    const std::int64_t max_records = args.integer("--max-records", 0);
    const std::string selection = args.str("--probe-selection", "val");
    if (selection != "val" && selection != "test") fail("--probe-selection must be val or test, got '{}'", selection);

    auto load = [&](const char* which, const std::vector<std::string>& class_names) {
        data::EcgDataset d = data::load_benchmark_split(split_path(which), root, {.class_names = class_names});
        if (max_records > 0 && max_records < d.size()) d.entries.resize(static_cast<std::size_t>(max_records));
        return d;
    };
    const data::EcgDataset test = load("test", {});
    fmt::print("task {}: {} test records, {} classes\n", task, test.size(), test.class_names.size());

    const ReportTokenizer tokenizer = pipeline::make_tokenizer(size, args.str("--vocab"));
    Context<Cpu<float>> ctx(Cpu<float>::State{static_cast<int>(args.integer("--threads", 0))});
    const auto seed = static_cast<std::uint64_t>(args.integer("--seed", 1));

    return cli::with_model(size, static_cast<std::int64_t>(tokenizer.vocabulary().size()), seed, [&](auto& model) {
        std::string model_label = fmt::format("{} (untrained)", pipeline::to_string(size));
        if (args.has("--weights")) {
            pipeline::load_weights(args.str("--weights"), ctx, model);
            model_label = fmt::format("{} {}", pipeline::to_string(size), args.str("--weights"));
        } else {
            fmt::print("note: no --weights given; evaluating a freshly initialised model\n");
        }
        const auto encode = [&](const data::EcgDataset& d, bool pooled) {
            data::BatchStream stream(d, data::Preprocessor(pipeline::preprocess_options(size)),
                                     {.batch_size = args.integer("--batch-size", 32),
                                      .workers = static_cast<int>(args.integer("--workers", 2)), .shuffle = false});
            eval::EncodedSplit e =
                eval::encode_ecgs(model, ctx, stream, {.embeddings = true, .pooled_features = pooled});
            if (stream.skipped() > 0) fmt::print("{}", stream.issues().summary());
            return e;
        };
        const eval::EncodedSplit enc = encode(test, !ratios.empty());
        const eval::ClassPrompts prompts = eval::class_prompts(test.class_names, prompt_map);
        if (!prompts.fallbacks.empty())
            fmt::print("note: {} classes have no prompt and use their name as text\n", prompts.fallbacks.size());

        eval::EvaluationResults results;
        auto row = [&](std::string method, std::string protocol) {
            eval::EvaluationResult r{.task = task, .method = std::move(method), .protocol = std::move(protocol),
                                     .model = model_label};
            r.records = enc.size();
            return r;
        };
        // Zero-shot, plain and with the lead ensemble.
        const eval::ZeroShotResult plain = eval::zero_shot(model, ctx, tokenizer, enc, prompts);
        results.add(row("zero-shot", "test split, cosine"), plain.auc);
        if (!plain.auc.warning.empty()) fmt::print("warning: {}\n", plain.auc.warning);
        if (!args.has("--no-ensemble")) {
            const eval::ZeroShotResult ens = eval::zero_shot(model, ctx, tokenizer, enc, prompts, {.ensemble = true});
            results.add(row("zero-shot ensemble", "test split, max cosine of 13 texts"), ens.auc);
            eval::write_npy(out / "test_scores_ensemble.npy", ens.scores);
        }
        // Retrieval with the class prompts as queries.
        const eval::RetrievalMetrics ret = eval::text_to_ecg_retrieval(model, ctx, tokenizer, enc, prompts);
        eval::EvaluationResult& r = results.add(row("retrieval", "class prompts as queries"));
        for (std::size_t j = 0; j < ret.ks.size(); ++j) {
            r.extra[fmt::format("P@{}", ret.ks[j])] = ret.precision[j];
            r.extra[fmt::format("R@{}", ret.ks[j])] = ret.recall[j];
        }
        // Linear probes.
        if (!ratios.empty()) {
            const data::EcgDataset train = load("train", test.class_names), val = load("val", test.class_names);
            const eval::EncodedSplit tr = encode(train, true), va = encode(val, true);
            eval::LinearProbeOptions po;
            po.epochs = args.integer("--probe-epochs", 30);
            po.selection = selection == "val" ? eval::ProbeSelection::validation : eval::ProbeSelection::best_test;
            po.seed = seed;
            for (double ratio : ratios) {
                const eval::ProbeSubset subset = eval::probe_subset(
                    train.size(), ratio, {.subsets_csv = args.str("--subsets"), .dataset = args.str("--dataset"),
                                          .seed = seed});
                const eval::EncodedSplit part = keep_rows(tr, subset.rows);
                const eval::LinearProbeResult p = eval::linear_probe(part.features, part.labels, va.features, va.labels,
                                                                     enc.features, enc.labels, test.class_names, po);
                eval::EvaluationResult& pr = results.add(
                    row(fmt::format("linear probe {}%", ratio), fmt::format("{}; {}", p.protocol(), subset.source)),
                    p.test);
                pr.extra["train records"] = static_cast<double>(part.features.rows());
                if (po.selection == eval::ProbeSelection::validation) pr.extra["val AUC"] = p.val.macro;
            }
        }
        fmt::print("\n{}", results.table());
        results.write_json(out / "results.json");
        eval::write_npy(out / "test_embeddings.npy", enc.embeddings);
        eval::write_npy(out / "test_labels.npy", enc.labels);
        eval::write_npy(out / "test_scores.npy", plain.scores);
        if (enc.features.size() > 0) eval::write_npy(out / "test_features.npy", enc.features);
        std::ofstream names(out / "class_names.txt");
        for (const auto& n : test.class_names) names << n << "\n";
        fmt::print("wrote {}/results.json and test_*.npy\n", out.string());
        return 0;
    });
} catch (const std::exception& e) {
    fmt::print(stderr, "evaluate: {}\n", e.what());
    return 1;
}
