#pragma once
// Evaluation of a trained model on labelled splits, with the eval module (fgclep/eval/): zero-shot macro AUC
// with the class prompts, with and without the 12-lead ensemble, and optionally linear probing on the backbone's
// pooled features.
//
//   auto tasks = synthetic_tasks("corpus");                           // eval/diagnosis, eval/feature
//   auto tasks = benchmark_task("ptbxl_super_class", "benchmark/ptbxl/super_class/ptbxl_super_class_{}.csv",
//                               "ptbxl", eval::load_prompt_file("CKEPE_prompt.json"));
//   eval::EvaluationResults r = evaluate(model, ctx, tokenizer, tasks, {.model_label = "CLEP"});
//   fmt::print("{}", r.table());
//
// A task names its split files by a pattern with one "{}" for train/val/test (only test is read unless linear
// probing or the paper's split rule is asked for) and the dataset root the files' record paths are relative to.
//
// The benchmark's rules, applied by evaluate and by the evaluate example (docs/evaluation.md):
// * CPSC2018 (an icbeb split file): the records are 6-60 s long; the benchmark keeps the first 5 s (2500 samples at
//   500 Hz) and zero-pads them to 10 s before min-max (task_preprocess; EvaluateOptions::cpsc_cut, on by default).
// * Splits: MERL's files as they are (eval::SplitRule::merl, the default) or the paper's 70/10/20 of the pooled
//   records for CPSC2018 and CSN (eval::SplitRule::paper; load_task_splits, eval/splits.hpp).
#include "fgclep/core/context.hpp"
#include "fgclep/data/batch_stream.hpp"
#include "fgclep/data/datasets/benchmark_split.hpp"
#include "fgclep/data/preprocess.hpp"
#include "fgclep/eval/linear_probe.hpp"
#include "fgclep/eval/prompts.hpp"
#include "fgclep/eval/results.hpp"
#include "fgclep/eval/splits.hpp"
#include "fgclep/eval/zero_shot.hpp"
#include "fgclep/synth/corpus.hpp"
#include "fgclep/text/report_tokenizer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

namespace fgclep::pipeline {

struct EvalTask {
    std::string name;            // "diagnosis", "ptbxl_super_class"
    std::string split_pattern;   // a path with "{}" for train, val, test
    std::filesystem::path root;  // the dataset root the split files' record paths are relative to
    eval::PromptMap prompts;     // class name -> prompt text; a class without one uses its name
    std::filesystem::path split(std::string_view which) const {
        return fmt::format(fmt::runtime(split_pattern), which);
    }
    // The layout of its split files (read from the test file's header): ptbxl, icbeb (CPSC2018) or chapman (CSN).
    data::SplitLayout layout() const { return data::detect_split_layout(split("test")); }
};

// CPSC2018's records last 6 to 60 s; the benchmark keeps the first 5 s of each (2500 samples at 500 Hz) and
// zero-pads them to the input length (5000: 10 s) before min-max, so the zeros take part in the normalisation.
inline constexpr double cpsc_kept_seconds = 5;

// The preprocessing of a task's records: `base` (the model size's, pipeline::preprocess_options), with the
// benchmark's CPSC2018 cut for an icbeb task when `cpsc_cut`: keep the first cpsc_kept_seconds at the target rate
// (2500 samples at 500 Hz; 500 at the tiny model's 100 Hz), then zeros to the input length. Other layouts: `base`.
inline data::PreprocessOptions task_preprocess(data::PreprocessOptions base, data::SplitLayout layout,
                                               bool cpsc_cut = true) {
    if (layout != data::SplitLayout::icbeb || !cpsc_cut) return base;
    const double fs = base.target_fs > 0 ? base.target_fs : 500;  // CPSC2018 is recorded at 500 Hz
    base.crop.keep = std::min(base.crop.length, static_cast<std::int64_t>(std::llround(cpsc_kept_seconds * fs)));
    return base;
}

// One line for the log: what task_preprocess did to a task.
inline std::string describe_task_preprocess(const data::PreprocessOptions& o, data::SplitLayout layout) {
    if (layout != data::SplitLayout::icbeb) return fmt::format("records cropped/padded to {} samples", o.crop.length);
    const std::int64_t keep = o.crop.keep < 0 ? o.crop.length : o.crop.keep;
    if (keep >= o.crop.length)
        return fmt::format("CPSC2018 records cropped to {} samples (no CPSC cut)", o.crop.length);
    return fmt::format(
        "CPSC2018: the first {} samples of each record kept, zero-padded to {} before min-max (the "
        "benchmark's cut)",
        keep, o.crop.length);
}

// A task's splits by `rule`. merl: the split files as they are (train and val only when `train_and_val`; their labels
// in the test file's column order). paper: for icbeb and chapman tasks, the records of the three files pooled and
// split 70/10/20 with options.seed (eval::paper_split); ptbxl tasks keep their files (the official folds, which the
// paper follows too), as does a ptbxl-layout synthetic corpus.
inline eval::TaskSplits load_task_splits(const EvalTask& task, eval::SplitRule rule = eval::SplitRule::merl,
                                         const eval::PaperSplitOptions& paper = {}, bool train_and_val = true) {
    eval::TaskSplits out;
    out.test = data::load_benchmark_split(task.split("test"), task.root);
    const data::SplitLayout layout = data::detect_split_layout(task.split("test"));
    const bool resplit = rule == eval::SplitRule::paper && layout != data::SplitLayout::ptbxl;
    if (train_and_val || resplit) {
        // Labels by the test split's column names: PTB-XL's sub_class train file orders its columns differently.
        out.train = data::load_benchmark_split(task.split("train"), task.root, {.class_names = out.test.class_names});
        out.val = data::load_benchmark_split(task.split("val"), task.root, {.class_names = out.test.class_names});
    }
    if (resplit) return eval::paper_split(eval::pool_splits({out.train, out.val, out.test}), paper);
    out.rule = eval::SplitRule::merl;
    const std::string sizes =
        train_and_val ? fmt::format("{} train, {} val, {} test", out.train.size(), out.val.size(), out.test.size())
                      : fmt::format("{} test (train and val not read)", out.test.size());
    out.description = fmt::format(
        "{} split files{}: {}", to_string(layout),
        rule == eval::SplitRule::paper ? " (official folds: the paper's rule keeps them)" : " (MERL's)", sizes);
    return out;
}

// The synthetic corpus's two tasks (synth::write_corpus): diagnoses with their report statements as prompts,
// waveform features with their phrases.
inline std::vector<EvalTask> synthetic_tasks(const std::filesystem::path& corpus) {
    return {{"diagnosis", (corpus / "eval/diagnosis/synthetic_diagnosis_{}.csv").string(), corpus,
             eval::condition_prompts()},
            {"feature", (corpus / "eval/feature/synthetic_feature_{}.csv").string(), corpus, eval::feature_prompts()}};
}

struct EvaluateOptions {
    data::PreprocessOptions preprocess{};  // the model size's: preprocess_options(size)
    bool cpsc_cut = true;                  // CPSC2018 (icbeb) tasks: the benchmark's first-5-s cut (task_preprocess)
    eval::SplitRule split_rule = eval::SplitRule::merl;
    eval::PaperSplitOptions paper_split{};  // under SplitRule::paper
    std::string model_label;                // the "model" column of the results ("CLEP", "FG-CLEP")
    bool zero_shot = true;
    bool ensemble = true;       // also the 12-lead ensemble
    bool linear_probe = false;  // also a linear probe at 100% of the training split
    eval::LinearProbeOptions probe{};
    std::int64_t batch_size = 64;
    int workers = 2;
};

namespace detail {
template <class Model, class B>
eval::EncodedSplit encode_split(Model& model, Context<B>& ctx, const data::EcgDataset& split,
                                const data::PreprocessOptions& preprocess, const EvaluateOptions& options,
                                bool pooled) {
    data::BatchStream stream(split, data::Preprocessor(preprocess),
                             {.batch_size = options.batch_size, .workers = options.workers, .shuffle = false});
    return eval::encode_ecgs(model, ctx, stream, {.embeddings = true, .pooled_features = pooled});
}
}  // namespace detail

template <class Model, class B>
eval::EvaluationResults evaluate(Model& model, Context<B>& ctx, const ReportTokenizer& tokenizer,
                                 const std::vector<EvalTask>& tasks, const EvaluateOptions& options) {
    eval::EvaluationResults results;
    for (const auto& task : tasks) {
        const data::SplitLayout layout = task.layout();
        const data::PreprocessOptions preprocess = task_preprocess(options.preprocess, layout, options.cpsc_cut);
        const eval::TaskSplits splits =
            load_task_splits(task, options.split_rule, options.paper_split, options.linear_probe);
        const data::EcgDataset& test = splits.test;
        const std::string split_note = splits.rule == eval::SplitRule::paper
                                           ? fmt::format(", paper split (seed {})", options.paper_split.seed)
                                           : std::string();
        const eval::EncodedSplit encoded =
            detail::encode_split(model, ctx, test, preprocess, options, options.linear_probe);
        if (options.zero_shot) {
            const eval::ClassPrompts prompts = eval::class_prompts(test.class_names, task.prompts);
            for (bool ensemble : {false, true}) {
                if (ensemble && !options.ensemble) continue;
                const eval::ZeroShotResult z =
                    eval::zero_shot(model, ctx, tokenizer, encoded, prompts, {.ensemble = ensemble});
                eval::EvaluationResult row{.task = task.name,
                                           .method = ensemble ? "zero-shot ensemble" : "zero-shot",
                                           .protocol = "test split" + split_note,
                                           .model = options.model_label};
                row.records = encoded.size();
                results.add(std::move(row), z.auc);
            }
        }
        if (options.linear_probe) {
            const eval::EncodedSplit tr = detail::encode_split(model, ctx, splits.train, preprocess, options, true);
            const eval::EncodedSplit va = detail::encode_split(model, ctx, splits.val, preprocess, options, true);
            const eval::LinearProbeResult p =
                eval::linear_probe(tr.features, tr.labels, va.features, va.labels, encoded.features, encoded.labels,
                                   test.class_names, options.probe);
            eval::EvaluationResult row{.task = task.name,
                                       .method = "linear probe 100%",
                                       .protocol = p.protocol() + split_note,
                                       .model = options.model_label};
            row.records = encoded.size();
            results.add(std::move(row), p.test);
        }
    }
    return results;
}

}  // namespace fgclep::pipeline
