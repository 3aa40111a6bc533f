"""Arithmetic of the benchmark models, for the lower bounds in BENCHMARKS.md.

Counts 2 FLOPs per multiply-add of every convolution and linear layer of torchvision's
vgg16, resnet50, resnet18 and squeezenet1_1 at 1×3×224×224, split into the part oneDNN's
Winograd kernels can run at inference (3×3, stride 1, ungrouped, ≥ 64 channels on both sides,
≥ 196 output positions: Loupe's rule in ConvolutionGeometry.forwardUsesWinograd) and the rest.

    python3 Tools/bench/flops.py
"""
import torch
import torchvision

MODELS = ["vgg16", "resnet50", "resnet18", "squeezenet1_1"]


def winograd_eligible(conv, output):
    return (conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.dilation == (1, 1)
            and conv.groups == 1 and conv.in_channels >= 64 and conv.out_channels >= 64
            and output.shape[0] * output.shape[2] * output.shape[3] >= 196)


def count(name):
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
        model(torch.zeros(1, 3, 224, 224))
    return {key: value / 1e9 for key, value in totals.items()}


def main():
    print("| model | GFLOP | Winograd-eligible | direct convolution | linear |")
    print("|---|---:|---:|---:|---:|")
    for name in MODELS:
        g = count(name)
        print(f"| {name} | {sum(g.values()):.2f} | {g['winograd']:.2f} | {g['direct']:.2f} | {g['linear']:.2f} |")


if __name__ == "__main__":
    main()
