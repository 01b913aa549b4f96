#!/usr/bin/env bash
# Builds the tests' Go crypto/tls client (tests/harness/go-client, standard library only) into
# a cache outside the checkout, keyed by its source, and prints the directory holding it.
#
#   PORTCULLIS_CACHE   cache root (default: ~/.cache/portcullis)
set -euo pipefail
src="$(cd "$(dirname "$0")/go-client" && pwd)"
cache="${PORTCULLIS_CACHE:-$HOME/.cache/portcullis}"
key=$(cat "$src/go.mod" "$src/main.go" | sha256sum | cut -c1-16)
out="$cache/go-client-$key"
if [ -x "$out/go-client" ]; then
  echo "$out"
  exit 0
fi
command -v go >/dev/null || { echo "go is required to build the Go test client" >&2; exit 1; }
mkdir -p "$out"
(cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$out/go-client" .) >&2
echo "$out"
