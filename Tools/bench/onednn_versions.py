#!/usr/bin/env python3
"""Loupe on oneDNN 2.x against Loupe on oneDNN 3.x, side by side in one run on this machine.

Runs the same `loupe bench` commands as compare.py (forward, saliency, Grad-CAM and occlusion
32/16 at batch 1 on its four models) with the build against the system's oneDNN
(.build/release/loupe, Debian 12's 2.6) and the build against PyPI's 3.2 (`make onednn3`:
.build/onednn3/build/release/loupe), the two in turn for each row, under the host's instruction
set and again capped to each of --isa. Writes the table between markers in BENCHMARKS.md.

    make onednn3 && swift build -c release --product loupe
    python3 Tools/bench/onednn_versions.py                 # host ISA and AVX2 (about 10 minutes)
    python3 Tools/bench/onednn_versions.py --isa "" --models resnet18 --print-only
"""
import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from compare import MODELS, ROOT, WORKLOADS, cpu_name, prepare, run_json, workload_arguments, write_between  # noqa: E402

BUILDS = [("2.x", os.path.join(ROOT, ".build", "release", "loupe")),
          ("3.x", os.path.join(ROOT, ".build", "onednn3", "build", "release", "loupe"))]
LABELS = ["forward", "saliency", "Grad-CAM", "occlusion 32/16"]
BEGIN, END = "<!-- onednn_versions.py begin -->", "<!-- onednn_versions.py end -->"


def loaded_version(command):
    """The oneDNN version `command` loads, from oneDNN's verbose banner."""
    result = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, ONEDNN_VERBOSE="1"))
    match = re.search(r"oneDNN v(\d+\.\d+\.\d+)", result.stdout + result.stderr)
    return match.group(1) if match else "?"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", default=os.path.join(ROOT, ".build", "bench-models"))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--isa", default="AVX2", help="capped instruction sets besides the host's, comma-separated")
    parser.add_argument("--print-only", action="store_true")
    args = parser.parse_args()
    for _, loupe in BUILDS:
        if not os.path.exists(loupe):
            raise SystemExit(f"{loupe} is missing: run `make onednn3` and `swift build -c release --product loupe`")
    isas = [None] + [isa for isa in args.isa.split(",") if isa]
    lines = ["| model | workload | instruction set | oneDNN 2.x | oneDNN 3.x | 3.x ÷ 2.x |",
             "|---|---|---|---:|---:|---:|"]
    versions = {}
    for model in args.models.split(","):
        weights, _, input_path = prepare(args.workdir, model)
        for isa in isas:
            environment = dict(os.environ)
            if isa:
                environment["ONEDNN_MAX_CPU_ISA"] = isa
            for label in LABELS:
                _, method, options, _, repeat = next(w for w in WORKLOADS if w[0] == label)
                arguments = workload_arguments(model, input_path, method, options, 1, repeat)
                times = {}
                for name, loupe in BUILDS:
                    command = [loupe, "bench", "--model", weights, "--arch", model] + arguments
                    if name not in versions:
                        versions[name] = loaded_version(command)
                    times[name] = run_json(command, environment)["median_s"]
                line = (f"| {model} | {label} | {isa or 'host'} | {format_time(times['2.x'])} | "
                        f"{format_time(times['3.x'])} | {times['3.x'] / times['2.x']:.2f} |")
                lines.append(line)
                print(line, flush=True)
    header = (f"Measured {time.strftime('%Y-%m-%d')} on {cpu_name()}, {os.cpu_count()} cores: "
              f"oneDNN {versions['2.x']} (the system's) and "
              f"{versions['3.x']} (PyPI's onednn-cpu-gomp 2023.2.0); medians, batch 1; 'host' is this CPU's "
              "own instruction set, others are ONEDNN_MAX_CPU_ISA caps.\n\n")
    block = header + "\n".join(lines) + "\n"
    print(block)
    if not args.print_only:
        write_between(os.path.join(ROOT, "BENCHMARKS.md"), BEGIN, END, block)


def format_time(seconds):
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.1f} ms"


if __name__ == "__main__":
    main()
