// Hugging Face checkpoint directories: the same tiny BERT loaded from pytorch_model.bin (written by torch.save)
// and from model.safetensors gives PyTorch's outputs; a Bio_ClinicalBERT-style directory (every key and dtype of a
// real one: heads, tied decoder, position ids, fp16/bf16 files, tokenizer_config.json) loads and gives PyTorch's outputs (inside FgClep: tests/pipeline/test_pipeline.cpp); TF-era names and the "bert." prefix map; saving back to
// safetensors round-trips; a missing file, tensor or shape mismatch is an error that names it.
#include "fixture.hpp"

#include "fgclep/io/hf_checkpoint.hpp"
#include "fgclep/text/hf_vocab.hpp"

#include <filesystem>
#include <fstream>
#include <set>

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
    // This directory pairs the tiny model (vocab_size 50) with bert-base-cased's vocab.txt: its ids would run past
    // the embedding table, so the tokenizer is refused (the Bio_ClinicalBERT-style fixture below has a matching one).
    CHECK_THROWS_WITH_AS(text::hf_wordpiece(dir, {.lower_case = false}),
                         doctest::Contains("vocab.txt has 28996 tokens but config.json's vocab_size is 50"), Error);
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

// --- A Bio_ClinicalBERT-style directory (tests/fixtures/make_hf_bert.py) ------------------------------------------
namespace {
// The fixture directory with one of its weight files as the directory's only weights, under the name Hugging Face
// gives it.
fs::path published_directory(const std::string& weights_file) {
    const fs::path src = fixtures() / "hf_bert";
    const fs::path d = make_dir("published_" + weights_file);
    for (const char* f : {"config.json", "vocab.txt", "tokenizer_config.json"}) fs::copy_file(src / f, d / f);
    fs::copy_file(src / weights_file,
                  d / (weights_file == "pytorch_model.bin" ? "pytorch_model.bin" : "model.safetensors"));
    return d;
}
}  // namespace

TEST_CASE("a Bio_ClinicalBERT-style checkpoint in fp32 (bin, safetensors), fp16 and bf16 gives PyTorch's outputs") {
    const auto expected = test::fixture("hf_bert/expected.safetensors");
    struct Case {
        std::string file, prefix;
    };
    for (const Case& c : {Case{"pytorch_model.bin", ""}, Case{"model.safetensors", ""},
                          Case{"model.fp16.safetensors", "fp16."}, Case{"model.bf16.safetensors", "bf16."}}) {
        CAPTURE(c.file);
        const auto dir = io::HfBertDirectory::open(published_directory(c.file));
        // config.json decides the architecture: 12 layers of width 8, dropout 0.1, the default layer-norm eps.
        CHECK(dir.options.num_hidden_layers == 12);
        CHECK(dir.options.hidden_size == 8);
        CHECK(dir.options.hidden_dropout_prob == doctest::Approx(0.1));
        CHECK(dir.options.layer_norm_eps == doctest::Approx(1e-12));
        // In double precision the 16-bit files' values widen exactly: PyTorch's float64 outputs from the same
        // rounded weights, to 1e-9.
        using D = Cpu<double>;
        Context<D> ctx;
        Model<Bert, D> bert(dir.options, 5);
        const io::LoadResult result = io::load_bert_weights(bert.arena(), ctx.state, dir);
        CHECK(result.loaded.size() == bert.arena().params().size());
        BertInput<D> in{test::tensor_from<D, std::int32_t>(ctx, expected, "input_ids"),
                        test::tensor_from<D, std::int32_t>(ctx, expected, "attention_mask"),
                        {}};
        const Tensor<D> hidden = bert.forward(ctx, in);
        test::check_close(ctx, hidden, expected, c.prefix + "last_hidden_state", 1e-9, 1e-9);
        test::check_close(ctx, bert.module().pooler_output(), expected, c.prefix + "pooler_output", 1e-9, 1e-9);
        // What the model does not use is reported under the file's own names, not fatal.
        const std::set<std::string> unused(result.unexpected.begin(), result.unexpected.end());
        CHECK(unused.count("cls.predictions.transform.dense.weight") == 1);
        CHECK(unused.count("cls.seq_relationship.weight") == 1);
        const std::string words = io::describe_unused(result);
        CHECK(words.find("the next-sentence head cls.seq_relationship.* (2 tensors)") != std::string::npos);
        if (c.file == "pytorch_model.bin") {
            // The bin carries the tied decoder (one storage with the word embeddings) and the position ids.
            CHECK(unused.count("cls.predictions.decoder.weight") == 1);
            CHECK(unused.count("bert.embeddings.position_ids") == 1);
            CHECK(words.find("the masked-LM head cls.predictions.* (7 tensors)") != std::string::npos);
            CHECK(words.find("embeddings.position_ids (checked: 0, 1, 2, ...)") != std::string::npos);
            // And in single precision, as a stage program loads it.
            using F = Cpu<float>;
            Context<F> fctx;
            Model<Bert, F> fbert(dir.options, 5);
            io::load_bert_weights(fbert.arena(), fctx.state, dir);
            BertInput<F> fin{test::tensor_from<F, std::int32_t>(fctx, expected, "input_ids"),
                             test::tensor_from<F, std::int32_t>(fctx, expected, "attention_mask"),
                             {}};
            test::check_close(fctx, fbert.forward(fctx, fin), expected, "last_hidden_state", 1e-4, 1e-5);
        } else {
            CHECK(words.find("the masked-LM head cls.predictions.* (5 tensors)") != std::string::npos);
        }
    }
}

TEST_CASE("tokenizer_config.json decides casing and length; without it, BertTokenizer's defaults") {
    const fs::path d = published_directory("model.safetensors");
    auto dir = io::HfBertDirectory::open(d);
    CHECK(dir.tokenizer_config.filename() == "tokenizer_config.json");
    auto settings = text::hf_tokenizer_settings(dir);
    CHECK_FALSE(settings.options.lower_case);
    CHECK(settings.max_length == 64);
    const text::WordPiece cased = text::hf_wordpiece(dir);
    CHECK(cased.encode("Sinus")[0] != cased.encode("sinus")[0]);

    // Bio_ClinicalBERT ships no tokenizer_config.json: HF's BertTokenizer then lower-cases.
    fs::remove(d / "tokenizer_config.json");
    dir = io::HfBertDirectory::open(d);
    CHECK(dir.tokenizer_config.empty());
    settings = text::hf_tokenizer_settings(dir);
    CHECK(settings.options.lower_case);
    CHECK(settings.max_length == 64);  // config.json's max_position_embeddings
    CHECK(text::hf_wordpiece(dir).encode("Sinus") == text::hf_wordpiece(dir).encode("sinus"));

    // A huge model_max_length (HF's "no limit") stays within the positions; a malformed value names its key.
    std::ofstream(d / "tokenizer_config.json") << R"({"do_lower_case": false, "model_max_length": 1e30})";
    CHECK(text::hf_tokenizer_settings(io::HfBertDirectory::open(d)).max_length == 64);
    std::ofstream(d / "tokenizer_config.json") << R"({"do_lower_case": "no"})";
    CHECK_THROWS_WITH_AS(text::hf_tokenizer_settings(io::HfBertDirectory::open(d)),
                         doctest::Contains("key 'do_lower_case' must be true or false"), Error);
}

TEST_CASE("position ids other than 0, 1, 2, ... are refused by name") {
    const fs::path d = published_directory("model.safetensors");
    auto source = io::SafetensorsFile::read(fixtures() / "hf_bert" / "model.safetensors");
    io::SafetensorsWriter w;
    for (auto& name : source.names()) {
        const auto values = source.get<float>(name);
        w.add<float>(name, source.shape(name), values);
    }
    std::vector<std::int64_t> ids(64);
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>(i);
    std::swap(ids[3], ids[4]);
    w.add<std::int64_t>("bert.embeddings.position_ids", Shape{1, 64}, ids);
    w.write(d / "model.safetensors");
    using B = Cpu<float>;
    Context<B> ctx;
    const auto dir = io::HfBertDirectory::open(d);
    Model<Bert, B> bert(dir.options);
    CHECK_THROWS_WITH_AS(io::load_bert_weights(bert.arena(), ctx.state, dir),
                         doctest::Contains("the buffer 'bert.embeddings.position_ids' holds position 4 at index 3"),
                         Error);
    fs::remove_all(fs::temp_directory_path() / "fgclep_test_hf");
}
