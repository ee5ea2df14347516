// Stage 3 of FG-CLEP: training continues from the stage-1 weights (a new optimizer and schedule; the paper trains
// 3 more epochs) on the reports augmented by stage 2; then, optionally, zero-shot evaluation.
//
//   stage3_fgclep CORPUS_DIR [--stage1 runs/stage1] [--stage2 runs/stage2] [--out runs/stage3] [--model tiny|full]
//                 [--vocab FILE] [--epochs N] [--batch-size N] [--lr X] [--max-steps N] [--max-records N]
//                 [--checkpoint-every N] [--device cpu|cuda[:N]] [--threads T] [--precision fp32|bf16] [--tf32]
//                 [--workers W] [--seed S] [--no-cache] [--evaluate] [--collective-timeout S]
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
    const cli::Args args(argc, argv, {"--no-cache", "--evaluate", "--tf32"});
    auto known = cli::training_flags;
    known.insert(known.end(), {"--stage1", "--stage2", "--out", "--model", "--vocab", "--max-records"});
    known.insert(known.end(), cli::device_flags.begin(), cli::device_flags.end());
    args.check_known(known);
    if (args.positional.size() != 1) {
        fmt::print(stderr, "usage: stage3_fgclep CORPUS_DIR [--stage1 DIR] [--stage2 DIR] [--out DIR] ...\n");
        return 1;
    }
    const std::filesystem::path corpus = args.positional[0];
    const auto size = pipeline::model_size_from_string(args.str("--model", "tiny"));
    const std::filesystem::path stage1 = args.str("--stage1", "runs/stage1"),
                                stage2 = args.str("--stage2", "runs/stage2");
    const std::filesystem::path out = args.str("--out", "runs/stage3");

    data::EcgDataset pairs = data::load_mimic_iv_ecg(corpus);
    if (const auto n = args.integer("--max-records", 0); n > 0 && n < static_cast<std::int64_t>(pairs.entries.size()))
        pairs.entries.resize(static_cast<std::size_t>(n));
    std::int64_t replaced = 0;
    const data::EcgDataset augmented =
        features::with_augmented_reports(pairs, pipeline::provenance_path(stage2), &replaced);
    fmt::print("stage 3 (FG-CLEP): {} pairs, {} with a stage-2 line\n", augmented.entries.size(), replaced);

    const ReportTokenizer tokenizer = pipeline::make_tokenizer(size, args.str("--vocab"), FGCLEP_DEFAULT_VOCAB);
    const pipeline::TrainStageOptions options = cli::training_options(args, size, 2, 3);
    const auto seed = static_cast<std::uint64_t>(args.integer("--seed", 1));

    const auto vocab_size = static_cast<std::int64_t>(tokenizer.vocabulary().size());

    return cli::with_communicator(args, "stage3_fgclep", [&](auto& comm) {
        return cli::with_context(args, "stage3_fgclep", [&](auto& ctx) {
            return cli::with_model<cli::backend_of<decltype(ctx)>>(size, vocab_size, seed, [&](auto& model) {
                return cli::on_communicator(comm, ctx, [&](auto& c) {
                    const TrainResult r = pipeline::run_fgclep(model, ctx, tokenizer, augmented,
                                                               pipeline::weights_path(stage1), out, options, c);
                    fmt::print("{} {} of {} steps{}; last loss {:.4f}\n", r.finished ? "trained" : "stopped after",
                               r.steps, r.total_steps, r.resumed ? " (resumed)" : "", r.last.loss.total);
                    if (!r.finished || c.rank() > 0) return 0;  // rank 0 evaluates
                    fmt::print("weights: {}\n", pipeline::weights_path(out).string());
                    if (args.has("--evaluate")) {
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
