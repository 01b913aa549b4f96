//! `portcullis inspect-ca FILE`: answers "which certificate do I upload?" for one bundle file.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use dataplane::pki::{CertificateInfo, TrustBundle};
use dataplane::time::rfc3339;

/// Prints the bundle's certificates, chains, issuer DN, warnings and problems.
pub fn run(file: &Path) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let ins = TrustBundle::inspect(&bytes);
    let name = file.display();
    let format = if dataplane::pki::pem::looks_like_pem(&bytes) {
        "PEM"
    } else {
        "DER"
    };
    println!("bundle: {name} ({} bytes, {format})", ins.size);
    for (n, cert) in ins.certificates.iter().enumerate() {
        let role = match (cert.is_ca, cert.is_self_issued()) {
            (true, true) => "root CA",
            (true, false) => "intermediate CA",
            (false, _) => "leaf (not a CA: ignored)",
        };
        println!("certificate {}: {role}", n + 1);
        print_certificate(cert);
    }
    for (n, chain) in ins.chains.iter().enumerate() {
        let subjects: Vec<String> = chain
            .iter()
            .map(|&i| ins.certificates[i].subject.to_string())
            .collect();
        println!("chain {}: {}", n + 1, subjects.join(" -> "));
    }
    for warning in &ins.warnings {
        println!("warning: {name}: {warning} ({})", warning.reason());
    }
    for problem in &ins.problems {
        println!("error: {name} {problem} ({})", problem.reason());
    }
    if ins.problems.is_empty() {
        if let Some(i) = ins.issuer_dn {
            println!("issuer DN: {}", ins.certificates[i].subject);
        }
        println!("verdict: accepted ({} chain(s))", ins.chains.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("verdict: refused");
        Ok(ExitCode::FAILURE)
    }
}

fn print_certificate(cert: &CertificateInfo) {
    println!("  subject:  {}", cert.subject);
    println!("  issuer:   {}", cert.issuer);
    let now = jiff::Timestamp::now().as_second();
    let note = if cert.not_after < now {
        " (EXPIRED)"
    } else if cert.not_before > now {
        " (NOT YET VALID)"
    } else {
        ""
    };
    println!(
        "  valid:    {} to {}{note}",
        rfc3339(cert.not_before),
        rfc3339(cert.not_after)
    );
    println!("  serial:   {}", cert.serial_hex);
    println!("  sha1:     {}", cert.sha1_fingerprint());
    println!("  sha256:   {}", cert.sha256_fingerprint());
}
