//! Reading manifests from files: multi-document YAML (or JSON), as `kubectl apply -f` takes
//! them, into translation [`Inputs`]. Kinds translation does not read are skipped.

use std::path::{Path, PathBuf};

use kube::CustomResourceExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use k8s_openapi::api::networking::v1::{IngressClass, IngressClassSpec};

use crate::api::{Listener, SslProfile};
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

/// Without a cluster there is no IngressClass unless the files hold one: then the one the
/// chart creates (`portcullis`, of Portcullis's controller) is assumed, so that Ingresses
/// written for it are checked (`validate`) and served (`run`) as they would be in a cluster.
pub fn assume_chart_ingress_class(inputs: &mut Inputs) {
    if !inputs.ingress_classes.is_empty() || inputs.ingresses.is_empty() {
        return;
    }
    inputs.ingress_classes.push(IngressClass {
        metadata: kube::api::ObjectMeta {
            name: Some("portcullis".into()),
            ..Default::default()
        },
        spec: Some(IngressClassSpec {
            controller: Some(inputs.ingress_options.controller.clone()),
            parameters: None,
        }),
    });
}

/// The files [`load`] reads for `path`: the file itself, or a directory's `.yaml`, `.yml` and
/// `.json` files, sorted.
pub fn manifest_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
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
    match std::fs::read_to_string(file) {
        Ok(text) => add_text(file, &text, loaded),
        Err(e) => loaded.errors.push(format!("{}: {e}", file.display())),
    }
}

/// Reads the YAML documents of one file's `text` (named `origin` in errors), as [`load`] reads
/// each file.
pub fn load_text(origin: &Path, text: &str) -> Loaded {
    let mut loaded = Loaded {
        files: 1,
        ..Loaded::default()
    };
    add_text(origin, text, &mut loaded);
    loaded
}

fn add_text(file: &Path, text: &str, loaded: &mut Loaded) {
    // serde-saphyr's default budget stops at 1,024 documents and 250,000 nodes per file; a
    // rendered GitOps bundle of a large gateway has more. The limits that guard against
    // hostile YAML (aliases, anchors, nesting depth) stay at their defaults.
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: 65_536,
            max_nodes: 4_000_000,
            max_events: 16_000_000,
        },
    };
    let docs: Vec<Value> = match serde_saphyr::from_multiple_with_options(text, options) {
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
            check_fields::<SslProfile>(file, &doc, errors);
            push(file, doc, &mut inputs.ssl_profiles, errors)
        }
        ("portcullis.io/v1alpha1", "Listener") => {
            check_fields::<Listener>(file, &doc, errors);
            push(file, doc, &mut inputs.listeners, errors)
        }
        ("v1", "Secret") => push(file, doc, &mut inputs.secrets, errors),
        ("v1", "Service") => push(file, doc, &mut inputs.services, errors),
        ("discovery.k8s.io/v1", "EndpointSlice") => {
            push(file, doc, &mut inputs.endpoint_slices, errors)
        }
        ("networking.k8s.io/v1", "Ingress") => push(file, doc, &mut inputs.ingresses, errors),
        ("networking.k8s.io/v1", "IngressClass") => {
            push(file, doc, &mut inputs.ingress_classes, errors)
        }
        (_, "Ingress" | "IngressClass") => errors.push(format!(
            "{}: {kind} has apiVersion {api_version:?}, which Kubernetes 1.22 and later no longer serve; use networking.k8s.io/v1",
            file.display()
        )),
        (_, "SslProfile" | "Listener") => errors.push(format!(
            "{}: {kind} has apiVersion {api_version:?}; use portcullis.io/v1alpha1",
            file.display()
        )),
        _ => {}
    }
}

/// The OpenAPI schema of `K`'s CRD, generated once per kind: generating it costs about 2 ms,
/// which per object made a 1,400-object file take seconds to read.
fn schema_of<K: CustomResourceExt>() -> Option<std::sync::Arc<Value>> {
    static SCHEMAS: std::sync::Mutex<
        std::collections::BTreeMap<&'static str, std::sync::Arc<Value>>,
    > = std::sync::Mutex::new(std::collections::BTreeMap::new());
    let mut schemas = SCHEMAS.lock().ok()?;
    if let Some(schema) = schemas.get(K::crd_name()) {
        return Some(schema.clone());
    }
    let schema = std::sync::Arc::new(
        K::crd()
            .spec
            .versions
            .first()
            .and_then(|v| v.schema.as_ref())
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .and_then(|s| serde_json::to_value(s).ok())?,
    );
    schemas.insert(K::crd_name(), schema.clone());
    Some(schema)
}

/// Refuses fields the CRD schema does not know, as the API server's strict field validation
/// does: serde would silently drop a misspelt `verifyClientCertIssuerDn`, and with it a check
/// the user believes is on.
fn check_fields<K: CustomResourceExt>(file: &Path, doc: &Value, errors: &mut Vec<String>) {
    let Some(schema) = schema_of::<K>() else {
        return;
    };
    let mut unknown = Vec::new();
    // apiVersion, kind and metadata are the API server's own, not in the CRD schema.
    let mut body = doc.clone();
    if let Some(map) = body.as_object_mut() {
        for key in ["apiVersion", "kind", "metadata"] {
            map.remove(key);
        }
    }
    unknown_fields(&body, &schema, "", &mut unknown);
    let (kind, namespace, name) = identity(doc);
    for field in unknown {
        errors.push(format!(
            "{kind}/{namespace}/{name}: {field}: unknown field in {} (the API server refuses it too); check its spelling with `kubectl explain {}`",
            file.display(),
            kind.to_ascii_lowercase()
        ));
    }
}

/// Collects paths of object keys the schema does not declare. Objects whose schema declares no
/// `properties` (such as `metadata`) are free-form and not checked.
fn unknown_fields(value: &Value, schema: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let Some(props) = schema.get("properties") else {
                return;
            };
            for (key, child) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match props.get(key) {
                    Some(s) => unknown_fields(child, s, &child_path, out),
                    None => out.push(child_path),
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    unknown_fields(item, s, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// `(kind, namespace, name)` of a document, for messages.
fn identity(doc: &Value) -> (String, String, String) {
    let text =
        |v: Option<&Value>, default: &str| v.and_then(Value::as_str).unwrap_or(default).to_owned();
    let meta = doc.get("metadata");
    (
        text(doc.get("kind"), "?"),
        text(meta.and_then(|m| m.get("namespace")), "default"),
        text(meta.and_then(|m| m.get("name")), "?"),
    )
}

fn push<K: DeserializeOwned>(file: &Path, doc: Value, into: &mut Vec<K>, errors: &mut Vec<String>) {
    let (kind, namespace, name) = identity(&doc);
    match serde_json::from_value(doc) {
        Ok(obj) => into.push(obj),
        Err(e) => errors.push(format!(
            "{kind}/{namespace}/{name}: cannot be read from {}: {e}",
            file.display()
        )),
    }
}
