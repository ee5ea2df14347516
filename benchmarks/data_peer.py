"""The PyTorch way of reading and preprocessing WFDB records, for bench_data.cpp to compare with.

A torch.utils.data.Dataset that parses each record's .hea and reads its .dat with numpy (what wfdb-python's rdsamp
does for format 16), then the same preprocessing as fgclep's default Preprocessor: leads reordered by name to the
MIMIC-IV-ECG order, NaN interpolated linearly per lead (edges: nearest), crop/pad to 5000, one min-max per record
(x - min) / (max - min + 1e-8). Batches of 100 through DataLoader(num_workers=W, shuffle=True); prints records/s.

    /usr/bin/python3 benchmarks/data_peer.py --dir /tmp/records --records 1000 --workers 1,2
"""
import argparse
import os
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--records", type=int, required=True)
    ap.add_argument("--workers", default="1,2")
    a = ap.parse_args()
    paths = [os.path.join(a.dir, f"{i:05d}") for i in range(a.records)]
    ds = WfdbDataset(paths)
    for w in [int(s) for s in a.workers.split(",")]:
        torch.manual_seed(0)
        loader = DataLoader(ds, batch_size=100, shuffle=True, num_workers=w)
        t0 = time.perf_counter()
        total = 0
        for ecg, reports in loader:
            total += ecg.shape[0]
        secs = time.perf_counter() - t0
        print(f"torch DataLoader num_workers={w}: {total / secs:.1f} records/s", flush=True)


if __name__ == "__main__":
    main()
