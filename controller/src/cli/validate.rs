//! `portcullis validate -f PATH...`: the controller's rules, offline, for GitOps CI.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::manifests;
use crate::translate::{Severity, translate};

/// Prints each problem as `<Kind>/<namespace>/<name>: <field>: <message>`; exit 1 on any error.
pub fn run(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let loaded = manifests::load(paths);
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
    println!(
        "checked {} file(s): {} SslProfile(s), {} Listener(s), {} Secret(s), {} Service(s), {} EndpointSlice(s): {errors} error(s), {warnings} warning(s)",
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
