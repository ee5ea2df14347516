// Stage 1 of FG-CLEP (CLEP): contrastive pre-training of the ECG and text encoders on a corpus of ECG-report pairs
// in the MIMIC-IV-ECG layout (the real corpus, or one written by generate_corpus).
//
//   stage1_clep CORPUS_DIR [--out runs/stage1] [--model tiny|full] [--vocab vocab.txt] [--epochs N]
//               [--batch-size N] [--lr X] [--max-steps N] [--max-records N] [--checkpoint-every N]
//               [--device cpu|cuda[:N]] [--threads T] [--precision fp32|bf16] [--tf32] [--workers W] [--seed S]
//               [--no-cache] [--collective-timeout S]
//
// Data-parallel under MPI, unchanged: `mpirun -np K stage1_clep CORPUS --out DIR` (--batch-size is the global
// batch; docs/distributed.md).
//
// Writes OUT/checkpoints/, OUT/log.jsonl, OUT/cache-*.bin and, once training is complete, OUT/model.safetensors.
// Run it again with the same --out to resume (--max-steps stops a run part-way; the next run continues).
//
// --device cuda[:N] trains on a GPU (a build with the CUDA backend, FGCLEP_CUDA=ON); --precision bf16 makes the
// GEMMs bf16 with fp32 accumulation on either device, --tf32 makes float GEMMs TF32 on the GPU.
//
// Defaults: --model tiny trains from scratch, so it uses lr 1e-3 (the paper's 2e-5 is for a pretrained BERT) with
// batch 64 for 4 epochs; --model full uses the paper's recipe: lr 2e-5, batch 100, 10 epochs.
#include "pipeline_cli.hpp"

#include <fgclep/pipeline/training_stages.hpp>

using namespace fgclep;

int main(int argc, char** argv) try {
    cli::silence_other_ranks();
    const cli::Args args(argc, argv, {"--no-cache", "--tf32"});
    auto known = cli::training_flags;
    known.insert(known.end(), {"--out", "--model", "--vocab", "--max-records"});
    known.insert(known.end(), cli::device_flags.begin(), cli::device_flags.end());
    args.check_known(known);
    if (args.positional.size() != 1) {
        fmt::print(stderr, "usage: stage1_clep CORPUS_DIR [--out DIR] [--model tiny|full] [--vocab FILE] ...\n");
        return 1;
    }
    const auto size = pipeline::model_size_from_string(args.str("--model", "tiny"));
    const std::filesystem::path out = args.str("--out", "runs/stage1");
    const auto seed = static_cast<std::uint64_t>(args.integer("--seed", 1));

    data::EcgDataset pairs = data::load_mimic_iv_ecg(args.positional[0]);
    if (const auto n = args.integer("--max-records", 0); n > 0 && n < static_cast<std::int64_t>(pairs.entries.size()))
        pairs.entries.resize(static_cast<std::size_t>(n));
    fmt::print("stage 1 (CLEP): {} ECG-report pairs from {}\n", pairs.entries.size(), pairs.root.string());

    const ReportTokenizer tokenizer = pipeline::make_tokenizer(size, args.str("--vocab"), FGCLEP_DEFAULT_VOCAB);
    const pipeline::TrainStageOptions options = cli::training_options(args, size, 4, 10);
    const auto vocab_size = static_cast<std::int64_t>(tokenizer.vocabulary().size());

    return cli::with_communicator(args, "stage1_clep", [&](auto& comm) {
        return cli::with_context(args, "stage1_clep", [&](auto& ctx) {
            return cli::with_model<cli::backend_of<decltype(ctx)>>(size, vocab_size, seed, [&](auto& model) {
                return cli::on_communicator(comm, ctx, [&](auto& c) {
                    fmt::print("model: {} ({} parameters)\n", pipeline::to_string(size), model.parameter_count());
                    const TrainResult r = pipeline::run_clep(model, ctx, tokenizer, pairs, out, options, c);
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
