#!/usr/bin/env bash
# Builds a real kube-apiserver and kubectl (from k8s.io/kubernetes through a wrapper module, as
# envtest users do) and kine (etcd API on SQLite) into a cache outside the checkout, once.
# Prints the directory holding the binaries. Reused when present.
#
#   PORTCULLIS_CACHE   cache root (default: ~/.cache/portcullis)
#   K8S_VERSION        Kubernetes version (default: the oldest k8s-openapi supports)
set -euo pipefail

version="${K8S_VERSION:-1.33.13}"
kine_version="${KINE_VERSION:-v0.17.5}"
cache="${PORTCULLIS_CACHE:-$HOME/.cache/portcullis}"
out="$cache/k8s-v$version"
if [ -x "$out/kube-apiserver" ] && [ -x "$out/kubectl" ] && [ -x "$out/kine" ]; then
  echo "$out"
  exit 0
fi
command -v go >/dev/null || { echo "go is required to build kube-apiserver" >&2; exit 1; }
mkdir -p "$out"
# Tests running in parallel may all find the cache empty: one builds, the others wait for it.
exec 9>"$out.lock"
flock 9
if [ -x "$out/kube-apiserver" ] && [ -x "$out/kubectl" ] && [ -x "$out/kine" ]; then
  echo "$out"
  exit 0
fi
minor="${version#1.}"; minor="${minor%%.*}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

staging="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms
kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller"

cd "$work"
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
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
echo "building kube-apiserver and kubectl v$version into $out (10-20 minutes on two cores)" >&2
go mod tidy >&2
go build -trimpath -ldflags "$ldflags" -o "$out/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
go build -trimpath -ldflags "$ldflags" -o "$out/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl
GOBIN="$work/bin" go install "github.com/k3s-io/kine@$kine_version" >&2
mv "$out/kube-apiserver.tmp" "$out/kube-apiserver"
mv "$out/kubectl.tmp" "$out/kubectl"
mv "$work/bin/kine" "$out/kine"
echo "$out"
