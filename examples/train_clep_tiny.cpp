// Trains a small FG-CLEP model on generated ECG-like pairs with the Trainer, then classifies held-out signals
// zero-shot by their similarity to class prompts.
//
// The data: two-lead signals of four kinds (sine, square, sawtooth, bursts) with random frequency, phase,
// amplitude and noise, each paired with a report of its kind in the style of machine statements ("regular
// rhythm. smooth waves."); reports of one kind vary in wording. The model is FgClep<ResNet1D18, Bert, SigmoidLoss,
// FnmLoss> at a tiny size, trained with the paper's recipe (AdamW, warm-up + cosine, sigmoid + 0.5 FNM loss),
// checkpointed and logged. Run it again with the same --run-dir and it resumes where it stopped (or reports that
// training is complete).
//
//   train_clep_tiny [--run-dir DIR] [--epochs N] [--pairs N] [--max-steps N] [--threads T] [--seed S] [--check]
//
// --check exits with status 2 unless zero-shot accuracy on held-out signals is at least 50% (chance: 25%).
#include "cli.hpp"

#include <fgclep/fgclep.hpp>

#include <fmt/format.h>

#include <cmath>
#include <string>
#include <vector>

using namespace fgclep;

namespace {
constexpr std::int64_t leads = 2, length = 256, kinds = 4;
const char* kind_names[kinds] = {"sine", "square", "sawtooth", "bursts"};
// Several wordings per kind, as machine reports vary.
const std::vector<std::vector<std::string>> reports = {
    {"regular rhythm. smooth waves.", "smooth waves. regular rhythm.", "smooth rounded waves."},
    {"flat topped waves. abrupt transitions.", "abrupt transitions.", "flat topped waves."},
    {"ramp waves. sharp drops.", "sharp drops after slow rise.", "ramp waves."},
    {"intermittent bursts. quiet baseline between bursts.", "intermittent bursts.", "quiet baseline between bursts."}};
// One prompt per class for zero-shot classification.
const std::vector<std::string> prompts = {"smooth waves.", "flat topped waves.", "ramp waves.", "intermittent bursts."};

std::vector<float> signal(int kind, HostRng& rng) {
    std::vector<float> x(static_cast<std::size_t>(leads * length));
    const double f = rng.uniform(2, 5) / static_cast<double>(length), phase = rng.uniform(0, 1);
    for (std::int64_t c = 0; c < leads; ++c) {
        const double amplitude = rng.uniform(0.6, 1.4) * (c == 0 ? 1.0 : -0.7);
        for (std::int64_t t = 0; t < length; ++t) {
            const double u = f * static_cast<double>(t) + phase, frac = u - std::floor(u);
            double v = 0;
            switch (kind) {
                case 0:
                    v = std::sin(6.283185307179586 * u);
                    break;
                case 1:
                    v = frac < 0.5 ? 1 : -1;
                    break;
                case 2:
                    v = 2 * frac - 1;
                    break;
                default:
                    v = frac < 0.25 ? std::sin(25.132741228718345 * frac * 4) : 0;
                    break;
            }
            x[static_cast<std::size_t>(c * length + t)] = static_cast<float>(amplitude * v + 0.1 * rng.normal());
        }
    }
    return x;
}

InMemoryPairs make_pairs(std::int64_t n, std::uint64_t seed, std::vector<int>* labels = nullptr) {
    InMemoryPairs pairs(leads, length);
    HostRng rng(seed);
    for (std::int64_t i = 0; i < n; ++i) {
        const int kind = static_cast<int>(rng.next() % kinds);
        const auto& options = reports[static_cast<std::size_t>(kind)];
        pairs.add(signal(kind, rng), options[rng.next() % options.size()]);
        if (labels) labels->push_back(kind);
    }
    return pairs;
}

// A vocabulary of the words the reports use (a real run loads Bio_ClinicalBERT's vocab.txt).
ReportTokenizer make_tokenizer() {
    std::vector<std::string> vocab{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."};
    auto add_words = [&](const std::string& text) {
        std::string word;
        for (char ch : text + " ") {
            if (ch == ' ' || ch == '.') {
                if (!word.empty() && std::find(vocab.begin(), vocab.end(), word) == vocab.end()) vocab.push_back(word);
                word.clear();
            } else {
                word += ch;
            }
        }
    };
    for (auto& kind : reports)
        for (auto& r : kind) add_words(r);
    return ReportTokenizer(text::WordPiece(vocab, {.lower_case = true}), 32);
}
}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "Trains a tiny FgClep<ResNet1D18, Bert, SigmoidLoss, FnmLoss> with the Trainer on generated two-lead "
        "signals (sine, square, sawtooth, bursts) paired with reports of their kind, then classifies held-out "
        "signals zero-shot by their similarity to class prompts and prints the accuracy. Writes checkpoints to "
        "RUN_DIR/checkpoints and a JSON-lines log to RUN_DIR/log.jsonl; run again with the same --run-dir, it "
        "resumes where it stopped (or reports that training is complete).",
        "train_clep_tiny"};
    std::string run_dir = "runs/clep_tiny";
    std::int64_t epochs = 15, train_pairs = 512, max_steps = 0;
    int threads = 0;
    std::uint64_t seed = 1;
    bool check = false;
    app.add_option("--run-dir", run_dir, "checkpoints and log go here; a rerun resumes from them")
        ->capture_default_str();
    app.add_option("--epochs", epochs, "training epochs")->check(cli::positive)->capture_default_str();
    app.add_option("--pairs", train_pairs, "generated training pairs")->check(cli::positive)->capture_default_str();
    app.add_option("--max-steps", max_steps, "stop after this many steps in this run (0: no limit)")
        ->check(cli::non_negative)
        ->capture_default_str();
    app.add_option("--threads", threads, "CPU threads (0: all cores)")->check(cli::non_negative)->capture_default_str();
    app.add_option("--seed", seed, "seed of the weights and the generated data")
        ->check(cli::non_negative)
        ->capture_default_str();
    app.add_flag("--check", check, "exit with status 2 unless zero-shot accuracy is at least 50% (chance: 25%)");
    cli::parse(app, argc, argv);

    using Model = FgClep<ResNet1D18, Bert, SigmoidLoss, FnmLoss>;
    Model::Options o;
    o.ecg.backbone = {.leads = leads, .base_width = 8, .stages = {1, 1, 1}, .input_length = length};
    o.ecg.head = {.in_channels = 0, .embed_dim = 32, .num_heads = 4, .output_dim = 32, .reference_length = 0};
    o.text.bert = {.vocab_size = 64,
                   .hidden_size = 32,
                   .num_hidden_layers = 2,
                   .num_attention_heads = 4,
                   .intermediate_size = 64,
                   .max_position_embeddings = 32};
    o.text.head = {0, 32, 32};
    o.loss<SigmoidLoss>().logit_scale = std::log(30.0);  // a tiny model's short run: start sharper than log 10
    Model model(o, seed);
    fmt::print("FgClep<ResNet1D18, Bert, SigmoidLoss, FnmLoss>, tiny: {} parameters\n", model.parameter_count());

    const ReportTokenizer tokenizer = make_tokenizer();
    auto train = make_pairs(train_pairs, seed * 7 + 1);
    auto validation = make_pairs(64, seed * 7 + 2);
    TrainerOptions options;
    options.optimizer.lr = 1e-3;
    options.epochs = epochs;
    options.batch_size = 32;
    options.max_grad_norm = 5;
    options.seed = seed;
    options.max_steps = max_steps;
    options.checkpoint_dir = run_dir + "/checkpoints";
    options.log_path = run_dir + "/log.jsonl";
    Trainer trainer(model, tokenizer, options);
    trainer.set_validation(validation);

    Context<Cpu<float>> ctx(Cpu<float>::State{threads});
    const TrainResult result = trainer.fit(ctx, train);
    fmt::print("{} {} of {} steps ({} skipped); log {}, checkpoints in {}\n",
               result.finished ? "trained" : "stopped after", result.steps, result.total_steps, result.skipped_steps,
               options.log_path.string(), options.checkpoint_dir.string());
    if (!result.finished) return 0;

    // Zero-shot: each held-out signal gets the class whose prompt it matches best.
    std::vector<int> labels;
    auto test = make_pairs(200, seed * 7 + 3, &labels);
    std::vector<std::int64_t> all(labels.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::int64_t>(i);
    const HostPairs pairs = test.load(all);
    const Tensor<Cpu<float>> ecg = ctx.from_host(pairs.ecg_shape, pairs.ecg);
    const HostMatrix p = model.probability(ctx, model.encode_ecg(ctx, ecg), model.encode_text(ctx, tokenizer, prompts));
    std::int64_t correct = 0;
    std::vector<std::int64_t> per_class(kinds, 0), per_class_total(kinds, 0);
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
        Eigen::Index best;
        p.row(i).maxCoeff(&best);
        const bool hit = best == labels[static_cast<std::size_t>(i)];
        correct += hit;
        per_class[static_cast<std::size_t>(labels[static_cast<std::size_t>(i)])] += hit;
        ++per_class_total[static_cast<std::size_t>(labels[static_cast<std::size_t>(i)])];
    }
    const double accuracy = static_cast<double>(correct) / static_cast<double>(p.rows());
    fmt::print("zero-shot accuracy on {} held-out signals: {:.1f}% (chance 25%)\n", p.rows(), 100 * accuracy);
    for (int k = 0; k < kinds; ++k)
        fmt::print("  {:<9} {:>3}/{:<3} prompt \"{}\"\n", kind_names[k], per_class[static_cast<std::size_t>(k)],
                   per_class_total[static_cast<std::size_t>(k)], prompts[static_cast<std::size_t>(k)]);
    if (check && accuracy < 0.5) {
        fmt::print(stderr, "check failed: zero-shot accuracy {:.1f}% is below 50%\n", 100 * accuracy);
        return 2;
    }
    return 0;
}
