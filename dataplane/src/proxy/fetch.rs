//! Revocation data from the network: OCSP answers, CRLs from distribution points, and OCSP
//! staples for the gateway's own certificates.
//!
//! One cache shared by every connection, keyed by (issuer, serial) for OCSP and by URL for
//! CRLs, bounded, valid until `nextUpdate`; one request at a time per key (single flight), so
//! 50 concurrent handshakes with a cold cache make one request; a cold cache waits for the
//! responder (bounded by a timeout) instead of failing the first request; OCSP entries used
//! recently are refreshed in the background before they expire.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::OnceCell;

use super::revocation::{Status, Unknown};
use super::telemetry::Telemetry;
use crate::pki::ocsp::{self, CertId, CertStatus};
use crate::pki::{CertificateInfo, RevocationList, Revoked};

/// Longest a responder may take before the status is unknown (and the failure policy applies).
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Clock difference tolerated on `thisUpdate` / `nextUpdate`.
const CLOCK_SKEW_SECS: i64 = 300;
/// How long a failed lookup is remembered, so a dead responder is not asked on every handshake.
const NEGATIVE_TTL_SECS: i64 = 10;
/// Cache lifetime of a response without `nextUpdate`.
const DEFAULT_TTL_SECS: i64 = 300;
/// Longest any response is cached, whatever its `nextUpdate` says.
const MAX_TTL_SECS: i64 = 7 * 86_400;
/// Entries used within this many seconds are refreshed before they expire.
const RECENT_SECS: i64 = 600;
/// Most cached certificates; beyond this the least recently used are dropped.
const MAX_ENTRIES: usize = 100_000;
/// Largest OCSP response read.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Largest CRL downloaded (a Kubernetes Secret holds at most 1 MiB; distribution points can
/// serve more).
const MAX_CRL_BYTES: usize = 16 * 1024 * 1024;

/// What a lookup found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lookup {
    Status(CertStatus),
    Failed(Unknown),
}

#[derive(Clone, Debug)]
struct Entry {
    lookup: Lookup,
    fetched: i64,
    valid_until: i64,
    last_used: i64,
    job: Arc<Job>,
}

/// What is needed to ask again.
#[derive(Debug)]
struct Job {
    id: CertId,
    cert: CertificateInfo,
    issuer: CertificateInfo,
    url: Option<String>,
}

/// One request under way: every caller for the same certificate awaits the same answer
/// (and the time until which it may be cached).
type Flight<T> = Arc<OnceCell<(T, i64)>>;

/// The process-wide OCSP client.
pub struct RevocationClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    cache: Mutex<HashMap<CertId, Entry>>,
    inflight: Mutex<HashMap<CertId, Flight<Lookup>>>,
    staples: Mutex<HashMap<CertId, (Vec<u8>, i64)>>,
    crls: Mutex<HashMap<String, (CrlLookup, i64)>>,
    crl_flights: Mutex<HashMap<String, Flight<CrlLookup>>>,
    telemetry: Arc<Telemetry>,
}

/// A downloaded, verified CRL, or why there is none.
type CrlLookup = Result<Arc<RevocationList>, Unknown>;

impl RevocationClient {
    /// A client with an empty cache.
    pub fn new(telemetry: Arc<Telemetry>) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            .expect("aws-lc-rs supports the default TLS versions");
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(FETCH_TIMEOUT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Self {
            http: Client::builder(TokioExecutor::new()).build(connector),
            cache: Mutex::default(),
            inflight: Mutex::default(),
            staples: Mutex::default(),
            crls: Mutex::default(),
            crl_flights: Mutex::default(),
            telemetry,
        }
    }

    /// The revocation status of `cert` (issued by `issuer`), from the cache or the responder
    /// (`url`, else the certificate's AIA).
    pub async fn ocsp_status(
        &self,
        cert: &CertificateInfo,
        issuer: &CertificateInfo,
        url: Option<&str>,
    ) -> Status {
        let id = CertId::new(cert, issuer);
        let now = unix_now();
        if let Some(lookup) = self.cached(&id, now) {
            self.telemetry.ocsp_cache(true);
            return to_status(lookup);
        }
        self.telemetry.ocsp_cache(false);
        let job = Arc::new(Job {
            id: id.clone(),
            cert: cert.clone(),
            issuer: issuer.clone(),
            url: url.map(str::to_owned),
        });
        to_status(self.refresh(job).await)
    }

    /// Refreshes entries used recently that are close to expiry; call periodically.
    pub async fn refresh_due(&self) {
        let now = unix_now();
        let due: Vec<Arc<Job>> = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache
                .values()
                .filter(|e| {
                    now - e.last_used < RECENT_SECS && matches!(e.lookup, Lookup::Status(_))
                })
                .filter(|e| now >= e.valid_until - ((e.valid_until - e.fetched) / 10).max(10))
                .map(|e| e.job.clone())
                .collect()
        };
        for job in due {
            self.refresh(job).await;
        }
    }

    /// A verified `good` response for the gateway's own certificate, to staple, with the time
    /// until which it may be served. Answers are shared across snapshots until they expire.
    pub async fn staple(
        &self,
        cert: &CertificateInfo,
        issuer: &CertificateInfo,
    ) -> Option<(Vec<u8>, i64)> {
        let id = CertId::new(cert, issuer);
        let now = unix_now();
        if let Some((der, until)) = self
            .staples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .filter(|(_, until)| now < *until - 60)
        {
            return Some((der.clone(), *until));
        }
        let url = cert.ocsp_urls.first()?;
        let started = Instant::now();
        // No nonce: a staple is shown to every client, not answered to one request.
        let bytes = tokio::time::timeout(FETCH_TIMEOUT, self.post(url, ocsp::request(&id, None)))
            .await
            .ok()?
            .ok();
        let elapsed = started.elapsed();
        let Some(bytes) = bytes else {
            self.telemetry.ocsp_request("staple_unreachable", elapsed);
            return None;
        };
        match ocsp::verify_response(&bytes, &id, issuer, None, now, CLOCK_SKEW_SECS) {
            Ok(single) if single.status == CertStatus::Good => {
                self.telemetry.ocsp_request("staple_good", elapsed);
                let until = single
                    .next_update
                    .unwrap_or(now + DEFAULT_TTL_SECS)
                    .min(now + MAX_TTL_SECS);
                self.staples
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id, (bytes.to_vec(), until));
                Some((bytes.to_vec(), until))
            }
            _ => {
                self.telemetry.ocsp_request("staple_refused", elapsed);
                None
            }
        }
    }

    /// The status of `cert` from the CRL at its distribution point (verified against `issuer`),
    /// downloaded once per `nextUpdate` window and shared by every connection.
    pub async fn crl_status(&self, cert: &CertificateInfo, issuer: &CertificateInfo) -> Status {
        let Some(url) = cert
            .crl_urls
            .iter()
            .find(|u| u.starts_with("http://") || u.starts_with("https://"))
        else {
            return Status::Unknown(Unknown::NoCrl);
        };
        let now = unix_now();
        let cached = self
            .crls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(url)
            .filter(|(_, until)| now < *until)
            .map(|(l, _)| l.clone());
        let lookup = match cached {
            Some(l) => l,
            None => {
                let cell = self
                    .crl_flights
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(url.clone())
                    .or_default()
                    .clone();
                let (lookup, until) = cell
                    .get_or_init(|| self.download_crl(url, issuer))
                    .await
                    .clone();
                let mut flights = self.crl_flights.lock().unwrap_or_else(|e| e.into_inner());
                if flights.get(url).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                    flights.remove(url);
                }
                drop(flights);
                let mut crls = self.crls.lock().unwrap_or_else(|e| e.into_inner());
                if crls.len() >= MAX_ENTRIES {
                    crls.retain(|_, (_, until)| *until > now);
                }
                crls.insert(url.clone(), (lookup.clone(), until));
                lookup
            }
        };
        match lookup {
            Err(u) => Status::Unknown(u),
            Ok(list) if list.issuer != cert.issuer => Status::Unknown(Unknown::NoCrl),
            Ok(list) => match list.lookup(&cert.serial) {
                Some(r) => Status::Revoked(r),
                None if list.is_expired(now) => Status::Unknown(Unknown::CrlExpired),
                None => Status::Good,
            },
        }
    }

    async fn download_crl(&self, url: &str, issuer: &CertificateInfo) -> (CrlLookup, i64) {
        let now = unix_now();
        let req = Request::builder()
            .method(Method::GET)
            .uri(url)
            .body(Full::new(Bytes::new()));
        let Ok(req) = req else {
            return (Err(Unknown::NoCrl), now + NEGATIVE_TTL_SECS);
        };
        let body = tokio::time::timeout(FETCH_TIMEOUT, self.send(req, MAX_CRL_BYTES)).await;
        let Ok(Ok(bytes)) = body else {
            self.telemetry.crl_download("unreachable");
            return (Err(Unknown::NoCrl), now + NEGATIVE_TTL_SECS);
        };
        match RevocationList::parse_all(&bytes, std::slice::from_ref(issuer)) {
            Ok(mut lists) if !lists.is_empty() => {
                self.telemetry.crl_download("ok");
                let list = lists.swap_remove(0);
                let until = list
                    .next_update
                    .unwrap_or(now + DEFAULT_TTL_SECS)
                    .min(now + MAX_TTL_SECS);
                (Ok(Arc::new(list)), until.max(now + NEGATIVE_TTL_SECS))
            }
            _ => {
                self.telemetry.crl_download("invalid");
                (Err(Unknown::NoCrl), now + NEGATIVE_TTL_SECS)
            }
        }
    }

    fn cached(&self, id: &CertId, now: i64) -> Option<Lookup> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let entry = cache.get_mut(id).filter(|e| now < e.valid_until)?;
        entry.last_used = now;
        Some(entry.lookup)
    }

    /// Asks the responder, at most once at a time per certificate, and caches the answer.
    async fn refresh(&self, job: Arc<Job>) -> Lookup {
        let cell = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            inflight.entry(job.id.clone()).or_default().clone()
        };
        let (lookup, valid_until) = *cell.get_or_init(|| self.fetch(&job)).await;
        {
            let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            if inflight.get(&job.id).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                inflight.remove(&job.id);
            }
        }
        let now = unix_now();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_ENTRIES && !cache.contains_key(&job.id) {
            evict(&mut cache, now);
        }
        cache.insert(
            job.id.clone(),
            Entry {
                lookup,
                fetched: now,
                valid_until,
                last_used: now,
                job: job.clone(),
            },
        );
        lookup
    }

    async fn fetch(&self, job: &Job) -> (Lookup, i64) {
        let now = unix_now();
        let Some(url) = job
            .url
            .clone()
            .or_else(|| job.cert.ocsp_urls.first().cloned())
        else {
            self.telemetry.ocsp_request("no_responder", Duration::ZERO);
            return (
                Lookup::Failed(Unknown::OcspNoResponder),
                now + NEGATIVE_TTL_SECS,
            );
        };
        let mut nonce = [0u8; 16];
        let nonce = aws_lc_rs::rand::fill(&mut nonce).ok().map(|()| nonce);
        let body = ocsp::request(&job.id, nonce.as_ref().map(|n| n.as_slice()));
        let started = Instant::now();
        let answer = tokio::time::timeout(FETCH_TIMEOUT, self.post(&url, body)).await;
        let elapsed = started.elapsed();
        let bytes = match answer {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(_)) | Err(_) => {
                self.telemetry.ocsp_request("unreachable", elapsed);
                return (
                    Lookup::Failed(Unknown::OcspUnreachable),
                    now + NEGATIVE_TTL_SECS,
                );
            }
        };
        match ocsp::verify_response(
            &bytes,
            &job.id,
            &job.issuer,
            nonce.as_ref().map(|n| n.as_slice()),
            now,
            CLOCK_SKEW_SECS,
        ) {
            Ok(single) => {
                let result = match single.status {
                    CertStatus::Good => "good",
                    CertStatus::Revoked { .. } => "revoked",
                    CertStatus::Unknown => "unknown",
                };
                self.telemetry.ocsp_request(result, elapsed);
                let until = single
                    .next_update
                    .unwrap_or(now + DEFAULT_TTL_SECS)
                    .min(now + MAX_TTL_SECS);
                (Lookup::Status(single.status), until)
            }
            Err(_) => {
                self.telemetry.ocsp_request("invalid", elapsed);
                (
                    Lookup::Failed(Unknown::OcspInvalidResponse),
                    now + NEGATIVE_TTL_SECS,
                )
            }
        }
    }

    async fn post(&self, url: &str, body: Vec<u8>) -> Result<Bytes, String> {
        let req = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header(header::CONTENT_TYPE, "application/ocsp-request")
            .header(header::ACCEPT, "application/ocsp-response")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        self.send(req, MAX_RESPONSE_BYTES).await
    }

    /// Sends a request and reads at most `limit` bytes of a successful answer.
    async fn send(&self, req: Request<Full<Bytes>>, limit: usize) -> Result<Bytes, String> {
        let resp = self.http.request(req).await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let body = Limited::new(resp.into_body(), limit)
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(body.to_bytes())
    }
}

fn to_status(lookup: Lookup) -> Status {
    match lookup {
        Lookup::Status(CertStatus::Good) => Status::Good,
        Lookup::Status(CertStatus::Revoked { at, reason }) => {
            Status::Revoked(Revoked { reason, at })
        }
        Lookup::Status(CertStatus::Unknown) => Status::Unknown(Unknown::OcspUnknownStatus),
        Lookup::Failed(u) => Status::Unknown(u),
    }
}

/// Drops expired entries, then the least recently used tenth.
fn evict(cache: &mut HashMap<CertId, Entry>, now: i64) {
    cache.retain(|_, e| e.valid_until > now);
    if cache.len() >= MAX_ENTRIES {
        let mut used: Vec<i64> = cache.values().map(|e| e.last_used).collect();
        used.sort_unstable();
        let cutoff = used[used.len() / 10];
        cache.retain(|_, e| e.last_used > cutoff);
    }
}

fn unix_now() -> i64 {
    super::serve::unix_now()
}
