//! The oracle: real nginx, configured for each Ingress of the table as ingress-nginx's
//! template configures a server (rootfs/etc/nginx/template/nginx.tmpl: `ssl_client_certificate`,
//! `ssl_verify_client`, `ssl_verify_depth`, `ssl_crl`, `error_page 495 496 =`, the
//! `auth-tls-match-cn` `if`, `proxy_set_header ssl-client-*`), asked the same rows with the
//! same clients. The table's expectations are then nginx's behaviour, not only what its
//! documentation says.

use std::process::{Command, Stdio};
use std::time::Duration;

use portcullis_tests::backend::EchoBackend;
use portcullis_tests::gateway::{KillOnDrop, Standalone, free_port};

use super::rows;
use super::support::https_get;
use super::world::{World, ingresses};

/// ingress-nginx's defaults (internal/ingress/annotations/authtls/main.go).
const DEFAULT_VERIFY: &str = "on";
const DEFAULT_DEPTH: &str = "1";

/// The `server` block ingress-nginx renders for `host` with `annotations`.
fn server(host: &str, annotations: &[(&str, &str)], port: u16, backend: u16) -> String {
    let get = |name: &str| {
        annotations
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    };
    let mut out = format!(
        "server {{\n listen 127.0.0.1:{port} ssl;\n server_name {host};\n ssl_certificate server.pem;\n ssl_certificate_key server.key;\n"
    );
    let mut headers = String::new();
    if let Some(cn) = get("auth-tls-match-cn") {
        out.push_str(&format!(
            " if ( $ssl_client_s_dn !~ \"{cn}\" ) {{ return 403 \"client certificate unauthorized\"; }}\n"
        ));
    }
    if let Some(secret) = get("auth-tls-secret") {
        let name = secret.split_once('/').map_or(secret, |(_, n)| n);
        out.push_str(&format!(
            " ssl_client_certificate {name}.crt;\n ssl_verify_client {};\n ssl_verify_depth {};\n",
            get("auth-tls-verify-client").unwrap_or(DEFAULT_VERIFY),
            match get("auth-tls-verify-depth") {
                Some("0") | None => DEFAULT_DEPTH,
                Some(d) => d,
            },
        ));
        // The Secrets of the table with a ca.crl key.
        if name == "devices-ca" {
            out.push_str(&format!(" ssl_crl {name}.crl;\n"));
        }
        if let Some(page) = get("auth-tls-error-page") {
            out.push_str(&format!(" error_page 495 496 = {page};\n"));
        }
        if get("auth-tls-pass-certificate-to-upstream") == Some("true") {
            headers.push_str("  proxy_set_header ssl-client-cert $ssl_client_escaped_cert;\n");
        }
        headers.push_str("  proxy_set_header ssl-client-verify $ssl_client_verify;\n  proxy_set_header ssl-client-subject-dn $ssl_client_s_dn;\n  proxy_set_header ssl-client-issuer-dn $ssl_client_i_dn;\n");
    }
    out.push_str(&format!(
        " location / {{\n  proxy_pass http://127.0.0.1:{backend};\n{headers} }}\n}}\n"
    ));
    out
}

#[test]
fn real_nginx_configured_as_ingress_nginx_answers_as_the_table_says() {
    let backend = EchoBackend::start();
    let w = World::new(backend.addr.port());
    let dir = tempfile::tempdir().expect("dir");
    let write =
        |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("write");
    write("server.pem", &w.server.pem());
    write("server.key", w.server.key_pem());
    write("server-root.pem", &w.server_root.pem());
    write("devices-ca.crt", &w.devices_chain);
    write("devices-ca.crl", &w.devices_crls);
    write("deep-ca.crt", &w.deep_chain);
    write("devices-ca-plain.crt", &w.devices_chain);
    let port = free_port();
    let servers: String = ingresses()
        .iter()
        .map(|(host, annotations)| server(host, annotations, port, backend.addr.port()))
        .collect();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid nginx.pid;\nerror_log error.log;\nevents {{}}\nhttp {{\n access_log off;\n{servers}}}\n"
    );
    write("nginx.conf", &conf);
    let nginx = KillOnDrop(
        Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .args(["-e", "error.log", "-c", "nginx.conf"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx (the test command installs it)"),
    );
    let log = || std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
    assert!(
        Standalone::eventually(Duration::from_secs(10), || std::net::TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "nginx did not start:\n{}\n{conf}",
        log()
    );
    let root = dir.path().join("server-root.pem");
    let get = https_get(port, &root);
    // Every row but Portcullis's own (a conflict ingress-nginx resolved silently).
    let failures = rows::check(&w, &get, &|host| host != "conflict.example");
    assert!(
        failures.is_empty(),
        "nginx disagrees with the table:\n{}\n{}",
        failures.join("\n"),
        log()
    );
    rows::check_headers(&w, &get);
    drop(nginx);
}
