#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need, then checks format,
# lints and runs every test. This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use as real peers: openssl (reference output, the quickstart's
# PKI, later the OCSP responder), curl (a real TLS client), python3 (the quickstart's demo
# backend, the normalising file servers), a JDK (the Java test client) and nginx (the oracle
# of ingress-nginx's auth-tls behaviour, configured as its template configures it; the
# package's service is not started, the test runs its own on a free port).
. scripts/lib.sh
ensure_commands openssl curl python3 java:default-jdk-headless nginx
# The real single-node cluster (tests/tests/real_cluster.rs): containerd with runc, the CNI
# plugins, iptables and conntrack for kube-proxy, nft to read and restore the host's rules, gcc
# for the static pause program. containerd's package starts no daemon here: the test runs its
# own, with state in a temporary directory.
ensure_commands containerd runc iptables conntrack nft:nftables gcc
[ -x /usr/lib/cni/bridge ] || ensure_commands cni-plugins-missing:containernetworking-plugins

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required (install Rust with rustup)" >&2
  exit 1
fi
# Installed when missing; a toolchain that cannot have them fails at the first use below.
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# A real kube-apiserver, kubectl, kine and the node's parts (kubelet, kube-proxy, controller-
# manager, scheduler) for the API and cluster tests, built once into a cache outside the
# checkout (20-30 minutes cold on two cores for each version; reused afterwards).
k8s_bin=$(bash tests/harness/build-k8s.sh)
echo "kubernetes test binaries: $k8s_bin"
# The newest Kubernetes this machine's containerd runs, for the real-cluster tests (which run
# on both), and Gateway API's echo backend for their backend image.
echo "kubernetes test binaries: $(K8S_VERSION=1.37.2 bash tests/harness/build-k8s.sh)"
echo "echo backend: $(bash tests/harness/build-echo.sh)"
# helm (for the chart tests) and the real ServiceMonitor and cert-manager CRDs (the chart's
# and the examples' third-party kinds), from their Go modules, cached the same way.
echo "helm: $(bash tests/harness/build-helm.sh)"
echo "third-party CRDs: $(bash tests/harness/fetch-crds.sh)"
# h2spec (HTTP/2 conformance), from its Go module, and the Go crypto/tls test client, cached
# the same way; the JDK runs the Java test client from source.
echo "h2spec: $(bash tests/harness/build-h2spec.sh)"
echo "Go test client: $(bash tests/harness/build-go-client.sh)"

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# No import cycle in the dataplane, no file over 450 lines, a header on every file.
python3 scripts/check-layout.py
# The checked-in CRDs must be what the binary prints (also asserted by a test, with the fix).
cargo run -q --locked --bin portcullis -- crds | diff -u crds/portcullis.io.yaml - \
  || { echo "crds/ drifted: run cargo run -q --bin portcullis -- crds > crds/portcullis.io.yaml" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary, so the total is read at a glance (and by CI).
passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')

# The README's quickstart, from this checkout, on free ports.
qs_status=0
if [ "$status" -eq 0 ]; then
  free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
  qs_dir=$(mktemp -d)
  QUICKSTART_DIR="$qs_dir" QUICKSTART_PORT=$(free_port) QUICKSTART_ECHO_PORT=$(free_port) \
    QUICKSTART_ADMIN_PORT=$(free_port) ./scripts/quickstart.sh --check || qs_status=$?
  rm -rf "$qs_dir"
  if [ "$qs_status" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi
# A short run of every fuzz target (10 s each, after a build of about 5 minutes cold); the
# long run is documented in docs/security.md.
fuzz_status=0
if [ "$status" -eq 0 ]; then
  ./scripts/fuzz.sh 10 || fuzz_status=$?
  if [ "$fuzz_status" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi
echo "tests: $passed passed, $failed failed"
[ "$status" -eq 0 ] || exit "$status"
[ "$qs_status" -eq 0 ] || exit "$qs_status"
exit "$fuzz_status"
