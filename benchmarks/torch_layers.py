#!/usr/bin/python3
"""The PyTorch side of benchmarks/bench_layers.cpp: the same layers, shapes and timing method.

Usage: /usr/bin/python3 benchmarks/torch_layers.py [--threads T] [--case NAME[,NAME...]]; prints one JSON line per case.
"""
import argparse
import json
import time

import torch
import torch.nn as nn


def median_seconds(iteration):
    for _ in range(2):
        iteration()
    times, start = [], time.perf_counter()
    while len(times) < 3 or (len(times) < 20 and time.perf_counter() - start < 1.0):
        t0 = time.perf_counter()
        iteration()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def train_iteration(module, x, forward=None):
    forward = forward or module
    module.train()
    x = x.requires_grad_(True)
    dy = torch.randn_like(forward(x))

    def it():
        y = forward(x)
        module.zero_grad(set_to_none=False)
        x.grad = None
        y.backward(dy)
    return median_seconds(it)


def attention():
    m = nn.MultiheadAttention(768, 12, batch_first=True)
    x = torch.randn(16, 128, 768)
    pad = torch.zeros(16, 128, dtype=torch.bool)
    for n in range(16):
        pad[n, 64 + 4 * n:] = True
    return train_iteration(m, x, lambda t: m(t, t, t, key_padding_mask=pad, need_weights=False)[0])


def conv3_infer():
    m = nn.Conv1d(64, 64, 3, padding=1, bias=False).eval()
    x = torch.randn(8, 64, 1250)
    with torch.inference_mode():
        return median_seconds(lambda: m(x))


def adamw():
    m = nn.Linear(5000, 2000)
    for p in m.parameters():
        p.grad = torch.randn_like(p)
    opt = torch.optim.AdamW([{"params": [m.weight], "weight_decay": 1e-4}, {"params": [m.bias], "weight_decay": 0.0}],
                            lr=1e-3, foreach=False)
    return median_seconds(opt.step)


CASES = {
    "linear_train": lambda: train_iteration(nn.Linear(768, 3072), torch.randn(2048, 768)),
    "conv_stem_train": lambda: train_iteration(nn.Conv1d(12, 64, 7, 2, 3, bias=False), torch.randn(8, 12, 5000)),
    "conv3_train": lambda: train_iteration(nn.Conv1d(64, 64, 3, padding=1, bias=False), torch.randn(8, 64, 1250)),
    "conv1x1_train": lambda: train_iteration(nn.Conv1d(256, 64, 1, bias=False), torch.randn(8, 256, 1250)),
    "conv3_infer": conv3_infer,
    "batchnorm_train": lambda: train_iteration(nn.BatchNorm1d(256), torch.randn(8, 256, 1250)),
    "layernorm_train": lambda: train_iteration(nn.LayerNorm(768, eps=1e-12), torch.randn(2048, 768)),
    "gelu_train": lambda: train_iteration(nn.GELU(), torch.randn(2048, 3072)),
    "attention_train": attention,
    "adamw_step": adamw,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--case", default="")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    for name, run in CASES.items():
        if a.case and name not in a.case.split(","):
            continue
        s = run()
        print(json.dumps({"impl": "pytorch-" + torch.__version__, "threads": torch.get_num_threads(), "case": name,
                          "s_per_iter": round(s, 6)}), flush=True)


if __name__ == "__main__":
    main()
