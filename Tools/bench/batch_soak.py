#!/usr/bin/env python3
"""Memory soak of `loupe batch`: 5,000 images (the twelve Fashion-MNIST samples of the batch
tests' fixture, each shifted by a seeded number of pixels, in an IDX file) on the Fashion-MNIST model with saliency and Grad-CAM,
in one process, its resident memory sampled every 20 ms. Prints the peak RSS once the first 100
images are recorded, the peak over the whole run, and the growth between them (issue #26 asks
for under 5%).

    swift build -c release --product loupe && python3 Tools/bench/batch_soak.py [--images 5000]

Needs numpy.
"""
import argparse
import os
import random
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from soak import rss_mb  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LOUPE = os.path.join(ROOT, ".build", "release", "loupe")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=5000)
    args = parser.parse_args()
    samples = np.load(os.path.join(ROOT, "Tests", "LoupeCLITests", "Fixtures", "batch", "fashion_val_12.npz"))["X"][..., 0]
    generator = random.Random(0)
    with tempfile.TemporaryDirectory() as work:
        pixels = bytearray()
        for index in range(args.images):
            pixels += np.roll(samples[index % len(samples)], generator.randint(-3, 3), axis=1).astype(np.uint8).tobytes()
        images = os.path.join(work, "images-idx3-ubyte")
        with open(images, "wb") as file:
            file.write(struct.pack(">IIII", 0x803, args.images, 28, 28) + bytes(pixels))
        out = os.path.join(work, "run")
        records = os.path.join(out, "shards", "0-of-1.jsonl")
        started = time.perf_counter()
        process = subprocess.Popen([LOUPE, "batch", "--model", os.path.join(ROOT, "Models", "fashion-cnn.safetensors"),
                                    "--data", images, "--methods", "saliency,grad-cam", "--quiet", "--out", out],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        after_warmup, peak, done_at_warmup = None, 0.0, 0
        while process.poll() is None:
            rss = rss_mb(process.pid) if os.path.exists(f"/proc/{process.pid}/status") else 0.0
            peak = max(peak, rss)
            if after_warmup is None and os.path.exists(records):
                with open(records, "rb") as file:
                    done = file.read().count(b"\n")
                if done >= 100:
                    after_warmup, done_at_warmup = peak, done
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        output, error = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"loupe batch failed: {error}")
        print(output.strip())
        print(f"{args.images} images in {seconds:.1f} s; peak RSS {after_warmup:.1f} MB once {done_at_warmup} images were "
              f"recorded, {peak:.1f} MB over the run: growth {100 * (peak - after_warmup) / after_warmup:.1f}%")


if __name__ == "__main__":
    main()
