#pragma once
// The umbrella header: every public CPU header of fgclep.
//
//   #include <fgclep/fgclep.hpp>
//
// Left out on purpose:
//   - fgclep/testing/ (the gradient checker): a test-only tool, include it where you test.
//   - fgclep/interop/ (xtensor views and .npy): needs xtensor, which fgclep::fgclep does not depend on.
//   - fgclep/llm/ (the LLM client of stage 2): needs cpp-httplib; link fgclep::llm, not fgclep::fgclep.
//   - CUDA headers (backend/cuda*): they need the CUDA toolkit and fgclep::cuda, and arrive through
//     backend/ops.hpp when FGCLEP_WITH_CUDA is defined (see docs/backends.md).
// The ctest test `umbrella_header_is_complete` (cmake/check_umbrella.cmake) fails when a header under
// include/fgclep is missing here, so add new headers in their section, sorted.

// core: tensors, contexts, the layer contract, parameter arenas, Model
#include "fgclep/core/arena.hpp"
#include "fgclep/core/backend.hpp"
#include "fgclep/core/concepts.hpp"
#include "fgclep/core/context.hpp"
#include "fgclep/core/error.hpp"
#include "fgclep/core/model.hpp"
#include "fgclep/core/module.hpp"
#include "fgclep/core/param.hpp"
#include "fgclep/core/platform.hpp"
#include "fgclep/core/rng.hpp"
#include "fgclep/core/shape.hpp"
#include "fgclep/core/summary.hpp"
#include "fgclep/core/tensor.hpp"

// backend: the primitive vocabulary and the CPU backend
#include "fgclep/backend/cpu.hpp"
#include "fgclep/backend/cpu/allocator.hpp"
#include "fgclep/backend/cpu/blas.hpp"
#include "fgclep/backend/cpu/conv.hpp"
#include "fgclep/backend/cpu/elementwise.hpp"
#include "fgclep/backend/cpu/embedding.hpp"
#include "fgclep/backend/cpu/gemm.hpp"
#include "fgclep/backend/cpu/norm.hpp"
#include "fgclep/backend/cpu/optim.hpp"
#include "fgclep/backend/cpu/parallel.hpp"
#include "fgclep/backend/cpu/reduce.hpp"
#include "fgclep/backend/cpu/softmax.hpp"
#include "fgclep/backend/functors.hpp"
#include "fgclep/backend/ops.hpp"

// nn: layers and their compile-time composition
#include "fgclep/nn/activation.hpp"
#include "fgclep/nn/attention.hpp"
#include "fgclep/nn/batchnorm1d.hpp"
#include "fgclep/nn/conv1d.hpp"
#include "fgclep/nn/dropout.hpp"
#include "fgclep/nn/embedding.hpp"
#include "fgclep/nn/identity.hpp"
#include "fgclep/nn/layernorm.hpp"
#include "fgclep/nn/linear.hpp"
#include "fgclep/nn/named.hpp"
#include "fgclep/nn/pool.hpp"
#include "fgclep/nn/repeat.hpp"
#include "fgclep/nn/residual.hpp"
#include "fgclep/nn/sequential.hpp"

// models: the ECG encoders (ResNet1D backbones, ECG heads, EcgEncoder) and the text side (Bert, TextEncoder)
#include "fgclep/models/bert.hpp"
#include "fgclep/models/ecg_encoder.hpp"
#include "fgclep/models/fgclep.hpp"
#include "fgclep/models/heads.hpp"
#include "fgclep/models/resnet1d.hpp"
#include "fgclep/models/text_encoder.hpp"

// loss: the contrastive losses (sigmoid, FNM, InfoNCE) and the objective that combines them
#include "fgclep/loss/contrastive_loss.hpp"
#include "fgclep/loss/fnm.hpp"
#include "fgclep/loss/infonce.hpp"
#include "fgclep/loss/objective.hpp"
#include "fgclep/loss/pair_batch.hpp"
#include "fgclep/loss/sigmoid.hpp"

// optim: AdamW over the parameter arena, learning-rate schedules, gradient clipping
#include "fgclep/optim/adamw.hpp"
#include "fgclep/optim/clip.hpp"
#include "fgclep/optim/schedule.hpp"

// io: safetensors and torch.save checkpoints with PyTorch state_dict names, Hugging Face BERT directories
#include "fgclep/io/crc32.hpp"
#include "fgclep/io/hf_checkpoint.hpp"
#include "fgclep/io/safetensors.hpp"
#include "fgclep/io/state_dict.hpp"
#include "fgclep/io/torch_checkpoint.hpp"

// text: the WordPiece (BERT) tokenizer; needs utf8proc, which fgclep::fgclep links
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
#include "fgclep/eval/export.hpp"
#include "fgclep/eval/linear_probe.hpp"
#include "fgclep/eval/metrics.hpp"
#include "fgclep/eval/prompts.hpp"
#include "fgclep/eval/results.hpp"
#include "fgclep/eval/retrieval.hpp"
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
