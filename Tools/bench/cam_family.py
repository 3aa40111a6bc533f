#!/usr/bin/env python3
"""The CAM family against pytorch-grad-cam, side by side on this CPU: vgg16 at features.29 and
resnet50 at layer4, batch 1, seeded random weights and a 224×224 input (compare.py's), 2 threads
on both sides. Loupe's time is `loupe bench` (the method's raw map); pytorch-grad-cam's the call a
user makes (the map scaled to the input, a small part of it). Writes the table into BENCHMARKS.md
between its markers.

    swift build -c release --product loupe && python3 Tools/bench/cam_family.py [--methods a,b] [--print-only]
Needs: pip install torch torchvision safetensors grad-cam.
"""
import argparse
import datetime
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from compare import LOUPE, PEER, ROOT, cpu_name, prepare, run_json, seconds, write_between  # noqa: E402

ROWS = [("vgg16", "features.29"), ("resnet50", "layer4")]
METHODS = ["grad-cam", "grad-cam++", "hires-cam", "xgrad-cam", "layer-cam", "grad-cam-element-wise", "eigen-cam",
           "eigen-grad-cam", "score-cam", "ablation-cam", "full-grad"]
# Timed runs at batch 1 (after one warm-up run); the perturbation methods run once, without one.
RUNS = {"score-cam": 1, "ablation-cam": 1}
BEGIN, END = "<!-- cam-family:begin -->", "<!-- cam-family:end -->"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", default=os.path.join(ROOT, ".build", "bench-models"))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--print-only", action="store_true")
    parser.add_argument("--merge", action="store_true",
                        help="replace only the rows measured now, keep the table's others (noted as from an earlier run)")
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    lines, started = [], time.time()
    for arch, layer in ROWS:
        weights, _, input_path = prepare(args.workdir, arch)
        for method in args.methods.split(","):
            runs = RUNS.get(method, 3)
            common = ["--input", input_path, "--method", method, "--batch", "1", "--repeat", str(runs),
                      "--warmup", "0" if runs == 1 else "1", "--layer", layer]
            loupe = run_json([LOUPE, "bench", "--model", weights, "--arch", arch] + common)
            peer = run_json([sys.executable, PEER, "--arch", arch, "--weights", weights, "--runtime", "grad-cam"] + common)
            line = (f"| {arch} | {layer} | {method} | {seconds(loupe['median_s'])} | {seconds(peer['median_s'])} | "
                    f"{loupe['median_s'] / peer['median_s']:.2f} | {loupe['peak_rss_mb']:.0f} | {peer['peak_rss_mb']:.0f} |")
            print(line, flush=True)
            lines.append(line)
    path = os.path.join(ROOT, "BENCHMARKS.md")
    notes = []
    if args.merge:
        text = open(path).read()
        block = text.split(BEGIN, 1)[1].split(END, 1)[0].splitlines() if BEGIN in text else []
        measured = {tuple(line.split(" | ")[:3]) for line in lines}
        kept = [line for line in block if line.startswith("| ") and not line.startswith("| model")
                and tuple(line.split(" | ")[:3]) not in measured]
        order = {(arch, layer, method): index for index, (arch, layer, method) in
                 enumerate((a, l, m) for a, l in ROWS for m in METHODS)}
        lines = sorted(kept + lines, key=lambda line: order.get(tuple(c.strip("| ") for c in line.split(" | ")[:3]), 99))
        notes = [line for line in block if line.startswith("Rows measured") or line.startswith("Measured")]
        notes = notes[:1] + [f"Rows measured again {datetime.date.today().isoformat()} with `--merge`: "
                             + ", ".join(sorted({m for _, _, m in (tuple(c.strip('| ') for c in key) for key in measured)}))
                             + "."]
    header = notes or [
        f"Measured {datetime.date.today().isoformat()} on {cpu_name()}, 2 threads, in {time.time() - started:.0f} s, with"
        + " `swift build -c release --product loupe && python3 Tools/bench/cam_family.py`."]
    table = "\n".join(header + [
        "",
        "| model | layer | method | Loupe | pytorch-grad-cam | ratio | Loupe MB | pytorch-grad-cam MB |",
        "|---|---|---|---|---|---|---|---|",
    ] + lines) + "\n"
    if args.print_only:
        print(table)
        return
    write_between(path, BEGIN, END, table)


if __name__ == "__main__":
    main()
