//! Real TLS clients against the gateway: an in-process rustls client, and curl.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// A client certificate chain (leaf first) and key, PEM.
pub struct Identity<'a> {
    /// Leaf, then intermediates.
    pub chain_pem: &'a str,
    /// The leaf's private key.
    pub key_pem: &'a str,
}

/// One HTTP/1.1 request over rustls: returns (status, body) or the TLS/IO error.
pub fn rustls_get(
    port: u16,
    sni: &str,
    path: &str,
    root_pem: &str,
    id: Option<Identity<'_>>,
) -> Result<(u16, String), String> {
    let config = rustls_config(root_pem, id)?;
    rustls_request(&config, port, sni, path).map(|(status, body, _)| (status, body))
}

/// A rustls client configuration trusting `root_pem`, presenting `id` when given. Reused
/// across connections, it resumes sessions (rustls' default in-memory cache).
pub fn rustls_config(
    root_pem: &str,
    id: Option<Identity<'_>>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots
            .add(c.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match id {
        Some(id) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(id.chain_pem.as_bytes())
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.to_string())?;
            let key =
                PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes()).map_err(|e| e.to_string())?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| e.to_string())?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// One HTTP/1.1 request on a new connection made with `config`: (status, body, whether the
/// TLS session was resumed) or the TLS/IO error.
pub fn rustls_request(
    config: &Arc<rustls::ClientConfig>,
    port: u16,
    sni: &str,
    path: &str,
) -> Result<(u16, String, bool), String> {
    rustls_send(
        config,
        port,
        sni,
        &format!("GET {path} HTTP/1.1\r\nHost: {sni}\r\n"),
    )
}

/// [`rustls_request`] sending `head` (request line and headers, without the blank line that
/// ends them) and `Connection: close`.
pub fn rustls_send(
    config: &Arc<rustls::ClientConfig>,
    port: u16,
    sni: &str,
    head: &str,
) -> Result<(u16, String, bool), String> {
    rustls_send_to(config, ([127, 0, 0, 1], port).into(), sni, head)
}

/// [`rustls_send`] to `addr` (a Service's ClusterIP, a pod).
pub fn rustls_send_to(
    config: &Arc<rustls::ClientConfig>,
    addr: std::net::SocketAddr,
    sni: &str,
    head: &str,
) -> Result<(u16, String, bool), String> {
    let name = ServerName::try_from(sni.to_owned()).map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(config.clone(), name).map_err(|e| e.to_string())?;
    let tcp =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let request = format!("{head}Connection: close\r\n\r\n");
    tls.write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    match tls.read_to_end(&mut response) {
        Ok(_) => {}
        // Some servers close without close_notify after a complete response.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    let resumed = tls.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body, resumed))
}

/// One HTTP/2 request over rustls with ALPN `h2`, its pseudo-headers exactly as given
/// (`:authority` is `authority`, `:path` is `path`, no normalisation) plus `headers`:
/// (status, body) or the TLS, HTTP/2 or IO error.
pub fn h2_request(
    config: &rustls::ClientConfig,
    port: u16,
    sni: &str,
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, String), String> {
    let mut config = config.clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = ServerName::try_from(sni.to_owned()).map_err(|e| e.to_string())?;
    let uri = http::Uri::builder()
        .scheme("https")
        .authority(authority)
        .path_and_query(path)
        .build()
        .map_err(|e| e.to_string())?;
    let mut request = http::Request::get(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request.body(()).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let exchange = async {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(|e| e.to_string())?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .map_err(|e| e.to_string())?;
            let (client, conn) = h2::client::handshake(tls)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let (response, _) = client
                .ready()
                .await
                .map_err(|e| e.to_string())?
                .send_request(request, true)
                .map_err(|e| e.to_string())?;
            let response = response.await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let mut body = response.into_body();
            let mut bytes = Vec::new();
            while let Some(chunk) = body.data().await {
                let chunk = chunk.map_err(|e| e.to_string())?;
                let _ = body.flow_control().release_capacity(chunk.len());
                bytes.extend_from_slice(&chunk);
            }
            Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
        };
        tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .map_err(|_| "no HTTP/2 answer within 10 s".to_owned())?
    })
}

/// Runs curl with `args` (plus `-s`), returning (exit code, stdout, stderr).
pub fn curl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new("curl")
        .arg("-s")
        .args(["--max-time", "30"])
        .args(args)
        .output()
        .expect("run curl (the test command installs it)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A rustls client configuration trusting `root_pem`, presenting `leaf` followed by the
/// certificates of `intermediates`.
pub fn config_as(
    root_pem: &str,
    leaf: &crate::pki::Leaf,
    intermediates: &[&crate::pki::Ca],
) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut chain = leaf.pem();
    for ca in intermediates {
        chain.push_str(&ca.pem());
    }
    rustls_config(
        root_pem,
        Some(Identity {
            chain_pem: &chain,
            key_pem: leaf.key_pem(),
        }),
    )
}

/// [`rustls_get`] presenting `leaf` followed by the certificates of `intermediates`.
pub fn rustls_get_as(
    port: u16,
    sni: &str,
    path: &str,
    root_pem: &str,
    leaf: &crate::pki::Leaf,
    intermediates: &[&crate::pki::Ca],
) -> Result<(u16, String), String> {
    let config = config_as(root_pem, leaf, intermediates)?;
    rustls_request(&config, port, sni, path).map(|(status, body, _)| (status, body))
}

/// [`rustls_get_as`] with curl (OpenSSL), which sends the certificates of its `--cert` file in
/// file order: `leaf`, then `intermediates`. Returns (status, body).
pub fn curl_get_as(
    port: u16,
    host: &str,
    path: &str,
    root_pem: &str,
    leaf: &crate::pki::Leaf,
    intermediates: &[&crate::pki::Ca],
) -> (u16, String) {
    let dir = tempfile::tempdir().expect("pem dir");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write pem");
        p.display().to_string()
    };
    let mut chain = leaf.pem();
    for ca in intermediates {
        chain.push_str(&ca.pem());
    }
    let (root, cert, key) = (
        write("root.pem", root_pem),
        write("chain.pem", &chain),
        write("leaf.key", leaf.key_pem()),
    );
    let resolve = format!("{host}:{port}:127.0.0.1");
    let url = format!("https://{host}:{port}{path}");
    let (_, out, err) = curl(&[
        "--resolve",
        &resolve,
        "--cacert",
        &root,
        "--cert",
        &cert,
        "--key",
        &key,
        "-w",
        "\n%{http_code}",
        &url,
    ]);
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", &out));
    let status = code
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("curl {url}: {out}{err}"));
    (status, body.to_owned())
}

/// Client threads sending requests as fast as they can until stopped (or `limit` passes).
pub struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<std::thread::JoinHandle<LoadResult>>,
}

/// What a [`Load`] saw.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Requests answered as expected.
    pub ok: u64,
    /// Requests that were not.
    pub failed: u64,
    /// What the first few failures were.
    pub first_failures: Vec<String>,
}

impl Load {
    /// Starts `threads` threads, each calling `request(thread, n)` for its n-th request; `Ok`
    /// counts as answered as expected, `Err` says what went wrong.
    pub fn start(
        threads: usize,
        limit: Duration,
        request: impl Fn(usize, u64) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        let (stop, request) = (Arc::new(AtomicBool::new(false)), Arc::new(request));
        let deadline = std::time::Instant::now() + limit;
        let workers = (0..threads)
            .map(|t| {
                let (stop, request) = (stop.clone(), request.clone());
                std::thread::spawn(move || {
                    let mut seen = LoadResult::default();
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                        match request(t, n) {
                            Ok(()) => seen.ok += 1,
                            Err(e) => {
                                seen.failed += 1;
                                if seen.first_failures.len() < 5 {
                                    seen.first_failures.push(e);
                                }
                            }
                        }
                        n += 1;
                    }
                    seen
                })
            })
            .collect();
        Self { stop, workers }
    }

    /// Stops the threads and adds up what they saw (the first five failures of each).
    pub fn stop(self) -> LoadResult {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = LoadResult::default();
        for worker in self.workers {
            let seen = worker.join().expect("load thread");
            total.ok += seen.ok;
            total.failed += seen.failed;
            total.first_failures.extend(seen.first_failures);
        }
        total
    }
}

/// Asserts what each revocation failure policy answers when the status cannot be established
/// (`why`): FailClosed a 400 naming it, FailOpen a 200 whose backend saw
/// `SUCCESS:revocation status unknown (why)` in `ssl-client-verify`.
pub fn assert_failure_policies(closed: (u16, String), open: (u16, String), why: &str) {
    assert_eq!(
        (closed.0, closed.1.trim()),
        (
            400,
            format!("400 Bad Request: client certificate refused: {why}").as_str()
        )
    );
    assert_eq!(open.0, 200, "{}", open.1);
    let v: serde_json::Value = serde_json::from_str(&open.1).expect("backend JSON");
    assert_eq!(
        v["headers"]["ssl-client-verify"],
        format!("SUCCESS:revocation status unknown ({why})")
    );
}
