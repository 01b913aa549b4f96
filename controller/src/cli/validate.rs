//! `portcullis validate -f PATH...`: the controller's rules, offline, for GitOps CI.

use std::path::PathBuf;
use std::process::ExitCode;

use kube::ResourceExt;

use crate::manifests;
use crate::translate::{IngressOptions, Severity, translate};

/// Prints each problem as `<Kind>/<namespace>/<name>: <field>: <message>`, and each served
/// Ingress with none as `Ingress/<namespace>/<name>: served as written`; exit 1 on any error.
pub fn run(paths: &[PathBuf], ingress: IngressOptions) -> anyhow::Result<ExitCode> {
    let mut loaded = manifests::load(paths);
    loaded.inputs.ingress_options = ingress;
    manifests::assume_chart_ingress_class(&mut loaded.inputs);
    let translation = translate(&loaded.inputs, jiff::Timestamp::now());
    for e in &loaded.errors {
        println!("{e}");
    }
    let mut errors = loaded.errors.len();
    let mut warnings = 0;
    for d in &translation.diagnostics {
        match d.severity {
            Severity::Error => {
                errors += 1;
                println!("{d}");
            }
            Severity::Warning => {
                warnings += 1;
                println!("warning: {d}");
            }
        }
    }
    let i = &loaded.inputs;
    // For a migration: the Ingresses that carry over exactly, with nothing to say about them.
    for ing in crate::translate::served_ingresses(i) {
        let (namespace, name) = (crate::translate::namespace_of(ing), ing.name_any());
        let said = translation.diagnostics.iter().any(|d| {
            d.object.kind == "Ingress" && d.object.namespace == namespace && d.object.name == name
        });
        if !said {
            println!("Ingress/{namespace}/{name}: served as written");
        }
    }
    // Ingress counts only where there are any: most users of SslProfiles have none.
    let ingresses = if i.ingresses.is_empty() && i.ingress_classes.is_empty() {
        String::new()
    } else {
        let served = crate::translate::served_ingresses(i).count();
        format!(
            "{} Ingress(es) ({served} served, {} of other classes left alone), {} IngressClass(es), ",
            i.ingresses.len(),
            i.ingresses.len() - served,
            i.ingress_classes.len()
        )
    };
    println!(
        "checked {} file(s): {} SslProfile(s), {} Listener(s), {ingresses}{} Secret(s), {} Service(s), {} EndpointSlice(s): {errors} error(s), {warnings} warning(s)",
        loaded.files,
        i.ssl_profiles.len(),
        i.listeners.len(),
        i.secrets.len(),
        i.services.len(),
        i.endpoint_slices.len()
    );
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
