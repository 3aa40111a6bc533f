#!/usr/bin/env python3
"""One benchmark workload in PyTorch + Captum (or onnxruntime for `predict --runtime ort`, or
pytorch-grad-cam for `--runtime grad-cam`: the CAM family by Loupe's method names).

The peer side of `loupe bench`: the same model file, input, workload, batching and timing, and
the same one-line JSON ({"median_s", "min_s", "peak_rss_mb"}). Runs with 2 threads. Called by
Tools/bench/compare.py, one process per workload so the peak memory is that workload's.

    python3 Tools/bench/peer.py --arch vgg16 --weights W.safetensors --onnx M.onnx --input X.npy \
        --method saliency --batch 1 --repeat 5
"""
import argparse
import json
import resource
import statistics
import sys
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--onnx")
    parser.add_argument("--input", required=True)
    parser.add_argument("--method", default="predict")
    parser.add_argument("--runtime", default="torch", choices=["torch", "ort", "grad-cam"])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--stride", type=int, default=8)
    parser.add_argument("--layer")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    single = np.load(args.input).astype(np.float32)
    if single.ndim == 3:
        single = single[None]
    batch = np.concatenate([single] * args.batch, axis=0)

    if args.runtime == "ort":
        workload = onnxruntime_forward(args, batch)
    elif args.runtime == "grad-cam":
        workload = grad_cam_workload(args, batch)
    else:
        workload = torch_workload(args, batch)

    for _ in range(args.warmup):
        workload()
    seconds = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        workload()
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"median_s": statistics.median(seconds), "min_s": min(seconds), "peak_rss_mb": peak_megabytes(),
                      "method": args.method, "batch": args.batch, "repeat": args.repeat}))


def peak_megabytes():
    """Linux's VmHWM (getrusage's maximum survives exec, so it would count the parent's peak)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def onnxruntime_forward(args, batch):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(args.onnx, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda: session.run(None, {name: batch})


def grad_cam_workload(args, batch):
    """A pytorch-grad-cam method with its defaults (Score-CAM's 16 and Ablation-CAM's 32 copies per
    pass) on the model, the whole call a user makes: the map for the top class, scaled to the input."""
    import torch
    import torchvision
    import pytorch_grad_cam as cams
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from safetensors.torch import load_file
    torch.set_num_threads(args.threads)
    model = getattr(torchvision.models, args.arch)(weights=None)
    model.load_state_dict(load_file(args.weights))
    model.eval()
    x = torch.from_numpy(batch)
    with torch.no_grad():
        targets = [ClassifierOutputTarget(int(t)) for t in model(x).argmax(dim=1)]
    classes = {"grad-cam": cams.GradCAM, "grad-cam++": cams.GradCAMPlusPlus, "hires-cam": cams.HiResCAM,
               "xgrad-cam": cams.XGradCAM, "layer-cam": cams.LayerCAM, "grad-cam-element-wise": cams.GradCAMElementWise,
               "eigen-cam": cams.EigenCAM, "eigen-grad-cam": cams.EigenGradCAM, "score-cam": cams.ScoreCAM,
               "ablation-cam": cams.AblationCAM, "full-grad": cams.FullGrad}
    # FullGrad finds its own layers (every bias); it warns when given any.
    layers = [] if args.method == "full-grad" else [model.get_submodule(args.layer)]
    cam = classes[args.method](model=model, target_layers=layers)
    return lambda: cam(input_tensor=x, targets=targets)


def torch_workload(args, batch):
    import torch
    import torchvision
    from safetensors.torch import load_file
    torch.set_num_threads(args.threads)
    model = getattr(torchvision.models, args.arch)(weights=None)
    model.load_state_dict(load_file(args.weights))
    model.eval()
    # Captum's guided backprop hooks ReLU modules and rejects in-place ones.
    for module in model.modules():
        if isinstance(module, torch.nn.ReLU):
            module.inplace = False
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    x = torch.from_numpy(batch)
    with torch.no_grad():
        target = model(x).argmax(dim=1).tolist()
    n = args.batch
    # Batching as Loupe's: 4 images per pass for SmoothGrad and IG (Loupe's default; PyTorch was
    # faster that way too: resnet50 SmoothGrad 7.1 s vs 12.1 s at 16), 32 occluded copies per pass.
    per_pass = max(1, 4 // n)

    import captum.attr as attr
    method = args.method
    if method == "predict":
        def run():
            with torch.no_grad():
                model(x)
        return run
    if method == "saliency":
        saliency = attr.Saliency(model)
        return lambda: saliency.attribute(x, target=target, abs=False)
    if method == "guided-backprop":
        guided = attr.GuidedBackprop(model)
        return lambda: guided.attribute(x, target=target)
    if method == "grad-cam":
        layer = model.get_submodule(args.layer)
        cam = attr.LayerGradCam(model, layer)
        return lambda: cam.attribute(x, target=target, relu_attributions=True)
    if method == "smoothgrad":
        tunnel = attr.NoiseTunnel(attr.Saliency(model))
        stdev = 0.15 * float(batch.max() - batch.min())
        return lambda: tunnel.attribute(x, nt_type="smoothgrad", nt_samples=args.samples,
                                        nt_samples_batch_size=per_pass, stdevs=stdev,
                                        target=target, abs=False)
    if method == "integrated-gradients":
        integrated = attr.IntegratedGradients(model)
        return lambda: integrated.attribute(x, target=target, n_steps=args.steps, internal_batch_size=per_pass)
    if method == "occlusion":
        occlusion = attr.Occlusion(model)
        channels = batch.shape[1]
        return lambda: occlusion.attribute(x, target=target, sliding_window_shapes=(channels, args.window, args.window),
                                           strides=(channels, args.stride, args.stride), baselines=0,
                                           perturbations_per_eval=32)
    raise SystemExit(f"peer.py: unknown method {method}")


if __name__ == "__main__":
    main()
