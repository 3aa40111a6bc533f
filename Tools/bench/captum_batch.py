#!/usr/bin/env python3
"""The Captum side of the batch throughput benchmark (Tools/bench/batch_throughput.py): a
straightforward script that explains an image folder with saliency and Grad-CAM, as a Captum user
would write it. torchvision's ImageFolder and a DataLoader (2 workers) decode and preprocess as
torchvision's ImageNet weights do (Resize 256, CenterCrop 224, Normalize); per batch the model
predicts, Captum's Saliency and LayerGradCam explain the predicted class, and each map is saved as
an .npy file per image.

    python3 Tools/bench/captum_batch.py --arch resnet50 --weights W.safetensors --data DIR --out OUT
"""
import argparse
import os
import time

import numpy as np
import torch
import torchvision
from captum.attr import LayerGradCam, Saliency
from safetensors.torch import load_file
from torchvision import transforms


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--weights", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    model = getattr(torchvision.models, args.arch)()
    model.load_state_dict(load_file(args.weights))
    model.eval()
    preprocess = transforms.Compose([
        transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    dataset = torchvision.datasets.ImageFolder(args.data, transform=preprocess)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch, num_workers=args.workers)
    saliency = Saliency(model)
    grad_cam = LayerGradCam(model, model.layer4)
    index = 0
    for images, _ in loader:
        with torch.no_grad():
            predicted = model(images).argmax(dim=1)
        maps = {
            "saliency": saliency.attribute(images, target=predicted),
            "grad-cam": grad_cam.attribute(images, target=predicted, relu_attributions=True),
        }
        for sample in range(images.shape[0]):
            folder = os.path.join(args.out, "items", str(index + sample))
            os.makedirs(folder, exist_ok=True)
            for name, values in maps.items():
                np.save(os.path.join(folder, f"{name}.npy"), values[sample].detach().numpy())
        index += images.shape[0]
    seconds = time.perf_counter() - started
    print(f"captum: {index} images in {seconds:.1f} s ({index / seconds:.2f} images/s)")


if __name__ == "__main__":
    main()
