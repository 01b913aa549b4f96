#!/usr/bin/env python3
"""Turns scripts/bench.sh's results.jsonl into one table: medians (min-max) over the rounds,
per server CPU second for throughput, and ratios of Portcullis to nginx and haproxy."""
import json
import statistics
import sys
from collections import defaultdict

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
runs = defaultdict(list)
crypto = defaultdict(list)
memory = defaultdict(int)
problems = []
negotiated = set()
applied = None
reloads = []
for r in rows:
    kind = r.get("kind")
    if kind == "crypto":
        crypto[r["alg"].lower()].append(r["handshakes_per_s"])
        continue
    if kind == "reload":
        reloads.append(r["ms"])
        continue
    if kind == "apply":
        applied = r
        continue
    if kind == "memory":
        memory[r["label"]] = max(memory[r["label"]], r["peak_kib"])
        continue
    alg, server = r["label"].split("/")
    runs[(alg, server, r["mode"])].append(r)
    negotiated.add((alg, server, r["protocol"], r["cipher"], r["group"]))
    if r["bad_status"] or r["errors"]:
        problems.append(f'{r["label"]} {r["mode"]}: {r["bad_status"]} non-200, {r["errors"]} errors ({r["last_error"]})')
    if r["mode"] in ("full", "crl", "ocsp") and r["resumed"]:
        problems.append(f'{r["label"]} {r["mode"]}: {r["resumed"]} resumed handshakes')
    if r["mode"] == "resumed" and r["resumed"] < 0.9 * max(r["handshakes"], 1):
        problems.append(f'{r["label"]} resumed: only {r["resumed"]}/{r["handshakes"]} resumed')


def stat(alg, server, mode, key):
    vals = [r[key] for r in runs.get((alg, server, mode), [])]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals)


def fmt(s, unit=""):
    if s is None:
        return "—"
    med, lo, hi = s
    if med >= 100:
        return f"{med:,.0f}{unit} ({lo:,.0f}–{hi:,.0f})"
    return f"{med:.2f}{unit} ({lo:.2f}–{hi:.2f})"


def ratio(a, b, lower_is_better=False):
    if not a or not b or not a[0] or not b[0]:
        return "—"
    return f"{(b[0] / a[0]) if lower_is_better else (a[0] / b[0]):.2f}×"


algs = sorted({k[0] for k in runs})
# The crypto bound was measured once per round on the servers' core: its median.
bound = {alg: statistics.median(v) for alg, v in crypto.items()}
for alg in algs:
    ciphers = {c for a, _, _, c, _ in negotiated if a == alg}
    if len(ciphers) > 1:
        problems.append(f"{alg}: the servers negotiated different cipher suites: {sorted(ciphers)}")
servers = ["portcullis", "nginx", "haproxy"]
metrics = [
    ("full mTLS handshakes / server CPU s", "full", "per_server_cpu_s", False),
    ("full mTLS handshakes / s (wall)", "full", "per_s", False),
    ("full mTLS handshakes, 1,000-entry CRL / server CPU s", "crl", "per_server_cpu_s", False),
    ("full mTLS handshakes, OCSP (cached) / server CPU s", "ocsp", "per_server_cpu_s", False),
    ("resumed handshakes / server CPU s", "resumed", "per_server_cpu_s", False),
    ("keep-alive requests / server CPU s", "keepalive", "per_server_cpu_s", False),
    ("keep-alive requests / s (wall)", "keepalive", "per_s", False),
    ("p50 latency at fixed rate (ms)", "rate", "p50_ms", True),
    ("p99 latency at fixed rate (ms)", "rate", "p99_ms", True),
]
for alg in algs:
    if alg in bound:
        lo, hi = min(crypto[alg]), max(crypto[alg])
        print(f"\n## {alg.upper()} — crypto bound {bound[alg]:,.0f} ({lo:,.0f}–{hi:,.0f}) full handshakes/s per core")
    else:
        print(f"\n## {alg.upper()}")
    print()
    print("| metric | Portcullis | nginx | haproxy | vs nginx | vs haproxy |")
    print("|---|---|---|---|---|---|")
    for label, mode, key, lower in metrics:
        vals = {s: stat(alg, s, mode, key) for s in servers}
        print(f"| {label} | {fmt(vals['portcullis'])} | {fmt(vals['nginx'])} | {fmt(vals['haproxy'])} "
              f"| {ratio(vals['portcullis'], vals['nginx'], lower)} | {ratio(vals['portcullis'], vals['haproxy'], lower)} |")
    mem = {s: memory.get(f"{alg}/{s}") for s in servers}
    print(f"| peak memory (MiB) | " + " | ".join(f"{mem[s] / 1024:.1f}" if mem[s] else "—" for s in servers)
          + f" | {ratio((mem['portcullis'],), (mem['nginx'],), True) if mem['portcullis'] and mem['nginx'] else '—'}"
          + f" | {ratio((mem['portcullis'],), (mem['haproxy'],), True) if mem['portcullis'] and mem['haproxy'] else '—'} |")
    if alg in bound:
        print()
        for s in servers:
            v = stat(alg, s, "full", "per_server_cpu_s")
            if v:
                print(f"- {s}: {100 * v[0] / bound[alg]:.0f} % of the crypto bound per server core")
    # What a revocation check adds to a full handshake, in server CPU time: the difference of
    # the median times per handshake.
    for mode, what in (("crl", "a 1,000-entry CRL"), ("ocsp", "OCSP, answered from the cache")):
        for s in servers:
            base, checked = stat(alg, s, "full", "per_server_cpu_s"), stat(alg, s, mode, "per_server_cpu_s")
            if base and checked:
                cost = 1e6 / checked[0] - 1e6 / base[0]
                print(f"- {s}: {what} adds {cost:,.0f} µs of server CPU per full handshake "
                      f"({100 * cost / (1e6 / base[0]):+.0f} %)")
print()
if applied:
    print(f"A configuration of {applied['hostnames']:,} hostnames and {applied['chains']} CA chains (one server "
          f"core, medians of 5): read {applied['read_ms']:.0f} ms, translate {applied['translate_ms']:.0f} ms, "
          f"apply (compile to serving state) {applied['apply_ms']:.0f} ms.")
if reloads:
    print(f"Standalone, file changed to new configuration serving (500 ms poll): median {statistics.median(reloads):.0f} ms "
          f"({min(reloads)}–{max(reloads)} ms, {len(reloads)} changes).")
print("Negotiated: " + "; ".join(sorted(f"{a}/{s}: {p} {c} {g}" for a, s, p, c, g in negotiated)))
print("Ratios: Portcullis ÷ other for rates, other ÷ Portcullis for latency and memory (above 1× = Portcullis better).")
if problems:
    print("\nINVALID RUNS:")
    for p in problems:
        print("- " + p)
    sys.exit(1)
print("Every run: 100 % HTTP 200, no resumed session in full-handshake runs.")
