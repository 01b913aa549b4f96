#!/usr/bin/env bash
# Fuzzes every parser of untrusted bytes with libFuzzer: trust bundles, CRLs, OCSP responses,
# manifests through translation and compilation, header values and the server-variable
# renderer (fuzz/fuzz_targets/).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 10: the short run in the test command; docs/security.md gives
# the long run). Exit 1 on the first crash, with the input saved in fuzz/artifacts/TARGET/ —
# turn it into a regression test. Built with stable Rust: coverage instrumentation through
# -C flags, no sanitizer (the targets are safe Rust; a crash is a panic, a hang or an OOM).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-10}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(trust_bundle crl ocsp_response manifests header_values request_target)

host=$(rustc -vV | sed -n 's/^host: //p')
# --target keeps the instrumentation off build scripts and proc macros (the host's own).
(cd fuzz && RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
  -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing" \
  cargo build -q --locked --release --bins --target "$host" --target-dir ../target/fuzz)
bin=target/fuzz/$host/release

# Seeds from PKI generated now (the project commits no certificates); the committed corpus
# (fuzz/corpus/, text targets) and what earlier runs found (kept outside the checkout) join them.
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
cargo run -q --locked -p portcullis-tests --example fuzz_seeds -- "$seeds"
grown=${PORTCULLIS_FUZZ_CORPUS:-$HOME/.cache/portcullis/fuzz}

for t in "${targets[@]}"; do
  mkdir -p "$grown/$t" "fuzz/artifacts/$t" "$seeds/$t"
  read_only=("$seeds/$t")
  [ -d "fuzz/corpus/$t" ] && read_only+=("fuzz/corpus/$t")
  [ "$t" = manifests ] && mkdir -p "$seeds/examples" && cp examples/*/*.yaml "$seeds/examples/" \
    && read_only+=("$seeds/examples")
  log="$seeds/$t.log"
  # New inputs go to the first directory; -timeout and -rss_limit_mb make hangs and runaway
  # memory crashes too.
  if ! "$bin/$t" "$grown/$t" "${read_only[@]}" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz: $t crashed; the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
  echo "fuzz: $t: ${runs:-?} runs in ${seconds}s, coverage ${cov:-?} edges, no crash"
done
