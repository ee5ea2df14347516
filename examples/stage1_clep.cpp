// Stage 1 of FG-CLEP (CLEP): contrastive pre-training of the ECG and text encoders on a corpus of ECG-report pairs
// in the MIMIC-IV-ECG layout (the real corpus, or one written by generate_corpus). `stage1_clep --help` lists every
// option.
//
//   stage1_clep CORPUS_DIR [--out runs/stage1] [--model tiny|full|paper] [--text-weights HF_DIR]
//               [--freeze-text-layers K] [--epochs N] [--batch-size N] [--lr X] [--device cpu|cuda[:N]] ...
//
// The paper's run: `stage1_clep MIMIC_DIR --model paper --text-weights Bio_ClinicalBERT --device cuda`
// (docs/user-guide.md#the-papers-run). Data-parallel under MPI, unchanged: `mpirun -np K stage1_clep CORPUS --out
// DIR` (--batch-size is the global batch; docs/distributed.md).
//
// Writes OUT/checkpoints/, OUT/log.jsonl, OUT/cache-*.bin and, once training is complete, OUT/model.safetensors.
// Run it again with the same --out to resume (--max-steps stops a run part-way; the next run continues).
//
// Defaults: --model tiny trains from scratch, so it uses lr 1e-3 (the paper's 2e-5 is for a pretrained BERT) with
// batch 64 for 4 epochs; --model full and paper use the paper's recipe: lr 2e-5, batch 100, 10 epochs.
#include "pipeline_cli.hpp"

#include <fgclep/pipeline/training_stages.hpp>

using namespace fgclep;

int main(int argc, char** argv) try {
    cli::silence_other_ranks();
    CLI::App app{
        "Stage 1 of FG-CLEP (CLEP): contrastive pre-training of the ECG and text encoders on the ECG-report pairs "
        "of a corpus in the MIMIC-IV-ECG layout. Writes OUT/checkpoints/, OUT/log.jsonl and, once complete, "
        "OUT/model.safetensors; run again with the same --out to resume. Under mpirun -np K it trains "
        "data-parallel.",
        "stage1_clep"};
    std::string out = "runs/stage1";
    cli::ModelFlags model_flags;
    cli::CorpusFlags corpus;
    cli::ScheduleFlags schedule;
    cli::TrainingFlags training;
    cli::DeviceFlags device;
    cli::DistributedFlags distributed;
    corpus.add_to(app);
    app.add_option("--out", out, "run directory")->capture_default_str();
    model_flags.add_to(app, /*training=*/true);
    schedule.add_to(app, 4, 10);
    training.add_to(app);
    device.add_to(app);
    distributed.add_to(app);
    cli::parse(app, argc, argv);

    // The text encoder first: a wrong --text-weights fails before the corpus is read.
    const cli::TextSetup text = cli::text_setup(model_flags);
    fmt::print("{}\n", text.description);
    data::EcgDataset pairs = corpus.load(model_flags);
    fmt::print("stage 1 (CLEP): {} ECG-report pairs from {}\n", pairs.entries.size(), pairs.root.string());

    pipeline::TrainStageOptions options = training.options(model_flags.size(), schedule, model_flags.seed);
    options.preprocess.nan.policy = corpus.nan_policy(model_flags);

    return cli::with_communicator(distributed, "stage1_clep", [&](auto& comm) {
        return cli::with_context(device, "stage1_clep", [&](auto& ctx) {
            const cli::ModelUse use{.load_text_weights = true, .training = true};
            return cli::with_model(ctx, model_flags, text, use, [&](auto& model) {
                return cli::on_communicator(comm, ctx, [&](auto& c) {
                    fmt::print("model: {} ({} parameters)\n", model_flags.model, model.parameter_count());
                    const TrainResult r = pipeline::run_clep(model, ctx, text.tokenizer, pairs, out, options, c);
                    fmt::print("{} {} of {} steps{}; last loss {:.4f}\n", r.finished ? "trained" : "stopped after",
                               r.steps, r.total_steps, r.resumed ? " (resumed)" : "", r.last.loss.total);
                    if (r.finished) fmt::print("weights: {}\n", pipeline::weights_path(out).string());
                    return 0;
                });
            });
        });
    });
} catch (const std::exception& e) {
    fmt::print(stderr, "stage1_clep: {}\n", e.what());
    return 1;
}
