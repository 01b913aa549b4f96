#!/usr/bin/env bash
# Builds helm (from its Go module) into a cache outside the checkout, once, and prints the
# directory holding it. Reused when present.
#
#   PORTCULLIS_CACHE   cache root (default: ~/.cache/portcullis)
#   HELM_VERSION       helm version (default below)
set -euo pipefail

version="${HELM_VERSION:-v3.21.4}"
cache="${PORTCULLIS_CACHE:-$HOME/.cache/portcullis}"
out="$cache/helm-$version"
if [ -x "$out/helm" ]; then
  echo "$out"
  exit 0
fi
command -v go >/dev/null || { echo "go is required to build helm" >&2; exit 1; }
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "building helm $version into $out (a few minutes on two cores)" >&2
export CGO_ENABLED=0
GOBIN="$work/bin" go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$version" >&2
mv "$work/bin/helm" "$out/helm"
echo "$out"
