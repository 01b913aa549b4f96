#!/usr/bin/env bash
# Fetches the CRDs of the third-party kinds the chart and the examples render —
# prometheus-operator's ServiceMonitor and cert-manager's Certificate and Issuer — from their
# published Go modules into a cache outside the checkout, once, and prints the directory
# holding them. Reused when present. The test apiserver then validates those objects against
# the real schemas, not a stand-in.
#
#   PORTCULLIS_CACHE              cache root (default: ~/.cache/portcullis)
#   PROMETHEUS_OPERATOR_VERSION   default below
#   CERT_MANAGER_VERSION          default below
set -euo pipefail

prom="${PROMETHEUS_OPERATOR_VERSION:-v0.80.1}"
cm="${CERT_MANAGER_VERSION:-v1.17.2}"
cache="${PORTCULLIS_CACHE:-$HOME/.cache/portcullis}"
out="$cache/crds-prometheus-operator-$prom-cert-manager-$cm"
if [ -s "$out/done" ]; then
  echo "$out"
  exit 0
fi
command -v go >/dev/null || { echo "go is required to fetch the third-party CRDs" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "fetching ServiceMonitor ($prom) and cert-manager ($cm) CRDs into $out" >&2
module_dir() {
  (cd "$work" && go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
}
pdir="$(module_dir "github.com/prometheus-operator/prometheus-operator@$prom")"
cdir="$(module_dir "github.com/cert-manager/cert-manager@$cm")"
mkdir -p "$out"
cp "$pdir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" "$out/"
# cert-manager ships its CRDs as Helm templates whose only template parts are comments and
# the labels block: drop the labels, keep the schema as published.
for kind in certificates issuers clusterissuers; do
  awk '/^  labels:/ {skip=1; next} skip && /^  [^ ]/ {skip=0} skip && /^spec:/ {skip=0} !skip' \
    "$cdir/deploy/crds/crd-$kind.yaml" > "$out/cert-manager.io_$kind.yaml"
done
chmod -R u+w "$out"
date -u > "$out/done"
echo "$out"
