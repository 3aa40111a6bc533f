#!/bin/sh
# Validates the Kubernetes manifests of docs/scale-out.md (its ```yaml blocks) against the API
# schemas of a named Kubernetes version, strictly (no unknown fields), with kubernetes-validate
# from PyPI installed into a virtual environment of its own (.build/k8s-venv).
# Without pip it says "skipped: no pip" and succeeds: the check needs a download.
set -eu
cd "$(dirname "$0")/../.."
KUBERNETES_VERSION="${KUBERNETES_VERSION:-1.33.0}"
VALIDATOR_VERSION=1.37.0
venv=.build/k8s-venv
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    if ! python3 -m venv "$venv" >/dev/null 2>&1 || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
        rm -rf "$venv"
        echo "Kubernetes manifests: skipped: no pip"
        exit 0
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "kubernetes-validate==$VALIDATOR_VERSION"
fi
manifests=$(mktemp -d)
trap 'rm -rf "$manifests"' EXIT
# Each ```yaml block to a file of its own.
awk -v folder="$manifests" '
    /^```yaml/ { count++; file = folder "/manifest-" count ".yaml"; inside = 1; next }
    /^```/ { inside = 0; next }
    inside { print > file }
' docs/scale-out.md
set -- "$manifests"/*.yaml
[ -f "$1" ] || { echo "Kubernetes manifests: docs/scale-out.md has no yaml block" >&2; exit 1; }
"$venv/bin/kubernetes-validate" --strict --quiet --kubernetes-version "$KUBERNETES_VERSION" "$@"
echo "Kubernetes manifests of docs/scale-out.md: valid for Kubernetes $KUBERNETES_VERSION (kubernetes-validate --strict)"
