"""The PyTorch way of reading and preprocessing WFDB records, for bench_data.cpp to compare with.

A torch.utils.data.Dataset that parses each record's .hea and reads its .dat with numpy (what wfdb-python's rdsamp
does for format 16), then the same preprocessing as fgclep's default Preprocessor: leads reordered by name to the
MIMIC-IV-ECG order, NaN interpolated linearly per lead (edges: nearest), crop/pad to 5000, one min-max per record
(x - min) / (max - min + 1e-8). For each worker count W:

  dataloader   batches of 100 through DataLoader(num_workers=W, shuffle=True, persistent_workers=True)
  cache_build  a preprocessed float32 cache of every record, (N, 12, 5000) in one .npy written through
               np.lib.format.open_memmap and filled from DataLoader(num_workers=W, batch_size=100) over the decoding
               Dataset (what bench_data's build_record_cache does with W threads)
  cached       batches of 100 through DataLoader(num_workers=W, shuffle=True, persistent_workers=True) over a
               Dataset that reads rows of np.load(cache, mmap_mode="r") (what bench_data's cached stream does)

Method, as bench_data's: one untimed warm-up pass (an epoch, which starts the persistent workers; for the cache, a
build), then --epochs E timed passes; the cache is built 1 + E times, each into a fresh file (the previous one
deleted first, untimed), and the cached epochs read the last one. Prints, per kind and W, one line

  torch <dataloader|cache_build|cached> workers=W records/s median=M min=A max=B epochs=E

(the median and the full range over the E timed passes), which bench_data parses.

    /usr/bin/python3 benchmarks/data_peer.py --dir /tmp/records --records 1000 --workers 1,2 --epochs 5 \
        --cache /tmp/records/peer_cache.npy
"""
import argparse
import os
import statistics
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

MIMIC_ORDER = ["i", "ii", "iii", "avr", "avf", "avl", "v1", "v2", "v3", "v4", "v5", "v6"]


def read_record(path):
    with open(path + ".hea") as f:
        lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    name, nsig, fs, nsamp = lines[0].split()[:4]
    nsig, nsamp = int(nsig), int(nsamp)
    gains, baselines, names, files = [], [], [], []
    for line in lines[1 : 1 + nsig]:
        parts = line.split()
        files.append(parts[0])
        assert parts[1] == "16", "the peer reads format 16 only"
        gain_field = parts[2].split("/")[0]
        if "(" in gain_field:
            g, b = gain_field.rstrip(")").split("(")
            gains.append(float(g))
            baselines.append(float(b))
        else:
            gains.append(float(gain_field))
            baselines.append(0.0)
        names.append(parts[8] if len(parts) > 8 else "")
    d = np.fromfile(os.path.join(os.path.dirname(path), files[0]), dtype="<i2").reshape(nsamp, nsig)
    x = (d.astype(np.float64) - np.array(baselines)) / np.array(gains)
    x[d == -32768] = np.nan
    return x.T, names  # (leads, samples)


def preprocess(x, names, length=5000):
    keys = [n.lower() for n in names]
    x = x[[keys.index(k) for k in MIMIC_ORDER]]
    for lead in x:
        bad = ~np.isfinite(lead)
        if bad.any():
            good = np.flatnonzero(~bad)
            lead[bad] = 0.0 if good.size == 0 else np.interp(np.flatnonzero(bad), good, lead[good])
    out = np.zeros((12, length), dtype=np.float64)
    kept = min(length, x.shape[1])
    out[:, :kept] = x[:, :kept]
    mn, mx = out.min(), out.max()
    return ((out - mn) / (mx - mn + 1e-8)).astype(np.float32)


class WfdbDataset(Dataset):
    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        x, names = read_record(self.paths[i])
        return torch.from_numpy(preprocess(x, names)), "sinus rhythm."


class CachedDataset(Dataset):
    """Rows of the .npy cache, memory-mapped (opened lazily, once per worker process)."""

    def __init__(self, path, n):
        self.path, self.n, self.rows = path, n, None

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.rows is None:
            self.rows = np.load(self.path, mmap_mode="r")
        return torch.from_numpy(np.array(self.rows[i])), "sinus rhythm."  # a copy out of the mapping


def loader(ds, w, shuffle):
    return DataLoader(ds, batch_size=100, shuffle=shuffle, num_workers=w, persistent_workers=w > 0)


def epoch(batches):
    total = 0
    for ecg, _ in batches:
        total += ecg.shape[0]
    return total


def build_cache(ds, path, w):
    """Every record read and preprocessed through a DataLoader with w workers, written into a fresh .npy."""
    rows = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(len(ds), 12, 5000))
    at = 0
    for ecg, _ in loader(ds, w, shuffle=False):
        rows[at : at + ecg.shape[0]] = ecg.numpy()
        at += ecg.shape[0]
    rows.flush()
    del rows
    return at


def measure(n, epochs, one_pass, prepare=None):
    """One untimed warm-up pass, then `epochs` timed passes: records/s of each."""
    rates = []
    for e in range(epochs + 1):
        if prepare:
            prepare()
        t0 = time.perf_counter()
        got = one_pass()
        secs = time.perf_counter() - t0
        if got != n:
            raise SystemExit(f"pass {e} delivered {got} records of {n}")
        if e > 0:
            rates.append(n / secs)
    return rates


def show(kind, w, rates):
    print(f"torch {kind} workers={w} records/s median={statistics.median(rates):.1f} min={min(rates):.1f} "
          f"max={max(rates):.1f} epochs={len(rates)}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--records", type=int, required=True)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--epochs", type=int, default=5, help="timed passes after the warm-up")
    ap.add_argument("--cache", help="path of the .npy cache (default: DIR/peer_cache.npy); deleted at the end")
    ap.add_argument("--keep-cache", action="store_true", help="leave the cache of the last build in place")
    a = ap.parse_args()
    cache = a.cache or os.path.join(a.dir, "peer_cache.npy")
    paths = [os.path.join(a.dir, f"{i:05d}") for i in range(a.records)]
    ds = WfdbDataset(paths)
    n = len(ds)

    def remove_cache():
        if os.path.exists(cache):
            os.remove(cache)

    print(f"torch {torch.__version__}, numpy {np.__version__}, {os.cpu_count()} cores, torch threads "
          f"{torch.get_num_threads()} in the main process; {a.epochs} timed passes after one warm-up", flush=True)
    try:
        for w in [int(s) for s in a.workers.split(",")]:
            torch.manual_seed(0)
            batches = loader(ds, w, shuffle=True)
            show("dataloader", w, measure(n, a.epochs, lambda: epoch(batches)))
            del batches  # stops its persistent workers
            show("cache_build", w, measure(n, a.epochs, lambda: build_cache(ds, cache, w), prepare=remove_cache))
            torch.manual_seed(0)
            batches = loader(CachedDataset(cache, n), w, shuffle=True)
            show("cached", w, measure(n, a.epochs, lambda: epoch(batches)))
            del batches
    finally:
        if not a.keep_cache:
            remove_cache()


if __name__ == "__main__":
    main()
