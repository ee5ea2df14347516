// Data-parallel training over MPI, run as `mpirun -np 2 test_distributed` (ctest does): two ranks with 8 pairs each
// against one process with the 16 pairs concatenated, in double precision. The one-process reference is computed
// in the same program (a second model, no collectives), so every rank checks its own numbers.
#define DOCTEST_CONFIG_IMPLEMENT
#include "fgclep/data/datasets/mimic_iv_ecg.hpp"
#include "fgclep/distributed/mpi_communicator.hpp"
#include "fgclep/distributed/sync_batchnorm.hpp"
#include "fgclep/features/candidate_source.hpp"
#include "fgclep/features/knowledge_base.hpp"
#include "fgclep/features/validation.hpp"
#include "fgclep/loss/fnm.hpp"
#include "fgclep/loss/infonce.hpp"
#include "fgclep/loss/sigmoid.hpp"
#include "fgclep/models/fgclep.hpp"
#include "fgclep/synth/corpus.hpp"
#include "fgclep/train/trainer.hpp"
#include "tiny_models.hpp"

#include <doctest/doctest.h>

#include <unistd.h>
#include <cmath>
#include <filesystem>

using namespace fgclep;

namespace {

MpiCommunicator* world = nullptr;

constexpr std::int64_t leads = 2, length = 32, pairs_per_rank = 8;

using testing_distributed::PlainEcg;
ReportTokenizer tokenizer() { return testing_distributed::tiny_tokenizer(); }

InMemoryPairs make_pairs(std::int64_t n) {
    const char* reports[] = {
        "sinus rhythm. normal ecg.",        "atrial fibrillation.", "left bundle block.", "right bundle block.",
        "sinus rhythm. left bundle block.", "normal ecg."};
    InMemoryPairs pairs(leads, length);
    HostRng rng(11);
    for (std::int64_t i = 0; i < n; ++i) {
        std::vector<float> ecg(static_cast<std::size_t>(leads * length));
        for (std::size_t k = 0; k < ecg.size(); ++k)
            ecg[k] = static_cast<float>(std::sin(0.1 * static_cast<double>((i % 7 + 1) * k)) + 0.3 * rng.normal());
        pairs.add(ecg, reports[i % 6]);
    }
    return pairs;
}

std::vector<std::int64_t> range(std::int64_t first, std::int64_t count) {
    std::vector<std::int64_t> v(static_cast<std::size_t>(count));
    for (std::int64_t i = 0; i < count; ++i) v[static_cast<std::size_t>(i)] = first + i;
    return v;
}

// max |a - b| / max |b| over one parameter; `floor` bounds the scale from below for gradients that are zero in
// exact arithmetic (an attention key's bias) and rounding noise in practice.
double relative_difference(const std::vector<double>& a, const std::vector<double>& b, double floor = 0) {
    double diff = 0, scale = floor;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, std::abs(a[i] - b[i]));
        scale = std::max(scale, std::abs(b[i]));
    }
    return scale > 0 ? diff / scale : diff;
}

struct StepResult {
    LossValue loss;
    std::map<std::string, std::vector<double>> grads, buffers;
};

// One forward/backward on `pairs`: the whole batch in one process (distributed = false), or this rank's 8 rows
// with the losses over the global batch and the gradients averaged over ranks.
// uneven: rank r's share is 8 - K/2 + r pairs instead of 8 (as when records could not be read).
template <class M>
StepResult gradient_step(M& model, const InMemoryPairs& pairs, bool distributed, bool uneven = false) {
    Context<Cpu<double>> ctx;
    detail::CollectivesScope<Cpu<double>> scope(ctx, distributed ? world : nullptr);
    Trainer<M> helper(model, tokenizer(), TrainerOptions{});
    const std::int64_t K = world->size(), me = world->rank();
    const std::int64_t shift = uneven ? -K / 2 : 0;
    const std::int64_t n = distributed ? pairs_per_rank + shift + me * (uneven ? 1 : 0) : pairs_per_rank * K;
    const std::int64_t first = distributed ? me * (pairs_per_rank + shift) + (uneven ? me * (me - 1) / 2 : 0) : 0;
    const auto batch = helper.to_device(ctx, pairs.load(range(first, n)));
    model.zero_grad(ctx);
    StepResult r;
    r.loss = model.compute_gradients(ctx, batch);
    auto& grads = model.arena().grads();
    if (distributed) world->all_reduce(grads.data(), static_cast<std::size_t>(grads.numel()), ReduceOp::mean);
    for (const auto& e : model.arena().params()) r.grads[e.name] = ctx.to_host(e.param->grad);
    for (const auto& e : model.arena().buffers()) r.buffers[e.name] = ctx.to_host(e.buffer->value);
    return r;
}

// The largest relative difference over every parameter's gradient.
double worst_gradient(const StepResult& a, const StepResult& b, std::string* where = nullptr) {
    double worst = 0, largest = 0;
    for (const auto& [name, g] : b.grads)
        for (double x : g) largest = std::max(largest, std::abs(x));
    for (const auto& [name, g] : b.grads) {
        const double d = relative_difference(a.grads.at(name), g, 1e-6 * largest);
        if (d > worst) {
            worst = d;
            if (where) *where = name;
        }
    }
    return worst;
}

template <class M>
void check_equivalent(const typename M::Options& options) {
    const InMemoryPairs pairs = make_pairs(pairs_per_rank * world->size());
    M one(options, 3), many(options, 3);
    const StepResult ref = gradient_step(one, pairs, false), got = gradient_step(many, pairs, true);
    CHECK(got.loss.total == doctest::Approx(ref.loss.total).epsilon(1e-12));
    REQUIRE(got.loss.parts.size() == ref.loss.parts.size());
    for (std::size_t i = 0; i < ref.loss.parts.size(); ++i) {
        INFO("loss ", ref.loss.parts[i].first);
        CHECK(got.loss.parts[i].second == doctest::Approx(ref.loss.parts[i].second).epsilon(1e-12));
    }
    std::string where;
    const double worst = worst_gradient(got, ref, &where);
    INFO("worst gradient: ", where);
    CHECK(worst <= 1e-10);
    CHECK(ref.grads.size() == got.grads.size());
}

using Plain = FgClep<PlainEcg, Bert, SigmoidLoss, FnmLoss, InfoNceLoss, Cpu<double>>;

Plain::Options plain_options(FnmSource source = FnmSource::projected) {
    Plain::Options o;
    o.ecg = testing_distributed::plain_ecg(leads);
    o.loss<FnmLoss>().source = source;
    return testing_distributed::tiny_text(o);
}

using WithBatchNorm = FgClep<ResNet1D18, Bert, SigmoidLoss, FnmLoss, Cpu<double>>;

WithBatchNorm::Options batchnorm_options() {
    WithBatchNorm::Options o;
    o.ecg.backbone = {.leads = leads, .base_width = 2, .stages = {1, 1}, .input_length = length};
    o.ecg.head.embed_dim = 6;
    o.ecg.head.num_heads = 2;
    o.ecg.head.output_dim = 6;
    return testing_distributed::tiny_text(o);
}

}  // namespace

TEST_CASE("the losses over the global batch and their gradients equal one process's (sigmoid, FNM, InfoNCE)") {
    REQUIRE(world->size() >= 2);
    SUBCASE("FNM's S from the projected text embeddings") { check_equivalent<Plain>(plain_options()); }
    SUBCASE("FNM's S from the pooled text features (all-gathered too)") {
        check_equivalent<Plain>(plain_options(FnmSource::features));
    }
}

TEST_CASE("ranks with unequal shares (records a rank could not read) give one process's losses and gradients") {
    const std::int64_t K = world->size();
    const InMemoryPairs pairs = make_pairs(pairs_per_rank * K);
    Plain one(plain_options(), 3), many(plain_options(), 3);
    // The reference: the same pairs in one process (the uneven shares cover 8K - K/2 + K(K-1)/2 pairs).
    const std::int64_t total = K * (pairs_per_rank - K / 2) + K * (K - 1) / 2;
    Context<Cpu<double>> ctx;
    Trainer<Plain> helper(one, tokenizer(), TrainerOptions{});
    one.zero_grad(ctx);
    const LossValue ref = one.compute_gradients(ctx, helper.to_device(ctx, pairs.load(range(0, total))));
    StepResult want;
    for (const auto& e : one.arena().params()) want.grads[e.name] = ctx.to_host(e.param->grad);
    const StepResult got = gradient_step(many, pairs, true, true);
    CHECK(got.loss.total == doctest::Approx(ref.total).epsilon(1e-12));
    CHECK(worst_gradient(got, want) <= 1e-10);
}

TEST_CASE("without the gradient through the all-gather the equivalence fails") {
    const InMemoryPairs pairs = make_pairs(pairs_per_rank * world->size());
    Plain one(plain_options(), 3), many(plain_options(), 3);
    many.objective().gradient_through_gather = false;
    const StepResult ref = gradient_step(one, pairs, false), got = gradient_step(many, pairs, true);
    CHECK(got.loss.total == doctest::Approx(ref.loss.total).epsilon(1e-12));  // the forward is the same
    CHECK(worst_gradient(got, ref) > 0.1);                                    // the encoders' gradients are 1/K
}

TEST_CASE("ResNet1D with synchronised BatchNorm equals one process; per-rank statistics do not") {
    const InMemoryPairs pairs = make_pairs(pairs_per_rank * world->size());
    WithBatchNorm one(batchnorm_options(), 4), synced(batchnorm_options(), 4), per_rank(batchnorm_options(), 4);
    CHECK(synchronize_batchnorm(synced) > 0);
    const StepResult ref = gradient_step(one, pairs, false);
    const StepResult got = gradient_step(synced, pairs, true);
    CHECK(got.loss.total == doctest::Approx(ref.loss.total).epsilon(1e-12));
    std::string where;
    const double worst = worst_gradient(got, ref, &where);
    INFO("worst gradient: ", where);
    CHECK(worst <= 1e-10);
    for (const auto& [name, b] : ref.buffers) {  // running statistics: from the global batch, unbiased over 16
        INFO(name);
        CHECK(relative_difference(got.buffers.at(name), b) <= 1e-10);
    }
    const StepResult local = gradient_step(per_rank, pairs, true);
    CHECK(worst_gradient(local, ref) > 1e-6);
}

namespace {
std::filesystem::path shared_dir(const std::string& name) {
    double pid = world->rank() == 0 ? static_cast<double>(::getpid()) : 0.0;
    world->all_reduce_sum(std::span<double>(&pid, 1));
    const auto dir = std::filesystem::temp_directory_path() /
                     fmt::format("fgclep-test-distributed-{}-{}", name, static_cast<long>(pid));
    if (world->rank() == 0) {
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
    }
    world->barrier();
    return dir;
}

template <class M>
std::vector<double> parameters(M& model) {
    Context<Cpu<double>> ctx;
    return ctx.to_host(model.arena().values());
}
}  // namespace

TEST_CASE("three AdamW steps of the distributed Trainer and its validation equal one process's") {
    const InMemoryPairs pairs = make_pairs(48);
    TrainerOptions o;
    o.optimizer.lr = 1e-2;
    o.epochs = 1;
    o.batch_size = 16;
    o.max_grad_norm = 1.0;
    o.progress = ProgressMode::off;
    Plain one(plain_options(), 5), many(plain_options(), 5);
    Context<Cpu<double>> ctx1, ctx2;
    // Validation: 21 pairs in batches of 16 and 5; the first batch is split among the ranks, the last (5 does not
    // divide by 2) is evaluated whole by each.
    const InMemoryPairs held_out = make_pairs(21);
    Trainer single(one, tokenizer(), o);
    single.set_validation(held_out);
    const TrainResult a = single.fit(ctx1, pairs);
    Trainer distributed(many, tokenizer(), o, *world);
    distributed.set_validation(held_out);
    const TrainResult b = distributed.fit(ctx2, pairs);
    REQUIRE(a.validations.size() == 1);
    REQUIRE(b.validations.size() == 1);
    CHECK(b.validations[0].pairs == 21);
    CHECK(b.validations[0].loss.total == doctest::Approx(a.validations[0].loss.total).epsilon(1e-10));
    CHECK(b.validations[0].ecg_to_text_top1 == a.validations[0].ecg_to_text_top1);
    CHECK(b.validations[0].text_to_ecg_top1 == a.validations[0].text_to_ecg_top1);
    CHECK(a.steps == 3);
    CHECK(b.steps == 3);
    CHECK(b.last.loss.total == doctest::Approx(a.last.loss.total).epsilon(1e-10));
    CHECK(relative_difference(parameters(many), parameters(one)) <= 1e-10);
    // Every rank holds the same parameters.
    std::vector<double> p = parameters(many), all(p.size() * static_cast<std::size_t>(world->size()));
    world->all_gather(p, all);
    for (int r = 1; r < world->size(); ++r)
        CHECK(std::equal(p.begin(), p.end(), all.begin() + static_cast<std::ptrdiff_t>(r * p.size())));
}

TEST_CASE("a distributed run stopped mid-epoch resumes bit-identical; its loss falls; rank 0 alone writes") {
    const InMemoryPairs pairs = make_pairs(64);
    const auto dir = shared_dir("resume");
    auto options = [&](const std::string& name, std::int64_t max_steps) {
        TrainerOptions o;
        o.optimizer.lr = 3e-3;
        o.epochs = 3;
        o.batch_size = 8;
        o.accumulation_steps = 2;
        o.checkpoint_dir = dir / name;
        o.log_path = dir / (name + ".jsonl");
        o.max_steps = max_steps;
        o.progress = ProgressMode::off;
        return o;
    };
    WithBatchNorm whole(batchnorm_options(), 6);
    synchronize_batchnorm(whole);
    Context<Cpu<double>> c1;
    Trainer t1(whole, tokenizer(), options("whole", 0), *world);
    std::vector<double> losses;
    t1.on_step([&](const StepReport& r) { losses.push_back(r.loss.total); });
    const TrainResult full = t1.fit(c1, pairs);
    CHECK(full.finished);
    CHECK(losses.back() < losses.front());

    {  // stopped after 5 of 12 steps (mid-epoch: 4 steps per epoch)
        WithBatchNorm part(batchnorm_options(), 6);
        synchronize_batchnorm(part);
        Context<Cpu<double>> c2;
        Trainer t2(part, tokenizer(), options("parts", 5), *world);
        CHECK_FALSE(t2.fit(c2, pairs).finished);
    }
    WithBatchNorm resumed(batchnorm_options(), 99);  // other initial weights: the checkpoint must restore them
    synchronize_batchnorm(resumed);
    Context<Cpu<double>> c3;
    Trainer t3(resumed, tokenizer(), options("parts", 0), *world);
    const TrainResult rest = t3.fit(c3, pairs);
    CHECK(rest.resumed);
    CHECK(rest.finished);
    const auto a = parameters(whole), b = parameters(resumed);
    CHECK(std::equal(a.begin(), a.end(), b.begin()));
    Context<Cpu<double>> c4;
    CHECK(c4.to_host(whole.arena().buffer_values()) == c4.to_host(resumed.arena().buffer_values()));
    if (world->rank() == 0) {
        CHECK(std::filesystem::exists(dir / "whole.jsonl"));
        CHECK(!list_checkpoints(dir / "parts").empty());
    }
    world->barrier();
}

TEST_CASE("stage 2's validation split among the ranks gives one process's result") {
    const auto dir = shared_dir("stage2");
    if (world->rank() == 0)
        synth::write_corpus(dir, {.records = 13, .eval_records = 0, .seed = 5, .threads = 1, .progress = false});
    world->barrier();
    const data::EcgDataset dataset = data::load_mimic_iv_ecg(dir);
    features::KnowledgeBase kb = features::KnowledgeBase::builtin();
    const auto candidates = features::propose_candidates(kb, dataset);
    data::PreprocessOptions pre;
    pre.crop = {.keep = 128, .length = 128};
    using Scorer = FgClep<ResNet1D18, Bert, SigmoidLoss>;
    Scorer::Options o;
    o.ecg.backbone = {.leads = 12, .base_width = 2, .stages = {1, 1}, .input_length = 128};
    o.ecg.head.embed_dim = 8;
    o.ecg.head.num_heads = 2;
    o.ecg.head.output_dim = 8;
    o = testing_distributed::tiny_text(o);
    o.text.bert.max_position_embeddings = 32;
    o.text.head = {0, 8, 8};
    o.loss<SigmoidLoss>().logit_scale = std::log(30.0);
    Scorer model(o, 2);
    const ReportTokenizer words(
        text::WordPiece(std::vector<std::string>{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "p", "waves", "qrs",
                                                 "absent", "wide", "st", "t", "wave", "rate", "heart", "."},
                        {.lower_case = true}));
    features::ValidationOptions vo;
    vo.stream.batch_size = 3;
    Context<Cpu<float>> one, many;
    const auto span = std::span<const std::vector<std::string>>(candidates);
    {  // a threshold at the median probability of this (random) model keeps about half the candidates
        const auto first = features::validate_dataset(model, one, words, dataset, data::Preprocessor(pre), span, vo);
        std::vector<double> p;
        for (const auto& r : first.records) p.insert(p.end(), r.probabilities.begin(), r.probabilities.end());
        std::nth_element(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(p.size() / 2), p.end());
        vo.threshold = p[p.size() / 2];
    }
    const auto a = features::validate_dataset(model, one, words, dataset, data::Preprocessor(pre), span, vo);
    detail::CollectivesScope<Cpu<float>> scope(many, world);
    const auto b = features::validate_dataset(model, many, words, dataset, data::Preprocessor(pre), span, vo);
    REQUIRE(a.records.size() == 13);
    REQUIRE(b.records.size() == 13);
    std::size_t kept = 0;
    for (std::size_t i = 0; i < 13; ++i) {
        CAPTURE(i);
        CHECK(b.records[i].index == a.records[i].index);
        CHECK(b.records[i].id == a.records[i].id);
        CHECK(b.records[i].proposed == a.records[i].proposed);
        REQUIRE(b.records[i].probabilities.size() == a.records[i].probabilities.size());
        for (std::size_t j = 0; j < a.records[i].probabilities.size(); ++j)
            CHECK(b.records[i].probabilities[j] == doctest::Approx(a.records[i].probabilities[j]).epsilon(1e-6));
        CHECK(b.records[i].kept_features() == a.records[i].kept_features());
        CHECK(b.records[i].augmented_report == a.records[i].augmented_report);
        kept += a.records[i].kept.size();
    }
    CHECK(b.statistics.summary() == a.statistics.summary());
    CHECK(kept > 0);
}

namespace {
// A user's communicator: MPI underneath, counting what the Trainer reduces.
struct CountingCommunicator {
    using Pending = MpiCommunicator::Pending;
    std::int64_t reduced = 0, reductions = 0, broadcasted = 0;
    int rank() const { return world->rank(); }
    int size() const { return world->size(); }
    template <Backend B, class T>
    void broadcast(Context<B>& ctx, T* data, std::size_t n, int root) {
        broadcasted += static_cast<std::int64_t>(n);
        world->broadcast(ctx, data, n, root);
    }
    template <Backend B, class T>
    Pending start_all_reduce(Context<B>& ctx, T* data, std::size_t n, ReduceOp op) {
        reduced += static_cast<std::int64_t>(n);
        ++reductions;
        return world->start_all_reduce(ctx, data, n, op);
    }
    void barrier() { world->barrier(); }
    Collectives* collectives() { return world; }
};
static_assert(Communicator<CountingCommunicator, Cpu<double>>);
static_assert(Communicator<SingleProcess, Cpu<float>>);
static_assert(Communicator<MpiCommunicator, Cpu<float>>);
}  // namespace

TEST_CASE("a user's communicator type: every gradient is averaged once per optimizer step, in buckets") {
    const InMemoryPairs pairs = make_pairs(32);
    TrainerOptions o;
    o.epochs = 1;
    o.batch_size = 8;
    o.accumulation_steps = 2;  // 2 optimizer steps of 2 micro-batches: reductions on the last micro-batch only
    o.progress = ProgressMode::off;
    o.bucket_bytes = 64 * sizeof(double);  // small buckets: many of them, none across a part of the model
    Plain model(plain_options(), 7);
    CountingCommunicator counting;
    Context<Cpu<double>> ctx;
    Trainer trainer(model, tokenizer(), o, counting);
    CHECK(trainer.fit(ctx, pairs).steps == 2);
    CHECK(counting.reduced == 2 * model.arena().grads().numel());
    CHECK(counting.reductions > 2 * 3);  // more than one bucket per part
    CHECK(counting.broadcasted == model.arena().values().numel() + model.arena().buffer_values().numel());
}

TEST_CASE("the Trainer refuses a global batch that does not divide among the ranks") {
    Plain model(plain_options(), 1);
    TrainerOptions o;
    o.batch_size = 2 * world->size() + 1;
    CHECK_THROWS_WITH_AS(Trainer(model, tokenizer(), o, *world), doctest::Contains("must divide evenly"), Error);
}

int main(int argc, char** argv) {
    MpiOptions options;
    options.timeout = std::chrono::seconds(120);
    MpiCommunicator comm(options);
    world = &comm;
    doctest::Context context(argc, argv);
    if (comm.rank() > 0) context.setOption("out", "/dev/null");  // rank 0 reports; every rank's result counts
    int failed = context.run();
    double any = failed ? 1 : 0;
    comm.all_reduce_sum(std::span<double>(&any, 1));
    if (comm.rank() > 0 && failed) fmt::print(stderr, "rank {}: {} test cases failed\n", comm.rank(), failed);
    return any > 0 ? 1 : 0;
}
