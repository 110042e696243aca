#!/usr/bin/env python3
"""The supervised fallback that was tried and left out of FOS (BENCHMARKS.md section 1).

Learns the spectral shape of each fault type from the `train` rows of the CWRU manifest (log energies of
16 log-spaced bands from 100 Hz to 5.4 kHz, relative to the healthy baseline, per 1 s window every 0.5 s,
every recording band-limited at 5.4 kHz and 97.mat resampled from 48 kHz to 12 kHz) and names the fault of
each faulty `test` window, by nearest centroid and by logistic regression. Prints accuracy per true label.

Usage: bench/spectral_shape_classifier.py [MANIFEST]   (needs numpy and scipy; default ../shared/data/cwru)
"""
import csv
import os
import sys

import numpy as np
import scipy.io as sio
from scipy.signal import filtfilt, firwin, resample_poly

FA = 12000
manifest = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../shared/data/cwru/manifest.csv")
folder = os.path.dirname(os.path.abspath(manifest))
rows = list(csv.DictReader(open(manifest)))
lp = firwin(255, 0.45 * FA, fs=FA)
labels = ["outer", "inner", "ball"]


def load(r):
    x = sio.loadmat(os.path.join(folder, r["path"]))[r["signal"]].ravel().astype(float)
    fs = float(r["fs_hz"])
    a = int(float(r["start_s"]) * fs) if r["start_s"] else 0
    b = int(float(r["end_s"]) * fs) if r["end_s"] else len(x)
    x = x[a:b]
    if fs != FA:
        x = resample_poly(x, 1, int(fs / FA))
    return filtfilt(lp, [1], x)


def features(x):
    out = []
    edges = np.geomspace(100, 0.45 * FA, 17)
    for s in range(0, len(x) - FA + 1, FA // 2):
        w = x[s : s + FA] - x[s : s + FA].mean()
        p = np.abs(np.fft.rfft(w * np.hanning(FA))) ** 2
        e = np.array([p[int(a) : int(b)].sum() for a, b in zip(edges[:-1], edges[1:])])
        out.append(np.log(e / e.sum()))
    return np.array(out)


base = np.median(np.vstack([features(load(r)) for r in rows if r["role"] == "baseline"]), axis=0)
xtr, ytr, xte, yte = [], [], [], []
for r in rows:
    if r["label"] not in labels or r["role"] not in ("train", "test"):
        continue
    f = features(load(r)) - base
    (xtr if r["role"] == "train" else xte).extend(f)
    (ytr if r["role"] == "train" else yte).extend([r["label"]] * len(f))
xtr, xte, ytr, yte = np.array(xtr), np.array(xte), np.array(ytr), np.array(yte)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-9
ztr, zte = (xtr - mu) / sd, (xte - mu) / sd


def report(name, pred):
    for lab in labels:
        m = yte == lab
        print(f"{name:20s} {lab:6s} {int((pred[m] == lab).sum())}/{int(m.sum())}")


cent = {lab: ztr[ytr == lab].mean(0) for lab in labels}
report("nearest centroid", np.array([min(labels, key=lambda l: np.sum((z - cent[l]) ** 2)) for z in zte]))
w, b = np.zeros((ztr.shape[1], 3)), np.zeros(3)
y = np.array([[lab == k for k in labels] for lab in ytr], float)
for _ in range(3000):
    logits = ztr @ w + b
    logits -= logits.max(1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(1, keepdims=True)
    g = p - y
    w -= 0.1 * (ztr.T @ g / len(ztr) + 1e-2 * w)
    b -= 0.1 * g.mean(0)
report("logistic regression", np.array([labels[i] for i in (zte @ w + b).argmax(1)]))
