#pragma once
// Trainer: contrastive training of an FgClep model over a pair source, with method.md section 4's optimisation as
// defaults (AdamW, warm-up then cosine decay), gradient accumulation, clipping, validation, a JSON-lines log and
// checkpoints that resume exactly: the data order of epoch e depends only on (seed, e), so a run stopped and resumed
// on the CPU backend ends bit-for-bit where an uninterrupted one does (at the same thread count).
//
// Accumulating micro-batches is not the same objective as one larger batch: a contrastive loss sees only the pairs
// of its micro-batch as negatives. Options, the log and the checkpoint contents: docs/training.md.
//
// Data-parallel training: give the Trainer a communicator (distributed/communicator.hpp), e.g.
//
//   MpiCommunicator comm;                              // under mpirun -np K
//   Trainer trainer(model, tokenizer, options, comm);  // options.batch_size is the *global* batch
//
// Each rank reads a disjoint 1/K of every global batch, in the one seeded order; the losses see the global batch
// (ContrastiveObjective all-gathers the embeddings); gradients are averaged over ranks in buckets, the losses' and
// the text encoder's while the ECG encoder's backward still runs; rank 0 alone logs, prints progress and writes checkpoints. docs/distributed.md.
#include "fgclep/distributed/communicator.hpp"
#include "fgclep/models/fgclep.hpp"
#include "fgclep/optim/adamw.hpp"
#include "fgclep/optim/clip.hpp"
#include "fgclep/optim/schedule.hpp"
#include "fgclep/text/report_tokenizer.hpp"
#include "fgclep/train/checkpoint.hpp"
#include "fgclep/train/pair_source.hpp"
#include "fgclep/train/progress.hpp"
#include "fgclep/train/run_log.hpp"

#include <chrono>
#include <cmath>
#include <exception>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <set>

namespace fgclep {

struct TrainerOptions {
    AdamWOptions optimizer{};  // lr 2e-5, betas (0.9, 0.999), weight decay 1e-4
    std::int64_t epochs = 10;
    std::int64_t batch_size = 100;        // pairs per micro-batch
    std::int64_t accumulation_steps = 1;  // micro-batches per optimizer step
    double warmup_fraction = 0.1;
    double min_lr = 0;
    double max_grad_norm = 0;  // clip the global gradient norm to this; 0: no clipping
    std::uint64_t seed = 42;   // data order and dropout
    bool shuffle = true;
    std::int64_t max_steps = 0;            // stop this run after so many optimizer steps (then checkpoint); 0: no limit
    std::filesystem::path checkpoint_dir;  // empty: no checkpoints
    std::int64_t checkpoint_every = 0;     // optimizer steps between checkpoints; 0: at each epoch's end only
    std::int64_t keep_checkpoints = 2;     // the newest this many are kept
    bool resume = true;                    // continue from the newest checkpoint in checkpoint_dir, if any
    std::filesystem::path log_path;        // JSON lines, one per step; empty: none
    ProgressMode progress = ProgressMode::automatic;
    std::int64_t validate_every = 0;  // optimizer steps between validations; 0: at each epoch's end
    // Distributed runs: gradients are averaged in buckets of at most this many bytes (PyTorch DDP's default).
    std::int64_t bucket_bytes = 25 << 20;

    void validate() const {
        optimizer.validate();
        if (epochs < 1) fail("Trainer: epochs must be >= 1, got {}", epochs);
        if (batch_size < 2) fail("Trainer: a contrastive batch needs batch_size >= 2, got {}", batch_size);
        if (accumulation_steps < 1) fail("Trainer: accumulation_steps must be >= 1, got {}", accumulation_steps);
        if (!(max_grad_norm >= 0)) fail("Trainer: max_grad_norm must be >= 0 (0: no clipping), got {}", max_grad_norm);
        if (max_steps < 0 || checkpoint_every < 0 || validate_every < 0)
            fail("Trainer: max_steps, checkpoint_every and validate_every must be >= 0");
        if (keep_checkpoints < 1) fail("Trainer: keep_checkpoints must be >= 1, got {}", keep_checkpoints);
        if (bucket_bytes < 1) fail("Trainer: bucket_bytes must be >= 1, got {}", bucket_bytes);
        if (max_steps > 0 && checkpoint_dir.empty())
            fail(
                "Trainer: max_steps stops a run part-way and its progress is kept only in a checkpoint; set "
                "checkpoint_dir (or use epochs to train less)");
    }
};

// What one optimizer step did.
struct StepReport {
    std::int64_t step = 0;  // 1-based: the number of steps completed
    std::int64_t epoch = 0;
    std::int64_t total_steps = 0;
    LossValue loss;  // averaged over the step's micro-batches
    double lr = 0;
    double grad_norm = 0;           // before clipping
    bool skipped = false;           // not applied: non-finite loss or gradient
    double samples_per_second = 0;  // of the whole (global) batch
    // Distributed runs: the time this step waited for the gradient averaging after backward (what overlapping
    // with backward did not hide), and the step's wall time.
    double communication_seconds = 0, seconds = 0;
};

// Validation over a held-out pair source: the mean loss, and in-batch retrieval accuracy (the share of ECGs whose
// most similar report in their batch is their own, and the reverse).
struct ValidationReport {
    std::int64_t step = 0;
    std::int64_t pairs = 0;
    LossValue loss;
    double ecg_to_text_top1 = 0, text_to_ecg_top1 = 0;
};

struct TrainResult {
    std::int64_t steps = 0;        // optimizer steps completed, over all runs of this training
    std::int64_t total_steps = 0;  // steps of the whole schedule
    bool finished = false;         // false: stopped by max_steps
    bool resumed = false;
    std::int64_t skipped_steps = 0;
    StepReport last;
    std::vector<ValidationReport> validations;
    std::vector<std::filesystem::path> checkpoints;  // written by this run
};

template <class Model, class Comm = SingleProcess>
class Trainer {
public:
    using B = typename Model::backend_type;
    using T = typename B::value_type;
    static_assert(Communicator<Comm, B>,
                  "fgclep: the Trainer's communicator does not satisfy fgclep::Communicator for this model's backend "
                  "(distributed/communicator.hpp)");

    Trainer(Model& model, ReportTokenizer tokenizer,
            TrainerOptions options = {}) requires std::same_as<Comm, SingleProcess>
        : Trainer(model, std::move(tokenizer), std::move(options), single_process_) {}

    // A data-parallel trainer: every rank of `comm` constructs one, with the same options and seed.
    Trainer(Model& model, ReportTokenizer tokenizer, TrainerOptions options, Comm& comm)
        : model_(model),
          tokenizer_(std::move(tokenizer)),
          options_(std::move(options)),
          optimizer_(model.arena(), options_.optimizer),
          comm_(comm) {
        options_.validate();
        if (tokenizer_.empty()) fail("Trainer: the report tokenizer has no vocabulary");
        const int K = comm_.size();
        if (K > 1 && options_.batch_size % K != 0)
            fail(
                "Trainer: batch_size is the global batch and must divide evenly among the {} ranks, got {} (use a "
                "multiple of {})",
                K, options_.batch_size, K);
        if (K > 1 && comm_.collectives() == nullptr)
            fail("Trainer: the communicator has {} ranks but no Collectives (collectives() returned null)", K);
        if (K > 1) gradient_buckets_ = plan_buckets();
        if (comm_.rank() > 0) {  // rank 0 alone reports
            options_.log_path.clear();
            options_.progress = ProgressMode::off;
        }
    }

    // A source of held-out pairs, validated every validate_every steps (or at each epoch's end); the hook, if
    // given, sees every report.
    template <PairSource Source>
    void set_validation(Source& source, std::function<void(const ValidationReport&)> hook = {}) {
        validate_ = [this, &source](Context<B>& ctx, std::int64_t step) { return run_validation(ctx, source, step); };
        validation_hook_ = std::move(hook);
    }
    // Called after every optimizer step.
    void on_step(std::function<void(const StepReport&)> hook) { step_hook_ = std::move(hook); }

    // Not copied or moved: it refers to its own communicator (one process) and the model's arena.
    Trainer(const Trainer&) = delete;
    Trainer& operator=(const Trainer&) = delete;

    AdamW<B>& optimizer() { return optimizer_; }
    const TrainerOptions& options() const { return options_; }
    Comm& communicator() { return comm_; }

    // Trains until the schedule ends (or max_steps of this run), resuming from the newest checkpoint when asked.
    template <PairSource Source>
    TrainResult fit(Context<B>& ctx, Source& source) {
        detail::CollectivesScope<B> distributed(ctx, comm_.size() > 1 ? comm_.collectives() : nullptr);
        FitRun run = plan_run(static_cast<std::int64_t>(source.size()));
        resume_or_start(ctx, run);
        while (run.state.step < run.total_steps) {
            if (options_.max_steps > 0 && run.state.step - run.first_step >= options_.max_steps) break;
            const StepReport report = train_step(ctx, source, run);
            report_step(run, report);
            const bool epoch_end = run.state.batch_in_epoch == 0;
            if ((options_.validate_every > 0 && run.state.step % options_.validate_every == 0) ||
                (options_.validate_every == 0 && epoch_end))
                validate_now(ctx, run);
            if ((options_.checkpoint_every > 0 && run.state.step % options_.checkpoint_every == 0) || epoch_end)
                checkpoint_now(ctx, run);
        }
        return finish_run(ctx, run);
    }

    // The data order of an epoch: a seeded Fisher-Yates shuffle (or 0..n-1 without shuffling).
    std::vector<std::int64_t> epoch_order(std::int64_t n, std::uint64_t seed, std::int64_t epoch) const {
        std::vector<std::int64_t> order(static_cast<std::size_t>(n));
        std::iota(order.begin(), order.end(), 0);
        if (!options_.shuffle) return order;
        HostRng rng(seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(epoch) + 1);
        for (std::int64_t i = n - 1; i > 0; --i)
            std::swap(order[static_cast<std::size_t>(i)], order[rng.next() % static_cast<std::uint64_t>(i + 1)]);
        return order;
    }

    // A host batch on the model's backend: ECGs converted to the backend's type, reports tokenized.
    typename Model::batch_type to_device(Context<B>& ctx, const HostPairs& pairs) const {
        if (pairs.ecg_shape.rank() != 3 || pairs.ecg_shape[0] != pairs.size() ||
            static_cast<std::int64_t>(pairs.ecg.size()) != pairs.ecg_shape.numel())
            fail("a pair source returned an inconsistent batch: ECG shape {}, {} samples, {} reports", pairs.ecg_shape,
                 pairs.ecg.size(), pairs.size());
        std::vector<T> ecg(pairs.ecg.begin(), pairs.ecg.end());
        return {ctx.from_host(pairs.ecg_shape, ecg), tokenizer_.encode(ctx, pairs.reports)};
    }

private:
    // What the steps of one fit call share.
    struct FitRun {
        std::int64_t pairs = 0, per_step = 0, steps_per_epoch = 0, total_steps = 0;  // per_step: pairs per step
        TrainingState state;
        JsonLinesLog log;
        ProgressReporter progress;
        TrainResult result{};
        std::chrono::steady_clock::time_point start{};  // for this run's rate and ETA
        std::int64_t first_step = 0, samples = 0;       // where this run started (max_steps), pairs it consumed
        std::int64_t order_epoch = -1, prefetched_epoch = -1;
        std::vector<std::int64_t> order{};  // this rank's part of the data order of order_epoch
        std::int64_t local_batch = 0;       // this rank's pairs of each micro-batch
    };

    // The run's layout and the state of a fresh start; fails before the log is opened when the source cannot fill
    // one step.
    FitRun plan_run(std::int64_t n) const {
        const std::int64_t per_step = options_.batch_size * options_.accumulation_steps;
        const std::int64_t steps_per_epoch = n / per_step;
        if (steps_per_epoch < 1)
            fail(
                "Trainer: the source has {} pairs, fewer than one optimizer step needs (batch_size {} x "
                "accumulation_steps {})",
                n, options_.batch_size, options_.accumulation_steps);
        const std::int64_t total_steps = steps_per_epoch * options_.epochs;

        TrainingState state;
        state.data_seed = options_.seed;
        state.rng_seed = options_.seed;
        state.schedule =
            WarmupCosine::from_fraction(options_.optimizer.lr, total_steps, options_.warmup_fraction, options_.min_lr);
        state.pairs = n;
        state.batch_size = options_.batch_size;
        state.accumulation_steps = options_.accumulation_steps;
        state.epochs = options_.epochs;
        state.shuffle = options_.shuffle;
        state.world_size = comm_.size();
        return FitRun{.pairs = n,
                      .per_step = per_step,
                      .steps_per_epoch = steps_per_epoch,
                      .total_steps = total_steps,
                      .state = state,
                      .log = options_.log_path.empty() ? JsonLinesLog() : JsonLinesLog(options_.log_path),
                      .progress = ProgressReporter(options_.progress),
                      .local_batch = options_.batch_size / comm_.size()};
    }

    // Continues from the newest checkpoint when asked and there is one (else logs the start), and puts dropout's
    // stream where the state says.
    void resume_or_start(Context<B>& ctx, FitRun& run) {
        auto& state = run.state;
        if (options_.resume && !options_.checkpoint_dir.empty())
            if (auto latest = latest_checkpoint(options_.checkpoint_dir)) {
                const TrainingState expected = state;
                try {
                    state = load_checkpoint(*latest, ctx, model_.arena(), optimizer_);
                } catch (const Error& e) {
                    const auto all = list_checkpoints(options_.checkpoint_dir);
                    if (all.size() < 2) throw;
                    fail("{}\n(the previous checkpoint is '{}': move the broken one away to resume from it)", reason(e),
                         all[all.size() - 2].string());
                }
                check_resumable(*latest, state, expected, run.steps_per_epoch);
                run.result.resumed = true;
                run.progress.message(
                    fmt::format("resuming from {} (step {} of {})", latest->string(), state.step, run.total_steps));
                run.log.write("resume", {{"checkpoint", latest->string()}, {"step", state.step}});
            }
        agree_on_start(ctx, run);
        // Dropout: rank 0 draws the stream one process would; the others their own (the same masks on every rank
        // would correlate them). Every rank reserves the same counters, so rank 0's offset stands for all.
        ctx.seed = comm_.rank() == 0
                       ? state.rng_seed
                       : HostRng(state.rng_seed ^ (0xD1B54A32D192ED03ull * std::uint64_t(comm_.rank()))).next();
        ctx.offset = state.rank_rng_offsets.size() == static_cast<std::size_t>(comm_.size())
                         ? state.rank_rng_offsets[static_cast<std::size_t>(comm_.rank())]
                         : state.rng_offset;
        if (!run.result.resumed)
            run.log.write("start", {{"pairs", run.pairs},
                                    {"total_steps", run.total_steps},
                                    {"steps_per_epoch", run.steps_per_epoch},
                                    {"batch_size", options_.batch_size},
                                    {"accumulation_steps", options_.accumulation_steps},
                                    {"epochs", options_.epochs},
                                    {"lr", options_.optimizer.lr},
                                    {"weight_decay", options_.optimizer.weight_decay},
                                    {"seed", options_.seed},
                                    {"parameters", model_.parameter_count()},
                                    {"trainable", model_.parameter_count(true)},
                                    {"world_size", comm_.size()}});
        run.start = std::chrono::steady_clock::now();
        run.first_step = state.step;
    }

    // The data order of the epoch in progress, shuffled once per epoch, not per step (800k indices).
    template <class Source>
    void prepare_epoch(Source& source, FitRun& run) const {
        const auto& state = run.state;
        if (run.order_epoch != state.epoch) {
            run.order = local_order(epoch_order(run.pairs, state.data_seed, state.epoch), run);
            run.order_epoch = state.epoch;
        }
        // A source that loads ahead (data::BatchStream) learns the rest of this epoch's order; the order and
        // the batches stay the trainer's, so resuming is unchanged.
        if constexpr (requires(std::span<const std::int64_t> s, std::int64_t b) { source.prefetch(s, b); })
            if (run.prefetched_epoch != state.epoch) {
                run.prefetched_epoch = state.epoch;
                const std::int64_t begin = state.batch_in_epoch * run.local_batch,
                                   end = run.steps_per_epoch * options_.accumulation_steps * run.local_batch;
                source.prefetch(
                    std::span<const std::int64_t>(run.order.data() + begin, static_cast<std::size_t>(end - begin)),
                    run.local_batch);
            }
    }

    // One optimizer step: accumulation_steps micro-batches, clipping and the update (skipped when the loss or the
    // gradient norm is not finite); advances the state past it.
    template <class Source>
    StepReport train_step(Context<B>& ctx, Source& source, FitRun& run) {
        prepare_epoch(source, run);
        auto& state = run.state;
        StepReport report;
        report.epoch = state.epoch;
        report.total_steps = run.total_steps;
        model_.zero_grad(ctx);
        const auto step_start = std::chrono::steady_clock::now();
        bool finite = true;
        // Rank 0's buffers (BatchNorm's running statistics) on every rank, as DDP's broadcast_buffers: each rank
        // updates them from its own shard, and validation and checkpoints must not depend on which rank looks.
        auto& buffers = model_.arena().buffer_values();
        if (comm_.size() > 1 && buffers.numel() > 0)
            comm_.broadcast(ctx, buffers.data(), static_cast<std::size_t>(buffers.numel()), 0);
        std::vector<typename Comm::Pending> reductions;
        // Reductions still in flight when backward throws write into the gradient arena: wait for them first.
        struct WaitOnUnwind {
            std::vector<typename Comm::Pending>& pending;
            ~WaitOnUnwind() {
                if (std::uncaught_exceptions() == 0) return;
                for (auto& r : pending) try {
                        r.wait();
                    } catch (...) {  // the error being thrown says more
                    }
            }
        } wait_on_unwind{reductions};
        for (std::int64_t a = 0; a < options_.accumulation_steps; ++a) {
            const std::int64_t begin = state.batch_in_epoch * run.local_batch;
            const std::span<const std::int64_t> indices(run.order.data() + begin,
                                                        static_cast<std::size_t>(run.local_batch));
            const auto batch = to_device(ctx, source.load(indices));
            const double scale = 1.0 / static_cast<double>(options_.accumulation_steps);
            const bool last = a + 1 == options_.accumulation_steps;
            const LossValue v = model_.compute_gradients(ctx, batch, scale, [&](ModelPart part) {
                if (last) start_reducing(ctx, part, reductions);
            });
            accumulate(report.loss, v, 1.0 / static_cast<double>(options_.accumulation_steps));
            finite = finite && std::isfinite(v.total);
            ++state.batch_in_epoch;
            state.samples_seen += options_.batch_size;
            run.samples += options_.batch_size;
        }
        const auto reduce_start = std::chrono::steady_clock::now();
        for (auto& r : reductions) r.wait();  // every rank now holds the mean gradient
        report.communication_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - reduce_start).count();
        report.grad_norm = clip_grad_norm(
            ctx, model_.arena(),
            options_.max_grad_norm > 0 ? options_.max_grad_norm : std::numeric_limits<double>::infinity());
        report.lr = state.schedule.lr(state.step);
        report.skipped = !finite || !std::isfinite(report.grad_norm);
        if (report.skipped)
            ++state.skipped_steps;
        else
            optimizer_.step(ctx, report.lr);
        ++state.step;
        report.step = state.step;
        const double step_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count();
        report.samples_per_second = static_cast<double>(run.per_step) / std::max(step_seconds, 1e-9);
        report.seconds = step_seconds;
        if (state.batch_in_epoch >= run.steps_per_epoch * options_.accumulation_steps) {
            state.batch_in_epoch = 0;
            ++state.epoch;
        }
        return report;
    }

    // --- data-parallel pieces ----------------------------------------------------------------------------------
    // A contiguous run of the gradient arena whose gradients are complete at the same point of backward.
    struct GradientBucket {
        ModelPart part;
        std::int64_t offset = 0, size = 0;
    };

    // Collects the parameters of one part of the model (no paths are touched).
    struct ParamSet {
        std::set<const void*> params;
        template <class M>
        void module(std::string_view, M& child) {
            child.visit(*this);
        }
        template <class P>
        void param(P& p) {
            params.insert(&p);
        }
        template <class P>
        void buffer(P&) {}
        template <class P>
        void counter(P&) {}
    };

    // The gradient arena cut into buckets of at most bucket_bytes, each within one part of the model, so that the
    // losses' and the text encoder's can be reduced while the ECG encoder's backward runs.
    std::vector<GradientBucket> plan_buckets() {
        ParamSet ecg, text;
        model_.module().ecg.visit(ecg);
        model_.module().text.visit(text);
        std::vector<std::pair<std::int64_t, std::pair<std::int64_t, ModelPart>>> runs;  // offset -> (size, part)
        for (const auto& e : model_.arena().params()) {
            const void* p = e.param;
            const ModelPart part = ecg.params.count(p)    ? ModelPart::ecg
                                   : text.params.count(p) ? ModelPart::text
                                                          : ModelPart::losses;
            runs.push_back({e.offset, {e.numel(), part}});
        }
        std::sort(runs.begin(), runs.end());
        const std::int64_t limit = std::max<std::int64_t>(1, options_.bucket_bytes / std::int64_t(sizeof(T)));
        std::vector<GradientBucket> buckets;
        for (const auto& [offset, r] : runs) {
            const auto [size, part] = r;
            if (!buckets.empty() && buckets.back().part == part &&
                buckets.back().offset + buckets.back().size == offset && buckets.back().size + size <= limit)
                buckets.back().size += size;
            else
                for (std::int64_t done = 0; done < size; done += limit)
                    buckets.push_back({part, offset + done, std::min(limit, size - done)});
        }
        return buckets;
    }

    // Starts averaging the buckets of a part whose gradients are complete.
    void start_reducing(Context<B>& ctx, ModelPart part, std::vector<typename Comm::Pending>& pending) {
        for (const auto& b : gradient_buckets_)
            if (b.part == part)
                pending.push_back(comm_.start_all_reduce(ctx, model_.arena().grads().data() + b.offset,
                                                         static_cast<std::size_t>(b.size), ReduceOp::mean));
    }

    // This rank's share of an epoch's order: its 1/K of each global micro-batch, in order.
    std::vector<std::int64_t> local_order(const std::vector<std::int64_t>& order, const FitRun& run) const {
        const int K = comm_.size();
        if (K == 1) return order;
        std::vector<std::int64_t> mine;
        const std::int64_t micro = run.steps_per_epoch * options_.accumulation_steps;
        mine.reserve(static_cast<std::size_t>(micro * run.local_batch));
        for (std::int64_t b = 0; b < micro; ++b) {
            const auto first = order.begin() + b * options_.batch_size + comm_.rank() * run.local_batch;
            mine.insert(mine.end(), first, first + run.local_batch);
        }
        return mine;
    }

    // Every rank starts from the same place: the same checkpoint step (a shared checkpoint directory), and at a
    // fresh start rank 0's initial parameters and buffers.
    void agree_on_start(Context<B>& ctx, FitRun& run) {
        if (comm_.size() == 1) return;
        auto& state = run.state;
        const double mine = static_cast<double>(state.step);
        std::vector<double> steps(static_cast<std::size_t>(comm_.size()));
        comm_.collectives()->all_gather(std::span<const double>(&mine, 1), steps);
        for (int r = 0; r < comm_.size(); ++r)
            if (steps[static_cast<std::size_t>(r)] != steps[0])
                fail(
                    "rank {} resumes at step {} but rank 0 at step {}: every rank must see the same checkpoint "
                    "directory '{}' (a shared filesystem)",
                    r, steps[static_cast<std::size_t>(r)], steps[0], options_.checkpoint_dir.string());
        if (!run.result.resumed) {
            auto& arena = model_.arena();
            comm_.broadcast(ctx, arena.values().data(), static_cast<std::size_t>(arena.values().numel()), 0);
            if (arena.buffer_values().numel() > 0)
                comm_.broadcast(ctx, arena.buffer_values().data(),
                                static_cast<std::size_t>(arena.buffer_values().numel()), 0);
        } else if (comm_.rank() == 0 && run.state.world_size != comm_.size()) {
            run.progress.message(fmt::format(
                "the checkpoint was written by {} ranks and this run has {}: the data order is the same (it depends "
                "only on the seed, the epoch and the global batch); per-rank BatchNorm statistics and the dropout "
                "streams of ranks > 0 differ",
                run.state.world_size, comm_.size()));
        }
        state.world_size = comm_.size();
    }

    // Every rank's dropout offset, in rank order (as two exact 32-bit halves each).
    std::vector<std::uint64_t> gather_offsets(Context<B>& ctx) {
        const double mine[2] = {static_cast<double>(ctx.offset >> 32), static_cast<double>(ctx.offset & 0xFFFFFFFFu)};
        std::vector<double> all(2 * static_cast<std::size_t>(comm_.size()));
        comm_.collectives()->all_gather(mine, all);
        std::vector<std::uint64_t> offsets(static_cast<std::size_t>(comm_.size()));
        for (std::size_t r = 0; r < offsets.size(); ++r)
            offsets[r] = (static_cast<std::uint64_t>(all[2 * r]) << 32) | static_cast<std::uint64_t>(all[2 * r + 1]);
        return offsets;
    }

    // The step's log line, progress (with a message for a skipped step) and hook.
    void report_step(FitRun& run, const StepReport& report) {
        const auto& state = run.state;
        run.log.write("step", {{"step", report.step},
                               {"epoch", report.epoch},
                               {"loss", report.loss.total},
                               {"parts", parts_json(report.loss)},
                               {"lr", report.lr},
                               {"grad_norm", report.grad_norm},
                               {"skipped", report.skipped},
                               {"samples_per_s", report.samples_per_second},
                               {"communication_s", report.communication_seconds}});
        if (report.skipped)
            run.progress.message(
                fmt::format("step {}: skipped, the loss or the gradient is not finite (loss {}, gradient norm {})",
                            report.step, report.loss.total, report.grad_norm));
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - run.start).count();
        const double rate = static_cast<double>(run.samples) / std::max(elapsed, 1e-9);
        const double eta = static_cast<double>((run.total_steps - state.step) * run.per_step) / std::max(rate, 1e-9);
        run.progress.update(
            fmt::format("epoch {}/{}", std::min(state.epoch + (state.batch_in_epoch > 0 ? 1 : 0), options_.epochs),
                        options_.epochs),
            state.step, run.total_steps,
            fmt::format("loss {:.4f}{} {:.1f} samples/s ETA {}", report.loss.total, parts_text(report.loss), rate,
                        ProgressReporter::duration(eta)),
            state.step == run.total_steps);
        if (step_hook_) step_hook_(report);
        run.result.last = report;
    }

    // Validates at the state's step: the log line, a progress message, the hook, and the report in the result.
    void validate_now(Context<B>& ctx, FitRun& run) {
        if (!validate_) return;
        run.progress.finish();
        ValidationReport v = validate_(ctx, run.state.step);
        run.log.write("validation", {{"step", v.step},
                                     {"pairs", v.pairs},
                                     {"loss", v.loss.total},
                                     {"parts", parts_json(v.loss)},
                                     {"ecg_to_text_top1", v.ecg_to_text_top1},
                                     {"text_to_ecg_top1", v.text_to_ecg_top1}});
        run.progress.message(
            fmt::format("validation at step {}: loss {:.4f}, top-1 ECG->report {:.1f}%, report->ECG {:.1f}%", v.step,
                        v.loss.total, 100 * v.ecg_to_text_top1, 100 * v.text_to_ecg_top1));
        if (validation_hook_) validation_hook_(v);
        run.result.validations.push_back(std::move(v));
    }

    // Saves the state with dropout's stream where it is now, keeping the newest keep_checkpoints.
    void checkpoint_now(Context<B>& ctx, FitRun& run) {
        if (options_.checkpoint_dir.empty()) return;
        // Rank 0 writes; the others wait for it (without a time limit while it is alive: a large checkpoint on a
        // slow filesystem takes long), so that a checkpoint the run reports exists for every rank.
        if (comm_.size() > 1) run.state.rank_rng_offsets = gather_offsets(ctx);
        if (comm_.rank() > 0) {
            run.result.checkpoints.push_back(checkpoint_path(options_.checkpoint_dir, run.state.step));
            detail::patient_barrier(comm_);
            return;
        }
        auto& state = run.state;
        std::filesystem::create_directories(options_.checkpoint_dir);
        state.rng_seed = ctx.seed;
        state.rng_offset = ctx.offset;
        const auto path = checkpoint_path(options_.checkpoint_dir, state.step);
        save_checkpoint(path, ctx, model_.arena(), optimizer_, state);
        run.result.checkpoints.push_back(path);
        run.log.write("checkpoint", {{"step", state.step}, {"path", path.string()}});
        auto all = list_checkpoints(options_.checkpoint_dir);
        for (std::size_t i = 0; i + static_cast<std::size_t>(options_.keep_checkpoints) < all.size(); ++i)
            std::filesystem::remove(all[i]);
        if (comm_.size() > 1) detail::patient_barrier(comm_);
    }

    // The result of this run; a run stopped part-way by max_steps also saves its place.
    TrainResult finish_run(Context<B>& ctx, FitRun& run) {
        const auto& state = run.state;
        auto& result = run.result;
        run.progress.finish();
        result.steps = state.step;
        result.total_steps = run.total_steps;
        result.finished = state.step >= run.total_steps;
        result.skipped_steps = state.skipped_steps;
        if (!result.finished && (result.checkpoints.empty() ||
                                 result.checkpoints.back() != checkpoint_path(options_.checkpoint_dir, state.step)))
            checkpoint_now(ctx, run);  // stopped by max_steps: keep the place
        run.log.write(result.finished ? "end" : "stop", {{"step", state.step}, {"skipped_steps", state.skipped_steps}});
        return std::move(result);
    }

    // A checkpoint continues this run only if the run is laid out the same way; otherwise the data order, the
    // schedule or the position in an epoch would silently mean something else.
    void check_resumable(const std::filesystem::path& path, const TrainingState& got, const TrainingState& want,
                         std::int64_t steps_per_epoch) const {
        auto differs = [&](const char* what, const auto& was, const auto& now) {
            fail(
                "'{}' was written by a run with {} = {}, but this run has {} = {}; resume with the same settings, or "
                "start a new checkpoint_dir",
                path.string(), what, was, what, now);
        };
        if (got.pairs != want.pairs) differs("pairs in the source", got.pairs, want.pairs);
        if (got.batch_size != want.batch_size) differs("batch_size", got.batch_size, want.batch_size);
        if (got.accumulation_steps != want.accumulation_steps)
            differs("accumulation_steps", got.accumulation_steps, want.accumulation_steps);
        if (got.epochs != want.epochs) differs("epochs", got.epochs, want.epochs);
        if (got.shuffle != want.shuffle) differs("shuffle", got.shuffle, want.shuffle);
        if (got.data_seed != want.data_seed) differs("seed", got.data_seed, want.data_seed);
        if (got.schedule.base_lr != want.schedule.base_lr) differs("lr", got.schedule.base_lr, want.schedule.base_lr);
        if (got.schedule.warmup_steps != want.schedule.warmup_steps)
            differs("warm-up steps", got.schedule.warmup_steps, want.schedule.warmup_steps);
        if (got.schedule.total_steps != want.schedule.total_steps)
            differs("total steps", got.schedule.total_steps, want.schedule.total_steps);
        if (got.schedule.min_lr != want.schedule.min_lr) differs("min_lr", got.schedule.min_lr, want.schedule.min_lr);
        const std::int64_t micro_per_epoch = steps_per_epoch * want.accumulation_steps;
        if (got.batch_in_epoch >= micro_per_epoch || got.batch_in_epoch % want.accumulation_steps != 0 ||
            got.step != got.epoch * steps_per_epoch + got.batch_in_epoch / want.accumulation_steps ||
            got.step > want.schedule.total_steps)
            fail(
                "'{}': its position (step {}, epoch {}, micro-batch {} of the epoch) is inconsistent with a run of {} "
                "steps per epoch",
                path.string(), got.step, got.epoch, got.batch_in_epoch, steps_per_epoch);
    }

    // In a distributed run each batch is split among the ranks and its embeddings gathered, so the numbers are
    // those of one process; a batch that does not divide among them is evaluated whole by every rank.
    template <class Source>
    ValidationReport run_validation(Context<B>& ctx, Source& source, std::int64_t step) {
        ValidationReport v;
        v.step = step;
        const std::int64_t n = static_cast<std::int64_t>(source.size());
        const int K = comm_.size();
        std::int64_t hits_e = 0, hits_t = 0;
        for (std::int64_t begin = 0; begin < n;) {
            // Batches of batch_size; a last batch of one pair (no negatives) joins the one before it.
            std::int64_t count = std::min(options_.batch_size, n - begin);
            if (n - begin - count == 1) ++count;
            if (count < 2) break;
            const bool split = K > 1 && count % K == 0;
            std::optional<detail::CollectivesScope<B>> whole;
            if (K > 1 && !split) whole.emplace(ctx, nullptr);
            const std::int64_t share = split ? count / K : count, first = begin + (split ? comm_.rank() * share : 0);
            std::vector<std::int64_t> indices(static_cast<std::size_t>(share));
            std::iota(indices.begin(), indices.end(), first);
            const auto batch = to_device(ctx, source.load(indices));
            accumulate(v.loss, model_.evaluate_loss(ctx, batch), static_cast<double>(count));
            HostMatrix e = detail::download_matrix(ctx, model_.encode_ecg(ctx, batch.ecg));
            HostMatrix t = detail::download_matrix(ctx, model_.encode_text(ctx, batch.text));
            if (split) {
                e = detail::gather_rows(*ctx.collectives, e);
                t = detail::gather_rows(*ctx.collectives, t);
            }
            const HostMatrix s = e * t.transpose();
            for (Eigen::Index i = 0; i < s.rows(); ++i) {
                Eigen::Index j;
                s.row(i).maxCoeff(&j);
                hits_e += j == i;
                s.col(i).maxCoeff(&j);
                hits_t += j == i;
            }
            v.pairs += count;
            begin += count;
        }
        if (v.pairs == 0) fail("validation: the validation source has {} pairs; it needs at least 2", n);
        scale(v.loss, 1.0 / static_cast<double>(v.pairs));
        v.ecg_to_text_top1 = static_cast<double>(hits_e) / static_cast<double>(v.pairs);
        v.text_to_ecg_top1 = static_cast<double>(hits_t) / static_cast<double>(v.pairs);
        return v;
    }

    static void accumulate(LossValue& into, const LossValue& v, double weight) {
        if (into.parts.empty())
            for (auto& [k, x] : v.parts) into.parts.emplace_back(k, 0.0);
        into.total += weight * v.total;
        for (std::size_t i = 0; i < v.parts.size(); ++i) into.parts[i].second += weight * v.parts[i].second;
    }
    static void scale(LossValue& v, double s) {
        v.total *= s;
        for (auto& p : v.parts) p.second *= s;
    }
    static nlohmann::json parts_json(const LossValue& v) {
        nlohmann::json j = nlohmann::json::object();
        for (auto& [k, x] : v.parts) j[std::string(k)] = x;
        return j;
    }
    static std::string parts_text(const LossValue& v) {
        if (v.parts.size() < 2) return {};
        std::string s = " (";
        for (std::size_t i = 0; i < v.parts.size(); ++i)
            s += fmt::format("{}{} {:.3f}", i ? " " : "", v.parts[i].first, v.parts[i].second);
        return s + ")";
    }

    SingleProcess single_process_;  // the communicator of a one-process trainer
    Model& model_;
    ReportTokenizer tokenizer_;
    TrainerOptions options_;
    AdamW<B> optimizer_;
    Comm& comm_;
    std::vector<GradientBucket> gradient_buckets_;
    std::function<ValidationReport(Context<B>&, std::int64_t)> validate_;
    std::function<void(const ValidationReport&)> validation_hook_;
    std::function<void(const StepReport&)> step_hook_;
};

template <class Model>
Trainer(Model&, ReportTokenizer, TrainerOptions) -> Trainer<Model, SingleProcess>;
template <class Model, class Comm>
Trainer(Model&, ReportTokenizer, TrainerOptions, Comm&) -> Trainer<Model, Comm>;

}  // namespace fgclep
