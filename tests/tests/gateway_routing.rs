//! Routing: exact and prefix paths on segment boundaries, wildcard hosts, round robin over
//! endpoints, HTTPS backends verified against their own CA (HTTP/2 by ALPN), and the status
//! a client gets when a backend cannot answer.

use portcullis_tests::backend::EchoBackend;
use portcullis_tests::client::curl;
use portcullis_tests::gateway::{Standalone, free_port};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::Ca;
use serde_json::{Value, json};

fn service(name: &str, target: u16, addresses: &[&str]) -> [Value; 2] {
    [
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
               "spec": {"ports": [{"port": 80, "targetPort": target}]}}),
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": format!("{name}-1"), "namespace": "default",
                            "labels": {"kubernetes.io/service-name": name}},
               "addressType": "IPv4",
               "endpoints": addresses.iter().map(|a| json!({"addresses": [a]})).collect::<Vec<_>>(),
               "ports": [{"port": target}]}),
    ]
}

fn rule(path_type: &str, path: &str, svc: &str, settings: Option<Value>) -> Value {
    let mut r = json!({"matches": [{"path": {"type": path_type, "value": path}}], "backend": {"service": svc, "port": 80}});
    if let Some(s) = settings {
        r["backendSettings"] = s;
    }
    r
}

#[test]
fn routes_pick_backends_and_failures_have_clear_statuses() {
    let a = EchoBackend::start();
    let a2 = EchoBackend::start_on(
        format!("127.0.0.2:{}", a.addr.port())
            .parse()
            .expect("addr"),
        None,
    );
    let b = EchoBackend::start();
    let backend_ca = Ca::root("Backend Root");
    let cert = backend_ca.server(&["echo.internal"]);
    let c = EchoBackend::start_on(
        "127.0.0.1:0".parse().expect("addr"),
        Some((cert.pem(), cert.key_pem().to_owned())),
    );
    let dead_port = free_port();
    let port = free_port();

    let https = |trust: &str| {
        Some(
            json!({"protocol": "HTTPS", "trustedRootCertificates": [{"name": trust}], "hostName": "echo.internal"}),
        )
    };
    let listener = json!({"apiVersion": "portcullis.io/v1alpha1", "kind": "Listener",
    "metadata": {"name": "app", "namespace": "default"},
    "spec": {"protocol": "HTTP", "port": port, "hostnames": ["app.example", "*.wild.example"], "rules": [
        rule("Exact", "/api/exact", "svc-b", None),
        {"matches": [{"host": "x.wild.example"}], "backend": {"service": "svc-b", "port": 80}},
        rule("PathPrefix", "/api", "svc-a", None),
        rule("PathPrefix", "/tls-wrong", "svc-c", https("other-ca")),
        rule("PathPrefix", "/tls", "svc-c", https("backend-ca")),
        rule("PathPrefix", "/empty", "svc-empty", None),
        rule("PathPrefix", "/dead", "svc-dead", None),
        rule("PathPrefix", "/half", "svc-half", None),
        rule("PathPrefix", "/all-dead", "svc-all-dead", None),
        rule("PathPrefix", "/sleep", "svc-a", Some(json!({"requestTimeoutSeconds": 1}))),
    ]}});
    let mut m = Manifests::new()
        .with(listener)
        .ca_secret("default", "backend-ca", backend_ca.pem().as_bytes())
        .ca_secret("default", "other-ca", Ca::root("Other Root").pem().as_bytes())
        .with(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc-empty", "namespace": "default"},
                     "spec": {"ports": [{"port": 80, "targetPort": 1}]}}));
    for doc in [
        service("svc-a", a.addr.port(), &["127.0.0.1", "127.0.0.2"]),
        service("svc-b", b.addr.port(), &["127.0.0.1"]),
        service("svc-c", c.addr.port(), &["127.0.0.1"]),
        service("svc-dead", dead_port, &["127.0.0.1"]),
        // 127.0.0.3 has nothing on a's port: connections to it are refused.
        service("svc-half", a.addr.port(), &["127.0.0.1", "127.0.0.3"]),
        service("svc-all-dead", dead_port, &["127.0.0.3", "127.0.0.4"]),
    ]
    .into_iter()
    .flatten()
    {
        m = m.with(doc);
    }
    let dir = tempfile::tempdir().expect("dir");
    m.write(dir.path());
    let gw = Standalone::start(dir.path(), &[port]);

    let request = |host: &str, path: &str, extra: &[&str]| -> (u16, Value) {
        let mut args = vec![
            "-H".to_owned(),
            format!("Host: {host}"),
            "-w".into(),
            "\n%{http_code}".into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        args.push(format!("http://127.0.0.1:{port}{path}"));
        let (_, out, _) = curl(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let (body, code) = out.rsplit_once('\n').unwrap_or(("", "0"));
        (
            code.parse().unwrap_or(0),
            serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())),
        )
    };
    let get = |host: &str, path: &str| request(host, path, &[]);
    let server = |v: &Value| v["server"].as_str().unwrap_or_default().to_owned();

    let (code, v) = get("app.example", "/api/exact");
    assert_eq!(
        (code, server(&v)),
        (200, b.addr.to_string()),
        "Exact match goes to svc-b: {v}\n{}",
        gw.stderr()
    );
    let (code, v) = get("app.example", "/api/exact/more");
    assert_eq!(code, 200);
    assert_ne!(
        server(&v),
        b.addr.to_string(),
        "Exact must not match a longer path"
    );
    assert_eq!(
        get("app.example", "/apix").0,
        404,
        "a prefix matches whole segments only"
    );
    assert_eq!(
        server(&get("x.wild.example", "/anything").1),
        b.addr.to_string(),
        "wildcard host rule"
    );
    assert_eq!(
        get("y.z.wild.example", "/api").0,
        404,
        "a wildcard covers exactly one label"
    );

    let seen: std::collections::BTreeSet<String> = (0..4)
        .map(|_| server(&get("app.example", "/api/v1").1))
        .collect();
    assert_eq!(
        seen,
        [a.addr.to_string(), a2.addr.to_string()]
            .into_iter()
            .collect(),
        "round robin over both endpoints"
    );

    let (code, v) = get("app.example", "/tls");
    assert_eq!(
        code,
        200,
        "HTTPS backend verified against its CA with SNI echo.internal: {v}\n{}",
        gw.access_log()
    );
    assert_eq!(v["version"], "HTTP/2.0", "HTTP/2 to the backend by ALPN");
    assert_eq!(v["headers"]["host"], "echo.internal", "host override");
    assert_eq!(
        get("app.example", "/tls-wrong").0,
        502,
        "a backend certificate from another CA is refused"
    );
    assert_eq!(get("app.example", "/empty").0, 503);
    assert_eq!(get("app.example", "/dead").0, 502);
    assert_eq!(get("app.example", "/sleep/3000").0, 504);

    // One endpoint of two refuses connections: requests that can be replayed (idempotent,
    // no body) go to the other and all succeed; a POST with a body is never sent twice, so
    // those that drew the dead endpoint get 502.
    for i in 0..6 {
        let (code, v) = get("app.example", "/half");
        assert_eq!(
            (i, code, server(&v)),
            (i, 200, a.addr.to_string()),
            "{}",
            gw.access_log()
        );
    }
    let posts: Vec<u16> = (0..4)
        .map(|_| request("app.example", "/half", &["-d", "payload"]).0)
        .collect();
    assert!(
        posts.contains(&200) && posts.contains(&502),
        "POSTs through half-dead endpoints: {posts:?}"
    );
    // Every endpoint dead: each is tried once, then 502.
    assert_eq!(get("app.example", "/all-dead").0, 502);

    // Connections to a plain-HTTP backend are kept and reused: one after another, requests
    // arrive on the same connection, after an empty answer (HEAD) and after a streamed body
    // read to its end too.
    let client = |v: &Value| v["client"].as_str().unwrap_or_default().to_owned();
    let first = client(&get("x.wild.example", "/reuse").1);
    assert!(!first.is_empty(), "the backend reports the connection");
    assert_eq!(request("x.wild.example", "/reuse", &["-I"]).0, 200);
    let (code, _) = request("x.wild.example", "/stream/200000", &["-o", "/dev/null"]);
    assert_eq!(code, 200);
    for i in 0..5 {
        assert_eq!(
            (i, client(&get("x.wild.example", "/reuse").1)),
            (i, first.clone())
        );
    }
}

/// A backend that answers `/early` before reading the request body, then reads it: the
/// connection stays busy sending that body after its answer has been read. Another request
/// must not wait for it: the gateway waits a moment for a pooled connection to be ready and
/// then takes another.
#[test]
fn a_connection_still_sending_a_body_is_not_waited_for() {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let backend_port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(16).flatten() {
            std::thread::spawn(move || {
                let mut out = stream.try_clone().expect("clone");
                let mut input = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if input.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
                    let mut length = 0u64;
                    loop {
                        let mut h = String::new();
                        if input.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{path}",
                        path.len()
                    );
                    let mut body = (&mut input).take(length);
                    if path == "/early" {
                        let _ = out.write_all(answer.as_bytes());
                        let _ = std::io::copy(&mut body, &mut std::io::sink());
                    } else {
                        let _ = std::io::copy(&mut body, &mut std::io::sink());
                        let _ = out.write_all(answer.as_bytes());
                    }
                }
            });
        }
    });
    let port = free_port();
    let listener = json!({"apiVersion": "portcullis.io/v1alpha1", "kind": "Listener",
        "metadata": {"name": "app", "namespace": "default"},
        "spec": {"protocol": "HTTP", "port": port, "hostnames": ["app.example"],
                 "rules": [rule("PathPrefix", "/", "svc", None)]}});
    let mut m = Manifests::new().with(listener);
    for doc in service("svc", backend_port, &["127.0.0.1"]) {
        m = m.with(doc);
    }
    let dir = tempfile::tempdir().expect("dir");
    m.write(dir.path());
    let body = dir.path().join("upload");
    std::fs::write(&body, vec![b'a'; 300_000]).expect("upload file");
    let gw = Standalone::start(dir.path(), &[port]);
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    // 300 KB at 50 KB/s: the upload lasts about 6 s, its answer comes at once.
    let upload = std::thread::spawn({
        let (url, body) = (url("/early"), format!("@{}", body.display()));
        move || {
            let args = [
                "-H",
                "Host: app.example",
                "-H",
                "Expect:",
                "--limit-rate",
                "50k",
                "--data-binary",
                &body,
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &url,
            ];
            curl(&args).1
        }
    });
    std::thread::sleep(std::time::Duration::from_secs(1));
    let started = std::time::Instant::now();
    let (_, out, _) = curl(&[
        "-H",
        "Host: app.example",
        "-w",
        " %{http_code}",
        &url("/next"),
    ]);
    let waited = started.elapsed();
    assert_eq!(out, "/next 200", "{}", gw.access_log());
    assert!(
        waited < std::time::Duration::from_millis(2_000),
        "the request waited {waited:?} for a connection busy with another upload"
    );
    assert_eq!(upload.join().expect("upload"), "200");
}
