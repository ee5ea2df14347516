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
// probing is asked for) and the dataset root the files' record paths are relative to.
#include "fgclep/core/context.hpp"
#include "fgclep/data/batch_stream.hpp"
#include "fgclep/data/datasets/benchmark_split.hpp"
#include "fgclep/data/preprocess.hpp"
#include "fgclep/eval/linear_probe.hpp"
#include "fgclep/eval/prompts.hpp"
#include "fgclep/eval/results.hpp"
#include "fgclep/eval/zero_shot.hpp"
#include "fgclep/synth/corpus.hpp"
#include "fgclep/text/report_tokenizer.hpp"

#include <fmt/format.h>

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
};

// The synthetic corpus's two tasks (synth::write_corpus): diagnoses with their report statements as prompts,
// waveform features with their phrases.
inline std::vector<EvalTask> synthetic_tasks(const std::filesystem::path& corpus) {
    return {{"diagnosis", (corpus / "eval/diagnosis/synthetic_diagnosis_{}.csv").string(), corpus,
             eval::condition_prompts()},
            {"feature", (corpus / "eval/feature/synthetic_feature_{}.csv").string(), corpus, eval::feature_prompts()}};
}

struct EvaluateOptions {
    data::PreprocessOptions preprocess{};  // the model size's: preprocess_options(size)
    std::string model_label;               // the "model" column of the results ("CLEP", "FG-CLEP")
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
                                const EvaluateOptions& options, bool pooled) {
    data::BatchStream stream(split, data::Preprocessor(options.preprocess),
                             {.batch_size = options.batch_size, .workers = options.workers, .shuffle = false});
    return eval::encode_ecgs(model, ctx, stream, {.embeddings = true, .pooled_features = pooled});
}
}  // namespace detail

template <class Model, class B>
eval::EvaluationResults evaluate(Model& model, Context<B>& ctx, const ReportTokenizer& tokenizer,
                                 const std::vector<EvalTask>& tasks, const EvaluateOptions& options) {
    eval::EvaluationResults results;
    for (const auto& task : tasks) {
        const data::EcgDataset test = data::load_benchmark_split(task.split("test"), task.root);
        const eval::EncodedSplit encoded = detail::encode_split(model, ctx, test, options, options.linear_probe);
        if (options.zero_shot) {
            const eval::ClassPrompts prompts = eval::class_prompts(test.class_names, task.prompts);
            for (bool ensemble : {false, true}) {
                if (ensemble && !options.ensemble) continue;
                const eval::ZeroShotResult z =
                    eval::zero_shot(model, ctx, tokenizer, encoded, prompts, {.ensemble = ensemble});
                eval::EvaluationResult row{.task = task.name,
                                           .method = ensemble ? "zero-shot ensemble" : "zero-shot",
                                           .protocol = "test split",
                                           .model = options.model_label};
                row.records = encoded.size();
                results.add(std::move(row), z.auc);
            }
        }
        if (options.linear_probe) {
            // Labels by the test split's column names: PTB-XL's sub_class train file orders its columns differently.
            const data::EcgDataset train =
                data::load_benchmark_split(task.split("train"), task.root, {.class_names = test.class_names});
            const data::EcgDataset val =
                data::load_benchmark_split(task.split("val"), task.root, {.class_names = test.class_names});
            const eval::EncodedSplit tr = detail::encode_split(model, ctx, train, options, true);
            const eval::EncodedSplit va = detail::encode_split(model, ctx, val, options, true);
            const eval::LinearProbeResult p =
                eval::linear_probe(tr.features, tr.labels, va.features, va.labels, encoded.features, encoded.labels,
                                   test.class_names, options.probe);
            eval::EvaluationResult row{.task = task.name,
                                       .method = "linear probe 100%",
                                       .protocol = p.protocol(),
                                       .model = options.model_label};
            row.records = encoded.size();
            results.add(std::move(row), p.test);
        }
    }
    return results;
}

}  // namespace fgclep::pipeline
