// NCCL, one process per GPU (`mpirun -np 2 test_nccl`; ctest skips it, code 77, where no GPU is present): the
// collectives on device memory, and three steps of the distributed Trainer on Cuda<float> against one process.
#define DOCTEST_CONFIG_IMPLEMENT
#include "fgclep/distributed/nccl_communicator.hpp"
#include "fgclep/loss/sigmoid.hpp"
#include "fgclep/models/fgclep.hpp"
#include "fgclep/train/trainer.hpp"
#include "tiny_models.hpp"

#include <doctest/doctest.h>

#include <cmath>

using namespace fgclep;

namespace {
MpiCommunicator* world = nullptr;
int device = 0;

using Plain = FgClep<testing_distributed::PlainEcg, Bert, SigmoidLoss, Cuda<float>>;

Plain::Options options() {
    Plain::Options o;
    o.ecg = testing_distributed::plain_ecg(2);
    return testing_distributed::tiny_text(o);
}

ReportTokenizer tokenizer() { return testing_distributed::tiny_tokenizer(); }
}  // namespace

TEST_CASE("NCCL averages and broadcasts device memory") {
    Context<Cuda<float>> ctx(cuda::State::create(device, true));
    NcclCommunicator nccl(*world, ctx);
    std::vector<float> mine(1000, static_cast<float>(world->rank() + 1));
    Tensor<Cuda<float>> t = ctx.from_host(Shape{1000}, mine);
    nccl.start_all_reduce(ctx, t.data(), 1000, ReduceOp::mean).wait();
    const float expected = static_cast<float>(world->size() + 1) / 2;
    for (float x : ctx.to_host(t)) REQUIRE(x == doctest::Approx(expected));
    Tensor<Cuda<float>> b = ctx.from_host(Shape{1000}, mine);
    nccl.broadcast(ctx, b.data(), 1000, 0);
    for (float x : ctx.to_host(b)) REQUIRE(x == 1.0f);
}

TEST_CASE("three distributed Trainer steps over NCCL equal one process on the GPU") {
    InMemoryPairs pairs(2, 32);
    const char* reports[] = {"sinus rhythm.", "atrial fibrillation.", "left bundle block.", "normal ecg."};
    for (int i = 0; i < 48; ++i) {
        std::vector<float> ecg(64);
        for (std::size_t k = 0; k < ecg.size(); ++k) ecg[k] = static_cast<float>(std::sin(0.1 * (i % 7 + 1) * k));
        pairs.add(ecg, reports[i % 4]);
    }
    TrainerOptions o;
    o.optimizer.lr = 1e-2;
    o.epochs = 1;
    o.batch_size = 16;
    o.progress = ProgressMode::off;
    Context<Cuda<float>> c1(cuda::State::create(device, true)), c2(cuda::State::create(device, true));
    Plain one(options(), 5), many(options(), 5);
    Trainer single(one, tokenizer(), o);
    single.fit(c1, pairs);
    NcclCommunicator nccl(*world, c2);
    Trainer distributed(many, tokenizer(), o, nccl);
    distributed.fit(c2, pairs);
    const auto a = c1.to_host(one.arena().values()), b = c2.to_host(many.arena().values());
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
        scale = std::max(scale, std::abs(double(a[i])));
    }
    CHECK(diff / scale < 1e-4);
}

int main(int argc, char** argv) {
    MpiCommunicator comm;
    world = &comm;
    // One GPU per rank (NCCL refuses two ranks on one GPU): skipped unless every rank has its own.
    double missing = local_rank() < cuda::device_count() ? 0 : 1;
    comm.all_reduce(&missing, 1, ReduceOp::sum);
    if (missing > 0) {
        if (comm.rank() == 0) fmt::print("test_nccl: skipped, a rank has no CUDA device of its own\n");
        return 77;
    }
    device = local_rank();
    doctest::Context context(argc, argv);
    if (comm.rank() > 0) context.setOption("out", "/dev/null");
    double failed = context.run() ? 1 : 0;
    comm.all_reduce(&failed, 1, ReduceOp::sum);
    return failed > 0 ? 1 : 0;
}
