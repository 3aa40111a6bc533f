#!/usr/bin/env python3
"""Loupe against PyTorch + Captum and onnxruntime, side by side in one run on this machine.

For each model and workload it runs `loupe bench` and Tools/bench/peer.py (one fresh process
each, 2 threads), alternating, and writes the ratio table (Loupe ÷ peer; below 1 is Loupe
faster) between the markers in BENCHMARKS.md. Models are torchvision architectures with seeded
random weights (no downloads), saved once as .safetensors and ONNX under --workdir.

    swift build -c release --product loupe
    python3 Tools/bench/compare.py                      # the whole table (about an hour)
    python3 Tools/bench/compare.py --models vgg16 --methods predict,saliency --print-only
    python3 Tools/bench/compare.py --rounds 3          # sides in turn 3 times per row: steadier ratios
    python3 Tools/bench/compare.py --isa AVX2 --batches 1   # oneDNN capped to AVX2 on both sides: a table of its own

Needs: pip install torch torchvision captum onnx onnxruntime safetensors
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LOUPE = os.path.join(ROOT, ".build", "release", "loupe")
PEER = os.path.join(ROOT, "Tools", "bench", "peer.py")
BEGIN, END = "<!-- compare.py begin -->", "<!-- compare.py end -->"


def markers(isa):
    """The markers of the table for `isa` (None: the host's own instruction set)."""
    return (BEGIN, END) if isa is None else (f"<!-- compare.py {isa} begin -->", f"<!-- compare.py {isa} end -->")


def capped_environment(isa, side):
    """The environment that caps one side to `isa`, as on a host without the larger ones: oneDNN
    (Loupe's and PyTorch's) reads ONEDNN_MAX_CPU_ISA, PyTorch's own kernels ATEN_CPU_CAPABILITY and
    MKL MKL_ENABLE_INSTRUCTIONS. onnxruntime has no such cap, so its side runs uncapped."""
    environment = dict(os.environ)
    if isa is not None and side != "ort":
        environment["ONEDNN_MAX_CPU_ISA"] = isa
        if side == "torch":
            environment["ATEN_CPU_CAPABILITY"] = isa.lower()
            environment["MKL_ENABLE_INSTRUCTIONS"] = isa
    return environment

MODELS = ["vgg16", "resnet50", "resnet18", "squeezenet1_1", "mobilenet_v2", "efficientnet_b0", "regnet_y_400mf",
          "resnext50_32x4d"]
# The layer Grad-CAM uses on both sides (Loupe's default choice for each model).
CAM_LAYERS = {"vgg16": "features.29", "resnet50": "layer4", "resnet18": "layer4", "squeezenet1_1": "features.12",
              "mobilenet_v2": "features.18", "efficientnet_b0": "features.8", "regnet_y_400mf": "trunk_output.block4",
              "resnext50_32x4d": "layer4"}
# (label, method, options, batches, timed runs at batch 1): batch 16 gets 3 timed runs; the
# heavy methods run once (no warm-up run) at batch 1 only, since one run takes from seconds to minutes.
WORKLOADS = [
    ("forward", "predict", [], [1, 16], 10),
    ("saliency", "saliency", [], [1, 16], 5),
    ("guided backprop", "guided-backprop", [], [1, 16], 5),
    ("Grad-CAM", "grad-cam", [], [1, 16], 5),
    ("SmoothGrad N=50", "smoothgrad", ["--samples", "50"], [1], 1),
    ("IG 50 steps", "integrated-gradients", ["--steps", "50"], [1], 1),
    ("occlusion 32/16", "occlusion", ["--window", "32", "--stride", "16"], [1], 1),
    ("occlusion 32/8", "occlusion", ["--window", "32", "--stride", "8"], [1], 1),
]


def prepare(workdir, arch):
    """Seeded random torchvision weights as .safetensors and ONNX, and a 224×224 input."""
    import numpy as np
    weights = os.path.join(workdir, f"{arch}.safetensors")
    onnx_path = os.path.join(workdir, f"{arch}.onnx")
    input_path = os.path.join(workdir, "input.npy")
    if not os.path.exists(input_path):
        np.save(input_path, np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32))
    if os.path.exists(weights) and os.path.exists(onnx_path):
        return weights, onnx_path, input_path
    import torch
    import torchvision
    from safetensors.torch import save_file
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None).eval()
    state = {key: value.contiguous() for key, value in model.state_dict().items()}
    save_file(state, weights)
    torch.onnx.export(model, torch.zeros(1, 3, 224, 224), onnx_path, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
    return weights, onnx_path, input_path


def workload_arguments(arch, input_path, method, options, batch, repeat):
    """The options both sides' bench commands take for one row: `repeat` timed runs after one
    warm-up at batch 1 (a single run has none), 3 at batch 16; Grad-CAM at the model's layer."""
    runs = repeat if batch == 1 else 3
    arguments = ["--input", input_path, "--method", method, "--batch", str(batch), "--repeat", str(runs),
                 "--warmup", "0" if runs == 1 else "1"] + options
    if method == "grad-cam":
        arguments += ["--layer", CAM_LAYERS[arch]]
    return arguments


def run_json(command, environment=None):
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stderr[-2000:]}")
    return json.loads([line for line in result.stdout.splitlines() if line.startswith("{")][-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", default=os.path.join(ROOT, ".build", "bench-models"))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--methods", help="comma-separated method names (default: all)")
    parser.add_argument("--batches", help="comma-separated batch sizes (default: each workload's)")
    parser.add_argument("--workloads", help="comma-separated workload labels, as the table names them (default: all)")
    parser.add_argument("--print-only", action="store_true", help="print the table, leave BENCHMARKS.md alone")
    parser.add_argument("--merge", action="store_true",
                        help="replace only the rows measured now (model, workload, batch), keep the table's others")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run each row's sides in turn this many times; times are the median of the rounds' medians")
    parser.add_argument("--isa", help="cap oneDNN, PyTorch and MKL to this instruction set (AVX2, AVX, SSE41), "
                                      "as on a smaller CPU; the table goes between markers of its own")
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    methods = args.methods.split(",") if args.methods else None
    batches = [int(b) for b in args.batches.split(",")] if args.batches else None

    rows = []
    started = time.time()
    for arch in args.models.split(","):
        weights, onnx_path, input_path = prepare(args.workdir, arch)
        for label, method, options, workload_batches, repeat in WORKLOADS:
            if methods and method not in methods or args.workloads and label not in args.workloads.split(","):
                continue
            for batch in workload_batches:
                if batches and batch not in batches:
                    continue
                common = workload_arguments(arch, input_path, method, options, batch, repeat)
                sides = {"loupe": [LOUPE, "bench", "--model", weights, "--arch", arch] + common,
                         "torch": [sys.executable, PEER, "--arch", arch, "--weights", weights] + common}
                if method == "predict":
                    sides["ort"] = [sys.executable, PEER, "--arch", arch, "--weights", weights, "--onnx", onnx_path,
                                    "--runtime", "ort"] + common
                # The sides take turns, round after round, so a change in the host's speed meets both.
                results = {side: [] for side in sides}
                for _ in range(args.rounds):
                    for side, command in sides.items():
                        results[side].append(run_json(command, capped_environment(args.isa, side)))
                row = {"model": arch, "workload": label, "batch": batch}
                row.update({side: combined(runs) for side, runs in results.items()})
                rows.append(row)
                print(format_row(row, args.isa), flush=True)
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read()
    begin, end = markers(args.isa)
    kept, notes = [], []
    if args.merge and begin in text:
        measured = {(row["model"], row["workload"], row["batch"]) for row in rows}
        block = text.split(begin, 1)[1].split(end, 1)[0].splitlines()
        old_rows = [line for line in block
                    if line.startswith("| ") and not line.startswith("| model") and row_key(line)[0] in MODELS]
        kept = [line for line in old_rows if row_key(line) not in measured]
        notes = [line for line in block if line.startswith(MERGE_NOTE)]
        header = next((line for line in block if line.startswith("Measured ")), None)
    table = format_table(rows, time.time() - started, kept, notes, args.isa, header if args.merge and begin in text else None)
    if args.print_only:
        print(table)
        return
    write_between(path, begin, end, table)
    print(f"wrote the table to {path}")


def write_between(path, begin, end, block):
    """Replaces what lies between the markers `begin` and `end` in the file (or appends both)."""
    text = open(path).read()
    if begin in text:
        head, rest = text.split(begin, 1)
        text = head + begin + "\n" + block + end + rest.split(end, 1)[1]
    else:
        text += "\n" + begin + "\n" + block + end + "\n"
    open(path, "w").write(text)


def combined(runs):
    """One side's rounds as one result: the median of their medians, the largest peak."""
    return {"median_s": statistics.median(run["median_s"] for run in runs),
            "peak_rss_mb": max(run["peak_rss_mb"] for run in runs), "rounds": len(runs)}


def seconds(value):
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def format_row(row, isa=None):
    loupe, peer = row["loupe"], row["torch"]
    cells = [row["model"], row["workload"], str(row["batch"]), seconds(loupe["median_s"]), seconds(peer["median_s"]),
             f"{loupe['median_s'] / peer['median_s']:.2f}"]
    if "ort" in row:
        ratio = f"{loupe['median_s'] / row['ort']['median_s']:.2f}"
        cells += [seconds(row["ort"]["median_s"]), ratio if isa is None else f"not comparable ({ratio})"]
    else:
        cells += ["", ""]
    cells += [f"{loupe['peak_rss_mb']:.0f}", f"{peer['peak_rss_mb']:.0f}", f"{loupe['peak_rss_mb'] / peer['peak_rss_mb']:.2f}"]
    return "| " + " | ".join(cells) + " |"


MERGE_NOTE = "Re-measured with `--merge`"


def row_key(line):
    """(model, workload, batch) of a table row."""
    model, workload, batch = line[2:].split(" | ")[:3]
    return model, workload, int(batch)


def row_order(line):
    """Where a row goes: model order, then workload order, then batch."""
    model, workload, batch = row_key(line)
    labels = [label for label, *_ in WORKLOADS]
    return MODELS.index(model), labels.index(workload) if workload in labels else len(labels), batch


def cpu_name():
    """The CPU's model name (Linux), else what the platform module knows."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def format_table(rows, elapsed, kept=(), notes=(), isa=None, header=None):
    """The table; with --merge, `header` is the measured table's own first line (its date, CPU and
    rounds), and the merge's note says where and how the rows measured now were."""
    capped = "" if isa is None else (
        f" Emulating an {isa} host: Loupe with ONEDNN_MAX_CPU_ISA={isa}; PyTorch with ONEDNN_MAX_CPU_ISA={isa} "
        f"ATEN_CPU_CAPABILITY={isa.lower()} MKL_ENABLE_INSTRUCTIONS={isa}; onnxruntime has no such cap and ran "
        "on the whole CPU, so its ratios are not comparable.")
    rounds = rows[0]["loupe"]["rounds"] if rows else 1
    lines = [
        header or f"Measured {time.strftime('%Y-%m-%d')} on {cpu_name()}, "
        f"{os.cpu_count()} cores, 2 threads on every side. Times are medians"
        + (f" of {rounds} alternating rounds' medians." if rounds > 1 else ".")
        + capped,
        "",
        "| model | workload | batch | Loupe | PyTorch/Captum | Loupe ÷ Captum | onnxruntime | Loupe ÷ ORT "
        "| Loupe MB | PyTorch MB | memory ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    # Rows in model, workload and batch order; with --merge, the kept rows not measured this time.
    lines += sorted([format_row(row, isa) for row in rows] + list(kept), key=row_order)
    if kept:
        # Earlier merges' notes stay, the rows they name may since have been measured again.
        defaults = {label: batches for label, _, _, batches, _ in WORKLOADS}
        workloads = []
        for label in sorted({row["workload"] for row in rows}, key=list(defaults).index):
            measured = sorted({row["batch"] for row in rows if row["workload"] == label})
            partial = measured != defaults[label]
            workloads.append(label + (f" (batch {', '.join(map(str, measured))})" if partial else ""))
        models = sorted({row["model"] for row in rows}, key=MODELS.index)
        lines += [""] + [f"{note.rstrip()}  " for note in notes] + [
            f"{MERGE_NOTE} ({time.strftime('%Y-%m-%d')} on {cpu_name()}, {rounds} round{'s' if rounds > 1 else ''}, "
            f"{max(elapsed / 60, 1):.0f} minutes): "
            f"{', '.join(workloads)} of {', '.join(models)}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
