//! How long a large configuration takes to apply: `hostnames` Listeners (one hostname each,
//! one port) spread over SslProfiles trusting `chains` client CA chains (root and
//! intermediate each, one Secret per chain), read from YAML as `portcullis run` reads it.
//! Times, separately, reading and translating the manifests and compiling the snapshot
//! into serving state (`Gateway::apply`: every rustls config, verifier, CRL index and backend
//! pool) — the latter is what a pushed snapshot costs a dataplane.

use std::fmt::Write as _;
use std::time::Instant;

use base64::Engine as _;

use crate::pki::Alg;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Writes the manifests, then applies them `rounds` times; prints the medians as JSON.
pub fn run(hostnames: usize, chains: usize, rounds: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut yaml = String::new();
    // One server certificate for *.bench.example serves every hostname.
    let (server_pem, server_key) = crate::pki::server_for(Alg::Ecdsa, "*.bench.example")?;
    write!(
        yaml,
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: server, namespace: default}}\ntype: kubernetes.io/tls\ndata: {{tls.crt: {}, tls.key: {}}}\n",
        b64(&server_pem),
        b64(&server_key)
    )?;
    for c in 0..chains {
        let bundle = crate::pki::ca_chain(Alg::Ecdsa, &format!("Bench CA {c}"))?;
        write!(
            yaml,
            "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: ca-{c}, namespace: default}}\ntype: Opaque\ndata: {{ca.crt: {}}}\n---\napiVersion: portcullis.io/v1alpha1\nkind: SslProfile\nmetadata: {{name: profile-{c}, namespace: default}}\nspec:\n  clientAuthConfiguration:\n    mode: Required\n    trustedClientCertificates: [{{name: ca-{c}}}]\n",
            b64(&bundle)
        )?;
    }
    for h in 0..hostnames {
        write!(
            yaml,
            "---\napiVersion: portcullis.io/v1alpha1\nkind: Listener\nmetadata: {{name: l-{h}, namespace: default}}\nspec:\n  protocol: HTTPS\n  port: 8443\n  hostnames: [h{h}.bench.example]\n  sslCertificate: {{name: server}}\n  sslProfile: {{name: profile-{}}}\n  rules: [{{backend: {{service: backend, port: 80}}}}]\n",
            h % chains.max(1)
        )?;
    }
    yaml.push_str("---\napiVersion: v1\nkind: Service\nmetadata: {name: backend, namespace: default}\nspec: {ports: [{port: 80, targetPort: 9080}]}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: backend-1, namespace: default, labels: {kubernetes.io/service-name: backend}}\naddressType: IPv4\nendpoints: [{addresses: [\"127.0.0.1\"], conditions: {ready: true}}]\nports: [{port: 9080}]\n");
    std::fs::write(dir.path().join("bench.yaml"), &yaml)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _guard = runtime.enter();
    let gateway = dataplane::proxy::Gateway::new(dataplane::proxy::GatewayOptions {
        bind: std::net::Ipv4Addr::LOCALHOST.into(),
        access_log: false,
        limits: Default::default(),
    });
    let (mut read_ms, mut translate_ms, mut apply_ms) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        let loaded = controller::manifests::load(&[dir.path().to_path_buf()]);
        read_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let translation = controller::translate::translate(&loaded.inputs, jiff::Timestamp::now());
        translate_ms.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(
            loaded.errors.is_empty() && !translation.has_errors(),
            "the generated configuration is invalid: {:?} {:?}",
            loaded.errors,
            translation.diagnostics.first().map(ToString::to_string)
        );
        anyhow::ensure!(
            translation
                .snapshot
                .ports
                .iter()
                .map(|p| p.servers.len())
                .sum::<usize>()
                == hostnames,
            "expected {hostnames} virtual servers"
        );
        let t = Instant::now();
        gateway
            .apply(&translation.snapshot)
            .map_err(|e| anyhow::anyhow!("apply: {e}"))?;
        apply_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (read, translate, apply) = (
        median(&mut read_ms),
        median(&mut translate_ms),
        median(&mut apply_ms),
    );
    eprintln!(
        "{hostnames} hostnames, {chains} chains ({} KiB of YAML): read {read:.1} ms, translate {translate:.1} ms, apply (compile to serving state) {apply:.1} ms (medians of {rounds})",
        yaml.len() / 1024
    );
    println!(
        "{}",
        serde_json::json!({"kind": "apply", "hostnames": hostnames, "chains": chains,
            "read_ms": read, "translate_ms": translate, "apply_ms": apply})
    );
    Ok(())
}
