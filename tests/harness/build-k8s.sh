#!/usr/bin/env bash
# Builds a real control plane and node (kube-apiserver, kubectl, kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy, from k8s.io/kubernetes through a wrapper module, as
# envtest users do) and kine (etcd API on SQLite) into a cache outside the checkout, once.
# Prints the directory holding the binaries. Reused when present; only missing ones are built.
#
#   PORTCULLIS_CACHE   cache root (default: ~/.cache/portcullis)
#   K8S_VERSION        Kubernetes version (default: the oldest k8s-openapi supports)
set -euo pipefail

version="${K8S_VERSION:-1.33.13}"
kine_version="${KINE_VERSION:-v0.17.5}"
cache="${PORTCULLIS_CACHE:-$HOME/.cache/portcullis}"
out="$cache/k8s-v$version"
components="kube-apiserver kubectl kube-controller-manager kube-scheduler kubelet kube-proxy"
complete() {
  for c in $components kine; do [ -x "$out/$c" ] || return 1; done
}
if complete; then
  echo "$out"
  exit 0
fi
command -v go >/dev/null || { echo "go is required to build kube-apiserver" >&2; exit 1; }
mkdir -p "$out"
# Tests running in parallel may all find the cache empty: one builds, the others wait for it.
exec 9>"$out.lock"
flock 9
if complete; then
  echo "$out"
  exit 0
fi
minor="${version#1.}"; minor="${minor%%.*}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
cd "$work"
# The staging modules k8s.io/kubernetes replaces with its own tree; the wrapper pins each to
# the same release (their set changes between minor versions).
gomod=$(go mod download -json "k8s.io/kubernetes@v$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
staging=$(sed -n 's#^[[:space:]]*k8s.io/\([^ ]*\) => ./staging/src/k8s.io/.*#\1#p' "$gomod")
[ -n "$staging" ] || { echo "no staging modules found in $gomod" >&2; exit 1; }
cat > go.mod <<MOD
module portcullis.test/k8sbuild

go 1.24

require k8s.io/kubernetes v$version
MOD
for m in $staging; do
  echo "replace k8s.io/$m => k8s.io/$m v0.$minor.${version##*.}" >> go.mod
done
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
echo "building Kubernetes v$version into $out (20-30 minutes cold on two cores)" >&2
go mod tidy >&2
for c in $components; do
  [ -x "$out/$c" ] && continue
  go build -trimpath -ldflags "$ldflags" -o "$out/$c.tmp" "k8s.io/kubernetes/cmd/$c" >&2
  mv "$out/$c.tmp" "$out/$c"
done
if [ ! -x "$out/kine" ]; then
  GOBIN="$work/bin" go install "github.com/k3s-io/kine@$kine_version" >&2
  mv "$work/bin/kine" "$out/kine"
fi
echo "$out"
