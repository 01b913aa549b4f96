//! What the Ingress tests ask with: curl with or without a client certificate, and nginx's
//! renderings of what the backend should be told.

use std::path::Path;
use std::process::Command;

use portcullis_tests::client::curl;
use portcullis_tests::gateway::Standalone;
use portcullis_tests::pki::{Ca, Leaf};
use serde_json::Value;

/// What curl saw.
#[derive(Debug)]
pub struct Seen {
    /// The status; 0 when no HTTP answer came (curl's `000`).
    pub status: u16,
    pub location: Option<String>,
    /// The echo backend's view of the request, when it was reached.
    pub echoed: Option<Value>,
}

/// One request with curl to `url` (its host resolved to 127.0.0.1 on `port`), trusting the
/// server root at `root`, presenting `client` (leaf, then its chain) when given, and sending
/// `headers` too.
pub fn ask(url: &str, port: u16, root: &Path, client: Client<'_>, headers: &[&str]) -> Seen {
    let dir = tempfile::tempdir().expect("dir");
    let host = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split([':', '/']).next())
        .expect("host");
    let resolve = format!("{host}:{port}:127.0.0.1");
    let head = dir.path().join("head");
    let mut args: Vec<String> = vec!["--resolve".into(), resolve, "--cacert".into()];
    args.push(root.display().to_string());
    args.extend(["-D".into(), head.display().to_string()]);
    args.extend(["-w".into(), "\n%{http_code}".into()]);
    if let Some((leaf, chain)) = client {
        let mut pem = leaf.pem();
        for ca in chain {
            pem.push_str(&ca.pem());
        }
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, pem).expect("cert");
        std::fs::write(&key, leaf.key_pem()).expect("key");
        args.extend(["--cert".into(), cert.display().to_string()]);
        args.extend(["--key".into(), key.display().to_string()]);
    }
    for h in headers {
        args.extend(["-H".into(), (*h).to_owned()]);
    }
    args.push(url.to_owned());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, out, _) = curl(&argv);
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", &out));
    let head = std::fs::read_to_string(&head).unwrap_or_default();
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .map(|l| l.trim().to_owned());
    Seen {
        status: code.trim().parse().unwrap_or(0),
        location,
        echoed: serde_json::from_str(body).ok(),
    }
}

/// A client certificate to present (the leaf, then the CAs sent after it), or none.
pub type Client<'a> = Option<(&'a Leaf, &'a [&'a Ca])>;

/// [`ask`] over HTTPS for path `/x` of a host on `port`: what the table asks with.
pub fn https_get<'a>(port: u16, root: &'a Path) -> impl Fn(&str, Client<'_>, &[&str]) -> Seen + 'a {
    move |host, client, headers| {
        ask(
            &format!("https://{host}:{port}/x"),
            port,
            root,
            client,
            headers,
        )
    }
}

/// `portcullis run -f dir` serving Ingresses on ports `http` and `https`.
pub fn serve_ingresses(dir: &Path, http: u16, https: u16) -> Standalone {
    let flags = [
        format!("--ingress-http-port={http}"),
        format!("--ingress-https-port={https}"),
    ];
    Standalone::start_with(dir, &[http, https], &[flags[0].as_str(), flags[1].as_str()])
}

/// A plain-HTTP `GET /` for `host` on `port`, without a client certificate.
pub fn ask_http(host: &str, port: u16, root: &Path) -> Seen {
    ask(&format!("http://{host}:{port}/"), port, root, None, &[])
}

/// OpenSSL's `-nameopt RFC2253` rendering of a certificate's subject (`which` = `-subject`)
/// or issuer (`-issuer`): nginx's `$ssl_client_s_dn` / `$ssl_client_i_dn`.
pub fn openssl_dn(pem: &str, which: &str) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("c.pem");
    std::fs::write(&path, pem).expect("write");
    let out = Command::new("openssl")
        .args(["x509", "-noout", which, "-nameopt", "RFC2253", "-in"])
        .arg(&path)
        .output()
        .expect("openssl");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    text.trim()
        .split_once('=')
        .map(|(_, v)| v.to_owned())
        .expect("dn")
}

/// A header the echo backend received.
pub fn header<'a>(echoed: &'a Value, name: &str) -> Option<&'a str> {
    echoed["headers"][name].as_str()
}

/// ingress-nginx's `$ssl_client_escaped_cert`, decoded.
pub fn unescape(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).expect("hex"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}
