#!/usr/bin/env python3
"""Converts torchvision's official MobileNetV2 ImageNet weights to the demo's bundled model.

Reads mobilenet_v2-b0353104.pth (fetched by `sh Tools/fetch-mobilenet-v2.sh .build/mobilenet-v2`,
which checks its SHA-256; checked again here), rounds every floating-point tensor to float16 and
writes Models/mobilenet_v2.safetensors (about 7 MB) and Models/mobilenet_v2.json (architecture,
ImageNet class names, the preprocessing of torchvision's weights). It then checks that the
converted file predicts what the original does: torchvision with the float16-rounded weights gives
the original's top-1 class on the five photos of Samples/imagenet/, with its own preprocessing.
Needs: pip install torch torchvision safetensors pillow. Run from the repository root.
"""
import hashlib
import json
import os
import sys

import torch
import torchvision
from PIL import Image
from safetensors.torch import load_file, save_file

SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
SOURCE = os.path.join(".build", "mobilenet-v2", "mobilenet_v2-b0353104.pth")
PHOTOS = os.path.join("Samples", "imagenet")


def checked_state_dict(path):
    with open(path, "rb") as file:
        digest = hashlib.sha256(file.read()).hexdigest()
    if digest != SHA256:
        sys.exit(f"{path} has SHA-256 {digest}, not torchvision's {SHA256}")
    return torch.load(path, map_location="cpu", weights_only=True)


def model_with(state):
    model = torchvision.models.mobilenet_v2(weights=None)
    model.load_state_dict({key: value.float() if value.is_floating_point() else value for key, value in state.items()})
    return model.eval()


def main():
    state = checked_state_dict(sys.argv[1] if len(sys.argv) > 1 else SOURCE)
    # Batch norms' num_batches_tracked counters only matter to training with momentum=None.
    half = {key: value.half().contiguous() for key, value in state.items() if value.is_floating_point()}
    save_file(half, os.path.join("Models", "mobilenet_v2.safetensors"))
    weights = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1
    metadata = {
        "architecture": "mobilenet_v2",
        "classes": weights.meta["categories"],
        "inputShape": [3, 224, 224],
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "resize": 256,
    }
    with open(os.path.join("Models", "mobilenet_v2.json"), "w") as file:
        json.dump(metadata, file, indent=2)
        file.write("\n")

    original = model_with(state)
    converted = model_with(load_file(os.path.join("Models", "mobilenet_v2.safetensors")))
    preprocess = weights.transforms()
    for name in sorted(os.listdir(PHOTOS)):
        if not name.endswith(".jpg"):
            continue
        x = preprocess(Image.open(os.path.join(PHOTOS, name)).convert("RGB")).unsqueeze(0)
        with torch.no_grad():
            expected, got = original(x)[0].softmax(0), converted(x)[0].softmax(0)
        top, converted_top = int(expected.argmax()), int(got.argmax())
        print(f"{name}: {weights.meta['categories'][top]} p={float(expected[top]):.4f}, "
              f"float16 weights: p={float(got[converted_top]):.4f}, max |Δp| {float((expected - got).abs().max()):.1e}")
        if converted_top != top:
            sys.exit(f"{name}: the float16 weights predict {converted_top}, the original {top}")


if __name__ == "__main__":
    main()
