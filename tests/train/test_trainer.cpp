// Trainer and checkpoints: exact resume (bit-for-bit on the CPU), corrupted and truncated checkpoints, the
// JSON-lines log, validation, skipped non-finite steps, accumulation, and errors.
#include "fixture.hpp"

#include "fgclep/loss/fnm.hpp"
#include "fgclep/loss/sigmoid.hpp"
#include "fgclep/models/fgclep.hpp"
#include "fgclep/train/trainer.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>

using namespace fgclep;

namespace {

std::size_t dtype_size_of(const std::string& dtype) { return io::dtype_size(dtype); }

using Small = FgClep<ResNet1D18, Bert, SigmoidLoss, FnmLoss>;

Small::Options small_options() {
    Small::Options o;
    o.ecg.backbone = {.leads = 2, .base_width = 2, .stages = {1, 1}, .input_length = 64};
    o.ecg.head.embed_dim = 8;
    o.ecg.head.num_heads = 2;
    o.ecg.head.output_dim = 8;
    o.text.bert.vocab_size = 16;
    o.text.bert.hidden_size = 8;
    o.text.bert.num_hidden_layers = 1;
    o.text.bert.num_attention_heads = 2;
    o.text.bert.intermediate_size = 16;
    o.text.bert.max_position_embeddings = 16;
    o.text.bert.hidden_dropout_prob = 0.1;  // dropout on: resume must restore the random stream too
    o.text.bert.attention_probs_dropout_prob = 0.1;
    o.text.head = {0, 8, 8};
    return o;
}

ReportTokenizer small_tokenizer() {
    std::vector<std::string> vocab{"[PAD]", "[UNK]",  "[CLS]",        "[SEP]", "[MASK]", "sinus", "rhythm", "normal",
                                   "ecg",   "atrial", "fibrillation", "block", "left",   "right", "bundle", "."};
    return ReportTokenizer(text::WordPiece(vocab, {.lower_case = true}), 12);
}

InMemoryPairs small_pairs(std::int64_t n, std::uint64_t seed = 5) {
    const char* reports[] = {"sinus rhythm. normal ecg.", "atrial fibrillation.", "left bundle block.",
                             "right bundle block.", "sinus rhythm. left bundle block."};
    InMemoryPairs pairs(2, 64);
    HostRng rng(seed);
    for (std::int64_t i = 0; i < n; ++i) {
        std::vector<float> ecg(128);
        for (std::size_t k = 0; k < ecg.size(); ++k)
            ecg[k] = static_cast<float>(std::sin(0.05 * static_cast<double>((i % 5 + 1) * k)) + 0.1 * rng.normal());
        pairs.add(ecg, reports[i % 5]);
    }
    return pairs;
}

std::filesystem::path fresh_dir(const std::string& name) {
    auto dir =
        std::filesystem::temp_directory_path() / ("fgclep-test-trainer-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

TrainerOptions small_run(const std::filesystem::path& dir) {
    TrainerOptions o;
    o.optimizer.lr = 1e-3;
    o.epochs = 2;
    o.batch_size = 4;
    o.accumulation_steps = 2;
    o.max_grad_norm = 1.0;
    o.checkpoint_dir = dir / "ckpt";
    o.log_path = dir / "log.jsonl";
    o.progress = ProgressMode::off;
    return o;
}

// Byte-for-byte equality (NaN payloads and signed zeros included), as the resume guarantee states.
template <class T>
bool same_bytes(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// Everything a checkpoint load may write: parameters, buffers (BatchNorm running statistics), counters
// (num_batches_tracked), both AdamW moments, its per-parameter step counts and its step count.
struct TrainingSnapshot {
    std::vector<float> values, buffers, exp_avg, exp_avg_sq;
    std::vector<std::int64_t> counters, parameter_steps;
    std::int64_t step_count = 0;
};

TrainingSnapshot snapshot(Context<Cpu<float>>& ctx, const ParameterArena<Cpu<float>>& arena,
                          const AdamW<Cpu<float>>& optimizer) {
    TrainingSnapshot s;
    s.values = ctx.to_host(arena.values());
    s.buffers = ctx.to_host(arena.buffer_values());
    for (const auto& c : arena.counters()) s.counters.push_back(c.counter->value);
    s.exp_avg = ctx.to_host(optimizer.exp_avg());
    s.exp_avg_sq = ctx.to_host(optimizer.exp_avg_sq());
    s.parameter_steps = optimizer.parameter_steps();
    s.step_count = optimizer.step_count();
    return s;
}

// Checks, part by part (so that a failure says which part changed), that two snapshots are identical.
void check_same(const TrainingSnapshot& a, const TrainingSnapshot& b) {
    CHECK(same_bytes(a.values, b.values));
    CHECK(same_bytes(a.buffers, b.buffers));
    CHECK(a.counters == b.counters);
    CHECK(same_bytes(a.exp_avg, b.exp_avg));
    CHECK(same_bytes(a.exp_avg_sq, b.exp_avg_sq));
    CHECK(a.parameter_steps == b.parameter_steps);
    CHECK(a.step_count == b.step_count);
}

// Gives an optimizer a state no checkpoint of these tests holds: step 5, unequal per-parameter counts, moments
// that differ element by element. A refused load that wrote any of it would show.
void distinct_optimizer_state(Context<Cpu<float>>& ctx, const ParameterArena<Cpu<float>>& arena,
                              AdamW<Cpu<float>>& optimizer) {
    const auto n = static_cast<std::size_t>(arena.values().numel());
    std::vector<float> m(n), v(n);
    for (std::size_t i = 0; i < n; ++i) {
        m[i] = 1e-3f * static_cast<float>(i % 7) - 3e-3f;
        v[i] = 1e-4f * static_cast<float>(i % 5 + 1);
    }
    std::vector<std::int64_t> steps(arena.params().size(), 5);
    steps[0] = 3;
    optimizer.load_state(ctx, 5, steps, m, v);
}

// A copy of checkpoint `good` with `edit` applied to the tensors' bytes and `metadata` overriding entries, its
// checksum recomputed: a forged file that passes the checksum.
io::SafetensorsWriter forged(const io::SafetensorsFile& good,
                             const std::function<void(const std::string&, std::vector<char>&)>& edit,
                             const std::map<std::string, std::string>& metadata = {}) {
    io::SafetensorsWriter w;
    for (const auto& name : good.names()) {
        const auto bytes = good.bytes(name);
        std::vector<char> data(bytes.begin(), bytes.end());
        if (edit) edit(name, data);
        w.add_raw(name, good.entry(name).dtype, good.shape(name), data.data(), data.size());
    }
    for (const auto& [k, v] : good.metadata()) w.metadata(k, v);
    for (const auto& [k, v] : metadata) w.metadata(k, v);
    w.metadata("crc32", detail::checkpoint_crc(w.content_crc32(), w.metadata()));
    return w;
}

std::vector<nlohmann::json> read_log(const std::filesystem::path& path) {
    std::vector<nlohmann::json> lines;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
    return lines;
}

}  // namespace

TEST_CASE("train N steps, stop, resume, train M more: bit-for-bit the parameters of N + M uninterrupted steps") {
    auto pairs = small_pairs(26);  // 3 steps of 2 x 4 pairs per epoch; 2 pairs left over each epoch
    const auto dir = fresh_dir("resume");

    Context<Cpu<float>> ctx_a;
    Small a(small_options(), 3);
    Trainer trainer_a(a, small_tokenizer(), small_run(dir / "a"));
    const TrainResult full = trainer_a.fit(ctx_a, pairs);
    CHECK(full.finished);
    CHECK(full.steps == 6);
    CHECK(full.total_steps == 6);

    // Stop after 4 steps (mid-epoch), then resume with a fresh model object that starts from other weights.
    Context<Cpu<float>> ctx_b;
    {
        Small b(small_options(), 3);
        auto opts = small_run(dir / "b");
        opts.max_steps = 4;
        Trainer trainer_b(b, small_tokenizer(), opts);
        const TrainResult part = trainer_b.fit(ctx_b, pairs);
        CHECK_FALSE(part.finished);
        CHECK(part.steps == 4);
        REQUIRE(latest_checkpoint(dir / "b" / "ckpt"));
        CHECK(latest_checkpoint(dir / "b" / "ckpt")->filename() == "checkpoint-00000004.safetensors");
    }
    Context<Cpu<float>> ctx_c;  // a new process, in effect: its random stream comes from the checkpoint
    Small c(small_options(), 99);
    Trainer trainer_c(c, small_tokenizer(), small_run(dir / "b"));
    const TrainResult rest = trainer_c.fit(ctx_c, pairs);
    CHECK(rest.resumed);
    CHECK(rest.finished);
    CHECK(rest.steps == 6);

    const auto va = ctx_a.to_host(a.arena().values()), vc = ctx_c.to_host(c.arena().values());
    REQUIRE(va.size() == vc.size());
    CHECK(std::memcmp(va.data(), vc.data(), va.size() * sizeof(float)) == 0);
    const auto ba = ctx_a.to_host(a.arena().buffer_values()), bc = ctx_c.to_host(c.arena().buffer_values());
    CHECK(std::memcmp(ba.data(), bc.data(), ba.size() * sizeof(float)) == 0);
    const auto ma = ctx_a.to_host(trainer_a.optimizer().exp_avg_sq()),
               mc = ctx_c.to_host(trainer_c.optimizer().exp_avg_sq());
    CHECK(std::memcmp(ma.data(), mc.data(), ma.size() * sizeof(float)) == 0);
    // Both moments and the step counts (a resume that dropped exp_avg, or restarted the bias correction, differs).
    const auto sa = snapshot(ctx_a, a.arena(), trainer_a.optimizer()),
               sc = snapshot(ctx_c, c.arena(), trainer_c.optimizer());
    check_same(sa, sc);
    CHECK(sa.step_count == 6);
    CHECK(sa.parameter_steps == std::vector<std::int64_t>(a.arena().params().size(), 6));
    CHECK(std::any_of(sa.exp_avg.begin(), sa.exp_avg.end(), [](float x) { return x != 0; }));
    CHECK(ctx_a.offset == ctx_c.offset);
    CHECK(full.last.loss.total == rest.last.loss.total);
    // Training did move the weights (the comparison above is not between two untouched models).
    Small untouched(small_options(), 3);
    CHECK(std::memcmp(va.data(), ctx_a.to_host(untouched.arena().values()).data(), va.size() * sizeof(float)) != 0);

    // Keep only the newest checkpoints (keep_checkpoints = 2).
    CHECK(list_checkpoints(dir / "b" / "ckpt").size() == 2);

    // The log: the resumed run appended to it; every step has its line.
    const auto log = read_log(dir / "b" / "log.jsonl");
    std::int64_t steps = 0, resumes = 0;
    for (auto& l : log) {
        steps += l["event"] == "step";
        resumes += l["event"] == "resume";
        if (l["event"] == "step") {
            CHECK(l["parts"].contains("sigmoid_loss"));
            CHECK(l["parts"].contains("fnm_loss"));
            CHECK(l["lr"].get<double>() >= 0);
            CHECK(l.contains("grad_norm"));
            CHECK(l.contains("samples_per_s"));
        }
    }
    CHECK(steps == 6);
    CHECK(resumes == 1);
    CHECK(log.front()["event"] == "start");
    CHECK(log.back()["event"] == "end");
    std::filesystem::remove_all(dir);
}

TEST_CASE("a checkpoint holds the model under its PyTorch names, the optimizer and the training state") {
    auto pairs = small_pairs(16);
    const auto dir = fresh_dir("contents");
    Context<Cpu<float>> ctx;
    Small model(small_options(), 1);
    auto opts = small_run(dir);
    opts.epochs = 1;
    Trainer trainer(model, small_tokenizer(), opts);
    trainer.fit(ctx, pairs);
    const auto path = *latest_checkpoint(opts.checkpoint_dir);
    const auto f = io::SafetensorsFile::read(path);
    CHECK(f.contains("ecg_encoder.conv1.weight"));
    CHECK(f.contains("lm_model.embeddings.word_embeddings.weight"));
    CHECK(f.contains("sigmoid_loss.logit_bias"));
    CHECK(f.contains("ecg_encoder.bn1.running_mean"));
    CHECK(f.contains("optimizer.exp_avg.proj_t.0.weight"));
    CHECK(f.shape("optimizer.exp_avg_sq.proj_t.0.weight") == Shape{8, 8});
    CHECK(f.get<std::int64_t>("optimizer.step.proj_t.0.weight").at(0) == 2);
    CHECK(f.metadata().at("format") == "fgclep.checkpoint");
    const auto state = nlohmann::json::parse(f.metadata().at("training_state"));
    CHECK(state["step"] == 2);
    CHECK(state["epoch"] == 1);
    CHECK(state["schedule"]["total_steps"] == 2);
    // The values are the model's.
    const auto w = f.get<float>("proj_t.2.bias");
    const auto m = ctx.to_host(model.parameter("proj_t.2.bias").value);
    CHECK(w == m);
    std::filesystem::remove_all(dir);
}

TEST_CASE("corrupted or truncated checkpoints give an error naming the file, and change nothing") {
    auto pairs = small_pairs(8);
    const auto dir = fresh_dir("corrupt");
    Context<Cpu<float>> ctx;
    Small model(small_options(), 1);
    auto opts = small_run(dir);
    opts.epochs = 1;
    Trainer trainer(model, small_tokenizer(), opts);
    trainer.fit(ctx, pairs);
    const auto good = *latest_checkpoint(opts.checkpoint_dir);
    std::ifstream in(good, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

    Small other(small_options(), 2);
    AdamW<Cpu<float>> optimizer(other.arena());
    distinct_optimizer_state(ctx, other.arena(), optimizer);
    // Parameters, buffers, counters and the whole optimizer state: a refused checkpoint changes none of them.
    const TrainingSnapshot before = snapshot(ctx, other.arena(), optimizer);
    {
        // The checkpoint differs from that state in every part, so a load that wrote any part would show.
        Small loaded(small_options(), 2);
        AdamW<Cpu<float>> loaded_optimizer(loaded.arena());
        distinct_optimizer_state(ctx, loaded.arena(), loaded_optimizer);
        load_checkpoint(good, ctx, loaded.arena(), loaded_optimizer);
        const TrainingSnapshot after = snapshot(ctx, loaded.arena(), loaded_optimizer);
        REQUIRE_FALSE(same_bytes(after.values, before.values));
        REQUIRE_FALSE(same_bytes(after.buffers, before.buffers));
        REQUIRE(after.counters != before.counters);
        REQUIRE_FALSE(same_bytes(after.exp_avg, before.exp_avg));
        REQUIRE_FALSE(same_bytes(after.exp_avg_sq, before.exp_avg_sq));
        REQUIRE(after.parameter_steps != before.parameter_steps);
        REQUIRE(after.step_count != before.step_count);
    }
    auto unchanged = [&] { check_same(snapshot(ctx, other.arena(), optimizer), before); };

    const auto flipped = dir / "flipped.safetensors";
    {
        std::string b = bytes;
        b[b.size() - 5] ^= 0x10;  // a bit of the last tensor
        std::ofstream(flipped, std::ios::binary) << b;
    }
    CHECK_THROWS_WITH(load_checkpoint(flipped, ctx, other.arena(), optimizer),
                      doctest::Contains((flipped.string() + "' is corrupt").c_str()));
    unchanged();

    const auto truncated = dir / "truncated.safetensors";
    std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    CHECK_THROWS_WITH(load_checkpoint(truncated, ctx, other.arena(), optimizer),
                      doctest::Contains((truncated.string() + "' is truncated").c_str()));
    unchanged();

    const auto empty = dir / "empty.safetensors";
    std::ofstream(empty, std::ios::binary) << "";
    CHECK_THROWS_WITH(load_checkpoint(empty, ctx, other.arena(), optimizer), doctest::Contains(empty.string().c_str()));
    unchanged();

    // A weights-only safetensors file (not a training checkpoint).
    const auto weights = dir / "weights.safetensors";
    {
        io::SafetensorsWriter w;
        io::add_state(w, other.arena(), ctx.state);
        w.write(weights);
    }
    CHECK_THROWS_WITH(load_checkpoint(weights, ctx, other.arena(), optimizer),
                      doctest::Contains("is not an fgclep training checkpoint"));
    unchanged();

    // A checkpoint of a different model: the names do not match.
    using Other = FgClep<ResNet1D18, Bert, SigmoidLoss>;
    Other::Options oo;
    oo.ecg = small_options().ecg;
    oo.text = small_options().text;
    Other different(oo);
    AdamW<Cpu<float>> different_optimizer(different.arena());
    CHECK_NOTHROW(load_checkpoint(good, ctx, different.arena(), different_optimizer));  // a subset of the names: fine
    Small::Options wider = small_options();
    wider.text.head = {0, 16, 8};
    Small mismatched(wider);
    AdamW<Cpu<float>> mismatched_optimizer(mismatched.arena());
    distinct_optimizer_state(ctx, mismatched.arena(), mismatched_optimizer);
    const TrainingSnapshot mismatched_before = snapshot(ctx, mismatched.arena(), mismatched_optimizer);
    CHECK_THROWS_WITH(load_checkpoint(good, ctx, mismatched.arena(), mismatched_optimizer),
                      doctest::Contains("has shape"));
    check_same(snapshot(ctx, mismatched.arena(), mismatched_optimizer), mismatched_before);

    // Resuming a run whose newest checkpoint is corrupt stops with the file's name (it does not start over).
    std::filesystem::copy_file(flipped, checkpoint_path(opts.checkpoint_dir, 99));
    Trainer again(other, small_tokenizer(), opts);
    CHECK_THROWS_WITH(again.fit(ctx, pairs), doctest::Contains("checkpoint-00000099.safetensors' is corrupt"));
    unchanged();
    std::filesystem::remove_all(dir);
}

TEST_CASE("a step with a non-finite loss is skipped and counted; the weights stay finite") {
    InMemoryPairs pairs(2, 64);
    auto good = small_pairs(8);
    for (std::int64_t i = 0; i < 8; ++i) {
        const std::int64_t idx[] = {i};
        auto p = good.load(idx);
        if (i == 0) p.ecg[3] = std::numeric_limits<float>::quiet_NaN();
        pairs.add(p.ecg, p.reports[0]);
    }
    Context<Cpu<float>> ctx;
    Small model(small_options(), 1);
    auto opts = small_run(fresh_dir("nan"));
    opts.checkpoint_dir.clear();
    opts.log_path.clear();
    opts.accumulation_steps = 1;
    opts.shuffle = false;  // pair 0 (the NaN) is in the first batch, pairs 4-7 in the second
    opts.epochs = 1;
    Trainer trainer(model, small_tokenizer(), opts);
    std::vector<StepReport> reports;
    trainer.on_step([&](const StepReport& r) { reports.push_back(r); });
    const TrainResult r = trainer.fit(ctx, pairs);
    CHECK(r.skipped_steps == 1);
    REQUIRE(reports.size() == 2);
    CHECK(reports[0].skipped);
    CHECK_FALSE(reports[1].skipped);
    for (float v : ctx.to_host(model.arena().values())) REQUIRE(std::isfinite(v));
}

TEST_CASE("accumulating two micro-batches gives the mean of their gradients") {
    auto pairs = small_pairs(8);
    auto opts = small_run(fresh_dir("accumulate"));
    opts.checkpoint_dir.clear();
    opts.log_path.clear();
    opts.shuffle = false;
    opts.epochs = 1;
    opts.max_grad_norm = 0;
    Context<Cpu<double>> ctx;
    using M = FgClep<ResNet1D18, Bert, SigmoidLoss, FnmLoss, Cpu<double>>;
    M::Options mo;
    mo.ecg = small_options().ecg;
    mo.text = small_options().text;
    mo.text.bert.hidden_dropout_prob = mo.text.bert.attention_probs_dropout_prob = 0;
    M model(mo, 4);
    Trainer trainer(model, small_tokenizer(), opts);
    // What the trainer computes for one step of 2 x 4 pairs, by hand:
    std::vector<double> expected(static_cast<std::size_t>(model.arena().grads().numel()), 0.0);
    for (std::int64_t part = 0; part < 2; ++part) {
        model.zero_grad(ctx);
        std::vector<std::int64_t> idx{part * 4, part * 4 + 1, part * 4 + 2, part * 4 + 3};
        model.compute_gradients(ctx, trainer.to_device(ctx, pairs.load(idx)));
        const auto g = ctx.to_host(model.arena().grads());
        for (std::size_t i = 0; i < g.size(); ++i) expected[i] += g[i] / 2;
    }
    model.zero_grad(ctx);
    for (std::int64_t part = 0; part < 2; ++part) {
        std::vector<std::int64_t> idx{part * 4, part * 4 + 1, part * 4 + 2, part * 4 + 3};
        model.compute_gradients(ctx, trainer.to_device(ctx, pairs.load(idx)), 0.5);
    }
    const auto got = ctx.to_host(model.arena().grads());
    for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == doctest::Approx(expected[i]).epsilon(1e-12));
}

TEST_CASE("validation reports loss and in-batch retrieval; progress lines show loss, rate and ETA") {
    auto pairs = small_pairs(16);
    auto held_out = small_pairs(10, 77);
    const auto dir = fresh_dir("validation");
    Context<Cpu<float>> ctx;
    Small model(small_options(), 1);
    auto opts = small_run(dir);
    opts.checkpoint_dir.clear();
    opts.validate_every = 1;
    opts.progress = ProgressMode::lines;
    Trainer trainer(model, small_tokenizer(), opts);
    std::vector<ValidationReport> seen;
    trainer.set_validation(held_out, [&](const ValidationReport& v) { seen.push_back(v); });
    // Capture stderr, where progress goes.
    std::fflush(stderr);
    const auto capture = dir / "stderr.txt";
    const int saved = ::dup(::fileno(stderr));
    std::FILE* file = std::fopen(capture.c_str(), "w");
    ::dup2(::fileno(file), ::fileno(stderr));
    const TrainResult r = trainer.fit(ctx, pairs);
    std::fflush(stderr);
    ::dup2(saved, ::fileno(stderr));
    std::fclose(file);
    CHECK(r.validations.size() == 4);
    REQUIRE(seen.size() == 4);
    CHECK(seen[0].pairs == 10);
    CHECK(seen[0].ecg_to_text_top1 >= 0);
    CHECK(seen[0].ecg_to_text_top1 <= 1);
    CHECK(std::isfinite(seen[3].loss.total));
    std::ifstream in(capture);
    const std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(out.find("epoch 1/2") != std::string::npos);
    CHECK(out.find("samples/s ETA") != std::string::npos);
    CHECK(out.find("sigmoid_loss") != std::string::npos);
    CHECK(out.find("validation at step 4") != std::string::npos);
    int validations = 0;
    for (auto& l : read_log(dir / "log.jsonl")) validations += l["event"] == "validation";
    CHECK(validations == 4);
    std::filesystem::remove_all(dir);
}

TEST_CASE("trainer errors say what to change") {
    auto pairs = small_pairs(5);
    Context<Cpu<float>> ctx;
    Small model(small_options(), 1);
    auto opts = small_run(fresh_dir("errors"));
    opts.checkpoint_dir.clear();
    opts.log_path.clear();
    Trainer trainer(model, small_tokenizer(), opts);
    CHECK_THROWS_WITH(
        trainer.fit(ctx, pairs),
        doctest::Contains(
            "the source has 5 pairs, fewer than one optimizer step needs (batch_size 4 x accumulation_steps 2)"));
    opts.batch_size = 1;
    CHECK_THROWS_WITH(Trainer(model, small_tokenizer(), opts), doctest::Contains("batch_size >= 2"));
    CHECK_THROWS_WITH(Trainer(model, ReportTokenizer(), small_run("x")), doctest::Contains("no vocabulary"));
    CHECK_THROWS_WITH(pairs.add(std::vector<float>(3), "x"),
                      doctest::Contains("pair 5 has 3 samples, expected 2 leads x 64 = 128"));
    // Resuming with a different schedule is refused.
    const auto dir = fresh_dir("schedule");
    auto run = small_run(dir);
    run.epochs = 1;
    auto eight = small_pairs(8);
    Trainer first(model, small_tokenizer(), run);
    first.fit(ctx, eight);
    run.epochs = 3;
    Trainer second(model, small_tokenizer(), run);
    CHECK_THROWS_WITH(second.fit(ctx, eight),
                      doctest::Contains("was written by a run with epochs = 1, but this run has epochs = 3"));
    run.epochs = 1;
    run.optimizer.lr = 5e-4;
    Trainer third(model, small_tokenizer(), run);
    CHECK_THROWS_WITH(third.fit(ctx, eight), doctest::Contains("lr = 0.001, but this run has lr = 0.0005"));
    // The same number of steps laid out differently (one step of 2 x 4 pairs vs one of 4 x 2) is refused too.
    run.optimizer.lr = 1e-3;
    run.batch_size = 2;
    run.accumulation_steps = 4;
    Trainer fourth(model, small_tokenizer(), run);
    CHECK_THROWS_WITH(fourth.fit(ctx, eight), doctest::Contains("batch_size = 4, but this run has batch_size = 2"));
    auto stop_early = small_run(dir);
    stop_early.checkpoint_dir.clear();
    stop_early.max_steps = 1;
    CHECK_THROWS_WITH(Trainer(model, small_tokenizer(), stop_early),
                      doctest::Contains("max_steps stops a run part-way"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("checkpoints with consistent checksums but inconsistent contents are refused, not trusted") {
    auto pairs = small_pairs(8);
    const auto dir = fresh_dir("tampered");
    Context<Cpu<float>> ctx;
    Small model(small_options(), 1);
    auto opts = small_run(dir);
    opts.epochs = 1;
    Trainer trainer(model, small_tokenizer(), opts);
    trainer.fit(ctx, pairs);
    const auto good_path = *latest_checkpoint(opts.checkpoint_dir);
    const auto good = io::SafetensorsFile::read(good_path);
    AdamW<Cpu<float>> optimizer(model.arena());

    // Rewrites the checkpoint with `edit` applied to one tensor; `resum` recomputes the checksum (a forged file).
    auto rewrite = [&](const std::string& target, const std::string& dtype, const Shape& shape, bool resum) {
        io::SafetensorsWriter w;
        for (const auto& name : good.names()) {
            const auto bytes = good.bytes(name);
            if (name == target) {
                std::vector<char> data(dtype_size_of(dtype) * static_cast<std::size_t>(shape.numel()), 0);
                std::memcpy(data.data(), bytes.data(), std::min(data.size(), bytes.size()));
                w.add_raw(name, dtype, shape, data.data(), data.size());
            } else {
                w.add_raw(name, good.entry(name).dtype, good.shape(name), bytes.data(), bytes.size());
            }
        }
        for (const auto& [k, v] : good.metadata()) w.metadata(k, v);
        if (resum) w.metadata("crc32", detail::checkpoint_crc(w.content_crc32(), w.metadata()));
        const auto path = dir / "edited.safetensors";
        w.write(path);
        return path;
    };
    // A dtype changed in the header, the bytes untouched: the checksum catches it.
    CHECK_THROWS_WITH(
        load_checkpoint(rewrite("sigmoid_loss.logit_bias", "I32", Shape{}, false), ctx, model.arena(), optimizer),
        doctest::Contains("is corrupt"));
    // A step count of the wrong shape in a file whose checksum was recomputed.
    CHECK_THROWS_WITH(load_checkpoint(rewrite("optimizer.step.proj_t.0.weight", "I64", Shape{1}, true), ctx,
                                      model.arena(), optimizer),
                      doctest::Contains("must be a 0-d I64 tensor"));

    // The training state is covered by the checksum ...
    {
        io::SafetensorsWriter w;
        for (const auto& name : good.names())
            w.add_raw(name, good.entry(name).dtype, good.shape(name), good.bytes(name).data(), good.bytes(name).size());
        for (const auto& [k, v] : good.metadata()) w.metadata(k, v);
        auto state = nlohmann::json::parse(good.metadata().at("training_state"));
        state["batch_in_epoch"] = 1000000;
        w.metadata("training_state", state.dump());
        w.write(dir / "state.safetensors");
        CHECK_THROWS_WITH(load_checkpoint(dir / "state.safetensors", ctx, model.arena(), optimizer),
                          doctest::Contains("is corrupt"));
        // ... and a forged but consistent-looking one is checked against the run before training touches it.
        w.metadata("crc32", detail::checkpoint_crc(w.content_crc32(), w.metadata()));
        std::filesystem::remove_all(opts.checkpoint_dir);
        std::filesystem::create_directories(opts.checkpoint_dir);
        w.write(checkpoint_path(opts.checkpoint_dir, 1));
        Trainer again(model, small_tokenizer(), opts);
        CHECK_THROWS_WITH(again.fit(ctx, pairs), doctest::Contains("inconsistent with a run of 1 steps per epoch"));
        // Malformed values in the training state.
        state["batch_in_epoch"] = 0;
        state["step"] = 1.5;
        w.metadata("training_state", state.dump());
        w.metadata("crc32", detail::checkpoint_crc(w.content_crc32(), w.metadata()));
        w.write(dir / "float.safetensors");
        CHECK_THROWS_WITH(load_checkpoint(dir / "float.safetensors", ctx, model.arena(), optimizer),
                          doctest::Contains("'step' must be an integer >= 0, got 1.5"));
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("a checkpoint whose weights load but whose optimizer state is refused: the weights are rolled back") {
    // load_checkpoint writes the model's state first and then gives the optimizer its state; if the optimizer
    // refuses it (its invariants are checked only there), the model must be put back as it was.
    auto pairs = small_pairs(16);  // 2 steps
    const auto dir = fresh_dir("rollback");
    Context<Cpu<float>> ctx;
    Small trained(small_options(), 1);
    auto opts = small_run(dir);
    opts.epochs = 1;
    Trainer trainer(trained, small_tokenizer(), opts);
    trainer.fit(ctx, pairs);
    const auto good = io::SafetensorsFile::read(*latest_checkpoint(opts.checkpoint_dir));
    REQUIRE(good.metadata().at("optimizer_steps") == "2");

    Small model(small_options(), 2);
    AdamW<Cpu<float>> optimizer(model.arena());
    distinct_optimizer_state(ctx, model.arena(), optimizer);
    const TrainingSnapshot before = snapshot(ctx, model.arena(), optimizer);
    // The checkpoint's model part differs from the model's in every part (else a missing rollback would not show).
    const TrainingSnapshot trained_state = snapshot(ctx, trained.arena(), trainer.optimizer());
    REQUIRE_FALSE(same_bytes(trained_state.values, before.values));
    REQUIRE_FALSE(same_bytes(trained_state.buffers, before.buffers));
    REQUIRE(trained_state.counters != before.counters);

    // (a) The recorded optimizer step count (1) is below the parameters' own counts (2): every name, shape and the
    // checksum are fine, so the weights are written before AdamW::load_state refuses.
    const auto steps_path = dir / "steps.safetensors";
    forged(good, nullptr, {{"optimizer_steps", "1"}}).write(steps_path);
    const std::string steps_error = [&] {
        try {
            load_checkpoint(steps_path, ctx, model.arena(), optimizer);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    }();
    // One "fgclep: " prefix, then the file, then AdamW's own reason (without a second prefix).
    CHECK(steps_error.starts_with("fgclep: '" + steps_path.string() + "': AdamW state: parameter '"));
    CHECK(steps_error.find("fgclep: ", 1) == std::string::npos);  // refused by AdamW::load_state
    CHECK(steps_error.find("has step count 2, outside [0, 1]") != std::string::npos);
    check_same(snapshot(ctx, model.arena(), optimizer), before);

    // (b) A negative second moment (AdamW's other invariant), checksum recomputed.
    const auto negative_path = dir / "negative.safetensors";
    forged(good, [](const std::string& name, std::vector<char>& bytes) {
        if (name != "optimizer.exp_avg_sq.proj_t.0.weight") return;
        const float minus_one = -1.0f;
        std::memcpy(bytes.data(), &minus_one, sizeof minus_one);
    }).write(negative_path);
    CHECK_THROWS_WITH(load_checkpoint(negative_path, ctx, model.arena(), optimizer),
                      doctest::Contains(("'" + negative_path.string() + "': ").c_str()));
    CHECK_THROWS_WITH(load_checkpoint(negative_path, ctx, model.arena(), optimizer),
                      doctest::Contains("AdamW state: exp_avg_sq must be >= 0 everywhere, but element"));
    check_same(snapshot(ctx, model.arena(), optimizer), before);

    // (c) The other order: the optimizer part is fine, a buffer of the model part has the wrong shape (checksum
    // recomputed). Refused while the model's state is checked, and the optimizer, which would accept its part, keeps
    // its own state too.
    const auto buffer_path = dir / "buffer.safetensors";
    {
        io::SafetensorsWriter w;
        for (const auto& name : good.names()) {
            const auto bytes = good.bytes(name);
            if (name == "ecg_encoder.bn1.running_mean") {
                std::vector<char> longer(bytes.begin(), bytes.end());
                longer.resize(longer.size() + sizeof(float), 0);
                w.add_raw(name, "F32", Shape{good.shape(name).numel() + 1}, longer.data(), longer.size());
            } else {
                w.add_raw(name, good.entry(name).dtype, good.shape(name), bytes.data(), bytes.size());
            }
        }
        for (const auto& [k, v] : good.metadata()) w.metadata(k, v);
        w.metadata("crc32", detail::checkpoint_crc(w.content_crc32(), w.metadata()));
        w.write(buffer_path);
    }
    CHECK_THROWS_WITH(
        load_checkpoint(buffer_path, ctx, model.arena(), optimizer),
        doctest::Contains(("'" + buffer_path.string() + "': tensor 'ecg_encoder.bn1.running_mean' has shape").c_str()));
    check_same(snapshot(ctx, model.arena(), optimizer), before);

    // The same file with its optimizer state left alone loads, and then does change the model: the refusals above
    // were of the optimizer part, after the weights had been written.
    const auto fine_path = dir / "fine.safetensors";
    forged(good, nullptr).write(fine_path);
    load_checkpoint(fine_path, ctx, model.arena(), optimizer);
    check_same(snapshot(ctx, model.arena(), optimizer), trained_state);
    std::filesystem::remove_all(dir);
}

TEST_CASE("validation covers every pair: a last batch of one joins the batch before it") {
    auto pairs = small_pairs(8);
    auto held_out = small_pairs(9, 77);  // batches of 4 and 5
    Context<Cpu<float>> ctx;
    Small model(small_options(), 1);
    auto opts = small_run(fresh_dir("validation9"));
    opts.checkpoint_dir.clear();
    opts.log_path.clear();
    opts.epochs = 1;
    Trainer trainer(model, small_tokenizer(), opts);
    trainer.set_validation(held_out);
    const TrainResult r = trainer.fit(ctx, pairs);
    REQUIRE(r.validations.size() == 1);
    CHECK(r.validations[0].pairs == 9);
}

// Guards the round trip of unequal per-parameter AdamW step counts (torch's state["step"], which differ once a
// layer was frozen for some steps): a load_checkpoint that gave every parameter the global optimizer_steps as its
// count passed the resume test (there all counts equal the global step) and was noticed only through the rollback
// test's error message. The saved state is distinct_optimizer_state's (counts 3 and 5); the loading optimizer
// starts from a different state (counts 6), so only a faithful load makes the two snapshots equal.
TEST_CASE("a checkpoint round-trips unequal per-parameter step counts and both moments exactly") {
    const auto dir = fresh_dir("parameter-steps");
    Context<Cpu<float>> ctx;
    Small saved(small_options(), 1);
    AdamW<Cpu<float>> saved_optimizer(saved.arena());
    distinct_optimizer_state(ctx, saved.arena(), saved_optimizer);
    REQUIRE(saved_optimizer.parameter_steps().front() != saved_optimizer.step_count());
    const auto path = dir / "state.safetensors";
    TrainingState state;
    state.step = saved_optimizer.step_count();
    state.schedule = WarmupCosine::from_fraction(1e-3, 10, 0.1);
    save_checkpoint(path, ctx, saved.arena(), saved_optimizer, state);

    Small loaded(small_options(), 2);
    AdamW<Cpu<float>> loaded_optimizer(loaded.arena());
    {
        // A loading state that differs from the saved one in every per-parameter count.
        const auto n = static_cast<std::size_t>(loaded.arena().values().numel());
        loaded_optimizer.load_state(ctx, 7, std::vector<std::int64_t>(loaded.arena().params().size(), 6),
                                    std::vector<float>(n, 0.5f), std::vector<float>(n, 0.25f));
    }
    load_checkpoint(path, ctx, loaded.arena(), loaded_optimizer);
    check_same(snapshot(ctx, loaded.arena(), loaded_optimizer), snapshot(ctx, saved.arena(), saved_optimizer));
    CHECK(loaded_optimizer.parameter_steps() == saved_optimizer.parameter_steps());
    std::filesystem::remove_all(dir);
}
