// A downstream program that uses only the model library (fgclep::models, <fgclep/models.hpp>): it is compiled with
// poisoned <nlohmann/json.hpp> and <utf8proc.h> first on its include path, so it builds only if no library header
// includes them. It trains a tiny FgClep for a few steps, writes it as safetensors and reads it back (the library's
// own JSON), and reads a Hugging Face config.json. Exits non-zero (with a message) on any failure.
#include <fgclep/models.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {
int failures = 0;
void check(bool ok, const std::string& what) {
    if (!ok) {
        std::fprintf(stderr, "model-only consumer check failed: %s\n", what.c_str());
        ++failures;
    }
}
}  // namespace

int main() {
    using M = fgclep::FgClep<fgclep::ResNet1D18, fgclep::Bert, fgclep::SigmoidLoss, fgclep::FnmLoss>;
    using B = M::backend_type;
    M::Options o;
    o.ecg.backbone = {.leads = 2, .base_width = 2, .stages = {1, 1}, .input_length = 64};
    o.ecg.head.embed_dim = 8;
    o.ecg.head.num_heads = 2;
    o.ecg.head.output_dim = 8;
    o.text.bert = {.vocab_size = 30,
                   .hidden_size = 8,
                   .num_hidden_layers = 1,
                   .num_attention_heads = 2,
                   .intermediate_size = 16,
                   .max_position_embeddings = 16};
    o.text.head = {0, 8, 8};
    M model(o, /*seed=*/5);
    fgclep::Context<B> ctx;

    const std::int64_t N = 4, L = 64, len = 5;
    std::vector<float> ecg(N * 2 * L);
    std::vector<std::int32_t> ids, mask(N * len, 1);
    for (std::int64_t i = 0; i < N * 2 * L; ++i) ecg[i] = static_cast<float>(std::sin(0.05 * double(i)));
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t l = 0; l < len; ++l)
            ids.push_back(static_cast<std::int32_t>(l == 0 ? 1 : 2 + (n * 5 + l) % 27));
    const M::batch_type batch{
        ctx.from_host(fgclep::Shape{N, 2, L}, ecg),
        fgclep::BertInput<B>{
            ctx.from_host(fgclep::Shape{N, len}, ids), ctx.from_host(fgclep::Shape{N, len}, mask), {}}};
    fgclep::AdamW<B> optimizer(model.arena(), {.lr = 1e-2});
    const double first = model.train_step(ctx, batch, optimizer, 1e-2).total;
    double last = first;
    for (int step = 0; step < 4; ++step) last = model.train_step(ctx, batch, optimizer, 1e-2).total;
    check(std::isfinite(first) && last < first, "the loss falls over 5 steps on one batch");

    // Checkpoint I/O through the library's own JSON: write, read back, identical parameters.
    const auto dir = std::filesystem::temp_directory_path() / "fgclep_models_consumer";
    std::filesystem::create_directories(dir);
    fgclep::io::save_safetensors(model.arena(), ctx.state, dir / "model.safetensors");
    M reloaded(o, /*seed=*/6);
    fgclep::io::load_state(reloaded.arena(), ctx.state, fgclep::io::SafetensorsFile::read(dir / "model.safetensors"));
    const auto a = ctx.to_host(model.parameter("proj_t.2.weight").value);
    const auto b = ctx.to_host(reloaded.parameter("proj_t.2.weight").value);
    check(a == b, "a saved and reloaded model has the same parameters");

    std::ofstream(dir / "config.json") << R"({"vocab_size": 30, "hidden_size": 8, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 16, "hidden_act": "gelu", "pad_token_id": null})";
    const fgclep::Bert::Options c = fgclep::read_bert_config((dir / "config.json").string());
    check(c.hidden_size == 8 && c.pad_token_id == -1, "read_bert_config reads a config.json");
    std::filesystem::remove_all(dir);

    std::printf("model-only consumer (fgclep %s): loss %.4f -> %.4f, checkpoint round trip, config.json: %s\n",
                FGCLEP_VERSION_STRING, first, last, failures ? "FAILED" : "ok");
    return failures == 0 ? 0 : 1;
}
