#pragma once
// The umbrella header: the model library (<fgclep/models.hpp>) and the FG-CLEP application on top of it.
//
//   #include <fgclep/fgclep.hpp>
//
// Left out on purpose:
//   - fgclep/testing/ (the gradient checker): a test-only tool, include it where you test.
//   - fgclep/interop/ (xtensor views and .npy): needs xtensor, which fgclep::fgclep does not depend on.
//   - fgclep/llm/ (the LLM client of stage 2): needs cpp-httplib; link fgclep::llm, not fgclep::fgclep.
//   - CUDA headers (backend/cuda*): they need the CUDA toolkit and fgclep::cuda (see docs/backends.md).
// The ctest test `umbrella_header_is_complete` (cmake/check_umbrella.cmake) fails when a header of the
// application directories is missing here, so add new headers in their section, sorted.

// the model library: core, backend, nn, models, loss, optim, io
#include "fgclep/models.hpp"

// text: the WordPiece (BERT) tokenizer; needs utf8proc, which fgclep::fgclep links
#include "fgclep/text/hf_vocab.hpp"
#include "fgclep/text/report_tokenizer.hpp"
#include "fgclep/text/wordpiece.hpp"

// train: pair sources, the Trainer, checkpoints, progress and the run log
#include "fgclep/train/checkpoint.hpp"
#include "fgclep/train/pair_source.hpp"
#include "fgclep/train/progress.hpp"
#include "fgclep/train/run_log.hpp"
#include "fgclep/train/trainer.hpp"

// data: WFDB and MATLAB v4 readers, the datasets as PhysioNet ships them, preprocessing, streaming batches
#include "fgclep/data/batch_stream.hpp"
#include "fgclep/data/crop_pad.hpp"
#include "fgclep/data/csv.hpp"
#include "fgclep/data/dataset.hpp"
#include "fgclep/data/datasets/benchmark_split.hpp"
#include "fgclep/data/datasets/chapman.hpp"
#include "fgclep/data/datasets/common.hpp"
#include "fgclep/data/datasets/cpsc2018.hpp"
#include "fgclep/data/datasets/mimic_iv_ecg.hpp"
#include "fgclep/data/datasets/ptbxl.hpp"
#include "fgclep/data/ecg_record.hpp"
#include "fgclep/data/lead_order.hpp"
#include "fgclep/data/load_issues.hpp"
#include "fgclep/data/mat_v4.hpp"
#include "fgclep/data/nan_policy.hpp"
#include "fgclep/data/normalize.hpp"
#include "fgclep/data/preprocess.hpp"
#include "fgclep/data/record_cache.hpp"
#include "fgclep/data/record_source.hpp"
#include "fgclep/data/report_cleaning.hpp"
#include "fgclep/data/resample.hpp"
#include "fgclep/data/wfdb_formats.hpp"
#include "fgclep/data/wfdb_header.hpp"
#include "fgclep/data/wfdb_reader.hpp"
#include "fgclep/data/wfdb_writer.hpp"

// synth: the 12-lead ECG simulator, machine-style reports, the MIMIC-IV-ECG-layout corpus, measurements, SVG pictures
#include "fgclep/synth/atrial_activity.hpp"
#include "fgclep/synth/beat_model.hpp"
#include "fgclep/synth/conditions.hpp"
#include "fgclep/synth/corpus.hpp"
#include "fgclep/synth/lead_projection.hpp"
#include "fgclep/synth/measurements.hpp"
#include "fgclep/synth/noise.hpp"
#include "fgclep/synth/render_svg.hpp"
#include "fgclep/synth/report.hpp"
#include "fgclep/synth/rhythm.hpp"
#include "fgclep/synth/simulator.hpp"

// eval: macro AUC (sklearn-equal), zero-shot with the lead ensemble, linear probing, retrieval, .npy export, results
#include "fgclep/eval/corpus_retrieval.hpp"
#include "fgclep/eval/export.hpp"
#include "fgclep/eval/linear_probe.hpp"
#include "fgclep/eval/metrics.hpp"
#include "fgclep/eval/prompts.hpp"
#include "fgclep/eval/results.hpp"
#include "fgclep/eval/retrieval.hpp"
#include "fgclep/eval/splits.hpp"
#include "fgclep/eval/zero_shot.hpp"

// features: stage 2 without a server (the embedded knowledge base), validation by the stage-1 model, provenance
#include "fgclep/features/candidate_source.hpp"
#include "fgclep/features/ground_truth.hpp"
#include "fgclep/features/knowledge_base.hpp"
#include "fgclep/features/provenance.hpp"
#include "fgclep/features/validation.hpp"

// pipeline: the FG-CLEP stages as functions (stage 1 CLEP, stage 2 waveform features, stage 3 FG-CLEP, evaluation)
#include "fgclep/pipeline/evaluation.hpp"
#include "fgclep/pipeline/feature_stage.hpp"
#include "fgclep/pipeline/model_config.hpp"
#include "fgclep/pipeline/training_stages.hpp"
