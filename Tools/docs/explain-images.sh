#!/bin/sh
# Redraws the README's four "Explaining a prediction" pictures (docs/images/explain-*.png) with the
# commands the README shows, from the bundled Fashion-MNIST model and sample.
#   swift build -c release --product loupe && sh Tools/docs/explain-images.sh
set -eu
cd "$(dirname "$0")/../.."
loupe=.build/release/loupe
common="--model Models/fashion-cnn.safetensors --image Samples/fashion/0001-pullover.png --enlarge 6"
$loupe explain $common --method saliency --out docs/images/explain-saliency.png
$loupe explain $common --method integrated-gradients --out docs/images/explain-ig.png
$loupe explain $common --method occlusion --window 4 --stride 2 --out docs/images/explain-occlusion.png
$loupe explain $common --method grad-cam --layer features.4 --out docs/images/explain-gradcam.png
