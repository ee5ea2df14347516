// Stage 3 of FG-CLEP: training continues from the stage-1 weights (a new optimizer and schedule; the paper trains
// 3 more epochs) on the reports augmented by stage 2; then, optionally, zero-shot evaluation.
//
//   stage3_fgclep CORPUS_DIR [--stage1 runs/stage1] [--stage2 runs/stage2] [--out runs/stage3]
//                 [--model tiny|full|paper] [--text-weights HF_DIR] [--freeze-text-layers K] [--epochs N] ...
//                 [--evaluate]        (`stage3_fgclep --help` lists every option)
//
// With --text-weights (as in stage 1) the text encoder has that checkpoint's architecture and tokenizer; its
// weights come from stage 1.
//
// Data-parallel under MPI, unchanged: `mpirun -np K stage3_fgclep ...` (docs/distributed.md); rank 0 evaluates.
//
// Reads STAGE1/model.safetensors and STAGE2/features.jsonl; writes OUT/checkpoints/, OUT/log.jsonl and, once
// complete, OUT/model.safetensors. Run again with the same --out to resume. --evaluate then prints zero-shot macro
// AUC on the corpus's eval/diagnosis and eval/feature test splits (a synthetic corpus) and writes OUT/results.json.
//
// Defaults: tiny model 2 epochs at lr 1e-3 (from scratch; see stage1_clep), full model the paper's 3 at 2e-5.
#include "pipeline_cli.hpp"

#include <fgclep/features/provenance.hpp>
#include <fgclep/pipeline/evaluation.hpp>
#include <fgclep/pipeline/feature_stage.hpp>

using namespace fgclep;

int main(int argc, char** argv) try {
    cli::silence_other_ranks();
    CLI::App app{
        "Stage 3 of FG-CLEP: training continues from the stage-1 weights (a new optimizer and schedule) on the "
        "reports augmented by stage 2; then, with --evaluate, zero-shot evaluation on a synthetic corpus's test "
        "splits. Reads STAGE1/model.safetensors and STAGE2/features.jsonl; writes OUT/checkpoints/, OUT/log.jsonl "
        "and OUT/model.safetensors. Run again with the same --out to resume; data-parallel under mpirun -np K.",
        "stage3_fgclep"};
    std::string stage1_arg = "runs/stage1", stage2_arg = "runs/stage2", out_arg = "runs/stage3";
    bool evaluate = false;
    cli::ModelFlags model_flags;
    cli::CorpusFlags corpus_flags;
    cli::ScheduleFlags schedule;
    cli::TrainingFlags training;
    cli::DeviceFlags device;
    cli::DistributedFlags distributed;
    corpus_flags.add_to(app);
    app.add_option("--stage1", stage1_arg, "stage 1's run directory")->capture_default_str();
    app.add_option("--stage2", stage2_arg, "stage 2's output directory")->capture_default_str();
    app.add_option("--out", out_arg, "run directory")->capture_default_str();
    app.add_flag("--evaluate", evaluate, "then print zero-shot macro AUC on the corpus's eval/ splits");
    model_flags.add_to(app, /*training=*/true);
    schedule.add_to(app, 2, 3);
    training.add_to(app);
    device.add_to(app);
    distributed.add_to(app);
    cli::parse(app, argc, argv);
    const std::filesystem::path corpus = corpus_flags.corpus, stage1 = stage1_arg, stage2 = stage2_arg, out = out_arg;

    // The text encoder first: a wrong --text-weights fails before the corpus is read.
    const cli::TextSetup text = cli::text_setup(model_flags);
    fmt::print("{}\n", text.description);
    data::EcgDataset pairs = corpus_flags.load(model_flags);
    std::int64_t replaced = 0;
    const data::EcgDataset augmented =
        features::with_augmented_reports(pairs, pipeline::provenance_path(stage2), &replaced);
    fmt::print("stage 3 (FG-CLEP): {} pairs, {} with a stage-2 line\n", augmented.entries.size(), replaced);

    const ReportTokenizer& tokenizer = text.tokenizer;
    pipeline::TrainStageOptions options = training.options(model_flags.size(), schedule, model_flags.seed);
    options.preprocess.nan.policy = corpus_flags.nan_policy(model_flags);

    return cli::with_communicator(distributed, "stage3_fgclep", [&](auto& comm) {
        return cli::with_context(device, "stage3_fgclep", [&](auto& ctx) {
            return cli::with_model(ctx, model_flags, text, {.training = true}, [&](auto& model) {
                return cli::on_communicator(comm, ctx, [&](auto& c) {
                    const TrainResult r = pipeline::run_fgclep(model, ctx, tokenizer, augmented,
                                                               pipeline::weights_path(stage1), out, options, c);
                    fmt::print("{} {} of {} steps{}; last loss {:.4f}\n", r.finished ? "trained" : "stopped after",
                               r.steps, r.total_steps, r.resumed ? " (resumed)" : "", r.last.loss.total);
                    if (!r.finished || c.rank() > 0) return 0;  // rank 0 evaluates
                    fmt::print("weights: {}\n", pipeline::weights_path(out).string());
                    if (evaluate) {
                        if (!std::filesystem::exists(corpus / "eval/diagnosis")) {
                            fmt::print(
                                stderr,
                                "--evaluate: {} has no eval/ splits (evaluate real datasets as docs/user-guide.md "
                                "shows)\n",
                                corpus.string());
                            return 1;
                        }
                        pipeline::EvaluateOptions eo;
                        eo.preprocess = options.preprocess;
                        eo.model_label = "FG-CLEP";
                        eo.workers = options.workers;
                        const eval::EvaluationResults results =
                            pipeline::evaluate(model, ctx, tokenizer, pipeline::synthetic_tasks(corpus), eo);
                        fmt::print("{}", results.table());
                        results.write_json(out / "results.json");
                    }
                    return 0;
                });
            });
        });
    });
} catch (const std::exception& e) {
    fmt::print(stderr, "stage3_fgclep: {}\n", e.what());
    return 1;
}
