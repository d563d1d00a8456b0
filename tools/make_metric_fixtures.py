#!/usr/bin/env python3
"""Writes Tests/VideoDataTests/Fixtures/metrics.json: small 8-bit image pairs (24 wide x 20 high, gray
and RGB) with their PSNR and SSIM as scikit-image computes them, the independent reference for
Sources/VideoData/Metrics.swift.

Convention (the one `mcvd eval` uses): PSNR over all samples with data_range 255; SSIM as Wang et al.
2004 -- 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, population (not sample) covariance, mean
over the valid region (5 px border left out), computed per channel and averaged.

Run once (needs numpy and scikit-image): python3 tools/make_metric_fixtures.py
"""
import json
import os

import numpy as np
import skimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

W, H = 24, 20
rng = np.random.default_rng(20041)


def clip8(x):
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def gradient(c):
    y, x = np.mgrid[0:H, 0:W]
    planes = [40 + 6 * x + 3 * y + 20 * k for k in range(c)]
    return clip8(np.stack(planes, axis=-1))


cases = []


def add(name, a, b):
    c = 1 if a.ndim == 2 else a.shape[2]
    psnr = peak_signal_noise_ratio(a, b, data_range=255)
    ssim = structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False,
                                 channel_axis=None if c == 1 else 2)
    cases.append({"name": name, "width": W, "height": H, "channels": c,
                  "a": a.reshape(-1).tolist(), "b": b.reshape(-1).tolist(),
                  "psnr": float(psnr), "ssim": float(ssim)})


# 1. Gray noise image vs itself plus mild noise.
a = rng.integers(0, 256, size=(H, W), dtype=np.uint8)
add("gray-noise-vs-noisier", a, clip8(a + rng.normal(0, 12, size=a.shape)))
# 2. Gray gradient vs the gradient shifted one column with a dark square (structure change).
g = gradient(1)[:, :, 0]
b = np.roll(g, 1, axis=1).copy()
b[5:12, 8:15] = 10
add("gray-gradient-vs-shifted", g, b)
# 3. RGB: smooth image vs a contrast-changed noisy copy (luminance, contrast and structure terms).
a = clip8(gradient(3) + rng.normal(0, 20, size=(H, W, 3)))
add("rgb-textured-vs-contrast", a, clip8(0.8 * a.astype(float) + 30 + rng.normal(0, 6, size=a.shape)))

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "VideoDataTests", "Fixtures", "metrics.json")
with open(out, "w") as f:
    json.dump({"generator": "tools/make_metric_fixtures.py", "scikit-image": skimage.__version__,
               "cases": cases}, f, separators=(",", ":"))
    f.write("\n")
for c in cases:
    print(f"{c['name']}: psnr {c['psnr']:.6f} ssim {c['ssim']:.6f}")
