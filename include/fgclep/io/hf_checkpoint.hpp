#pragma once
// Hugging Face BERT checkpoint directories as they are published: config.json (it decides the architecture),
// vocab.txt, tokenizer_config.json (optional: the tokenizer's options, fgclep/text/hf_vocab.hpp), and the weights
// as model.safetensors or pytorch_model.bin (torch.save's zip format; Bio_ClinicalBERT ships only this), in
// float32, float16 or bfloat16.
//
//   auto dir = fgclep::io::HfBertDirectory::open("Bio_ClinicalBERT");
//   fgclep::Model<fgclep::Bert, fgclep::Cpu<float>> bert(dir.options);
//   auto result = fgclep::io::load_bert_weights(bert.arena(), ctx.state, dir);
//   fmt::print("{}", fgclep::io::describe_unused(result));     // the heads the model has no use for
//   auto tokenizer = fgclep::text::hf_wordpiece(dir);          // fgclep/text/hf_vocab.hpp
//
// File names are mapped to the model's as Hugging Face's from_pretrained maps them: the "bert." prefix of
// BertForPreTraining-style checkpoints is optional, and TF-era "LayerNorm.gamma"/"LayerNorm.beta" read as
// "LayerNorm.weight"/"LayerNorm.bias". Tensors the model lacks (the pre-training heads cls.predictions.* and
// cls.seq_relationship.*) are listed in LoadResult::unexpected, not an error; the int64 buffer
// embeddings.position_ids that real checkpoints carry is checked to be 0, 1, 2, ... (the absolute positions the
// model uses) and then listed there too.
#include "fgclep/io/bert_config.hpp"
#include "fgclep/io/safetensors.hpp"
#include "fgclep/io/state_dict.hpp"
#include "fgclep/io/torch_checkpoint.hpp"
#include "fgclep/models/bert.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace fgclep::io {

// A view of a tensor source under other names (a StateSource for load_state).
template <class Inner>
class RenamedSource {
public:
    RenamedSource(const Inner& inner, const std::function<std::string(const std::string&)>& rename) : inner_(inner) {
        for (auto& name : inner.names()) {
            std::string mapped = rename(name);
            if (!to_inner_.emplace(mapped, name).second)
                fail("'{}': tensors '{}' and '{}' both map to the model name '{}'", inner.source(), to_inner_[mapped],
                     name, mapped);
            names_.push_back(std::move(mapped));
        }
    }
    const std::string& source() const { return inner_.source(); }
    bool contains(const std::string& name) const { return to_inner_.count(name) != 0; }
    std::vector<std::string> names() const { return names_; }
    // The file's own name of a tensor this view calls `name`.
    const std::string& file_name(const std::string& name) const { return inner_name(name); }
    Shape shape(const std::string& name) const { return inner_.shape(inner_name(name)); }
    template <class E>
    std::vector<E> get(const std::string& name) const {
        return inner_.template get<E>(inner_name(name));
    }

private:
    const std::string& inner_name(const std::string& name) const {
        auto it = to_inner_.find(name);
        if (it == to_inner_.end()) fail("'{}' has no tensor that maps to '{}'", inner_.source(), name);
        return it->second;
    }
    const Inner& inner_;
    std::map<std::string, std::string> to_inner_;
    std::vector<std::string> names_;
};

struct HfBertDirectory {
    std::filesystem::path dir, config, vocab, weights;
    std::filesystem::path tokenizer_config;  // empty when the directory has none (Bio_ClinicalBERT has none)
    Bert::Options options;

    static HfBertDirectory open(const std::filesystem::path& dir) {
        HfBertDirectory d;
        d.dir = dir;
        if (!std::filesystem::is_directory(dir))
            fail(
                "'{}' is not a directory: a Hugging Face checkpoint is a directory with config.json, vocab.txt and "
                "model.safetensors or pytorch_model.bin",
                dir.string());
        d.config = dir / "config.json";
        if (!std::filesystem::exists(d.config))
            fail("the Hugging Face checkpoint '{}' has no config.json", dir.string());
        d.options = read_bert_config(d.config.string());
        d.vocab = dir / "vocab.txt";
        if (std::filesystem::exists(dir / "tokenizer_config.json")) d.tokenizer_config = dir / "tokenizer_config.json";
        for (const char* name : {"model.safetensors", "pytorch_model.bin"})
            if (std::filesystem::exists(dir / name)) {
                d.weights = dir / name;
                break;
            }
        if (d.weights.empty())
            fail("the Hugging Face checkpoint '{}' has neither model.safetensors nor pytorch_model.bin", dir.string());
        return d;
    }
};

// The model name of a Hugging Face BERT tensor name, under model_prefix ("" for a standalone Bert model).
inline std::string hf_bert_name(const std::string& file_name, const std::string& model_prefix = {}) {
    std::string name = file_name.rfind("bert.", 0) == 0 ? file_name.substr(5) : file_name;
    auto ends_with = [&](const std::string& suffix) {
        return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends_with("LayerNorm.gamma"))
        name = name.substr(0, name.size() - 5) + "weight";
    else if (ends_with("LayerNorm.beta"))
        name = name.substr(0, name.size() - 4) + "bias";
    return model_prefix.empty() ? name : model_prefix + "." + name;
}

// Loads the weights of a checkpoint directory into the BERT parameters of `arena` that lie under model_prefix
// (all of them for a standalone Bert model). Every one of those must be in the file with the model's shape;
// nothing is written unless all are (load_state's guarantee).
template <Backend B>
LoadResult load_bert_weights(ParameterArena<B>& arena, typename B::State& state, const HfBertDirectory& dir,
                             const std::string& model_prefix = {}) {
    auto load = [&](const auto& file) {
        for (const char* name : {"bert.embeddings.position_ids", "embeddings.position_ids"})
            if (file.contains(name)) {
                const std::vector<std::int64_t> ids = file.template get<std::int64_t>(name);
                for (std::size_t i = 0; i < ids.size(); ++i)
                    if (ids[i] != static_cast<std::int64_t>(i))
                        fail(
                            "'{}': the buffer '{}' holds position {} at index {}; fgclep's BERT uses the absolute "
                            "positions 0, 1, 2, ... that Hugging Face's BertModel writes there",
                            file.source(), name, ids[i], i);
            }
        RenamedSource renamed(file, [&](const std::string& n) { return hf_bert_name(n, model_prefix); });
        const auto& params = arena.params();
        if (!model_prefix.empty() && std::none_of(params.begin(), params.end(), [&](const auto& e) {
                return e.name.rfind(model_prefix + ".", 0) == 0;
            }))
            fail("load_bert_weights: the model has no parameter under '{}.', so '{}' would load nothing", model_prefix,
                 file.source());
        for (auto& e : arena.params())
            if ((model_prefix.empty() || e.name.rfind(model_prefix + ".", 0) == 0) && !renamed.contains(e.name))
                fail("'{}' has no tensor for the model's '{}' (looked for '{}' and 'bert.{}')", file.source(), e.name,
                     e.name.substr(model_prefix.empty() ? 0 : model_prefix.size() + 1),
                     e.name.substr(model_prefix.empty() ? 0 : model_prefix.size() + 1));
        LoadResult result = load_state(arena, state, renamed, {"", true});
        for (auto& name : result.unexpected) name = renamed.file_name(name);  // as the user's file names them
        return result;
    };
    if (dir.weights.extension() == ".safetensors") return load(SafetensorsFile::read(dir.weights));
    return load(TorchCheckpoint::read(dir.weights));
}

// What a checkpoint held that the model did not use, one line each, grouped as a user reads them: the pre-training
// heads (masked-LM, next-sentence), the pooler (a text encoder that projects the [CLS] state has none), the
// position-ids buffer, and anything else by name (a tensor of the encoder itself there means that config.json and
// the weights disagree). Empty when everything was used.
inline std::string describe_unused(const LoadResult& result) {
    std::vector<std::string> mlm, nsp, pooler, other;
    bool positions = false;
    for (const auto& name : result.unexpected) {
        if (name.rfind("cls.predictions.", 0) == 0)
            mlm.push_back(name);
        else if (name.rfind("cls.seq_relationship.", 0) == 0)
            nsp.push_back(name);
        else if (name.rfind("bert.pooler.", 0) == 0 || name.rfind("pooler.", 0) == 0)
            pooler.push_back(name);
        else if (name == "bert.embeddings.position_ids" || name == "embeddings.position_ids")
            positions = true;
        else
            other.push_back(name);
    }
    std::string text;
    if (!mlm.empty()) text += fmt::format("not used: the masked-LM head cls.predictions.* ({} tensors)\n", mlm.size());
    if (!nsp.empty())
        text += fmt::format("not used: the next-sentence head cls.seq_relationship.* ({} tensors)\n", nsp.size());
    if (!pooler.empty()) text += fmt::format("not used: the pooler ({} tensors)\n", pooler.size());
    if (positions) text += "not used: the buffer embeddings.position_ids (checked: 0, 1, 2, ...)\n";
    for (const auto& name : other) text += fmt::format("not used: '{}' (the model has no such tensor)\n", name);
    return text;
}

// Writes every parameter, buffer and counter of `arena` to a safetensors file under its state_dict name (with
// `prefix` prepended), atomically. A standalone Bert model's names are Hugging Face's.
template <Backend B>
void save_safetensors(const ParameterArena<B>& arena, typename B::State& state, const std::filesystem::path& path,
                      const std::string& prefix = {}) {
    SafetensorsWriter writer;
    add_state(writer, arena, state, prefix);
    writer.metadata("format", "pt");
    writer.write(path);
}

}  // namespace fgclep::io
