"""The ONNX coverage table: torchvision classifiers exported with torch.onnx.export(opset 17),
each run by Loupe and by onnxruntime on the same random input.

For each model: does Loupe load it, the largest |Loupe − onnxruntime| relative to the largest
|onnxruntime| output, and the median forward time of each (batch 1, this machine's CPU threads).
Weights are torchvision's initialization with a fixed seed (no downloads); the exported files go
to a temporary folder.

    pip install torch torchvision onnx onnxruntime
    swift build -c release --product loupe-bench
    python3 Tools/onnx/coverage.py   # the table for docs/onnx.md's "Coverage" section
"""
import json
import pathlib
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import onnxruntime
import torch
import torchvision

MODELS = ["alexnet", "vgg16", "vgg16_bn", "resnet18", "resnet50", "squeezenet1_1", "densenet121", "mobilenet_v2",
          "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "googlenet", "shufflenet_v2_x1_0",
          "regnet_y_400mf", "convnext_tiny", "mnasnet1_0"]
ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCH = ROOT / ".build/release/loupe-bench"


def export(name, folder):
    torch.manual_seed(0)
    options = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    model = getattr(torchvision.models, name)(weights=None, **options).eval()
    x = torch.randn(1, 3, 224, 224)
    path = folder / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x, str(path), opset_version=17, dynamo=False, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    np.save(folder / f"{name}-x.npy", x.numpy())
    return path, x.numpy()


def onnxruntime_run(path, x, repeats=5):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    output = session.run(None, {"input": x})[0]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, {"input": x})
        times.append(time.perf_counter() - start)
    return output, sorted(times)[len(times) // 2]


def main():
    print("| model | loads | max relative error | Loupe forward ms | onnxruntime forward ms | Loupe / onnxruntime |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as temporary:
        folder = pathlib.Path(temporary)
        for name in MODELS:
            path, x = export(name, folder)
            reference, ort_seconds = onnxruntime_run(path, x)
            out = folder / f"{name}-loupe.npy"
            result = subprocess.run([str(BENCH), "onnx", "--model", str(path), "--input", str(folder / f"{name}-x.npy"),
                                     "--output", str(out)], capture_output=True, text=True)
            if result.returncode != 0:
                message = (result.stderr.strip().splitlines() or ["?"])[-1][:160]
                print(f"| {name} | no: {message} | | | {ort_seconds * 1000:.1f} | |")
            else:
                timing = json.loads(result.stdout.strip().splitlines()[-1])
                ours = np.load(out).reshape(reference.shape)
                error = float(np.abs(ours - reference).max() / np.abs(reference).max())
                loupe_ms = timing["forward_s"] * 1000
                print(f"| {name} | yes | {error:.1e} | {loupe_ms:.1f} | {ort_seconds * 1000:.1f} | "
                      f"{loupe_ms / (ort_seconds * 1000):.2f} |")
            sys.stdout.flush()
            path.unlink()


if __name__ == "__main__":
    main()
