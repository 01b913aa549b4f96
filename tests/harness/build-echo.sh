#!/usr/bin/env bash
# Builds Gateway API's conformance echo backend (echo-basic: answers every request with a JSON
# echo of the method, path, host and headers it read, and the pod, namespace and service it
# runs as) from its Go module into a cache outside the checkout, once, static, for the test
# cluster's backend image. Prints the directory holding it.
#
#   PORTCULLIS_CACHE       cache root (default: ~/.cache/portcullis)
#   GATEWAY_API_VERSION    the gateway-api module version (default: v1.6.3)
set -euo pipefail
version="${GATEWAY_API_VERSION:-v1.6.3}"
cache="${PORTCULLIS_CACHE:-$HOME/.cache/portcullis}"
out="$cache/gateway-api-$version"
if [ -x "$out/echo-basic" ]; then
  echo "$out"
  exit 0
fi
command -v go >/dev/null || { echo "go is required to build echo-basic" >&2; exit 1; }
mkdir -p "$out"
exec 9>"$out.lock"
flock 9
if [ -x "$out/echo-basic" ]; then
  echo "$out"
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > go.mod <<MOD
module portcullis.test/echobuild

go 1.24

require (
	sigs.k8s.io/gateway-api $version
	sigs.k8s.io/gateway-api/conformance $version
)
MOD
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "sigs.k8s.io/gateway-api/conformance/echo-basic"
GO
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
go mod tidy >&2
go build -trimpath -ldflags "-s -w" -o "$out/echo-basic.tmp" sigs.k8s.io/gateway-api/conformance/echo-basic >&2
mv "$out/echo-basic.tmp" "$out/echo-basic"
echo "$out"
