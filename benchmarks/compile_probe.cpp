// A user's file as the compile-time goal describes it: FgClep<ResNet1D50, BertBase, SigmoidLoss, FnmLoss> trained
// with the Trainer on in-memory pairs. benchmarks/compile_time.sh times its compilation at -O2, plain header-only
// and with FGCLEP_EXTERN_GEMM (docs/build.md#compile-time). It is compiled, not run.
#include <fgclep/fgclep.hpp>

using namespace fgclep;

int main(int argc, char** argv) {
    using Model = FgClep<ResNet1D50, BertBase, SigmoidLoss, FnmLoss>;
    Model model(Model::Options{}, 1);
    InMemoryPairs pairs(12, 5000);
    pairs.add(std::vector<float>(12 * 5000), "sinus rhythm.");
    TrainerOptions options;
    options.batch_size = 1;
    options.epochs = argc > 1 ? std::atoi(argv[1]) : 1;
    Trainer trainer(model, ReportTokenizer(), options);
    Context<Cpu<float>> ctx(Cpu<float>::State{0, argc > 2 ? parse_matmul_precision(argv[2]) : MatmulPrecision::fp32});
    return trainer.fit(ctx, pairs).finished ? 0 : 1;
}
