#!/bin/sh
# Puts oneDNN 3.2 from PyPI's wheels (onednn-cpu-gomp and onednn-devel-cpu-gomp 2023.2.0: the
# library built for GNU OpenMP, needing only system libraries, and its headers) into DIR/include
# and DIR/lib, for a build with ONEDNN_ROOT=DIR. Does nothing when DIR already holds them.
#   sh Tools/fetch-onednn3.sh DIR
set -eu
root="$1"
version=2023.2.0
[ -f "$root/include/dnnl.h" ] && [ -e "$root/lib/libdnnl.so" ] && exit 0
if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
    echo "error: PyPI's oneDNN wheels are for Linux on x86-64; elsewhere build with ONEDNN_ROOT=DIR (see the README)" >&2
    exit 1
fi

sh "$(dirname "$0")/ensure-pip.sh" "to fetch oneDNN 3.x from PyPI"

work="$root.partial"
rm -rf "$work"
mkdir -p "$work/wheels"
python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux1_x86_64 \
    --dest "$work/wheels" "onednn-cpu-gomp==$version" "onednn-devel-cpu-gomp==$version"
for wheel in "$work"/wheels/*.whl; do
    python3 -m zipfile -e "$wheel" "$work/unpacked"
done
mkdir -p "$work/root"
for package in onednn_cpu_gomp onednn_devel_cpu_gomp; do
    cp -R "$work/unpacked/$package-$version.data/data/." "$work/root/"
done
# The wheel holds three copies of the library (a wheel has no symbolic links); keep one.
(cd "$work/root/lib" && rm -f libdnnl.so libdnnl.so.3 && ln -s libdnnl.so.3.2 libdnnl.so.3 && ln -s libdnnl.so.3 libdnnl.so)
rm -rf "$root"
mv "$work/root" "$root"
rm -rf "$work"
echo "oneDNN $(sed -n 's/#define DNNL_VERSION_MAJOR //p;s/#define DNNL_VERSION_MINOR //p' "$root/include/oneapi/dnnl/dnnl_version.h" | paste -sd. -) is in $root"
