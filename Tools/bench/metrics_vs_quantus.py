#!/usr/bin/env python3
"""Loupe's explanation-quality metrics against Quantus (and the NumPy RISE reference for deletion
and insertion), timed side by side on this machine: issue #25's item-4 rows (MPRT and max-sensitivity
with saliency as the explain_func on Quantus' side).

resnet18 with compare.py's seeded random weights and 224 × 224 input, the saliency map, 2 threads a
side. Loupe's time is `loupe metrics` with the metric, less the same command scoring only
sparseness (model loading and the saliency map, which Quantus is handed ready-made); both are
medians of --rounds runs. Quantus' time is its metric's call on the map (the model wrapped as
Quantus wraps it).

    swift build -c release --product loupe
    python3 Tools/bench/metrics_vs_quantus.py --rounds 3
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


def loupe_seconds(weights, input_path, metric, options, rounds):
    with tempfile.TemporaryDirectory() as out:
        def run(arguments):
            started = time.perf_counter()
            subprocess.run([LOUPE, "metrics", "--model", weights, "--arch", "resnet18", "--input", input_path,
                            "--methods", "saliency", "--out", out] + arguments, check=True, capture_output=True)
            return time.perf_counter() - started
        whole = statistics.median(run(["--metrics", metric] + options) for _ in range(rounds))
        base = statistics.median(run(["--metrics", "sparseness"]) for _ in range(rounds))
    return whole - base


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", help="comma-separated metrics: just these rows")
    arguments = parser.parse_args()
    import quantus
    torch.set_num_threads(2)
    workdir = os.path.join(ROOT, ".build", "bench-models")
    os.makedirs(workdir, exist_ok=True)
    weights, _, input_path = prepare(workdir, "resnet18")
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    from safetensors.torch import load_file
    model.load_state_dict(load_file(weights))
    x = np.load(input_path)
    tensor = torch.from_numpy(x).requires_grad_(True)
    logits = model(tensor)
    target = int(logits.argmax())
    saliency = torch.autograd.grad(logits[0, target], tensor)[0].numpy()
    common = dict(model=model, x_batch=x, y_batch=np.array([target]), a_batch=saliency, device="cpu", softmax=True,
                  channel_first=True)
    make_metric_fixtures.STEP = 224
    references = {
        "pixel-flipping": lambda: quantus.PixelFlipping(features_in_step=224, disable_warnings=True)(**common),
        "region-perturbation": lambda: quantus.RegionPerturbation(
            patch_size=8, regions_evaluation=100, disable_warnings=True)(**common),
        "deletion": lambda: causal_curve(model, x, target, saliency[0].sum(0), "del"),
        "insertion": lambda: causal_curve(model, x, target, saliency[0].sum(0), "ins"),
        # The metrics that explain again, with saliency as Loupe's --methods saliency makes it.
        "mprt": lambda: quantus.MPRT(return_average_correlation=True, disable_warnings=True)(
            explain_func=saliency_explainer, **common),
        "max-sensitivity": lambda: quantus.MaxSensitivity(nr_samples=50, disable_warnings=True)(
            explain_func=saliency_explainer, **common),
    }
    print("| metric (resnet18, 224 × 224, saliency) | Loupe | reference | Loupe ÷ reference | target |")
    print("|---|---:|---:|---:|---|")
    for metric, options, label in ROWS:
        if arguments.only and metric not in arguments.only.split(","):
            continue
        ours = loupe_seconds(weights, input_path, metric, options, arguments.rounds)
        theirs = []
        for _ in range(arguments.rounds):
            started = time.perf_counter()
            references[metric]()
            theirs.append(time.perf_counter() - started)
        reference = statistics.median(theirs)
        goal = TARGETS.get(metric, 0.1)
        print(f"| {metric} | {ours:.2f} s | {reference:.2f} s ({label}) | {ours / reference:.2f} | ≤ {goal} |", flush=True)


if __name__ == "__main__":
    main()
