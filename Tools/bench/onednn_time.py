#!/usr/bin/env python3
"""The time Loupe's forward spends inside oneDNN primitives, against the whole forward.

Runs `loupe bench` (predict, batch 1) under ONEDNN_VERBOSE=1 and sums the execution times oneDNN
reports for each forward's primitives (convolutions, reorders, the classifier's gemm). That sum is
a floor for any Loupe forward built on these kernels: what is left is Loupe's own work between
them. The bench models are compare.py's (run it first: they are saved under .build/bench-models).

    python3 Tools/bench/onednn_time.py --models mobilenet_v2,efficientnet_b0
    python3 Tools/bench/onednn_time.py --kinds      # also the time by kind of primitive
                                                    # (compare Tools/bench/ort_time.py)
"""
import argparse
import json
import collections
import os
import re
import statistics
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LOUPE = os.path.join(ROOT, ".build", "release", "loupe")
MODELS = os.path.join(ROOT, ".build", "bench-models")


def forwards(lines):
    """The exec records split into forwards: each forward starts with its first convolution (the
    first run also reorders the weights once, so the very first record does not repeat)."""
    records = [line.split(",") for line in lines if ",exec," in line]
    first = next(record for record in records if record[3] == "convolution")[3:-1]
    groups = []
    for record in records:
        if record[3:-1] == first or not groups:
            groups.append([])
        groups[-1].append(record)
    return groups


def kind(record):
    """A primitive's kind as ort_time.py names onnxruntime's: convolutions by kernel size and
    grouping (depthwise, grouped), then oneDNN's implementation."""
    if record[3] != "convolution":
        return f"{record[3]} ({record[4]})"
    shape = record[-2]
    kernel = re.search(r"kh(\d+)", shape).group(1) + "x" + re.search(r"kw(\d+)", shape).group(1)
    groups, channels = re.match(r"g(\d+)", shape), re.search(r"ic(\d+)", shape).group(1)
    grouping = "" if groups is None else " depthwise" if groups.group(1) == channels else " grouped"
    return f"conv {kernel}{grouping} ({record[4]})"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mobilenet_v2,efficientnet_b0,regnet_y_400mf,resnext50_32x4d")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--kinds", action="store_true", help="also print each model's time by kind of primitive")
    arguments = parser.parse_args()
    breakdowns = []
    print("| model | forward | in oneDNN primitives | primitives a forward | of which reorders |")
    print("|---|---:|---:|---:|---:|")
    for arch in arguments.models.split(","):
        command = [LOUPE, "bench", "--model", os.path.join(MODELS, f"{arch}.safetensors"), "--arch", arch,
                   "--input", os.path.join(MODELS, "input.npy"), "--warmup", "3"]
        quiet = subprocess.run(command + ["--repeat", str(arguments.repeat * 3)], capture_output=True, text=True,
                               check=True)
        wall = json.loads(quiet.stdout.strip().splitlines()[-1])["median_s"] * 1000
        traced = subprocess.run(command + ["--repeat", str(arguments.repeat)], capture_output=True, text=True,
                                check=True, env=dict(os.environ, ONEDNN_VERBOSE="1"))
        groups = forwards(traced.stdout.splitlines())[-arguments.repeat:]
        inside = statistics.median(sum(float(r[-1]) for r in group) for group in groups)
        reorders = statistics.median(sum(r[3] == "reorder" for r in group) for group in groups)
        print(f"| {arch} | {wall:.2f} ms | {inside:.2f} ms | {len(groups[-1])} | {reorders:.0f} |")
        by_kind = collections.defaultdict(list)
        for group in groups:
            totals = collections.Counter()
            for record in group:
                totals[kind(record)] += float(record[-1])
            for name, total in totals.items():
                by_kind[name].append(total)
        breakdowns.append((arch, {name: statistics.median(times) for name, times in by_kind.items()}))
    for arch, by_kind in breakdowns if arguments.kinds else []:
        print(f"\n{arch}, median ms a forward by kind:")
        for name, total in sorted(by_kind.items(), key=lambda item: -item[1]):
            print(f"  {total:8.3f}  {name}")


if __name__ == "__main__":
    main()
