// Text -> ECG retrieval with free-text queries over a corpus in MIMIC-IV-ECG's layout (the paper's appendix F):
// every ECG is encoded once, in batches as it is streamed from disk, and the top k records of each query are printed
// with their match probability sigmoid(t cos + b) (the model's calibration) and their report, and written as JSON.
//
//   retrieve /data/mimic-iv-ecg --model full --weights runs/stage3/model.safetensors
//            --query "inverted t-waves" --query "low qrs voltages" --query "rsr' pattern" [--top-k 3]
//
// `retrieve --help` lists every option. Without --weights the model is freshly initialised (a smoke test: its
// probabilities mean nothing). Output: the table on stdout, OUT/retrieval.json (--out, default runs/retrieve).
#include "pipeline_cli.hpp"

#include <fgclep/data/datasets/mimic_iv_ecg.hpp>
#include <fgclep/data/preprocess.hpp>
#include <fgclep/eval/corpus_retrieval.hpp>
#include <fgclep/pipeline/model_config.hpp>
#include <fgclep/pipeline/training_stages.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace fgclep;

int main(int argc, char** argv) {
    CLI::App app{
        "Retrieves the ECGs of a corpus in MIMIC-IV-ECG's layout (record_list.csv, machine_measurements.csv, "
        "files/...) that best match free-text queries: each ECG is encoded once, streamed in batches, and the top k "
        "records of each query are printed with the model's match probability sigmoid(t cos + b) and their report, "
        "and written to OUT/retrieval.json (docs/evaluation.md).",
        "retrieve"};
    cli::ModelFlags model_flags;
    model_flags.add_to(app, /*training=*/false);
    cli::DeviceFlags device_flags;
    device_flags.add_to(app);
    std::string corpus, weights, out = "runs/retrieve";
    std::vector<std::string> queries;
    std::int64_t top_k = 3, max_records = 0, batch_size = 32, workers = 2;
    app.add_option("CORPUS", corpus, "the corpus directory (MIMIC-IV-ECG's layout, e.g. generate_corpus's)")
        ->required()
        ->check(CLI::ExistingDirectory);
    app.add_option("--query", queries, "a query text, e.g. \"inverted t-waves\"; repeat for more")
        ->required()
        ->allow_extra_args(false);
    app.add_option("--top-k", top_k, "records listed per query")->check(cli::positive)->capture_default_str();
    app.add_option("--weights", weights,
                   "the model's weights (a stage's model.safetensors); without it a freshly initialised model")
        ->check(CLI::ExistingFile);
    app.add_option("--out", out, "where retrieval.json goes")->capture_default_str();
    app.add_option("--max-records", max_records, "the first N records of the corpus only (0: all)")
        ->check(cli::non_negative)
        ->capture_default_str();
    app.add_option("--batch-size", batch_size, "ECGs per encoder batch")->check(cli::positive)->capture_default_str();
    app.add_option("--workers", workers, "threads reading and preprocessing records")
        ->check(cli::positive)
        ->capture_default_str();
    cli::parse(app, argc, argv);
    try {
        data::EcgDataset dataset = data::load_mimic_iv_ecg(corpus);
        if (max_records > 0 && max_records < dataset.size())
            dataset.entries.resize(static_cast<std::size_t>(max_records));
        if (dataset.issues.total() > 0) fmt::print("{}", dataset.issues.summary());
        fmt::print("corpus {}: {} records with reports\n", corpus, dataset.size());
        const cli::TextSetup text = cli::text_setup(model_flags);
        fmt::print("{}\n", text.description);
        const data::Preprocessor preprocessor(pipeline::preprocess_options(model_flags.size()));
        return cli::with_context(device_flags, "retrieve", [&](auto& ctx) {
            return cli::with_model(ctx, model_flags, text, cli::ModelUse{}, [&](auto& model) {
                std::string label = fmt::format("{} (untrained)", pipeline::to_string(model_flags.size()));
                if (!weights.empty()) {
                    pipeline::load_weights(weights, ctx, model);
                    label = fmt::format("{} {}", pipeline::to_string(model_flags.size()), weights);
                } else {
                    fmt::print("note: no --weights given; retrieving with a freshly initialised model\n");
                }
                const eval::CorpusRetrieval r = eval::retrieve_from_corpus(
                    model, ctx, text.tokenizer, dataset, preprocessor, queries,
                    {.top_k = top_k, .batch_size = batch_size, .workers = static_cast<int>(workers)});
                fmt::print("model {}: {} ECGs encoded ({} skipped); probability = sigmoid({:.4g} cos {:+.4g})\n\n{}",
                           label, r.encoded, r.skipped, r.calibration.scale, r.calibration.bias, r.table());
                nlohmann::json j = r.json();
                j["corpus"] = corpus;
                j["model"] = label;
                const std::filesystem::path path = std::filesystem::path(out) / "retrieval.json";
                if (!path.parent_path().empty()) std::filesystem::create_directories(path.parent_path());
                std::ofstream f(path, std::ios::trunc);
                f << j.dump(2) << "\n";
                if (!f) fail("cannot write '{}'", path.string());
                fmt::print("wrote {}\n", path.string());
                return 0;
            });
        });
    } catch (const std::exception& e) {
        fmt::print(stderr, "retrieve: {}\n", e.what());
        return 1;
    }
}
