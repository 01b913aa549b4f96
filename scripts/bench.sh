#!/usr/bin/env bash
# Benchmarks Portcullis against nginx and haproxy on this machine, with the same PKI, the same
# backend and the same load generator, and prints one table with ratios. Method and analysis:
# docs/benchmarks.md.
#
#   ./scripts/bench.sh            ECDSA P-256 and RSA-2048, 5 interleaved rounds
#
# Environment: BENCH_ROUNDS (5), BENCH_SECONDS per run (5), BENCH_WARMUP (2), BENCH_ALGS
# ("ecdsa rsa"), BENCH_RATE for the fixed-rate latency run (2000 req/s), BENCH_DIR (a temp dir),
# BENCH_CONFIGS ("off on crl ocsp": resumption off, on, CRL checked, OCSP checked and cached),
# BENCH_EXTRAS (1; 0 skips the file-reload and large-configuration measurements).
# Servers run on CPU 1, the load generator and the backend on CPU 0 (taskset).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_commands nginx:nginx haproxy:haproxy taskset:util-linux python3:python3 curl:curl >&2

rounds="${BENCH_ROUNDS:-5}"
seconds="${BENCH_SECONDS:-5}"
warmup="${BENCH_WARMUP:-2}"
algs="${BENCH_ALGS:-ecdsa rsa}"
rate="${BENCH_RATE:-2000}"
configs="${BENCH_CONFIGS:-off on crl ocsp}"
extras="${BENCH_EXTRAS:-1}"
work="${BENCH_DIR:-$(mktemp -d)}"
mkdir -p "$work"
results="$work/results.jsonl"
: > "$results"

# TLS 1.3 suites in Portcullis's default order of preference, given to nginx and haproxy too.
suites="TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
server_cpu=1
client_cpu=0
[ "$(nproc --all)" -ge 2 ] || { server_cpu=0; echo "one CPU only: servers and load share it" >&2; }

echo "==> building portcullis and portcullis-bench (release)" >&2
cargo build --release --locked --bin portcullis --bin portcullis-bench >&2
bin="$PWD/target/release"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 never opened" >&2; return 1
}
# PIDs of a process and its children (nginx: master and worker).
tree() { echo "$1 $(pgrep -P "$1" | tr '\n' ' ')" | xargs | tr ' ' ','; }
peak_kib() { local sum=0 p; for p in ${1//,/ }; do
  sum=$((sum + $(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo "$sum"; }

start_portcullis() { # dir port backend config(off|on|crl|ocsp) [ocsp-port]
  local d="$1/portcullis-$4"; mkdir -p "$d"
  local revocation=""
  secrets_yaml bench-client-ca "$1/pki/client-ca.pem" bench-server "$1/pki/server.pem" \
    "$1/pki/server.key" > "$d/bench.yaml"
  if [ "$4" = crl ]; then
    # As nginx and haproxy check CRLs: every certificate of the chain, each CRL's signature
    # verified when it is loaded.
    sed -i "s|^  ca.crt: .*|&\n  ca.crl: $(base64 -w0 "$1/pki/client-ca.crl")|" "$d/bench.yaml"
    revocation="verifyClientRevocation: CRL, revocationScope: Chain, "
  fi
  # The client certificate's status from the responder, then from the cache (leaf, as nginx's
  # `ssl_ocsp leaf`).
  [ "$4" = ocsp ] && revocation="verifyClientRevocation: OCSP, ocspResponderUrl: 'http://127.0.0.1:$5/', "
  cat >> "$d/bench.yaml" <<YAML
---
apiVersion: portcullis.io/v1alpha1
kind: SslProfile
metadata: {name: bench, namespace: default}
spec:
  sslPolicy: {policyType: Predefined, policyName: Tls13Only}
  clientAuthConfiguration: {${revocation}mode: Required, trustedClientCertificates: [{name: bench-client-ca}]}
---
apiVersion: portcullis.io/v1alpha1
kind: Listener
metadata: {name: bench, namespace: default}
spec:
  protocol: HTTPS
  port: $2
  hostnames: [bench.example]
  sslCertificate: {name: bench-server}
  sslProfile: {name: bench}
  rules:
    - backend: {service: backend, port: 80}
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: default}
spec:
  ports: [{port: 80, targetPort: $3}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: backend-1, namespace: default, labels: {kubernetes.io/service-name: backend}}
addressType: IPv4
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
ports: [{port: $3}]
YAML
  taskset -c "$server_cpu" "$bin/portcullis" run -f "$d" --bind 127.0.0.1 \
    --admin "127.0.0.1:$(free_port)" --no-access-log > /dev/null 2> "$d.log" &
  echo $!
}

start_nginx() { # dir port backend config(off|on|crl|ocsp) [ocsp-port]
  local d="$1/nginx-$4"; mkdir -p "$d/tmp"
  local tickets=off cache=off crl=""
  [ "$4" = on ] && { tickets=on; cache="shared:SSL:10m"; }
  [ "$4" = crl ] && crl="ssl_crl $1/pki/client-ca.crl;"
  [ "$4" = ocsp ] && crl="ssl_ocsp leaf; ssl_ocsp_responder http://127.0.0.1:$5/; ssl_ocsp_cache shared:OCSP:10m;"
  cat > "$d/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $d/tmp/body; proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fcgi; uwsgi_temp_path $d/tmp/uwsgi; scgi_temp_path $d/tmp/scgi;
  upstream backend { server 127.0.0.1:$3; keepalive 64; }
  server {
    listen 127.0.0.1:$2 ssl;
    server_name bench.example;
    ssl_certificate $1/pki/server.pem;
    ssl_certificate_key $1/pki/server.key;
    ssl_client_certificate $1/pki/client-ca.pem;
    ssl_verify_client on;
    ssl_verify_depth 2;
    ssl_protocols TLSv1.3;
    ssl_ecdh_curve X25519;
    # The suite order Portcullis prefers by default (Mozilla's), so all three negotiate the same.
    ssl_prefer_server_ciphers on;
    ssl_conf_command Ciphersuites $suites;
    $crl
    ssl_session_tickets $tickets;
    ssl_session_cache $cache;
    # The default closes keep-alive connections after 1000 requests; the others do not.
    keepalive_requests 1000000;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
  taskset -c "$server_cpu" nginx -c "$d/nginx.conf" -p "$d" > /dev/null 2> "$d/log" &
  echo $!
}

start_haproxy() { # dir port backend config(off|on|crl)
  local d="$1/haproxy-$4"; mkdir -p "$d"
  local cache=0 tickets=no-tls-tickets crl=""
  [ "$4" = on ] && { cache=20000; tickets=""; }
  [ "$4" = crl ] && crl="crl-file $1/pki/client-ca.crl"
  cat > "$d/haproxy.cfg" <<CONF
global
  nbthread 1
  tune.ssl.cachesize $cache
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:$2 ssl crt $1/pki/server-combined.pem ca-file $1/pki/client-ca.pem verify required curves X25519 ssl-min-ver TLSv1.3 ciphersuites $suites $tickets $crl
  default_backend be
backend be
  http-reuse always
  server s1 127.0.0.1:$3
CONF
  taskset -c "$server_cpu" haproxy -db -f "$d/haproxy.cfg" > /dev/null 2> "$d/log" &
  echo $!
}

start_responder() { # dir port: `openssl ocsp` answering for the client certificate, on the load's core
  local p="$1/pki"
  taskset -c "$client_cpu" stdbuf -o0 -e0 openssl ocsp -index "$p/ocsp-index.txt" -port "$2" -CA "$p/ocsp-issuer.pem" \
    -rsigner "$p/ocsp-responder.pem" -rkey "$p/ocsp-responder.key" -nmin 60 -text \
    > "$1/ocsp-$2.log" 2>&1 &
  echo $!
}

load() { # alg server config port pids mode
  taskset -c "$client_cpu" "$bin/portcullis-bench" load --connect "127.0.0.1:$4" \
    --cert "$dir/pki/client.pem" --key "$dir/pki/client.key" --mode "$6" \
    --seconds "$seconds" --warmup "$warmup" --rate "$rate" \
    --concurrency "$([ "$6" = rate ] && echo 64 || echo 32)" \
    --server-pids "$5" --label "$1/$2" |
    # Full handshakes against the servers checking a CRL or OCSP are reported as mode `crl`
    # or `ocsp`.
    python3 -c 'import json,sys; r=json.load(sys.stdin); r["mode"]=sys.argv[1] if sys.argv[1] in ("crl","ocsp") else r["mode"]; print(json.dumps(r))' "$3" >> "$results"
  tail -1 "$results" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("   %-18s %-9s %9.0f/s  %9.0f per server CPU s  p99 %.2f ms  ok %d bad %d err %d resumed %d/%d" % (r["label"], r["mode"], r["per_s"], r["per_server_cpu_s"], r["p99_ms"], r["ok"], r["bad_status"], r["errors"], r["resumed"], r["handshakes"]))' >&2
}

for alg in $algs; do
  dir="$work/$alg"
  mkdir -p "$dir"
  "$bin/portcullis-bench" pki "$dir/pki" --alg "$alg"
  backend_port=$(free_port)
  taskset -c "$client_cpu" "$bin/portcullis-bench" backend --listen "127.0.0.1:$backend_port" 2> "$dir/backend.log" &
  backend_pid=$!; pids+=("$backend_pid")
  wait_port "$backend_port"
  for config in $configs; do
    modes="full keepalive rate"
    [ "$config" = on ] && modes="resumed"
    [ "$config" = crl ] && modes="full"
    [ "$config" = ocsp ] && modes="full"
    p_port=$(free_port); n_port=$(free_port); h_port=$(free_port)
    p_ocsp=""; n_ocsp=""; responders=""
    if [ "$config" = ocsp ]; then
      # One responder per server, so each log shows that server asked.
      p_ocsp=$(free_port); n_ocsp=$(free_port)
      for port in $p_ocsp $n_ocsp; do
        r_pid=$(start_responder "$dir" "$port"); pids+=("$r_pid"); responders="$responders $r_pid"
        # Its banner, not a probe: a connection closed without a request wedges `openssl ocsp`.
        for _ in $(seq 1 100); do grep -q "waiting for OCSP client" "$dir/ocsp-$port.log" && break; sleep 0.1; done
      done
    fi
    p_pid=$(start_portcullis "$dir" "$p_port" "$backend_port" "$config" "$p_ocsp"); pids+=("$p_pid")
    n_pid=$(start_nginx "$dir" "$n_port" "$backend_port" "$config" "$n_ocsp"); pids+=("$n_pid")
    # haproxy 2.6 checks no client certificate with OCSP (its OCSP is server stapling).
    h_pid=""
    if [ "$config" != ocsp ]; then
      h_pid=$(start_haproxy "$dir" "$h_port" "$backend_port" "$config"); pids+=("$h_pid")
      wait_port "$h_port"
    fi
    wait_port "$p_port"; wait_port "$n_port"
    sleep 0.5
    n_pids=$(tree "$n_pid")
    echo "==> $alg, config $config: portcullis :$p_port, nginx :$n_port ($n_pids), haproxy :${h_pid:+$h_port}" >&2
    for round in $(seq 1 "$rounds"); do
      echo "  round $round/$rounds" >&2
      if [ "$config" = off ]; then
        # The crypto bound, on the servers' core, once per round: the machine's speed drifts.
        taskset -c "$server_cpu" "$bin/portcullis-bench" crypto-bound --alg "$alg" > "$dir/crypto.json"
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r["kind"]="crypto"; print(json.dumps(r))' "$dir/crypto.json" >> "$results"
      fi
      for mode in $modes; do
        load "$alg" portcullis "$config" "$p_port" "$p_pid" "$mode"
        load "$alg" nginx "$config" "$n_port" "$n_pids" "$mode"
        [ -z "$h_pid" ] || load "$alg" haproxy "$config" "$h_port" "$h_pid" "$mode"
      done
    done
    if [ "$config" = ocsp ]; then
      # Each server asked its responder (then answered from its cache): no OCSP, no figure.
      for port in $p_ocsp $n_ocsp; do
        asked=$(grep -c "OCSP Request Data" "$dir/ocsp-$port.log" || true)
        [ "${asked:-0}" -ge 1 ] || { echo "the OCSP responder on :$port was never asked" >&2; exit 1; }
        echo "   OCSP responder :$port answered $asked request(s)" >&2
      done
      kill $responders 2>/dev/null || true
    fi
    for s in "portcullis:$p_pid" "nginx:$n_pids" "haproxy:$h_pid"; do
      [ -n "${s#*:}" ] || continue
      echo "{\"kind\": \"memory\", \"label\": \"$alg/${s%%:*}\", \"peak_kib\": $(peak_kib "${s#*:}")}" >> "$results"
    done
    kill "$p_pid" "$n_pid" $h_pid 2>/dev/null || true
    for p in $p_pid $n_pid $h_pid; do
      for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
  done
  kill "$backend_pid" 2>/dev/null || true
done

if [ "$extras" = 1 ]; then
echo "==> standalone: from a changed file to the new configuration serving" >&2
# Portcullis with its default file poll (500 ms); the CA Secret's file is rewritten to trust
# another client CA, and a client of that CA retries (every 10 ms) until it gets a 200.
reload_dir="$work/reload"
"$bin/portcullis-bench" pki "$reload_dir/a/pki" --alg ecdsa
"$bin/portcullis-bench" pki "$reload_dir/b" --alg ecdsa
backend_port=$(free_port); r_port=$(free_port)
taskset -c "$client_cpu" "$bin/portcullis-bench" backend --listen "127.0.0.1:$backend_port" 2> /dev/null &
backend_pid=$!; pids+=("$backend_pid")
r_pid=$(start_portcullis "$reload_dir/a" "$r_port" "$backend_port" off); pids+=("$r_pid")
wait_port "$r_port"
status_with() { # pki-dir: HTTP status for a client of that PKI
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 --resolve "bench.example:$r_port:127.0.0.1" \
    --cacert "$reload_dir/a/pki/server-root.pem" --cert "$1/client.pem" --key "$1/client.key" \
    "https://bench.example:$r_port/" || true
}
yaml="$reload_dir/a/portcullis-off/bench.yaml"
for i in $(seq 1 "$rounds"); do
  for to in b a; do
    ca="$reload_dir/a/pki/client-ca.pem"; [ "$to" = b ] && ca="$reload_dir/b/client-ca.pem"
    client="$reload_dir/a/pki"; [ "$to" = b ] && client="$reload_dir/b"
    sleep 1
    start=$(date +%s%N)
    sed -i "s|^  ca.crt: .*|  ca.crt: $(base64 -w0 "$ca")|" "$yaml"
    served=""
    for _ in $(seq 1 1000); do
      [ "$(status_with "$client")" = 200 ] && { served=$(( ($(date +%s%N) - start) / 1000000 )); break; }
      sleep 0.01
    done
    [ -n "$served" ] || { echo "the changed file was not served within 10 s" >&2; exit 1; }
    echo "{\"kind\": \"reload\", \"ms\": $served}" >> "$results"
  done
done
echo "   file change to serving: $(grep '"reload"' "$results" | python3 -c 'import json,sys; print(sorted(json.loads(l)["ms"] for l in sys.stdin))') ms" >&2
kill "$r_pid" "$backend_pid" 2>/dev/null || true

echo "==> applying 1,000 hostnames and 200 CA chains" >&2
taskset -c "$server_cpu" "$bin/portcullis-bench" apply --hostnames 1000 --chains 200 --rounds 5 >> "$results"
fi

python3 scripts/bench_report.py "$results"
echo "raw results: $results" >&2
