//! `portcullis validate -f PATH...`: the controller's rules, offline, for GitOps CI.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::manifests;
use crate::translate::{IngressOptions, Severity, translate};

/// Prints each problem as `<Kind>/<namespace>/<name>: <field>: <message>`; exit 1 on any error.
pub fn run(paths: &[PathBuf], ingress: IngressOptions) -> anyhow::Result<ExitCode> {
    let mut loaded = manifests::load(paths);
    loaded.inputs.ingress_options = ingress;
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
