#!/usr/bin/env python3
"""Loupe's explanation-quality metrics against Quantus (and the NumPy RISE reference for deletion
and insertion), timed side by side on this machine: issue #25's item-4 rows (MPRT and max-sensitivity
with the map's method as Quantus' explain_func).

resnet18 and vgg16 (--models) with compare.py's seeded random weights and 224 × 224 input, the saliency
or Grad-CAM map (--maps; Grad-CAM at layer4 / features.29, resized to the input as Loupe's metrics see
it), 2 threads a side. Loupe's time is `loupe metrics` with the metric, less the same command scoring only
sparseness (model loading and the saliency map, which Quantus is handed ready-made); both are
medians of --rounds runs. Quantus' time is its metric's call on the map (the model wrapped as
Quantus wraps it).

    swift build -c release --product loupe
    python3 Tools/bench/metrics_vs_quantus.py --rounds 3 --models resnet18,vgg16 --maps saliency,grad-cam
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
from compare import LOUPE, ROOT, prepare  # noqa: E402
from make_metric_fixtures import causal_curve, saliency_explainer  # noqa: E402
import make_metric_fixtures  # noqa: E402

# (Loupe metric, its --metric-option, the reference's label)
ROWS = [
    ("pixel-flipping", ["--metric-option", "pixel-flipping.features=224"], "Quantus PixelFlipping(features_in_step=224)"),
    ("region-perturbation", [], "Quantus RegionPerturbation(patch_size=8, regions_evaluation=100)"),
    ("deletion", ["--metric-option", "deletion.step=224"], "NumPy RISE reference, step 224"),
    ("insertion", ["--metric-option", "insertion.step=224"], "NumPy RISE reference, step 224"),
    ("mprt", [], "Quantus MPRT(return_average_correlation=True), every layer"),
    ("max-sensitivity", ["--metric-option", "max-sensitivity.samples=50"], "Quantus MaxSensitivity(nr_samples=50)"),
]
TARGETS = {"mprt": 0.3, "max-sensitivity": 0.4}


def loupe_seconds(arch, weights, input_path, method, metric, options, rounds):
    with tempfile.TemporaryDirectory() as out:
        def run(arguments):
            started = time.perf_counter()
            subprocess.run([LOUPE, "metrics", "--model", weights, "--arch", arch, "--input", input_path,
                            "--methods", method, "--out", out] + arguments, check=True, capture_output=True)
            return time.perf_counter() - started
        whole = statistics.median(run(["--metrics", metric] + options) for _ in range(rounds))
        base = statistics.median(run(["--metrics", "sparseness"]) for _ in range(rounds))
    return whole - base


def grad_cam_explainer(layer_name):
    """Quantus' explain_func for Grad-CAM as Loupe's grad-cam makes it and its metrics see it: the
    channels' mean gradients times the activation at the layer, summed, ReLU, resized bilinearly
    (align_corners=False) to the input, [N, 1, H, W]."""
    def explain(model, inputs, targets, **kwargs):
        layer = dict(model.named_modules())[layer_name]
        captured = {}
        handle = layer.register_forward_hook(lambda module, args, output: captured.update(activation=output))
        try:
            x = torch.as_tensor(np.asarray(inputs), dtype=torch.float32)
            logits = model(x)
            chosen = logits[torch.arange(len(x)), torch.as_tensor(np.asarray(targets)).reshape(-1)]
            (gradient,) = torch.autograd.grad(chosen.sum(), captured["activation"])
        finally:
            handle.remove()
        cam = torch.relu((gradient.mean(dim=(2, 3), keepdim=True) * captured["activation"]).sum(1, keepdim=True))
        return torch.nn.functional.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False).detach().numpy()
    return explain


CAM_LAYERS = {"resnet18": "layer4", "vgg16": "features.29"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", help="comma-separated metrics: just these rows")
    parser.add_argument("--models", default="resnet18", help="comma-separated: resnet18, vgg16")
    parser.add_argument("--maps", default="saliency", help="comma-separated: saliency, grad-cam")
    arguments = parser.parse_args()
    import quantus
    torch.set_num_threads(2)
    workdir = os.path.join(ROOT, ".build", "bench-models")
    os.makedirs(workdir, exist_ok=True)
    print("| model | map | metric | Loupe | reference | Loupe ÷ reference | target |")
    print("|---|---|---|---:|---:|---:|---|")
    for arch in arguments.models.split(","):
        weights, _, input_path = prepare(workdir, arch)
        model = getattr(torchvision.models, arch)(weights=None).eval()
        from safetensors.torch import load_file
        model.load_state_dict(load_file(weights))
        x = np.load(input_path)
        tensor = torch.from_numpy(x).requires_grad_(True)
        logits = model(tensor)
        target = int(logits.argmax())
        for method in arguments.maps.split(","):
            explainer = saliency_explainer if method == "saliency" else grad_cam_explainer(CAM_LAYERS[arch])
            a_batch = explainer(model, x, np.array([target]))
            common = dict(model=model, x_batch=x, y_batch=np.array([target]), a_batch=a_batch, device="cpu",
                          softmax=True, channel_first=True)
            pixel_map = a_batch[0].sum(0)
            make_metric_fixtures.STEP = 224
            references = {
                "pixel-flipping": lambda: quantus.PixelFlipping(features_in_step=224, disable_warnings=True)(**common),
                "region-perturbation": lambda: quantus.RegionPerturbation(
                    patch_size=8, regions_evaluation=100, disable_warnings=True)(**common),
                "deletion": lambda: causal_curve(model, x, target, pixel_map, "del"),
                "insertion": lambda: causal_curve(model, x, target, pixel_map, "ins"),
                # The metrics that explain again, with the method as Loupe's --methods makes it.
                "mprt": lambda: quantus.MPRT(return_average_correlation=True, disable_warnings=True)(
                    explain_func=explainer, **common),
                "max-sensitivity": lambda: quantus.MaxSensitivity(nr_samples=50, disable_warnings=True)(
                    explain_func=explainer, **common),
            }
            for metric, options, label in ROWS:
                if arguments.only and metric not in arguments.only.split(","):
                    continue
                ours = loupe_seconds(arch, weights, input_path, method, metric, options, arguments.rounds)
                theirs = []
                for _ in range(arguments.rounds):
                    started = time.perf_counter()
                    references[metric]()
                    theirs.append(time.perf_counter() - started)
                reference = statistics.median(theirs)
                goal = TARGETS.get(metric, 0.1)
                print(f"| {arch} | {method} | {metric} | {ours:.2f} s | {reference:.2f} s ({label}) | "
                      f"{ours / reference:.2f} | ≤ {goal} |", flush=True)


if __name__ == "__main__":
    main()
