"""Arithmetic of the benchmark models, for the lower bounds in BENCHMARKS.md.

Counts 2 FLOPs per multiply-add of every convolution and linear layer of torchvision's
vgg16, resnet50, resnet18 and squeezenet1_1 at 1×3×224×224, split into the part oneDNN's
Winograd kernels can run at inference (3×3, stride 1, ungrouped, ≥ 64 channels on both sides,
≥ 196 output positions: Loupe's rule in ConvolutionGeometry.forwardUsesWinograd) and the rest.

With --occlusion it counts what exact occlusion (window 32, strides 16 and 8) must compute at
the least: for each window, every convolution recomputes the output positions whose receptive
field overlaps the window (the rectangle exact incremental inference computes), and the layers
after global pooling run in full. Which positions a window reaches is found by running the model
in float64 with every weight positive, biases and batch norm neutral, on an input that is 1 inside
the window and 0 outside: an output is nonzero exactly where its receptive field meets the window.
Rows and columns project alike (square input and kernels), so one pass per window row suffices.
Convolutions of Winograd's shape count as Winograd-eligible whatever their crop (a lower bound).

With --required it reads the comparison table in BENCHMARKS.md and, for every gradient row that
misses its 0.4× Captum target, sets the arithmetic the row needs (the forward and the input
gradient of every convolution and linear layer: twice the forward; Grad-CAM the forward alone, a
lower bound; SmoothGrad 50 and IG 51 such passes) against the time the target allows: the
throughput the target asks for, this machine's floor for that arithmetic, and what Loupe reached.
Batch-16 rows and the noise methods run 4 images per pass, which makes more layers Winograd-eligible.
The table goes between markers in BENCHMARKS.md.

With --isa NAME it does the same for compare.py --isa's table (oneDNN capped to a smaller
instruction set, where it has no Winograd kernels): for each forward row and each row that misses
its target, the row's arithmetic (a forward, the gradient passes above, or exact occlusion) at the
fastest convolution throughput measured with that cap, against the target's time and Loupe's.

    python3 Tools/bench/flops.py [--occlusion | --required | --isa AVX2]
"""
import argparse
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from breakdown import missed, table_rows  # noqa: E402
from compare import ROOT, write_between  # noqa: E402

REQUIRED_BEGIN, REQUIRED_END = "<!-- flops.py required begin -->", "<!-- flops.py required end -->"

MODELS = ["vgg16", "resnet50", "resnet18", "squeezenet1_1"]
# The fastest throughputs measured on this machine (BENCHMARKS.md), GFLOP/s in direct-algorithm FLOPs.
DIRECT_PEAK, WINOGRAD_PEAK = 229.0, 547.0
# The fastest convolution with oneDNN capped to an instruction set, GFLOP/s: `ONEDNN_MAX_CPU_ISA=AVX2
# loupe-bench ops` on this machine (2026-12-01: 3×3 64→64 @224 forward; oneDNN has no Winograd there).
ISA_PEAK = {"AVX2": 144.0}


def winograd_shaped(conv):
    return (conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.dilation == (1, 1)
            and conv.groups == 1 and conv.in_channels >= 64 and conv.out_channels >= 64)


def winograd_eligible(conv, output):
    return winograd_shaped(conv) and output.shape[0] * output.shape[2] * output.shape[3] >= 196


def count(name, images=1):
    """GFLOP of one image's forward pass, by kind, when `images` go through the model together."""
    model = getattr(torchvision.models, name)().eval()
    totals = {"winograd": 0, "direct": 0, "linear": 0}

    def hook(module, _, output):
        if isinstance(module, torch.nn.Conv2d):
            taps = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            totals["winograd" if winograd_eligible(module, output) else "direct"] += 2 * output.numel() * taps
        elif isinstance(module, torch.nn.Linear):
            totals["linear"] += 2 * module.in_features * module.out_features

    for module in model.modules():
        module.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros(images, 3, 224, 224))
    return {key: value / 1e9 / images for key, value in totals.items()}


def reach_model(name):
    """The model in float64 with positive weights and neutral biases and batch norms."""
    model = getattr(torchvision.models, name)().double().eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                module.weight.fill_(1.0 / module.weight[0].numel())
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.zero_()
                module.running_var.fill_(1.0 - module.eps)
                module.weight.fill_(1.0)
                module.bias.zero_()
    return model


def reached_rows(model, top, window, size=224):
    """For each convolution in call order: (module, rows of its output a window at `top` reaches)."""
    reached = []

    def hook(module, _, output):
        if isinstance(module, torch.nn.Conv2d):
            rows = (output.abs().sum(dim=(0, 1, 3)) > 0).nonzero()
            reached.append((module, output.shape, 0 if len(rows) == 0 else int(rows.max() - rows.min() + 1)))

    handles = [module.register_forward_hook(hook) for module in model.modules()]
    mask = torch.zeros(1, 3, size, size, dtype=torch.float64)
    mask[:, :, top:top + window, :] = 1
    with torch.no_grad():
        model(mask)
    for handle in handles:
        handle.remove()
    return reached


def occlusion_gflop(name, window, stride, size=224):
    """GFLOP (Winograd-shaped, direct) of one exact occlusion run, the unoccluded forward included."""
    model = reach_model(name)
    tops = range(0, size - window + 1, stride)
    per_top = {top: reached_rows(model, top, window, size) for top in tops}
    full = count(name)
    winograd, direct = full["winograd"], full["direct"] + full["linear"]
    linear_per_window = full["linear"]
    for top in tops:
        for left in tops:
            for (conv, shape, rows), (_, _, columns) in zip(per_top[top], per_top[left]):
                taps = conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]
                flop = 2 * rows * columns * shape[1] * taps / 1e9
                if winograd_shaped(conv):
                    winograd += flop
                else:
                    direct += flop
            direct += linear_per_window
    return winograd, direct, len(tops) ** 2


# Forward-pass equivalents of each gradient workload per image: forward + input gradient = 2;
# Grad-CAM's gradient stops at the last spatial layer (counted as the forward alone); IG adds a
# forward of the input and the baseline.
PASSES = {"saliency": 2, "guided backprop": 2, "Grad-CAM": 1, "SmoothGrad N=50": 100, "IG 50 steps": 102}


def milliseconds(cell):
    value, unit = cell.split()
    return float(value) * (1000 if unit == "s" else 1)


def required_table():
    """Rows of the throughput each missed gradient target asks for, from BENCHMARKS.md's table."""
    with open(os.path.join(ROOT, "BENCHMARKS.md")) as file:
        rows = [row for row in table_rows(file.read()) if row["workload"] in PASSES and missed(row)]
    lines = [
        "| model | workload | batch | GFLOP (Winograd-eligible) | floor | 0.4 × Captum | Loupe "
        "| Loupe's GFLOP/s | GFLOP/s the target asks |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    counts = {}
    for row in rows:
        model, workload, batch = row["model"], row["workload"], row["batch"]
        # A pass holds 4 images: batch 16 and the noise methods' copies; batch 1 alone.
        images = 1 if batch == 1 and PASSES[workload] <= 2 else 4
        if (model, images) not in counts:
            counts[model, images] = count(model, images)
        g = counts[model, images]
        scale = PASSES[workload] * batch
        winograd, rest = g["winograd"] * scale, (g["direct"] + g["linear"]) * scale
        total = winograd + rest
        floor = (winograd / WINOGRAD_PEAK + rest / DIRECT_PEAK) * 1000
        allowed, loupe = 0.4 * milliseconds(row["captum time"]), milliseconds(row["loupe time"])
        lines.append(f"| {model} | {workload} | {batch} | {total:.1f} ({winograd:.1f}) | {floor:.0f} ms | "
                     f"{allowed:.0f} ms | {loupe:.0f} ms | {total / loupe * 1000:.0f} | {total / allowed * 1000:.0f} |")
    return "\n".join(lines)


def isa_floor_table(isa):
    """Each forward row and each missed row of compare.py --isa's table against its floor."""
    from breakdown import target  # noqa: E402
    peak = ISA_PEAK[isa]
    with open(os.path.join(ROOT, "BENCHMARKS.md")) as file:
        rows = [row for row in table_rows(file.read(), isa) if row["workload"] == "forward" or missed(row, isa)]
    lines = [
        f"| model | workload | batch | GFLOP | floor at {peak:.0f} GFLOP/s | target | target's time | Loupe "
        "| Loupe ÷ floor | target ÷ floor |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    counts, occlusions = {}, {}
    for row in rows:
        model, workload, batch = row["model"], row["workload"], row["batch"]
        if workload.startswith("occlusion"):
            stride = int(workload.split("/")[1])
            if (model, stride) not in occlusions:
                occlusions[model, stride] = sum(occlusion_gflop(model, 32, stride)[:2])
            total = occlusions[model, stride] * batch
        else:
            if model not in counts:
                counts[model] = sum(count(model).values())
            total = counts[model] * (1 if workload == "forward" else PASSES[workload]) * batch
        floor = total / peak * 1000
        loupe = milliseconds(row["loupe time"])
        column, limit = target(model, workload, batch, isa)
        if column == "captum":
            allowed = limit * milliseconds(row["captum time"])
            goal, goal_time, goal_ratio = f"≤ {limit}× Captum", f"{allowed:.0f} ms", f"{allowed / floor:.2f}"
        else:
            goal, goal_time, goal_ratio = f"≤ {limit}× onnxruntime", "not comparable", "—"
        lines.append(f"| {model} | {workload} | {batch} | {total:.1f} | {floor:.0f} ms | {goal} | {goal_time} | "
                     f"{loupe:.0f} ms | {loupe / floor:.2f} | {goal_ratio} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--occlusion", action="store_true")
    parser.add_argument("--required", action="store_true",
                        help="the throughput each missed gradient target asks for, written to BENCHMARKS.md")
    parser.add_argument("--isa", choices=sorted(ISA_PEAK),
                        help="floors for compare.py --isa's table, written to BENCHMARKS.md")
    args = parser.parse_args()
    if args.isa:
        table = isa_floor_table(args.isa)
        print(table)
        write_between(os.path.join(ROOT, "BENCHMARKS.md"), f"<!-- flops.py {args.isa} begin -->",
                      f"<!-- flops.py {args.isa} end -->", table + "\n")
        return
    if args.required:
        table = required_table()
        print(table)
        write_between(os.path.join(ROOT, "BENCHMARKS.md"), REQUIRED_BEGIN, REQUIRED_END, table + "\n")
        return
    if args.occlusion:
        print("| model | window/stride | windows | GFLOP Winograd-shaped | GFLOP direct | floor |")
        print("|---|---|---:|---:|---:|---:|")
        for name in MODELS:
            for stride in (16, 8):
                winograd, direct, windows = occlusion_gflop(name, 32, stride)
                floor = winograd / WINOGRAD_PEAK + direct / DIRECT_PEAK
                print(f"| {name} | 32/{stride} | {windows} | {winograd:.1f} | {direct:.1f} | {floor:.2f} s |")
        return
    print("| model | GFLOP | Winograd-eligible | direct convolution | linear |")
    print("|---|---:|---:|---:|---:|")
    for name in MODELS:
        g = count(name)
        print(f"| {name} | {sum(g.values()):.2f} | {g['winograd']:.2f} | {g['direct']:.2f} | {g['linear']:.2f} |")


if __name__ == "__main__":
    main()
