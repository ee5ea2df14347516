// Checks a stage-1 run that started its text encoder from a Hugging Face checkpoint with the bottom K layers frozen:
//
//   check_pretrained_start RUN/model.safetensors HF_DIR K
//
// Every tensor of the checkpoint's embeddings and layers 0..K-1 must be bit-identical in the trained weights
// (lm_model.*), and every tensor of layers K.. and of the pooler must have changed. Prints what it compared; exits
// 1 naming each tensor that breaks the rule. Used by the ctest example_stage1_clep_pretrained.
#include "fgclep/io/hf_checkpoint.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <string>

using namespace fgclep;

namespace {
// The BERT layer a model name lies in (-1: embeddings, a large number: above the layers, the pooler).
int layer_of(const std::string& name) {
    if (name.rfind("embeddings.", 0) == 0) return -1;
    const std::string layer = "encoder.layer.";
    if (name.rfind(layer, 0) == 0) return std::stoi(name.substr(layer.size()));
    return 1 << 30;
}
}  // namespace

int main(int argc, char** argv) try {
    if (argc != 4) {
        fmt::print(stderr, "usage: check_pretrained_start RUN/model.safetensors HF_DIR K\n");
        return 2;
    }
    const auto trained = io::SafetensorsFile::read(argv[1]);
    const auto dir = io::HfBertDirectory::open(argv[2]);
    const int k = std::atoi(argv[3]);
    auto check = [&](const auto& checkpoint) {
        int frozen = 0, changed = 0, failures = 0;
        for (const auto& file_name : checkpoint.names()) {
            const std::string name = io::hf_bert_name(file_name);
            if (name.rfind("cls.", 0) == 0 || name == "embeddings.position_ids") continue;  // heads the model lacks
            const std::string model_name = "lm_model." + name;
            if (!trained.contains(model_name)) {
                fmt::print(stderr, "{}: no tensor '{}' (from '{}')\n", argv[1], model_name, file_name);
                ++failures;
                continue;
            }
            const bool same = trained.get<float>(model_name) == checkpoint.template get<float>(file_name);
            if (layer_of(name) < k) {
                frozen += same;
                if (!same) fmt::print(stderr, "frozen '{}' changed in training\n", model_name), ++failures;
            } else {
                changed += !same;
                if (same) fmt::print(stderr, "trainable '{}' did not change\n", model_name), ++failures;
            }
        }
        fmt::print("{}: {} frozen tensors bit-identical to {}, {} trainable tensors changed\n", argv[1], frozen,
                   dir.weights.string(), changed);
        return failures == 0 && frozen > 0 && changed > 0 ? 0 : 1;
    };
    if (dir.weights.extension() == ".safetensors") return check(io::SafetensorsFile::read(dir.weights));
    return check(io::TorchCheckpoint::read(dir.weights));
} catch (const std::exception& e) {
    fmt::print(stderr, "check_pretrained_start: {}\n", e.what());
    return 1;
}
