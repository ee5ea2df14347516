#pragma once
// Stage 1 (CLEP) and stage 3 (FG-CLEP) as library functions: contrastive training on ECG-report pairs streamed
// from a dataset, with checkpoints, a JSON-lines log and resumption, in a run directory.
//
//   auto pairs = data::load_mimic_iv_ecg("corpus");                       // or any EcgDataset with reports
//   TrainResult r = run_clep(model, ctx, tokenizer, pairs, "runs/stage1", options);
//   // stage 3: the stage-1 weights, a new optimizer and schedule, the augmented reports
//   run_fgclep(model, ctx, tokenizer, augmented, "runs/stage1/model.safetensors", "runs/stage3", options3);
//
// A run directory holds checkpoints/ (the Trainer's, newest two kept), log.jsonl, cache-*.bin (the preprocessed
// records, memory-mapped, built on the first run) and, once the schedule is complete, model.safetensors (the
// weights alone, by state_dict name). Running again with the same directory resumes from the newest checkpoint
// (the Trainer checks that the run's layout is the same) or, when training is complete, only rewrites
// model.safetensors.
//
// Distributed (a communicator as the last argument, every rank calling with the same arguments): each rank trains
// on its share of every global batch; rank 0 builds the record cache while the others wait, and alone writes the
// log, the checkpoints and model.safetensors. The run directory must be on a filesystem every rank sees.
#include "fgclep/core/context.hpp"
#include "fgclep/data/batch_stream.hpp"
#include "fgclep/data/dataset.hpp"
#include "fgclep/data/preprocess.hpp"
#include "fgclep/distributed/communicator.hpp"
#include "fgclep/io/safetensors.hpp"
#include "fgclep/io/state_dict.hpp"
#include "fgclep/train/trainer.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <string>

namespace fgclep::pipeline {

struct TrainStageOptions {
    data::PreprocessOptions preprocess{};  // the model size's: preprocess_options(size)
    TrainerOptions trainer{};              // lr, epochs, batch size, schedule, seed; paths are set by the stage
    int workers = 2;                       // threads reading and preprocessing records
    bool cache = true;                     // keep preprocessed records in <cache_dir>/cache-<key>.bin (mmap)
    std::filesystem::path cache_dir{};     // empty: the run directory; stages over the same records may share one
};

// The file the stage writes its final weights to.
inline std::filesystem::path weights_path(const std::filesystem::path& run_dir) {
    return run_dir / "model.safetensors";
}

// Weights (parameters, buffers, counters) by state_dict name: what stage 3 and evaluation start from.
template <class Model, class B>
void save_weights(const std::filesystem::path& path, Context<B>& ctx, const Model& model) {
    io::SafetensorsWriter writer;
    io::add_state(writer, model.arena(), ctx.state);
    writer.metadata("format", "fgclep.weights");
    const auto tmp = std::filesystem::path(path.string() + ".partial");
    writer.write(tmp);
    std::filesystem::rename(tmp, path);
}

// Loads weights written by save_weights, or a training checkpoint (its optimizer state is ignored).
template <class Model, class B>
void load_weights(const std::filesystem::path& path, Context<B>& ctx, Model& model) {
    if (!std::filesystem::is_regular_file(path))
        fail("weights '{}' do not exist (run the stage that writes them first)", path.string());
    const io::SafetensorsFile file = io::SafetensorsFile::read(path);
    io::load_state(model.arena(), ctx.state, file);
}

namespace detail {

template <class Model, class B, class Comm>
TrainResult train_on(Model& model, Context<B>& ctx, const ReportTokenizer& tokenizer, const data::EcgDataset& pairs,
                     const std::filesystem::path& run_dir, const TrainStageOptions& options, const char* stage,
                     Comm& comm) {
    namespace fs = std::filesystem;
    if (pairs.entries.empty()) fail("{}: the dataset '{}' has no records", stage, pairs.root.string());
    for (const auto& e : pairs.entries)
        if (e.report.empty())
            fail("{}: record '{}' of '{}' has no report; training needs ECG-report pairs", stage, e.record.string(),
                 pairs.root.string());
    fs::create_directories(run_dir);
    TrainerOptions t = options.trainer;
    t.checkpoint_dir = run_dir / "checkpoints";
    t.log_path = run_dir / "log.jsonl";
    t.resume = true;

    data::Preprocessor preprocessor(options.preprocess);
    data::BatchStreamOptions so{
        .batch_size = t.batch_size, .workers = options.workers, .prefetch_batches = 4, .seed = t.seed};
    if (options.cache) {
        const std::uint64_t key = data::record_cache_key(pairs, preprocessor);
        const fs::path dir = options.cache_dir.empty() ? run_dir : options.cache_dir;
        fs::create_directories(dir);
        so.cache = dir / fmt::format("cache-{:016x}.bin", key);
    }
    // Rank 0 builds the record cache (if it is missing) before the others open it: one writer, no race.
    auto wait_for_rank_zero = [&] {
        if (comm.size() > 1) fgclep::detail::patient_barrier(comm);  // building a large corpus's cache takes long
    };
    if (comm.rank() > 0) wait_for_rank_zero();
    data::BatchStream stream(pairs, std::move(preprocessor), so);
    if (comm.rank() == 0) wait_for_rank_zero();
    Trainer trainer(model, tokenizer, t, comm);
    TrainResult result = trainer.fit(ctx, stream);
    if (stream.skipped() > 0)
        fmt::print(stderr, "{}{}: {} record loads skipped:\n{}\n", stage,
                   comm.size() > 1 ? fmt::format(" (rank {})", comm.rank()) : std::string(), stream.skipped(),
                   stream.issues().summary());
    if (result.finished && comm.rank() == 0) save_weights(weights_path(run_dir), ctx, model);
    if (comm.size() > 1) fgclep::detail::patient_barrier(comm);  // the weights exist for every rank on return
    return result;
}

}  // namespace detail

// Stage 1: CLEP pre-training from the model's current (random) weights on the dataset's ECG-report pairs.
template <class Model, class B>
TrainResult run_clep(Model& model, Context<B>& ctx, const ReportTokenizer& tokenizer, const data::EcgDataset& pairs,
                     const std::filesystem::path& run_dir, const TrainStageOptions& options) {
    SingleProcess one;
    return detail::train_on(model, ctx, tokenizer, pairs, run_dir, options, "stage 1 (CLEP)", one);
}
template <class Model, class B, class Comm>
TrainResult run_clep(Model& model, Context<B>& ctx, const ReportTokenizer& tokenizer, const data::EcgDataset& pairs,
                     const std::filesystem::path& run_dir, const TrainStageOptions& options, Comm& comm) {
    return detail::train_on(model, ctx, tokenizer, pairs, run_dir, options, "stage 1 (CLEP)", comm);
}

// Stage 3: FG-CLEP. Starts from stage-1 weights (a new optimizer and schedule; the paper trains 3 more epochs) on
// the augmented reports. A resumed run continues from its own newest checkpoint instead.
template <class Model, class B, class Comm>
TrainResult run_fgclep(Model& model, Context<B>& ctx, const ReportTokenizer& tokenizer,
                       const data::EcgDataset& augmented, const std::filesystem::path& stage1_weights,
                       const std::filesystem::path& run_dir, const TrainStageOptions& options, Comm& comm) {
    load_weights(stage1_weights, ctx, model);
    return detail::train_on(model, ctx, tokenizer, augmented, run_dir, options, "stage 3 (FG-CLEP)", comm);
}
template <class Model, class B>
TrainResult run_fgclep(Model& model, Context<B>& ctx, const ReportTokenizer& tokenizer,
                       const data::EcgDataset& augmented, const std::filesystem::path& stage1_weights,
                       const std::filesystem::path& run_dir, const TrainStageOptions& options) {
    SingleProcess one;
    return run_fgclep(model, ctx, tokenizer, augmented, stage1_weights, run_dir, options, one);
}

}  // namespace fgclep::pipeline
