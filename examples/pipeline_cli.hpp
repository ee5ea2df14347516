#pragma once
// Shared by the pipeline examples (stage1_clep, stage2_features, stage3_fgclep, fgclep_pipeline): flag parsing and
// the choice of model size at run time (each size is its own C++ type, so a program that accepts both builds both).
#include <fgclep/fgclep.hpp>
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
#include <map>
#include <string>
#include <vector>

namespace cli {

// --name value flags and positional arguments; flags without a value are listed in `switches`.
struct Args {
    std::vector<std::string> positional;
    std::map<std::string, std::string> values;
    std::vector<std::string> switches_set;

    Args(int argc, char** argv, std::vector<std::string> switches) {
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            if (a.rfind("--", 0) == 0) {
                if (std::find(switches.begin(), switches.end(), a) != switches.end()) {
                    switches_set.push_back(a);
                } else if (i + 1 < argc) {
                    values[a] = argv[++i];
                } else {
                    fmt::print(stderr, "{} needs a value\n", a);
                    std::exit(1);
                }
            } else {
                positional.push_back(a);
            }
        }
    }
    bool has(const std::string& name) const {
        return values.count(name) || std::find(switches_set.begin(), switches_set.end(), name) != switches_set.end();
    }
    std::string str(const std::string& name, std::string fallback = {}) const {
        auto it = values.find(name);
        return it == values.end() ? fallback : it->second;
    }
    std::int64_t integer(const std::string& name, std::int64_t fallback) const {
        auto it = values.find(name);
        if (it == values.end()) return fallback;
        char* end = nullptr;
        const long long v = std::strtoll(it->second.c_str(), &end, 10);
        if (it->second.empty() || *end != '\0' || v < 0) {
            fmt::print(stderr, "{} needs a non-negative integer, got '{}'\n", name, it->second);
            std::exit(1);
        }
        return v;
    }
    double real(const std::string& name, double fallback) const {
        auto it = values.find(name);
        if (it == values.end()) return fallback;
        char* end = nullptr;
        const double v = std::strtod(it->second.c_str(), &end);
        if (it->second.empty() || *end != '\0' || !(v >= 0)) {
            fmt::print(stderr, "{} needs a non-negative number, got '{}'\n", name, it->second);
            std::exit(1);
        }
        return v;
    }
    // Refuses flags no one asked about (a typo should not silently train with a default).
    void check_known(const std::vector<std::string>& known) const {
        for (const auto& [k, v] : values)
            if (std::find(known.begin(), known.end(), k) == known.end()) {
                fmt::print(stderr, "unknown option {}\n", k);
                std::exit(1);
            }
    }
};

// Calls fn(model) with a freshly initialised model of the chosen size, on backend B (float).
template <class B = fgclep::Cpu<float>, class Fn>
int with_model(fgclep::pipeline::ModelSize size, std::int64_t vocab_size, std::uint64_t seed, Fn&& fn) {
    using namespace fgclep::pipeline;
    if (size == ModelSize::tiny) {
        TinyModel<B> model(tiny_options<B>(vocab_size), seed);
        return fn(model);
    }
    FullModel<B> model(full_options<B>(vocab_size), seed);
    return fn(model);
}

// The CPU context of every stage program: --threads T (0: all) and --precision fp32|bf16 (the matmul precision,
// docs/performance.md#bf16-mixed-precision; bf16 is the fast choice on CPUs with AVX512_BF16 or AMX).
inline fgclep::Cpu<float>::State cpu_state(const Args& args) {
    return {static_cast<int>(args.integer("--threads", 0)),
            fgclep::parse_matmul_precision(args.str("--precision", "fp32"))};
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
inline const std::vector<std::string> device_flags = {"--device", "--threads", "--precision", "--tf32"};

// Calls fn(ctx) with the context --device names: the CPU (--threads, --precision) or, in a program built with the
// CUDA backend, CUDA device N on a stream of its own (--precision, --tf32 for TF32 tensor-core GEMMs). Stops with
// an error naming the device when there is none, or when the program was built without the CUDA backend.
template <class Fn>
int with_context(const Args& args, const char* program, Fn&& fn) {
    const Device device = parse_device(args.str("--device", "cpu"));
    if (!device.cuda) {
        if (args.has("--tf32")) fgclep::fail("--tf32 is a CUDA option (--device cuda)");
        fgclep::Context<fgclep::Cpu<float>> ctx(cpu_state(args));
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
    ctx.state.allow_tf32 = args.has("--tf32");
    ctx.state.matmul_precision = fgclep::parse_matmul_precision(args.str("--precision", "fp32"));
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

// Calls fn(communicator): an MpiCommunicator when an MPI launcher started the program (the same command then
// trains data-parallel under `mpirun -np K`), else SingleProcess. Ranks other than 0 print nothing on stdout.
// --collective-timeout S: how long a rank waits in one collective before naming the rank that is missing.
template <class Fn>
int with_communicator(const Args& args, const char* program, Fn&& fn) {
    if (!launched_by_mpi()) {
        fgclep::SingleProcess one;
        return fn(one);
    }
#if defined(FGCLEP_WITH_MPI)
    fgclep::MpiOptions options;
    options.timeout =
        std::chrono::milliseconds(static_cast<std::int64_t>(1000 * args.real("--collective-timeout", 600)));
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
    (void)args;
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

// The training flags shared by stage 1 and stage 3. Defaults: the tiny model trains from scratch, so lr 1e-3 (the
// paper's 2e-5 is for a pretrained BERT), batch 64, gradients clipped at norm 5; the full model the paper's recipe
// (lr 2e-5, batch 100). Epochs: the paper's 10 (stage 1) and 3 (stage 3) for the full model; the caller gives the
// tiny model's.
inline const std::vector<std::string> training_flags = {"--epochs",    "--batch-size",        "--lr",
                                                        "--max-steps", "--checkpoint-every",  "--workers",
                                                        "--seed",      "--collective-timeout"};
inline fgclep::pipeline::TrainStageOptions training_options(const Args& args, fgclep::pipeline::ModelSize size,
                                                            std::int64_t tiny_epochs, std::int64_t full_epochs,
                                                            const std::string& prefix = "") {
    using namespace fgclep::pipeline;
    const bool tiny = size == ModelSize::tiny;
    TrainStageOptions o;
    o.preprocess = preprocess_options(size);
    o.trainer.optimizer.lr = args.real(prefix + "--lr", tiny ? 1e-3 : 2e-5);
    o.trainer.batch_size = args.integer("--batch-size", tiny ? 64 : 100);
    o.trainer.epochs = args.integer(prefix + "--epochs", tiny ? tiny_epochs : full_epochs);
    o.trainer.max_steps = args.integer("--max-steps", 0);
    o.trainer.checkpoint_every = args.integer("--checkpoint-every", 0);
    o.trainer.max_grad_norm = tiny ? 5 : 0;
    o.trainer.seed = static_cast<std::uint64_t>(args.integer("--seed", 1));
    o.workers = static_cast<int>(args.integer("--workers", 2));
    o.cache = !args.has("--no-cache");
    return o;
}

}  // namespace cli
