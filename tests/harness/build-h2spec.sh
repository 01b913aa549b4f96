#!/usr/bin/env bash
# Builds h2spec (HTTP/2 conformance tests, from its Go module) into a cache outside the
# checkout, once, and prints the directory holding it. Reused when present.
#
#   PORTCULLIS_CACHE   cache root (default: ~/.cache/portcullis)
#   H2SPEC_VERSION     h2spec version (default below)
set -euo pipefail

version="${H2SPEC_VERSION:-v2.2.1+incompatible}"
cache="${PORTCULLIS_CACHE:-$HOME/.cache/portcullis}"
out="$cache/h2spec-${version%%+*}"
if [ -x "$out/h2spec" ]; then
  echo "$out"
  exit 0
fi
command -v go >/dev/null || { echo "go is required to build h2spec" >&2; exit 1; }
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "building h2spec $version into $out (under a minute)" >&2
export CGO_ENABLED=0
GOBIN="$work/bin" go install -trimpath -ldflags "-s -w" "github.com/summerwind/h2spec/cmd/h2spec@$version" >&2
mv "$work/bin/h2spec" "$out/h2spec"
echo "$out"
