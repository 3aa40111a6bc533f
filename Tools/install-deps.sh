#!/bin/sh
# Installs the system libraries Loupe links against, only those missing:
# oneDNN, libpng and libjpeg-turbo (apt-get on Debian/Ubuntu, Homebrew on macOS).
# `install-deps.sh test` also installs what the tests read: ONNX's backend node tests
# (Debian's libonnx-testdata; on macOS that suite is skipped). `install-deps.sh cluster` installs
# what `make test-cluster` runs: Debian's slurm-wlm and munge (Linux only).
set -eu
mode="${1:-build}"

if ! command -v swift >/dev/null 2>&1; then
    echo "error: the Swift toolchain (6.0 or later) is not on PATH; install it from swift.org first" >&2
    exit 1
fi

case "$(uname -s)" in
Darwin)
    missing=""
    for formula in onednn libpng jpeg-turbo; do
        brew list --versions "$formula" >/dev/null 2>&1 || missing="$missing $formula"
    done
    if [ -n "$missing" ]; then
        echo "Installing with Homebrew:$missing"
        brew install $missing
    fi
    ;;
*)
    missing=""
    packages="libdnnl-dev libpng-dev libjpeg-dev zlib1g-dev"
    [ "$mode" = test ] && packages="$packages libonnx-testdata"
    [ "$mode" = cluster ] && packages="slurm-wlm munge"
    for package in $packages; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
            || missing="$missing $package"
    done
    if [ -n "$missing" ]; then
        echo "Installing with apt-get:$missing"
        sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
    fi
    ;;
esac
