//! The gateway with tight limits, and the hostile clients' tools.

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_tests::backend::EchoBackend;
use portcullis_tests::client::{config_as, rustls_send};
use portcullis_tests::gateway::{Standalone, free_port};
use portcullis_tests::manifests::Manifests;
use portcullis_tests::pki::{Ca, Leaf};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// The limits under test, far below the defaults so each is reached in seconds.
pub const LIMITS: [&str; 14] = [
    "--handshake-timeout-seconds",
    "2",
    "--header-timeout-seconds",
    "3",
    "--idle-timeout-seconds",
    "2",
    "--max-header-bytes",
    "8192",
    "--max-headers",
    "20",
    "--max-connections",
    "6",
    "--max-concurrent-streams",
    "7",
];

pub struct Env {
    pub root: Ca,
    pub int: Ca,
    pub client: Leaf,
    pub server_root: Ca,
    pub port: u16,
    pub tcp_port: u16,
    pub gw: Standalone,
    pub _dir: tempfile::TempDir,
    pub _backend: EchoBackend,
}

impl Env {
    pub fn start() -> Self {
        let root = Ca::root("Partner Root");
        let int = root.intermediate("Partner Issuing");
        let client = int.client("device-1");
        let server_root = Ca::root("Server Root");
        let server = server_root.server(&["secure.example"]);
        let backend = EchoBackend::start();
        let port = free_port();
        let dir = tempfile::tempdir().expect("tempdir");
        let bundle = format!("{}{}", root.pem(), int.pem());
        // The same host on a second port as a TLS passthrough listener (bytes relayed).
        let tcp_port = free_port();
        Manifests::secure_example(bundle.as_bytes(), &server, port, backend.addr.port())
            .with(
                serde_json::json!({"apiVersion": "portcullis.io/v1alpha1", "kind": "Listener",
                "metadata": {"name": "tcp", "namespace": "default"},
                "spec": {"protocol": "TLS", "port": tcp_port, "hostnames": ["secure.example"],
                         "sslCertificate": {"name": "gw-tls"}, "sslProfile": {"name": "partner"},
                         "rules": [{"backend": {"service": "echo", "port": 80}}]}}),
            )
            .write(dir.path());
        let gw = Standalone::start_with(dir.path(), &[port, tcp_port], &LIMITS);
        Self {
            root,
            int,
            client,
            server_root,
            port,
            tcp_port,
            gw,
            _dir: dir,
            _backend: backend,
        }
    }

    /// A client presenting the leaf, then `intermediates`.
    pub fn config(&self, intermediates: &[&Ca]) -> Arc<rustls::ClientConfig> {
        config_as(&self.server_root.pem(), &self.client, intermediates).expect("client config")
    }

    /// The good client: its leaf and intermediate.
    pub fn good(&self) -> Arc<rustls::ClientConfig> {
        self.config(&[&self.int])
    }

    /// A TLS connection to the gateway's HTTPS port, handshake done.
    pub fn connect(
        &self,
        config: &Arc<rustls::ClientConfig>,
    ) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
        self.connect_to(self.port, config)
    }

    /// A TLS connection to `port`, handshake done.
    pub fn connect_to(
        &self,
        port: u16,
        config: &Arc<rustls::ClientConfig>,
    ) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
        let name = ServerName::try_from("secure.example").expect("name");
        let conn = rustls::ClientConnection::new(config.clone(), name).expect("client");
        let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .expect("handshake completes");
        }
        tls
    }

    /// Sends `head` (request line and headers, without the blank line) on a new connection
    /// with `Connection: close`; the status, or the error.
    pub fn request(&self, config: &Arc<rustls::ClientConfig>, head: &str) -> Result<u16, String> {
        rustls_send(config, self.port, "secure.example", head).map(|(status, _, _)| status)
    }

    pub fn get(&self, config: &Arc<rustls::ClientConfig>) -> Result<u16, String> {
        self.request(config, "GET / HTTP/1.1\r\nHost: secure.example\r\n")
    }

    /// Handshakes of the listener that failed for `reason`.
    pub fn refused(&self, reason: &str) -> f64 {
        self.gw.metric(&format!(
            "portcullis_tls_handshakes_total{{listener=\"default/api\",result=\"failed\",reason=\"{reason}\"}}"
        ))
    }

    pub fn closed_by(&self, limit: &str) -> f64 {
        self.gw.metric(&format!(
            "portcullis_connections_closed_by_limit_total{{limit=\"{limit}\"}}"
        ))
    }
}

/// A client presenting `der` unchecked (rustls' own builder refuses to load a certificate it
/// cannot parse, as an attacker's client would not).
pub fn presenting(server_root: &Ca, der: Vec<u8>, key_pem: &str) -> Arc<rustls::ClientConfig> {
    #[derive(Debug)]
    struct Present(Arc<rustls::sign::CertifiedKey>);
    impl rustls::client::ResolvesClientCert for Present {
        fn resolve(
            &self,
            _: &[&[u8]],
            _: &[rustls::SignatureScheme],
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }
        fn has_certs(&self) -> bool {
            true
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key");
    let key = provider
        .key_provider
        .load_private_key(key)
        .expect("signing key");
    let certified = rustls::sign::CertifiedKey::new(vec![CertificateDer::from(der)], key);
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(server_root.der()))
        .expect("root");
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_client_cert_resolver(Arc::new(Present(Arc::new(certified)))),
    )
}

/// Reads until the peer closes the connection or `limit` passes; (bytes read, whether it
/// closed).
pub fn read_until_closed(stream: &mut impl Read, limit: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return (got, true),
        }
    }
    (got, false)
}
