//! Reading manifests from files: multi-document YAML (or JSON), as `kubectl apply -f` takes
//! them, into translation [`Inputs`]. Kinds translation does not read are skipped.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::translate::Inputs;

/// What was read, and what could not be.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The objects.
    pub inputs: Inputs,
    /// Files or objects that could not be read, one sentence each.
    pub errors: Vec<String>,
    /// How many files were read.
    pub files: usize,
}

/// Reads files and directories (their `.yaml`, `.yml` and `.json` files, not recursing).
pub fn load(paths: &[PathBuf]) -> Loaded {
    let mut loaded = Loaded::default();
    for path in paths {
        match manifest_files(path) {
            Ok(files) => {
                for file in files {
                    load_file(&file, &mut loaded);
                }
            }
            Err(e) => loaded.errors.push(format!("{}: {e}", path.display())),
        }
    }
    loaded
}

fn manifest_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        // Surface a missing file as an error now rather than later.
        std::fs::metadata(path)?;
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                )
        })
        .collect();
    files.sort();
    Ok(files)
}

fn load_file(file: &Path, loaded: &mut Loaded) {
    loaded.files += 1;
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return loaded.errors.push(format!("{}: {e}", file.display())),
    };
    let docs: Vec<Value> = match serde_saphyr::from_multiple(&text) {
        Ok(d) => d,
        Err(e) => {
            return loaded
                .errors
                .push(format!("{}: not valid YAML: {e}", file.display()));
        }
    };
    for doc in docs {
        add_object(file, doc, loaded);
    }
}

fn add_object(file: &Path, doc: Value, loaded: &mut Loaded) {
    if doc.is_null() {
        return;
    }
    let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    let inputs = &mut loaded.inputs;
    let errors = &mut loaded.errors;
    match (api_version, kind) {
        ("v1", "List") => {
            let items = doc
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for item in items {
                add_object(file, item, loaded);
            }
        }
        ("portcullis.io/v1alpha1", "SslProfile") => {
            push(file, doc, &mut inputs.ssl_profiles, errors)
        }
        ("portcullis.io/v1alpha1", "Listener") => push(file, doc, &mut inputs.listeners, errors),
        ("v1", "Secret") => push(file, doc, &mut inputs.secrets, errors),
        ("v1", "Service") => push(file, doc, &mut inputs.services, errors),
        ("discovery.k8s.io/v1", "EndpointSlice") => {
            push(file, doc, &mut inputs.endpoint_slices, errors)
        }
        (_, "SslProfile" | "Listener") => errors.push(format!(
            "{}: {kind} has apiVersion {api_version:?}; use portcullis.io/v1alpha1",
            file.display()
        )),
        _ => {}
    }
}

fn push<K: DeserializeOwned>(file: &Path, doc: Value, into: &mut Vec<K>, errors: &mut Vec<String>) {
    let kind = doc
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned();
    let meta = doc.get("metadata");
    let namespace = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_owned();
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned();
    match serde_json::from_value(doc) {
        Ok(obj) => into.push(obj),
        Err(e) => errors.push(format!(
            "{kind}/{namespace}/{name}: cannot be read from {}: {e}",
            file.display()
        )),
    }
}
