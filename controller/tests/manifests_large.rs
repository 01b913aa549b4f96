//! A large rendered bundle — one file with more documents than the YAML library's default
//! budget allows (1,024) — loads completely, with every Listener schema-checked.

use std::fmt::Write as _;

use controller::manifests;

#[test]
fn a_file_of_1500_documents_loads() {
    let mut yaml = String::new();
    for i in 0..1_500 {
        let _ = write!(
            yaml,
            "---\napiVersion: portcullis.io/v1alpha1\nkind: Listener\nmetadata: {{name: l-{i}, namespace: default}}\nspec:\n  protocol: HTTP\n  port: 8080\n  hostnames: [h{i}.example.com]\n  rules: [{{backend: {{service: echo, port: 80}}}}]\n"
        );
    }
    // One misspelt field among them is still found.
    yaml.push_str("---\napiVersion: portcullis.io/v1alpha1\nkind: Listener\nmetadata: {name: typo, namespace: default}\nspec:\n  protocol: HTTP\n  port: 8080\n  hostname: [typo.example.com]\n  rules: [{backend: {service: echo, port: 80}}]\n");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bundle.yaml");
    std::fs::write(&file, yaml).expect("write bundle");
    let loaded = manifests::load(&[file]);
    assert_eq!(loaded.inputs.listeners.len(), 1_501, "{:?}", loaded.errors);
    assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors);
    assert!(
        loaded.errors[0].contains("Listener/default/typo") && loaded.errors[0].contains("hostname"),
        "{:?}",
        loaded.errors
    );
}
