// Data-parallel scaling over MPI: samples/s of the full-size FG-CLEP training step (ResNet1D-50 + BERT-base, sigmoid
// + FNM losses, AdamW) with the global batch split among the ranks, and the time spent communicating. Run it at 1 and
// 2 ranks with benchmarks/distributed_scaling.sh, which prints the comparison.
//
//   mpirun -np K bench_distributed [--batch 8] [--len 5000] [--seq 64] [--steps 2] [--threads 1]
//
// Prints one JSON line (rank 0): ranks, threads per rank, seconds per step and samples/s (the mean over --steps
// steps after one warm-up step), the exposed communication (waiting for the gradient averaging after backward), and
// the time collectives were in flight in all (overlapped with backward or not).
#include "bench_info.hpp"

#include <fgclep/distributed/mpi_communicator.hpp>
#include <fgclep/fgclep.hpp>

#include <fmt/format.h>

#include <cstdlib>
#include <string>

using namespace fgclep;
using Clep = FgClep<ResNet1D50, BertBase, SigmoidLoss, FnmLoss>;

int main(int argc, char** argv) try {
    std::int64_t batch = 8, length = 5000, seq = 64;
    int steps = 2, threads = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string arg = argv[i];
        const long long v = std::atoll(argv[i + 1]);
        if (arg == "--batch")
            batch = v;
        else if (arg == "--len")
            length = v;
        else if (arg == "--seq")
            seq = v;
        else if (arg == "--steps")
            steps = static_cast<int>(v);
        else if (arg == "--threads")
            threads = static_cast<int>(v);
        else
            fail("unknown option {} (--batch, --len, --seq, --steps, --threads)", arg);
    }
    MpiCommunicator comm;
    Context<Cpu<float>> ctx(Cpu<float>::State{threads});

    Clep::Options options;
    options.ecg.backbone.input_length = length;
    Clep model(options, 1);
    // Reports of about `seq` tokens from the BERT-base vocabulary's first words; ECGs of noise.
    std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int w = 0; w < 200; ++w) vocab.push_back(fmt::format("w{}", w));
    const ReportTokenizer tokenizer(text::WordPiece(vocab, {.lower_case = true}), seq);
    InMemoryPairs pairs(12, length);
    HostRng rng(7);
    for (std::int64_t i = 0; i < batch * (steps + 1); ++i) {
        std::vector<float> ecg(static_cast<std::size_t>(12 * length));
        for (auto& x : ecg) x = static_cast<float>(rng.normal());
        std::string report;
        for (std::int64_t t = 0; t + 2 < seq; ++t) report += fmt::format("w{} ", rng.next() % 200);
        pairs.add(ecg, report);
    }
    TrainerOptions o;
    o.epochs = 1;
    o.batch_size = batch;
    o.shuffle = false;
    o.progress = ProgressMode::off;
    Trainer trainer(model, tokenizer, o, comm);
    double seconds = 0, exposed = 0, busy_at_warmup_end = 0;
    trainer.on_step([&](const StepReport& r) {
        if (r.step == 1) {
            busy_at_warmup_end = comm.busy_seconds();
            return;
        }
        seconds += r.seconds;
        exposed += r.communication_seconds;
    });
    trainer.fit(ctx, pairs);
    const double busy = comm.busy_seconds() - busy_at_warmup_end;
    if (comm.rank() == 0)
        fmt::print(
            "{{\"ranks\": {}, \"threads_per_rank\": {}, \"batch\": {}, \"length\": {}, \"seq\": {}, \"steps\": {}, "
            "\"s_per_step\": {:.3f}, \"samples_per_s\": {:.3f}, \"exposed_communication_s_per_step\": {:.3f}, "
            "\"collectives_in_flight_s_per_step\": {:.3f}, \"parameters\": {}, \"cpu\": \"{}\"}}\n",
            comm.size(), threads, batch, length, seq, steps, seconds / steps,
            static_cast<double>(batch) * steps / seconds, exposed / steps, busy / steps, model.parameter_count(),
            fgclep_bench::json_escape(fgclep_bench::cpu_model()));
    return 0;
} catch (const std::exception& e) {
    fmt::print(stderr, "bench_distributed: {}\n", e.what());
    return 1;
}
