#!/usr/bin/env python3
"""Checks how the code is laid out; `scripts/test.sh` runs it and any finding fails the build.

Usage: scripts/check-layout.py [--print]

- No import cycle among the dataplane's modules. Nodes are the crate's top-level modules
  (`pki`, `config`, `proxy`, ...) and, inside `proxy`, its sub-modules (`proxy::tls`,
  `proxy::request`, ...). An edge A -> B means a non-test file of A names B (`use`, a path in
  code). `--print` prints the graph.
- No Rust source file over 450 lines (STYLE: split before a file does several jobs).
- Every Rust source file opens with a `//!` header saying what it owns.
"""
import os
import re
import sys

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ROOT = os.path.join(REPO, "dataplane", "src")
MAX_LINES = 450
SOURCES = ["bench", "controller", "dataplane", "fuzz/fuzz_targets", "fuzz/src", "tests"]


def module_of(rel):
    """`proxy/tls/chain.rs` -> `proxy::tls`; `pki/cert.rs` -> `pki`; `time.rs` -> `time`."""
    parts = rel[:-3].split("/")
    if parts[-1] == "mod":
        parts = parts[:-1]
    if parts and parts[0] == "lib":
        return None
    if parts[0] == "proxy" and len(parts) >= 2:
        return "proxy::" + parts[1]
    return parts[0]


def resolve(mod_path, rel, name):
    """The node a `super::`/`crate::` path from file `rel` names."""
    here = rel[:-3].split("/")
    if here[-1] == "mod":
        here = here[:-1]
    if name.startswith("crate::"):
        parts = name[len("crate::"):].split("::")
    else:
        parts = list(here)
        rest = name.split("::")
        while rest and rest[0] == "super":
            parts = parts[:-1]
            rest = rest[1:]
        parts = parts + rest
    if not parts:
        return None
    if parts[0] == "proxy" and len(parts) >= 2 and os.path.exists(
        os.path.join(ROOT, "proxy", parts[1] + ".rs")
    ) or (parts[0] == "proxy" and len(parts) >= 2 and os.path.isdir(os.path.join(ROOT, "proxy", parts[1]))):
        return "proxy::" + parts[1]
    return parts[0]


def graph():
    edges = {}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if not f.endswith(".rs") or f == "tests.rs":
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), ROOT)
            src = module_of(rel)
            if src is None:
                continue
            text = open(os.path.join(dirpath, f), encoding="utf-8").read()
            # Unit tests may reach anywhere.
            text = text.split("#[cfg(test)]")[0]
            edges.setdefault(src, set())
            paths = [m.group(1) for m in re.finditer(r"\b((?:crate|super)(?:::[a-z_][a-z0-9_]*)+)", text)]
            # `use super::{a, b::c}` and `use crate::proxy::{x, y}`: each item is a path too.
            for m in re.finditer(r"\b((?:crate|super)(?:::[a-z_][a-z0-9_]*)*)::\{([^}]*)\}", text):
                for item in m.group(2).split(","):
                    item = item.strip().split(" ")[0]
                    if re.match(r"[a-z_][a-z0-9_]*", item):
                        paths.append(m.group(1) + "::" + item)
            for path in paths:
                dst = resolve(src, rel, path)
                if dst and dst != src and not (src.startswith(dst + "::") and dst == "proxy"):
                    edges[src].add(dst)
    return edges


def cycles(edges):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def files():
    """Every Rust source file of the workspace and the fuzz crate."""
    for top in SOURCES:
        for dirpath, dirs, names in os.walk(os.path.join(REPO, top)):
            dirs[:] = [d for d in dirs if d not in ("target", "corpus")]
            for name in names:
                if name.endswith(".rs"):
                    yield os.path.join(dirpath, name)


def main():
    problems = []
    for path in sorted(files()):
        rel = os.path.relpath(path, REPO)
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        if len(lines) - 1 > MAX_LINES:
            problems.append(f"{rel}: {len(lines) - 1} lines, over {MAX_LINES}: split it")
        if not lines[0].startswith("//!"):
            problems.append(f"{rel}: no //! header saying what the file owns")
    for p in problems:
        print(p, file=sys.stderr)
    edges = graph()
    if "--print" in sys.argv:
        for src in sorted(edges):
            print(f"{src} -> {' '.join(sorted(edges[src]))}")
    found = cycles(edges)
    for c in found:
        print("import cycle: " + " -> ".join(c), file=sys.stderr)
    if found or problems:
        sys.exit(1)
    print(f"layout: {len(edges)} dataplane modules without an import cycle; every file under {MAX_LINES} lines with its header")


if __name__ == "__main__":
    main()
