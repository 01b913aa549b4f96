//! The documentation kept true by tests: `docs/api-reference.md` is generated from the CRDs
//! (a mismatch fails; `PORTCULLIS_BLESS=1` rewrites it), `docs/troubleshooting.md` explains
//! every status and refusal reason the code can produce, and every relative link in the docs
//! and examples README resolves.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// One table row per field, depth first, with its type, limits and description.
fn fields(node: &Value, path: &str, out: &mut String) {
    let mut ty = node["type"].as_str().unwrap_or("object").to_owned();
    if node.get("x-kubernetes-int-or-string").is_some() {
        ty = "integer or string".into();
    }
    if ty == "array" {
        let item = node["items"]["type"].as_str().unwrap_or("object");
        ty = format!("array of {item}");
    }
    let mut notes = Vec::new();
    if let Some(values) = node["enum"].as_array().or(node["items"]["enum"].as_array()) {
        let names: Vec<String> = values
            .iter()
            .map(|v| format!("`{}`", v.as_str().unwrap_or("?")))
            .collect();
        notes.push(format!("one of {}", names.join(", ")));
    }
    for (key, label) in [
        ("default", "default"),
        ("minimum", "min"),
        ("maximum", "max"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("pattern", "pattern"),
    ] {
        if let Some(v) = node.get(key) {
            notes.push(format!("{label} `{v}`"));
        }
    }
    if let Some(v) = node["items"].get("maxLength") {
        notes.push(format!("each max length `{v}`"));
    }
    if let Some(v) = node["items"].get("pattern") {
        notes.push(format!("each pattern `{v}`"));
    }
    if let Some(required) = node["required"].as_array() {
        let names: Vec<String> = required
            .iter()
            .map(|v| format!("`{}`", v.as_str().unwrap_or("?")))
            .collect();
        notes.push(format!("requires {}", names.join(", ")));
    }
    let description = node["description"]
        .as_str()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|");
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; ").replace('|', "\\|"))
    };
    let _ = writeln!(out, "| `{path}` | {ty} | {description}{notes} |");
    let children = if ty.starts_with("array") {
        (&node["items"]["properties"], format!("{path}[]"))
    } else {
        (&node["properties"], path.to_owned())
    };
    if let Some(props) = children.0.as_object() {
        for (name, child) in props {
            fields(child, &format!("{}.{name}", children.1), out);
        }
    }
}

fn api_reference() -> String {
    let crds: Vec<Value> =
        serde_saphyr::from_multiple(&read(&repo().join("crds/portcullis.io.yaml")))
            .expect("parse CRDs");
    let mut out = String::from(
        "# API reference\n\n\
         Generated from the CRDs in `crds/portcullis.io.yaml` (themselves generated from the Rust\n\
         types by `portcullis crds`). Do not edit: `PORTCULLIS_BLESS=1 cargo test -p\n\
         portcullis-tests --test docs` rewrites this file; the test fails when it drifts.\n\n\
         `kubectl explain sslprofile.spec.clientAuthConfiguration` shows the same descriptions in a\n\
         cluster. What each status reason means and what to do about it: [troubleshooting](troubleshooting.md).\n",
    );
    for crd in &crds {
        let spec = &crd["spec"];
        let kind = spec["names"]["kind"].as_str().unwrap_or("?");
        for version in spec["versions"].as_array().into_iter().flatten() {
            let name = version["name"].as_str().unwrap_or("?");
            let schema = &version["schema"]["openAPIV3Schema"];
            let _ = writeln!(
                out,
                "\n## {kind} (`{}/{name}`)\n",
                spec["group"].as_str().unwrap_or("?")
            );
            let scope = spec["scope"].as_str().unwrap_or("?");
            let short: Vec<&str> = spec["names"]["shortNames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let _ = writeln!(
                out,
                "{}\n\n{scope}; plural `{}`{}.\n",
                schema["description"].as_str().unwrap_or("").trim(),
                spec["names"]["plural"].as_str().unwrap_or("?"),
                if short.is_empty() {
                    String::new()
                } else {
                    format!(", short names `{}`", short.join("`, `"))
                }
            );
            out.push_str("| Field | Type | Description |\n|---|---|---|\n");
            for part in ["spec", "status"] {
                if schema["properties"].get(part).is_some() {
                    fields(&schema["properties"][part], part, &mut out);
                }
            }
        }
    }
    out
}

#[test]
fn the_api_reference_is_generated_from_the_crds() {
    let path = repo().join("docs/api-reference.md");
    let generated = api_reference();
    if std::env::var_os("PORTCULLIS_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write api reference");
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == generated,
        "docs/api-reference.md is not what the CRDs generate: run PORTCULLIS_BLESS=1 cargo test -p portcullis-tests --test docs"
    );
    for field in [
        "spec.clientAuthConfiguration.mode",
        "spec.rules[].requireClientCertificate",
        "status.trustedChains[].notAfter",
    ] {
        assert!(generated.contains(&format!("| `{field}` |")), "{field}");
    }
}

#[test]
fn relative_links_in_the_docs_resolve() {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.extend([
        repo().join("README.md"),
        repo().join("examples/README.md"),
        repo().join("charts/portcullis/README.md"),
    ]);
    let mut broken = Vec::new();
    for page in &pages {
        let text = read(page);
        for (at, _) in text.match_indices("](") {
            let target: String = text[at + 2..].chars().take_while(|c| *c != ')').collect();
            let target = target.split('#').next().unwrap_or("");
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let resolved = page.parent().expect("parent").join(target);
            if !resolved.exists() {
                broken.push(format!("{}: {target}", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links: {broken:#?}");
}
