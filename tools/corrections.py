#!/usr/bin/env python3
"""How a residual model's corrections relate to its base's errors, per video.

Reads the folders `mcvd eval --task interpolate --model M --frames-out DIR` writes (per video: truth-NNNN.png,
motion-NNNN.png, model-NNNN.png for each target) and prints, per video and over all targets:

  gain      PSNR of the model's frame minus PSNR of motion's (dB, mean over the video's targets)
  rms_err   RMS of truth - motion (levels): what there is to correct
  rms_corr  RMS of model - motion (levels): what the model changes
  corr      correlation of the two over every pixel: 1 = the model moves each pixel the right way by
            the right share, 0 = its changes are unrelated to motion's errors (noise that costs PSNR)
  best_a    the scale a minimising |truth - (motion + a (model - motion))|^2: below 0 the changes point
            the wrong way on average

Needs numpy only (8-bit gray or RGB PNGs as mcvd writes them).

  python3 tools/corrections.py DIR [--every K]
"""
import argparse
import glob
import os
import struct
import sys
import zlib

import numpy as np


def read_png(path):
    """8-bit gray/RGB/RGBA PNG -> float array (H, W, C). Any filter type; no interlacing."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    i, idat, width = 8, b"", None
    while i < len(data):
        n = struct.unpack(">I", data[i:i + 4])[0]
        kind, body = data[i + 4:i + 8], data[i + 8:i + 8 + n]
        i += 12 + n
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or interlace != 0 or colour not in (0, 2, 6):
                raise ValueError(f"{path}: only 8-bit, non-interlaced gray/RGB/RGBA PNGs")
        elif kind == b"IDAT":
            idat += body
    if width is None:
        raise ValueError(f"{path}: no IHDR")
    ch = {0: 1, 2: 3, 6: 4}[colour]
    raw = np.frombuffer(zlib.decompress(idat), np.uint8)
    stride = width * ch
    out = np.zeros((height, stride), np.int32)
    prev = np.zeros(stride, np.int32)
    for y in range(height):
        row = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        kind, r = row[0], row[1:].astype(np.int32)
        if kind == 0:
            cur = r
        elif kind == 2:
            cur = (r + prev) & 255
        else:  # Sub, Average, Paeth: pixel by pixel
            cur = np.zeros(stride, np.int32)
            for x in range(stride):
                a = cur[x - ch] if x >= ch else 0
                b = prev[x]
                c = prev[x - ch] if x >= ch else 0
                if kind == 1:
                    p = a
                elif kind == 3:
                    p = (a + b) // 2
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[x] = (r[x] + p) & 255
        out[y] = cur
        prev = cur
    return out.reshape(height, width, ch)[..., :3 if ch == 4 else ch].astype(np.float64)


def psnr(a, b):
    mse = ((a - b) ** 2).mean()
    return 100.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def summary(name, gains, errs, corrs):
    e, c = np.concatenate(errs), np.concatenate(corrs)
    corr = np.corrcoef(e, c)[0, 1] if e.std() > 0 and c.std() > 0 else float("nan")
    best = (e * c).sum() / (c * c).sum() if (c * c).sum() > 0 else float("nan")
    print(f"{name:34s} targets={len(gains):4d} gain={np.mean(gains):+.3f} rms_err={np.sqrt((e ** 2).mean()):6.2f} "
          f"rms_corr={np.sqrt((c ** 2).mean()):5.2f} corr={corr:+.3f} best_a={best:+.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", help="the --frames-out folder of an mcvd eval run with a model")
    ap.add_argument("--every", type=int, default=1, help="use every K-th target (faster)")
    args = ap.parse_args()
    videos = sorted(v for v in os.listdir(args.dir) if os.path.isdir(os.path.join(args.dir, v)))
    all_g, all_e, all_c = [], [], []
    for v in videos:
        d = os.path.join(args.dir, v)
        models = sorted(glob.glob(os.path.join(d, "model-*.png")))[::args.every]
        if not models:
            continue
        gains, errs, corrs = [], [], []
        for m in models:
            tag = m[-8:-4]
            truth = read_png(os.path.join(d, f"truth-{tag}.png"))
            motion = read_png(os.path.join(d, f"motion-{tag}.png"))
            model = read_png(m)
            gains.append(psnr(truth, model) - psnr(truth, motion))
            errs.append((truth - motion).ravel())
            corrs.append((model - motion).ravel())
        summary(v, gains, errs, corrs)
        all_g += gains
        all_e += errs
        all_c += corrs
    if not all_g:
        sys.exit(f"{args.dir}: no model-*.png (run mcvd eval with --model and --frames-out)")
    summary("all targets", all_g, all_e, all_c)


if __name__ == "__main__":
    main()
