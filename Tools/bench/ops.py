#!/usr/bin/env python3
"""Op throughput, Loupe against oneDNN alone and PyTorch, on this machine in one run.

Runs `loupe-bench ops --json` (Loupe end to end), the same binary with ONEDNN_VERBOSE=1 (the
time oneDNN's convolution primitive itself takes), and the same ops in PyTorch with 2 threads.
Prints a Markdown table for BENCHMARKS.md. Needs a release build and `pip install torch`.

    swift build -c release --product loupe-bench && python3 Tools/bench/ops.py
"""
import json
import os
import re
import statistics
import subprocess
import sys
import time

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", ".build", "release", "loupe-bench")
REPEATS = 10


def loupe_results():
    out = subprocess.run([BENCH, "ops", "--json", "--repeats", str(REPEATS)], check=True,
                         capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def onednn_primitive_ms():
    """Median exec time of each convolution primitive, keyed by (direction, channels, size)."""
    env = dict(os.environ, ONEDNN_VERBOSE="1")
    out = subprocess.run([BENCH, "ops", "--json", "--repeats", str(REPEATS)], check=True,
                         capture_output=True, text=True, env=env).stdout
    times = {}
    for line in out.splitlines():
        fields = line.split(",")
        if len(fields) < 10 or fields[1] != "exec" or fields[3] != "convolution":
            continue
        match = re.search(r"ic(\d+).*?ih(\d+)", line)
        direction = {"forward_training": "forward", "forward_inference": "forward", "backward_data": "backward-data",
                     "backward_weights": "backward-weights"}[fields[5]]
        times.setdefault((direction, int(match.group(1)), int(match.group(2))), []).append(float(fields[-1]))
    return {key: statistics.median(values) for key, values in times.items()}


def torch_results():
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(2)

    def median(body):
        body()
        samples = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            body()
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    results = {}
    for channels, size in [(64, 224), (256, 56), (512, 14)]:
        x = torch.randn(1, channels, size, size)
        w = torch.randn(channels, channels, 3, 3) * 0.05
        with torch.no_grad():
            results[("conv2d forward", channels)] = median(lambda: F.conv2d(x, w, padding=1))
        xt = x.clone().requires_grad_(True)
        wt = w.clone().requires_grad_(True)
        seed = torch.ones(1, channels, size, size)
        y_input = F.conv2d(xt, w, padding=1)
        results[("conv2d backward-data", channels)] = median(
            lambda: torch.autograd.grad(y_input, xt, seed, retain_graph=True))
        y_weight = F.conv2d(x, wt, padding=1)
        results[("conv2d backward-weights", channels)] = median(
            lambda: torch.autograd.grad(y_weight, wt, seed, retain_graph=True))
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    results[("sgemm", 0)] = median(lambda: a @ b)
    large = torch.randn(64, 64, 112, 112)
    results[("add (same shape)", 0)] = median(lambda: large + large)
    results[("relu", 0)] = median(lambda: torch.relu(large))
    return results


def main():
    loupe = loupe_results()
    primitive = onednn_primitive_ms()
    peer = torch_results()
    print("| op | shape | Loupe ms | Loupe throughput | oneDNN primitive alone | PyTorch ms | Loupe ÷ PyTorch |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for row in loupe:
        channels_match = re.search(r"→(\d+) @(\d+)", row["shape"])
        channels = int(channels_match.group(1)) if channels_match else 0
        size = int(channels_match.group(2)) if channels_match else 0
        scale = 1e9
        throughput = row["work"] / row["median_s"] / scale
        alone = "—"
        if channels:
            direction = row["op"].replace("conv2d ", "")
            ms = primitive.get((direction, channels, size))
            if ms:
                alone = f"{row['work'] / (ms / 1e3) / scale:.0f} {row['unit']} ({ms:.2f} ms)"
        torch_s = peer.get((row["op"], channels))
        ratio = f"{row['median_s'] / torch_s:.2f}" if torch_s else "—"
        torch_ms = f"{torch_s * 1e3:.2f}" if torch_s else "—"
        print(f"| {row['op']} | {row['shape']} | {row['median_s'] * 1e3:.2f} | {throughput:.0f} {row['unit']} "
              f"| {alone} | {torch_ms} | {ratio} |")
    print(f"\nPyTorch {__import__('torch').__version__}, 2 threads; medians of {REPEATS} runs after a warm-up.",
          file=sys.stderr)


if __name__ == "__main__":
    main()
