// Stage 2 of FG-CLEP: candidate waveform features for every report, kept where the stage-1 model finds them in
// the ECG (probability above --threshold), written with provenance for stage 3.
//
//   stage2_features CORPUS_DIR [--stage1 runs/stage1] [--out runs/stage2] [--model tiny|full|paper]
//                   [--text-weights HF_DIR] [--threshold 0.95 | --keep-share X] [--kb | --kb-file FILE [--kb-replace]]
//                   [--llm-base-url URL --llm-model NAME [--llm-cache FILE] [--llm-concurrency 8]] ...
//                   (`stage2_features --help` lists every option)
//
// Candidates come from the embedded knowledge base by default (--kb; --kb-file adds a JSON table of your own, see
// docs/user-guide.md), or from an OpenAI-compatible server (vLLM, llama.cpp, Ollama) with --llm-base-url, in a
// build with fgclep::llm (cpp-httplib); the API key is read from $OPENAI_API_KEY, and answers are cached in
// --llm-cache (default OUT/llm_cache.jsonl) so an interrupted run resumes without asking twice.
//
// Reads STAGE1/model.safetensors; writes OUT/features.jsonl (one line per record: proposed, probabilities, kept,
// augmented report) and OUT/statistics.txt. Where the corpus has a ground_truth.csv (a synthetic corpus), prints the
// precision and recall of the proposed and kept features against it and writes OUT/ground_truth_recovery.txt.
//
// Under `mpirun -np K` the records are scored by all ranks, each a share, with the one-process result (the
// knowledge base only: an LLM is asked in one process); rank 0 prints and writes (docs/distributed.md).
#include "pipeline_cli.hpp"

#include <fgclep/features/ground_truth.hpp>
#include <fgclep/features/knowledge_base.hpp>
#include <fgclep/pipeline/feature_stage.hpp>
#ifdef FGCLEP_WITH_LLM
#include <fgclep/llm/llm_features.hpp>
#endif

using namespace fgclep;

int main(int argc, char** argv) try {
    cli::silence_other_ranks();
    CLI::App app{
        "Stage 2 of FG-CLEP: candidate waveform features for every report (from the embedded knowledge base or an "
        "OpenAI-compatible LLM server), kept where the stage-1 model finds them in the ECG (match probability above "
        "--threshold); writes OUT/features.jsonl with provenance and OUT/statistics.txt for stage 3.",
        "stage2_features"};
    std::string stage1_arg = "runs/stage1", out_arg = "runs/stage2", kb_file, llm_base_url, llm_model, llm_cache;
    std::int64_t workers = 2, llm_concurrency = 8;
    bool kb = false, kb_replace = false, overwrite = false;
    pipeline::FeatureStageOptions options;
    cli::ModelFlags model_flags;
    cli::CorpusFlags corpus_flags;
    cli::DeviceFlags device;
    cli::DistributedFlags distributed;
    corpus_flags.add_to(app);
    app.add_option("--stage1", stage1_arg, "stage 1's run directory")->capture_default_str();
    app.add_option("--out", out_arg, "output directory")->capture_default_str();
    app.add_option("--threshold", options.threshold,
                   "keep a candidate where the stage-1 match probability exceeds this (the paper's 0.95)")
        ->check(CLI::Range(0.0, 1.0))
        ->capture_default_str();
    app.add_option("--keep-share", options.keep_share,
                   "instead keep this share of the most probable (record, candidate) pairs (e.g. 0.3 for the tiny "
                   "model; 0: use --threshold)")
        ->check(cli::share)
        ->excludes("--threshold")
        ->capture_default_str();
    app.add_flag("--kb", kb, "candidates from the embedded knowledge base (the default without --llm-base-url)");
    app.add_option("--kb-file", kb_file, "a JSON table of candidates of your own, added to the knowledge base")
        ->check(CLI::ExistingFile);
    app.add_flag("--kb-replace", kb_replace, "use only --kb-file's table");
    app.add_option("--workers", workers, "threads reading and preprocessing records")
        ->check(cli::positive)
        ->capture_default_str();
    app.add_flag("--overwrite", overwrite, "validate again even when OUT/features.jsonl exists");
    app.add_option("--llm-base-url", llm_base_url,
                   "ask an OpenAI-compatible server (vLLM, llama.cpp, Ollama), e.g. http://localhost:8000/v1; the "
                   "API key is read from $OPENAI_API_KEY")
        ->excludes("--kb");
    app.add_option("--llm-model", llm_model, "the server's model name")->needs("--llm-base-url");
    app.add_option("--llm-cache", llm_cache, "answers cached here (default OUT/llm_cache.jsonl)")
        ->needs("--llm-base-url");
    app.add_option("--llm-concurrency", llm_concurrency, "requests in flight")
        ->check(cli::positive)
        ->needs("--llm-base-url")
        ->capture_default_str();
    model_flags.add_to(app, /*training=*/false);
    device.add_to(app);
    distributed.add_to(app);
    cli::parse(app, argc, argv);
    const std::filesystem::path corpus = corpus_flags.corpus, stage1 = stage1_arg, out = out_arg;

    // The text encoder first: a wrong --text-weights fails before the corpus is read.
    const cli::TextSetup text = cli::text_setup(model_flags);
    fmt::print("{}\n", text.description);
    data::EcgDataset pairs = corpus_flags.load(model_flags);
    const ReportTokenizer& tokenizer = text.tokenizer;
    options.preprocess = pipeline::preprocess_options(model_flags.size());
    options.preprocess.nan.policy = corpus_flags.nan_policy(model_flags);
    options.workers = static_cast<int>(workers);
    options.overwrite = overwrite;

    return cli::with_communicator(distributed, "stage2_features", [&](auto& comm) {
        return cli::with_context(device, "stage2_features", [&](auto& ctx) {
            return cli::with_model(ctx, model_flags, text, {}, [&](auto& model) {
                // Under mpirun each rank scores a share of the records (host collectives: any device).
                detail::CollectivesScope<cli::backend_of<decltype(ctx)>> distributed(
                    ctx, comm.size() > 1 ? comm.collectives() : nullptr);
                pipeline::load_weights(pipeline::weights_path(stage1), ctx, model);
                pipeline::FeatureStageResult r;
                if (!llm_base_url.empty()) {
                    if (comm.size() > 1)
                        fail(
                            "--llm-base-url under mpirun would ask the LLM server once per rank; run stage 2 with the "
                            "LLM in one process (its answers are cached in --llm-cache), or use --kb");
#ifdef FGCLEP_WITH_LLM
                    llm::LlmFeatureOptions lo;
                    lo.chat.base_url = llm_base_url;
                    lo.chat.model = llm_model;
                    lo.cache_file = llm_cache.empty() ? (out / "llm_cache.jsonl").string() : llm_cache;
                    lo.concurrency = static_cast<int>(llm_concurrency);
                    std::filesystem::create_directories(out);
                    llm::LlmFeatureSource source(lo);
                    r = pipeline::run_features(model, ctx, tokenizer, pairs, source, out, options);
                    const llm::LlmStats s = source.stats();
                    fmt::print("LLM: {} reports, {} cached, {} asked, {} failed, {} malformed\n", s.reports, s.cached,
                               s.asked, s.failed, s.malformed);
#else
            fmt::print(stderr, "stage2_features: this build has no LLM client (fgclep::llm needs cpp-httplib: "
                               "Debian libcpp-httplib-dev); use the knowledge base (--kb)\n");
            return 1;
#endif
                } else {
                    features::KnowledgeBaseOptions ko;
                    ko.user_file = kb_file;
                    ko.replace_builtin = kb_replace;
                    auto kb = features::KnowledgeBase::load(ko);
                    r = pipeline::run_features(model, ctx, tokenizer, pairs, kb, out, options);
                }
                if (comm.rank() > 0) return 0;  // rank 0 reports and writes
                if (r.reused) fmt::print("{} exists: reused (--overwrite validates again)\n", r.provenance.string());
                fmt::print("{}", r.statistics.summary());
                fmt::print("provenance: {}\n", r.provenance.string());
                if (std::filesystem::exists(corpus / "ground_truth.csv")) {
                    const features::FeatureRecovery m = features::evaluate_feature_recovery(
                        features::read_feature_ground_truth(corpus / "ground_truth.csv"), r.records);
                    std::ofstream(out / "ground_truth_recovery.txt") << m.summary();
                    fmt::print(
                        "against the ground truth: proposed precision {:.3f} recall {:.3f}; kept precision {:.3f} "
                        "recall {:.3f} ({} records)\n",
                        m.proposed.precision(), m.proposed.recall(), m.kept.precision(), m.kept.recall(), m.records);
                }
                return 0;
            });
        });
    });
} catch (const std::exception& e) {
    fmt::print(stderr, "stage2_features: {}\n", e.what());
    return 1;
}
