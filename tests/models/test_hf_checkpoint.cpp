// Hugging Face checkpoint directories: the same tiny BERT loaded from pytorch_model.bin (written by torch.save)
// and from model.safetensors gives PyTorch's outputs; TF-era names and the "bert." prefix map; saving back to
// safetensors round-trips; a missing file, tensor or shape mismatch is an error that names it.
#include "fixture.hpp"

#include "fgclep/io/hf_checkpoint.hpp"
#include "fgclep/text/hf_vocab.hpp"

#include <filesystem>
#include <fstream>

using namespace fgclep;
namespace fs = std::filesystem;

namespace {
fs::path make_dir(const std::string& name) {
    const fs::path d = fs::temp_directory_path() / "fgclep_test_hf" / name;
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}
fs::path fixtures() { return fs::path(FGCLEP_FIXTURES); }

// A checkpoint directory as Hugging Face ships one: config.json, vocab.txt, pytorch_model.bin.
fs::path bin_directory() {
    const fs::path d = make_dir("bin");
    fs::copy_file(fixtures() / "bert_tiny" / "config.json", d / "config.json");
    fs::copy_file(fixtures() / "bert_tiny.bin", d / "pytorch_model.bin");
    fs::copy_file(fixtures() / "bert" / "bert-base-cased-vocab.txt", d / "vocab.txt");
    return d;
}

template <class B>
std::pair<Tensor<B>, Tensor<B>> run(Model<Bert, B>& bert, Context<B>& ctx, const io::SafetensorsFile& f) {
    BertInput<B> in{test::tensor_from<B, std::int32_t>(ctx, f, "input_ids"),
                    test::tensor_from<B, std::int32_t>(ctx, f, "attention_mask"),
                    {}};
    Tensor<B> hidden = bert.forward(ctx, in);
    return {hidden, bert.module().pooler_output()};
}
}  // namespace

TEST_CASE("a checkpoint directory with pytorch_model.bin loads and reproduces PyTorch's outputs") {
    using B = Cpu<float>;
    const auto f = test::fixture("bert.safetensors");
    auto dir = io::HfBertDirectory::open(bin_directory());
    CHECK(dir.weights.filename() == "pytorch_model.bin");
    CHECK(dir.options.hidden_size == 16);
    Context<B> ctx;
    Model<Bert, B> bert(dir.options, 7);
    auto result = io::load_bert_weights(bert.arena(), ctx.state, dir);
    CHECK(result.loaded.size() == bert.arena().params().size());
    auto [hidden, pooled] = run(bert, ctx, f);
    test::check_close(ctx, hidden, f, "last_hidden_state");
    test::check_close(ctx, pooled, f, "pooler_output");
    // The checkpoint's tokenizer comes from the same directory.
    auto tokenizer = text::hf_wordpiece(dir, {.lower_case = false});
    CHECK(tokenizer.encode("sinus rhythm").size() >= 2);
}

TEST_CASE("model.safetensors, TF-era LayerNorm names and no 'bert.' prefix load to the same weights") {
    using B = Cpu<float>;
    const auto f = test::fixture("bert.safetensors");
    Context<B> ctx;
    Model<Bert, B> from_bin(io::HfBertDirectory::open(bin_directory()).options);
    io::load_bert_weights(from_bin.arena(), ctx.state, io::HfBertDirectory::open(bin_directory()));

    // pytorch_model.bin -> model.safetensors with the names rewritten as an old TF-converted checkpoint has them.
    const fs::path d = make_dir("safetensors");
    fs::copy_file(fixtures() / "bert_tiny" / "config.json", d / "config.json");
    auto checkpoint = io::TorchCheckpoint::read(fixtures() / "bert_tiny.bin");
    io::SafetensorsWriter w;
    for (auto& name : checkpoint.names()) {
        std::string renamed = name.substr(5);  // drop "bert."
        if (renamed.size() > 16 && renamed.compare(renamed.size() - 16, 16, "LayerNorm.weight") == 0)
            renamed = renamed.substr(0, renamed.size() - 6) + "gamma";
        const auto values = checkpoint.get<float>(name);
        w.add<float>(renamed, checkpoint.shape(name), values);
    }
    w.write(d / "model.safetensors");
    auto dir = io::HfBertDirectory::open(d);
    CHECK(dir.weights.filename() == "model.safetensors");
    Model<Bert, B> from_safetensors(dir.options, 3);
    io::load_bert_weights(from_safetensors.arena(), ctx.state, dir);
    CHECK(ctx.to_host(from_safetensors.arena().values()) == ctx.to_host(from_bin.arena().values()));

    // Saved back with Hugging Face names, it loads again through the directory route.
    const fs::path saved = make_dir("saved");
    fs::copy_file(d / "config.json", saved / "config.json");
    io::save_safetensors(from_bin.arena(), ctx.state, saved / "model.safetensors");
    Model<Bert, B> reloaded(dir.options, 5);
    io::load_bert_weights(reloaded.arena(), ctx.state, io::HfBertDirectory::open(saved));
    CHECK(ctx.to_host(reloaded.arena().values()) == ctx.to_host(from_bin.arena().values()));
    auto [hidden, pooled] = run(reloaded, ctx, f);
    test::check_close(ctx, hidden, f, "last_hidden_state");
}

TEST_CASE("BERT weights load under a model prefix, as inside a larger model") {
    using B = Cpu<double>;
    Context<B> ctx;
    auto dir = io::HfBertDirectory::open(bin_directory());
    Model<Bert, B> inner(dir.options, 1, "text.lm_model");
    auto result = io::load_bert_weights(inner.arena(), ctx.state, dir, "text.lm_model");
    CHECK(result.loaded.size() == inner.arena().params().size());
    Model<Bert, B> plain(dir.options, 2);
    io::load_bert_weights(plain.arena(), ctx.state, dir);
    CHECK(ctx.to_host(inner.arena().values()) == ctx.to_host(plain.arena().values()));
}

TEST_CASE("missing files, missing tensors and shape mismatches are errors that name them") {
    using B = Cpu<float>;
    Context<B> ctx;
    const fs::path empty = make_dir("empty");
    CHECK_THROWS_WITH_AS(io::HfBertDirectory::open(empty), doctest::Contains("has no config.json"), Error);
    fs::copy_file(fixtures() / "bert_tiny" / "config.json", empty / "config.json");
    CHECK_THROWS_WITH_AS(io::HfBertDirectory::open(empty),
                         doctest::Contains("has neither model.safetensors nor pytorch_model.bin"), Error);
    CHECK_THROWS_WITH_AS(io::HfBertDirectory::open(empty / "nope"), doctest::Contains("is not a directory"), Error);

    // A config that disagrees with the weights (intermediate_size 40 instead of 32).
    auto dir = io::HfBertDirectory::open(bin_directory());
    auto options = dir.options;
    options.intermediate_size = 40;
    Model<Bert, B> wrong(options);
    CHECK_THROWS_WITH_AS(
        io::load_bert_weights(wrong.arena(), ctx.state, dir),
        doctest::Contains("tensor 'encoder.layer.0.intermediate.dense.weight' has shape (32, 16), but "
                          "the model's 'encoder.layer.0.intermediate.dense.weight' has shape (40, 16)"),
        Error);
    // A checkpoint without the pooler.
    const fs::path d = make_dir("no_pooler");
    fs::copy_file(fixtures() / "bert_tiny" / "config.json", d / "config.json");
    auto checkpoint = io::TorchCheckpoint::read(fixtures() / "bert_tiny.bin");
    io::SafetensorsWriter w;
    for (auto& name : checkpoint.names())
        if (name.find("pooler") == std::string::npos) {
            const auto values = checkpoint.get<float>(name);
            w.add<float>(name, checkpoint.shape(name), values);
        }
    w.write(d / "model.safetensors");
    Model<Bert, B> bert(dir.options);
    const auto before = ctx.to_host(bert.arena().values());
    CHECK_THROWS_WITH_AS(io::load_bert_weights(bert.arena(), ctx.state, io::HfBertDirectory::open(d)),
                         doctest::Contains("has no tensor for the model's 'pooler.dense.weight'"), Error);
    CHECK(ctx.to_host(bert.arena().values()) == before);  // nothing was loaded
    // No vocab.txt: only asking for the tokenizer fails.
    CHECK_THROWS_WITH_AS(text::hf_wordpiece(io::HfBertDirectory::open(d)), doctest::Contains("has no vocab.txt"),
                         Error);
    fs::remove_all(fs::temp_directory_path() / "fgclep_test_hf");
}
