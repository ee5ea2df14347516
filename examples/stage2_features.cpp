// Stage 2 of FG-CLEP: candidate waveform features for every report, kept where the stage-1 model finds them in
// the ECG (probability above --threshold), written with provenance for stage 3.
//
//   stage2_features CORPUS_DIR [--stage1 runs/stage1] [--out runs/stage2] [--model tiny|full] [--vocab FILE]
//                   [--threshold 0.95 | --keep-share X] [--kb | --kb-file FILE [--kb-replace]] [--threads T] [--precision fp32|bf16] [--workers W]
//                   [--max-records N] [--overwrite] [--collective-timeout S]
//                   [--llm-base-url URL --llm-model NAME [--llm-cache FILE] [--llm-concurrency 8]]
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
    const cli::Args args(argc, argv, {"--kb", "--kb-replace", "--overwrite", "--tf32"});
    std::vector<std::string> known{"--stage1",          "--out",
                                   "--model",           "--vocab",
                                   "--threshold",       "--keep-share",
                                   "--kb-file",         "--workers",
                                   "--max-records",     "--llm-base-url",
                                   "--llm-model",       "--llm-cache",
                                   "--llm-concurrency", "--collective-timeout"};
    known.insert(known.end(), cli::device_flags.begin(), cli::device_flags.end());
    args.check_known(known);
    if (args.positional.size() != 1) {
        fmt::print(stderr,
                   "usage: stage2_features CORPUS_DIR [--stage1 DIR] [--out DIR] [--kb | --llm-base-url URL ...]\n");
        return 1;
    }
    const std::filesystem::path corpus = args.positional[0];
    const auto size = pipeline::model_size_from_string(args.str("--model", "tiny"));
    const std::filesystem::path stage1 = args.str("--stage1", "runs/stage1"), out = args.str("--out", "runs/stage2");

    data::EcgDataset pairs = data::load_mimic_iv_ecg(corpus);
    if (const auto n = args.integer("--max-records", 0); n > 0 && n < static_cast<std::int64_t>(pairs.entries.size()))
        pairs.entries.resize(static_cast<std::size_t>(n));
    const ReportTokenizer tokenizer = pipeline::make_tokenizer(size, args.str("--vocab"), FGCLEP_DEFAULT_VOCAB);
    pipeline::FeatureStageOptions options;
    options.preprocess = pipeline::preprocess_options(size);
    options.threshold = args.real("--threshold", 0.95);
    options.keep_share = args.real("--keep-share", 0);  // e.g. 0.3 for the tiny model (see fgclep_pipeline)
    options.workers = static_cast<int>(args.integer("--workers", 2));
    options.overwrite = args.has("--overwrite");
    const auto vocab_size = static_cast<std::int64_t>(tokenizer.vocabulary().size());

    return cli::with_communicator(args, "stage2_features", [&](auto& comm) {
        return cli::with_context(args, "stage2_features", [&](auto& ctx) {
            return cli::with_model<cli::backend_of<decltype(ctx)>>(size, vocab_size, 0, [&](auto& model) {
                // Under mpirun each rank scores a share of the records (host collectives: any device).
                detail::CollectivesScope<cli::backend_of<decltype(ctx)>> distributed(
                    ctx, comm.size() > 1 ? comm.collectives() : nullptr);
                pipeline::load_weights(pipeline::weights_path(stage1), ctx, model);
                pipeline::FeatureStageResult r;
                if (args.has("--llm-base-url")) {
                    if (comm.size() > 1)
                        fail(
                            "--llm-base-url under mpirun would ask the LLM server once per rank; run stage 2 with the "
                            "LLM in one process (its answers are cached in --llm-cache), or use --kb");
#ifdef FGCLEP_WITH_LLM
                    llm::LlmFeatureOptions lo;
                    lo.chat.base_url = args.str("--llm-base-url");
                    lo.chat.model = args.str("--llm-model");
                    lo.cache_file = args.str("--llm-cache", (out / "llm_cache.jsonl").string());
                    lo.concurrency = static_cast<int>(args.integer("--llm-concurrency", 8));
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
                    ko.user_file = args.str("--kb-file");
                    ko.replace_builtin = args.has("--kb-replace");
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
