#pragma once
// Shared by the pipeline programs (stage1_clep, stage2_features, stage3_fgclep, fgclep_pipeline, evaluate): their
// common flags (CLI11, cli.hpp), the model chosen at run time (each size is its own C++ type, so a program that
// accepts both builds both), with its text encoder random or pretrained, the device and the communicator.
#include "cli.hpp"

#include <fgclep/fgclep.hpp>
#include <fgclep/io/hf_checkpoint.hpp>
#include <fgclep/pipeline/model_config.hpp>
#include <fgclep/pipeline/training_stages.hpp>
#if defined(FGCLEP_WITH_CUDA)  // a program linked with fgclep::cuda (CMake option FGCLEP_CUDA)
#include <fgclep/backend/cuda.hpp>
#endif
#if defined(FGCLEP_WITH_NCCL)  // fgclep::nccl: one process per GPU
#include <fgclep/distributed/nccl_communicator.hpp>
#elif defined(FGCLEP_WITH_MPI)  // a program linked with fgclep::mpi (found where MPI is installed)
#include <fgclep/distributed/mpi_communicator.hpp>
#endif

#include <fmt/format.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#ifndef FGCLEP_DEFAULT_VOCAB  // the source tree's copy, for a program run from its build tree (examples/CMakeLists)
#define FGCLEP_DEFAULT_VOCAB ""
#endif

namespace cli {

// --model, --vocab, --text-weights, --freeze-text-layers, --seed: the model a stage builds.
struct ModelFlags {
    std::string model = "tiny";
    std::string vocab;
    std::string text_weights;
    std::optional<std::int64_t> freeze_text_layers;
    std::int64_t seed = 1;

    // `training`: the program trains (stage 1, stage 3), so --freeze-text-layers means something.
    void add_to(CLI::App& app, bool training) {
        app.add_option("--model", model,
                       "tiny: minutes on a CPU, trained from scratch (docs/user-guide.md#3-the-model-sizes); full: the "
                       "paper's architecture (ResNet1D-50, BERT-base, 256-d); paper: full with the paper's run "
                       "settings: the text encoder from --text-weights (Bio_ClinicalBERT), its embeddings and bottom "
                       "9 layers frozen")
            ->check(CLI::IsMember({"tiny", "full", "paper"}))
            ->capture_default_str();
        app.add_option("--vocab", vocab,
                       "WordPiece vocab.txt of a text encoder trained from scratch (default: $FGCLEP_VOCAB, else "
                       "the one installed in <prefix>/share/fgclep, else the source tree's)")
            ->check(CLI::ExistingFile);
        app.add_option("--text-weights", text_weights,
                       "a Hugging Face BERT directory as published (config.json, vocab.txt, pytorch_model.bin or "
                       "model.safetensors, optional tokenizer_config.json), e.g. Bio_ClinicalBERT: its config "
                       "decides the text encoder's architecture, its vocabulary and tokenizer options the "
                       "tokenizer; stage 1 starts from its weights. (The tiny model keeps its from-scratch training "
                       "settings, lr 1e-3 and FNM 0.1 detached, unless --lr says otherwise)")
            ->check(CLI::ExistingDirectory)
            ->excludes("--vocab");
        if (training)
            app.add_option("--freeze-text-layers", freeze_text_layers,
                           "freeze the text encoder's embeddings and its bottom K layers (the FG-CLEP reference: 9, "
                           "MERL: 6); default: 9 with --model paper, else none")
                ->check(cli::non_negative);
        app.add_option("--seed", seed, "seed of the initial weights, the data order and dropout")
            ->check(cli::non_negative)
            ->capture_default_str();
    }
    fgclep::pipeline::ModelSize size() const {
        return model == "tiny" ? fgclep::pipeline::ModelSize::tiny : fgclep::pipeline::ModelSize::full;
    }
    bool paper() const { return model == "paper"; }
    std::int64_t frozen_text_layers() const { return freeze_text_layers.value_or(paper() ? 9 : 0); }
};

// The text side of a stage: the tokenizer and, with --text-weights, the pretrained encoder's directory.
struct TextSetup {
    fgclep::ReportTokenizer tokenizer;
    std::optional<fgclep::io::HfBertDirectory> pretrained;
    std::string description;  // one line: where the vocabulary comes from, its size, casing and token limit
};

inline TextSetup text_setup(const ModelFlags& flags) {
    TextSetup t;
    if (flags.paper() && flags.text_weights.empty())
        fgclep::fail(
            "--model paper starts the text encoder from a pretrained BERT, as the paper does: pass --text-weights "
            "DIR, a Hugging Face directory such as emilyalsentzer/Bio_ClinicalBERT (docs/user-guide.md#the-papers-"
            "run)");
    std::string source;
    if (!flags.text_weights.empty()) {
        t.pretrained = fgclep::io::HfBertDirectory::open(flags.text_weights);
        t.tokenizer = fgclep::pipeline::make_tokenizer(flags.size(), *t.pretrained);
        source = t.pretrained->vocab.string();
    } else {
        const auto vocab = fgclep::pipeline::find_vocab(flags.vocab, FGCLEP_DEFAULT_VOCAB);
        t.tokenizer = fgclep::pipeline::make_tokenizer(flags.size(), vocab);
        source = vocab.string();
    }
    t.description =
        fmt::format("tokenizer: {} ({} tokens, {}, reports cut at {} tokens)", source, t.tokenizer.vocabulary().size(),
                    t.tokenizer.vocabulary().options().lower_case ? "lower-cased" : "cased", t.tokenizer.max_length());
    return t;
}

// How a program uses the model it builds.
struct ModelUse {
    bool load_text_weights = false;  // stage 1: start the text encoder from --text-weights
    bool training = false;           // stage 1 and 3: apply --freeze-text-layers
};

// Calls fn(model) with a freshly initialised model of the chosen size on ctx's backend; with --text-weights its
// text encoder has that checkpoint's architecture and (use.load_text_weights) its weights, the pre-training heads
// the model does not use reported by name; when training, the embeddings and bottom --freeze-text-layers layers
// of the text encoder are frozen. Later stages load the whole model from the stage before (pipeline::load_weights).
template <class B, class Fn>
int with_model(fgclep::Context<B>& ctx, const ModelFlags& flags, const TextSetup& text, ModelUse use, Fn&& fn) {
    using namespace fgclep::pipeline;
    const auto vocab_size = static_cast<std::int64_t>(text.tokenizer.vocabulary().size());
    const auto seed = static_cast<std::uint64_t>(flags.seed);
    auto prepare = [&](auto& model) {
        if (text.pretrained && use.load_text_weights) {
            const fgclep::io::LoadResult r = load_pretrained_text(model, ctx, *text.pretrained);
            std::size_t text_tensors = 0;
            for (const auto& name : r.loaded) text_tensors += name.rfind("lm_model.", 0) == 0;
            fmt::print("text encoder: {} tensors from {}\n{}", text_tensors, text.pretrained->weights.string(),
                       fgclep::io::describe_unused(r));
        }
        if (const std::int64_t k = flags.frozen_text_layers(); use.training && k > 0) {
            const std::int64_t layers = model.options().text.bert.num_hidden_layers;
            if (k > layers)
                fgclep::fail("--freeze-text-layers {}{}: the text encoder has {} layers", k,
                             flags.freeze_text_layers ? "" : " (--model paper's default)", layers);
            if (!text.pretrained)
                fmt::print(
                    "note: freezing layers of a text encoder that starts from random weights (no --text-weights)\n");
            model.text_encoder().freeze_bottom(k);
            fmt::print("text encoder: embeddings and layers 0-{} frozen; {} of {} parameters train\n", k - 1,
                       model.parameter_count(true), model.parameter_count());
        }
        return fn(model);
    };
    if (flags.size() == ModelSize::tiny) {
        auto options = tiny_options<B>(vocab_size);
        if (text.pretrained) options = with_pretrained_text(options, *text.pretrained);
        TinyModel<B> model(options, seed);
        return prepare(model);
    }
    auto options = full_options<B>(vocab_size);
    if (text.pretrained) options = with_pretrained_text(options, *text.pretrained);
    FullModel<B> model(options, seed);
    return prepare(model);
}

// The corpus a stage reads and its data rules: CORPUS_DIR (the stage programs' positional argument), --max-records,
// --report-filter, --nan. Unset, the rules follow --model: the paper's for --model paper (reports: drop empty,
// < 3 words and uninformative ones; records with NaN/Inf discarded), else MERL's (reports of >= 4 words; NaN
// interpolated per lead). docs/datasets.md#report-filters, docs/data-pipeline.md.
struct CorpusFlags {
    std::string corpus;
    std::int64_t max_records = 0;
    std::optional<std::string> report_filter, nan;

    // `positional`: the corpus directory is the program's positional argument (else the program finds it).
    void add_to(CLI::App& app, bool positional = true) {
        if (positional)
            app.add_option("corpus", corpus,
                           "corpus directory in the MIMIC-IV-ECG layout (record_list.csv, "
                           "machine_measurements.csv, files/)")
                ->required()
                ->check(CLI::ExistingDirectory);
        app.add_option("--max-records", max_records, "use the first N ECG-report pairs only (0: all)")
            ->check(cli::non_negative)
            ->capture_default_str();
        app.add_option("--report-filter", report_filter,
                       "which MIMIC-IV-ECG reports train: merl (>= 4 words, 771,693 pairs) or paper (drop empty, "
                       "< 3 words and uninformative reports); default: paper with --model paper, else merl")
            ->check(CLI::IsMember({"merl", "paper"}));
        app.add_option("--nan", nan,
                       "records with NaN/Inf samples: drop (the paper: discarded and counted), interpolate (per "
                       "lead), zero, or error; default: drop with --model paper, else interpolate")
            ->check(CLI::IsMember({"drop", "interpolate", "zero", "error"}));
    }
    fgclep::data::MimicIvEcgOptions corpus_options(const ModelFlags& model) const {
        fgclep::data::MimicIvEcgOptions o;
        o.report_filter =
            fgclep::data::report_filter_from_string(report_filter.value_or(model.paper() ? "paper" : "merl"));
        return o;
    }
    fgclep::data::NanPolicy nan_policy(const ModelFlags& model) const {
        return fgclep::data::nan_policy_from_string(nan.value_or(model.paper() ? "drop" : "interpolate"));
    }
    // The pairs of `root` (default: the positional corpus) under these rules, the first --max-records of them, with a
    // line saying which rules.
    fgclep::data::EcgDataset load(const ModelFlags& model, const std::string& root = {}) const {
        const fgclep::data::MimicIvEcgOptions options = corpus_options(model);
        fgclep::data::EcgDataset pairs = fgclep::data::load_mimic_iv_ecg(root.empty() ? corpus : root, options);
        if (max_records > 0 && max_records < static_cast<std::int64_t>(pairs.entries.size()))
            pairs.entries.resize(static_cast<std::size_t>(max_records));
        fmt::print("{}; records with NaN/Inf: {}\n", fgclep::data::describe_report_filter(options),
                   fgclep::data::to_string(nan_policy(model)));
        return pairs;
    }
};

// --device, --threads, --precision, --tf32: where a stage runs.
struct DeviceFlags {
    std::string device = "cpu";
    std::int64_t threads = 0;
    std::string precision = "fp32";
    bool tf32 = false;

    void add_to(CLI::App& app) {
        app.add_option("--device", device, "cpu, cuda (under mpirun: this rank's GPU on its host) or cuda:N")
            ->capture_default_str();
        app.add_option("--threads", threads, "CPU threads (0: all)")->check(cli::non_negative)->capture_default_str();
        app.add_option("--precision", precision,
                       "matmul precision: fp32, or bf16 (bf16 GEMMs with fp32 accumulation; the fast choice on CPUs "
                       "with AVX512_BF16 or AMX, docs/performance.md#bf16-mixed-precision)")
            ->check(CLI::IsMember({"fp32", "bf16"}))
            ->capture_default_str();
        app.add_flag("--tf32", tf32, "TF32 tensor-core GEMMs for float (--device cuda)");
    }
};

// The CPU context of a stage program: --threads and --precision.
inline fgclep::Cpu<float>::State cpu_state(const DeviceFlags& flags) {
    return {static_cast<int>(flags.threads), fgclep::parse_matmul_precision(flags.precision)};
}

// --device cpu | cuda | cuda:N.
struct Device {
    bool cuda = false;
    int index = 0;
};
inline Device parse_device(const std::string& text) {
    if (text == "cpu") return {};
    if (text == "cuda") {  // under an MPI launcher: the GPU of this rank on its host
        for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"})
            if (const char* r = std::getenv(v)) return {true, std::atoi(r)};
        return {true, 0};
    }
    if (text.rfind("cuda:", 0) == 0 && text.size() > 5 && text.find_first_not_of("0123456789", 5) == std::string::npos)
        return {true, std::atoi(text.c_str() + 5)};
    fgclep::fail("--device {}: expected cpu, cuda or cuda:N (N the device's index)", text);
}

// Calls fn(ctx) with the context --device names: the CPU (--threads, --precision) or, in a program built with the
// CUDA backend, CUDA device N on a stream of its own (--precision, --tf32 for TF32 tensor-core GEMMs). Stops with
// an error naming the device when there is none, or when the program was built without the CUDA backend.
template <class Fn>
int with_context(const DeviceFlags& flags, const char* program, Fn&& fn) {
    const Device device = parse_device(flags.device);
    if (!device.cuda) {
        if (flags.tf32) fgclep::fail("--tf32 is a CUDA option (--device cuda)");
        fgclep::Context<fgclep::Cpu<float>> ctx(cpu_state(flags));
        return fn(ctx);
    }
#if defined(FGCLEP_WITH_CUDA)
    (void)program;  // named only by the error of a build without the CUDA backend
    const int count = fgclep::cuda::device_count();
    if (count == 0)
        fgclep::fail(
            "--device cuda:{}: this machine has no CUDA device (cudaGetDeviceCount found none, or no "
            "driver); run with --device cpu",
            device.index);
    if (device.index >= count)
        fgclep::fail("--device cuda:{}: this machine has {} CUDA device{}: cuda:0 to cuda:{}", device.index, count,
                     count == 1 ? "" : "s", count - 1);
    fgclep::Context<fgclep::Cuda<float>> ctx(fgclep::cuda::State::create(device.index, /*own_stream=*/true));
    ctx.state.allow_tf32 = flags.tf32;
    ctx.state.matmul_precision = fgclep::parse_matmul_precision(flags.precision);
    const fgclep::cuda::StreamScope scope(ctx.state);  // this thread's tensors are cached under the context's stream
    return fn(ctx);
#else
    fgclep::fail(
        "--device cuda:{}: {} was built without the CUDA backend; configure fgclep with -DFGCLEP_CUDA=ON "
        "(nvcc and cuBLAS, docs/backends.md) and build it again",
        device.index, program);
#endif
}
// Whether an MPI launcher (mpirun/mpiexec of Open MPI or MPICH, Slurm's srun) started this process.
inline bool launched_by_mpi() {
    for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"})
        if (std::getenv(v)) return true;
    return false;
}

// Under an MPI launcher, ranks other than 0 print nothing on stdout from here on (errors still go to stderr).
inline void silence_other_ranks() {
    for (const char* v : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"})
        if (const char* r = std::getenv(v); r && std::string(r) != "0") {
            if (!std::freopen("/dev/null", "w", stdout)) fgclep::fail("rank {}: cannot silence stdout", r);
            return;
        }
}

// --collective-timeout S: how long a rank waits in one collective before naming the rank that is missing.
struct DistributedFlags {
    double collective_timeout = 600;
    void add_to(CLI::App& app) {
        app.add_option("--collective-timeout", collective_timeout,
                       "under mpirun: seconds a rank waits in one collective before the job stops with an error "
                       "naming the rank that is missing (docs/distributed.md)")
            ->check(cli::positive)
            ->capture_default_str();
    }
};

// Calls fn(communicator): an MpiCommunicator when an MPI launcher started the program (the same command then
// trains data-parallel under `mpirun -np K`), else SingleProcess. Ranks other than 0 print nothing on stdout.
template <class Fn>
int with_communicator(const DistributedFlags& flags, const char* program, Fn&& fn) {
    if (!launched_by_mpi()) {
        fgclep::SingleProcess one;
        return fn(one);
    }
#if defined(FGCLEP_WITH_MPI)
    fgclep::MpiOptions options;
    options.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(1000 * flags.collective_timeout));
    fgclep::MpiCommunicator comm(options);
    if (comm.rank() > 0 && !std::freopen("/dev/null", "w", stdout))
        fgclep::fail("rank {}: cannot silence stdout", comm.rank());
    if (comm.rank() == 0 && comm.size() > 1)
        fmt::print("data-parallel over {} MPI ranks (this is rank 0; the others print only errors)\n", comm.size());
    try {
        return fn(comm);
    } catch (const std::exception& e) {  // say why, then end the job: the other ranks would wait for this one
        fmt::print(stderr, "{} (rank {} of {}): {}\n", program, comm.rank(), comm.size(), e.what());
        comm.abort();
    }
#else
    (void)flags;
    fgclep::fail(
        "{} was started by an MPI launcher but built without fgclep::mpi; install MPI (Debian: libopenmpi-dev "
        "openmpi-bin) and build it again, or run it without mpirun",
        program);
#endif
}

// Runs a stage on `comm`: over MPI on the CPU, over NCCL (bootstrapped on the MPI communicator) on GPUs, or
// explains why this build cannot.
template <class Comm, class B, class Fn>
int on_communicator(Comm& comm, fgclep::Context<B>& ctx, Fn&& fn) {
    (void)ctx;
    if constexpr (fgclep::Communicator<Comm, B>) return fn(comm);
#if defined(FGCLEP_WITH_NCCL)
    else if constexpr (std::is_same_v<Comm, fgclep::MpiCommunicator>) {
        fgclep::NcclCommunicator nccl(comm, ctx);
        return fn(nccl);
    }
#endif
    else
        fgclep::fail(
            "data-parallel training on {} needs NCCL, and this program was built without fgclep::nccl (configure "
            "fgclep with -DFGCLEP_CUDA=ON where MPI and NCCL are installed; docs/distributed.md), or train on "
            "--device cpu",
            B::name);
}

// The backend of a context that with_context passes.
template <class Ctx>
struct BackendOf;
template <class B>
struct BackendOf<fgclep::Context<B>> {
    using type = B;
};
template <class Ctx>
using backend_of = typename BackendOf<std::decay_t<Ctx>>::type;

// How long and how fast a stage trains: --epochs and --lr, or with a prefix (fgclep_pipeline's --stage3-epochs and
// --stage3-lr). Unset, they take the size's defaults: the tiny model trains from scratch, so lr 1e-3 (the paper's
// 2e-5 is for a pretrained BERT); the full model the paper's recipe, lr 2e-5 and the paper's epochs (10 in stage 1,
// 3 in stage 3); the caller gives the tiny model's epochs.
struct ScheduleFlags {
    std::optional<double> lr;
    std::optional<std::int64_t> epochs;
    std::int64_t tiny_epochs = 4, full_epochs = 10;

    void add_to(CLI::App& app, std::int64_t tiny, std::int64_t full, const std::string& prefix = "--",
                const std::string& what = "") {
        tiny_epochs = tiny;
        full_epochs = full;
        app.add_option(prefix + "epochs", epochs,
                       fmt::format("{}epochs (default: {} for the tiny model, {} for full/paper)", what, tiny, full))
            ->check(cli::non_negative);
        app.add_option(prefix + "lr", lr, what + "peak learning rate (default: 1e-3 tiny, 2e-5 full/paper)")
            ->check(cli::non_negative);
    }
};

// The rest of the training flags shared by stage 1 and stage 3.
struct TrainingFlags {
    std::optional<std::int64_t> batch_size;
    std::int64_t max_steps = 0, checkpoint_every = 0, workers = 2;
    bool no_cache = false;

    void add_to(CLI::App& app) {
        app.add_option("--batch-size", batch_size,
                       "global batch (over all ranks under mpirun; default: 64 tiny, the paper's 100 full/paper)")
            ->check(cli::positive);
        app.add_option("--max-steps", max_steps,
                       "stop after this many steps in all (0: train to the end); run again "
                       "to continue")
            ->check(cli::non_negative)
            ->capture_default_str();
        app.add_option("--checkpoint-every", checkpoint_every, "steps between checkpoints (0: each epoch's end)")
            ->check(cli::non_negative)
            ->capture_default_str();
        app.add_option("--workers", workers, "threads reading and preprocessing records")
            ->check(cli::positive)
            ->capture_default_str();
        app.add_flag("--no-cache", no_cache, "read the records afresh instead of keeping a preprocessed cache");
    }

    fgclep::pipeline::TrainStageOptions options(fgclep::pipeline::ModelSize size, const ScheduleFlags& schedule,
                                                std::int64_t seed) const {
        using namespace fgclep::pipeline;
        const bool tiny = size == ModelSize::tiny;
        TrainStageOptions o;
        o.preprocess = preprocess_options(size);
        o.trainer.optimizer.lr = schedule.lr.value_or(tiny ? 1e-3 : 2e-5);
        o.trainer.batch_size = batch_size.value_or(tiny ? 64 : 100);
        o.trainer.epochs = schedule.epochs.value_or(tiny ? schedule.tiny_epochs : schedule.full_epochs);
        o.trainer.max_steps = max_steps;
        o.trainer.checkpoint_every = checkpoint_every;
        o.trainer.max_grad_norm = tiny ? 5 : 0;
        o.trainer.seed = static_cast<std::uint64_t>(seed);
        o.workers = static_cast<int>(workers);
        o.cache = !no_cache;
        return o;
    }
};

}  // namespace cli
