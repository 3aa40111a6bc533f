#!/usr/bin/env python3
"""Batch throughput: `loupe batch` against a straightforward Captum script
(Tools/bench/captum_batch.py), side by side on the same machine, the same images and the same
weights: saliency and Grad-CAM (layer4) of the predicted class over an image folder, 2 threads
each (the Captum side's DataLoader has 2 workers), model loading and start-up included. The images
are made from the five photos of Samples/imagenet/ (seeded random crops, 256 to 400 pixels a side,
JPEG), in ten class folders; the weights are torchvision's architecture with seeded random values
(nothing to download). Loupe also writes a PNG per map; the Captum side writes only the arrays.

    swift build -c release --product loupe
    python3 Tools/bench/batch_throughput.py [--images 500] [--arch resnet50] [--rounds 1]

Needs torch, torchvision, captum, safetensors and Pillow.
"""
import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import cpu_name  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LOUPE = os.path.join(ROOT, ".build", "release", "loupe")


def make_images(folder, count, seed=0):
    from PIL import Image
    photos = sorted(os.path.join(ROOT, "Samples", "imagenet", f)
                    for f in os.listdir(os.path.join(ROOT, "Samples", "imagenet")) if f.endswith(".jpg"))
    generator = random.Random(seed)
    opened = [Image.open(path).convert("RGB") for path in photos]
    for index in range(count):
        photo = opened[index % len(opened)]
        width, height = photo.size
        scale = generator.uniform(0.5, 1.0)
        crop_w, crop_h = int(width * scale), int(height * scale)
        left, top = generator.randint(0, width - crop_w), generator.randint(0, height - crop_h)
        side = generator.randint(256, 400)
        image = photo.crop((left, top, left + crop_w, top + crop_h)).resize((side, side * crop_h // crop_w))
        target = os.path.join(folder, f"class{index % 10}")
        os.makedirs(target, exist_ok=True)
        image.save(os.path.join(target, f"{index:05d}.jpg"), quality=90)


def make_weights(arch, path):
    if os.path.exists(path):
        return
    import torch
    import torchvision
    from safetensors.torch import save_file
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)


def timed(command, env=None):
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stderr}")
    return seconds, result.stdout.strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    weights = os.path.join(ROOT, ".build", "bench-models", f"{args.arch}.safetensors")
    os.makedirs(os.path.dirname(weights), exist_ok=True)
    make_weights(args.arch, weights)
    env = dict(os.environ, OMP_NUM_THREADS="2")
    with tempfile.TemporaryDirectory() as work:
        data = os.path.join(work, "data")
        make_images(data, args.images)
        rows = []
        for round_index in range(args.rounds):
            loupe_out, captum_out = os.path.join(work, f"loupe-{round_index}"), os.path.join(work, f"captum-{round_index}")
            loupe_s, loupe_line = timed([LOUPE, "batch", "--model", weights, "--arch", args.arch, "--data", data,
                                         "--methods", "saliency,grad-cam", "--cam-layer", "layer4", "--quiet",
                                         "--out", loupe_out], env)
            captum_s, captum_line = timed([sys.executable, os.path.join(ROOT, "Tools", "bench", "captum_batch.py"),
                                           "--arch", args.arch, "--weights", weights, "--data", data,
                                           "--out", captum_out], env)
            print(loupe_line)
            print(captum_line)
            print(f"round {round_index + 1}: loupe {loupe_s:.1f} s, captum {captum_s:.1f} s (wall): {captum_s / loupe_s:.2f}×")
            rows.append((loupe_s, captum_s))
            shutil.rmtree(loupe_out)
            shutil.rmtree(captum_out)
        loupe_s = sorted(r[0] for r in rows)[len(rows) // 2]
        captum_s = sorted(r[1] for r in rows)[len(rows) // 2]
        print(f"Measured {time.strftime('%Y-%m-%d')} on {cpu_name()}, {os.cpu_count()} cores; "
              f"{args.images} images, {args.arch}, saliency + Grad-CAM (layer4), median of {args.rounds} round(s).")
        print("| side | wall | images/s |")
        print("|---|---:|---:|")
        print(f"| loupe batch | {loupe_s:.1f} s | {args.images / loupe_s:.2f} |")
        print(f"| Captum script (DataLoader, 2 workers) | {captum_s:.1f} s | {args.images / captum_s:.2f} |")
        print(f"Loupe ÷ Captum throughput: {captum_s / loupe_s:.2f}×")


if __name__ == "__main__":
    main()
