#pragma once
// Shared by the pipeline examples (stage1_clep, stage2_features, stage3_fgclep, fgclep_pipeline): flag parsing and
// the choice of model size at run time (each size is its own C++ type, so a program that accepts both builds both).
#include <fgclep/fgclep.hpp>
#include <fgclep/pipeline/model_config.hpp>
#include <fgclep/pipeline/training_stages.hpp>

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

// Calls fn(model) with a freshly initialised model of the chosen size, on the CPU in float.
template <class Fn>
int with_model(fgclep::pipeline::ModelSize size, std::int64_t vocab_size, std::uint64_t seed, Fn&& fn) {
    using namespace fgclep::pipeline;
    if (size == ModelSize::tiny) {
        TinyModel<> model(tiny_options(vocab_size), seed);
        return fn(model);
    }
    FullModel<> model(full_options(vocab_size), seed);
    return fn(model);
}

// The CPU context of every stage program: --threads T (0: all) and --precision fp32|bf16 (the matmul precision,
// docs/performance.md#bf16-mixed-precision; bf16 is the fast choice on CPUs with AVX512_BF16 or AMX).
inline fgclep::Cpu<float>::State cpu_state(const Args& args) {
    return {static_cast<int>(args.integer("--threads", 0)),
            fgclep::parse_matmul_precision(args.str("--precision", "fp32"))};
}

// The training flags shared by stage 1 and stage 3. Defaults: the tiny model trains from scratch, so lr 1e-3 (the
// paper's 2e-5 is for a pretrained BERT), batch 64, gradients clipped at norm 5; the full model the paper's recipe
// (lr 2e-5, batch 100). Epochs: the paper's 10 (stage 1) and 3 (stage 3) for the full model; the caller gives the
// tiny model's.
inline const std::vector<std::string> training_flags = {"--epochs",           "--batch-size", "--lr",  "--max-steps",
                                                        "--checkpoint-every", "--workers",    "--seed"};
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
