//! The push channel's certificates, bootstrapped by the controller itself: no manual step.
//!
//! - `portcullis-push-ca` (Opaque): the internal CA's certificate and key. Only the controller
//!   reads it.
//! - `portcullis-dataplane-push` (`kubernetes.io/tls`): the dataplanes' serving certificate for
//!   [`DATAPLANE_NAME`] (serverAuth only), its key, and `ca.crt`; mounted into dataplane pods.
//! - The controller's client certificate for [`CONTROLLER_NAME`] (clientAuth only) is issued in
//!   memory at start and never stored.
//!
//! Creating a Secret that already exists fails with a conflict, so two replicas starting at
//! once agree on one CA: the loser reads the winner's.

use std::collections::BTreeMap;

use dataplane::pki::CertificateInfo;
use dataplane::push::client::PushClient;
use dataplane::push::{CONTROLLER_NAME, DATAPLANE_NAME};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use super::is_conflict;

/// The Secret holding the internal CA.
pub const CA_SECRET: &str = "portcullis-push-ca";
/// The Secret dataplanes mount for the push channel.
pub const DATAPLANE_SECRET: &str = "portcullis-dataplane-push";

const CA_NAME: &str = "Portcullis push channel CA";
/// The internal CA lives ten years; it never leaves the cluster and signs only our two names.
const CA_DAYS: i64 = 3650;
/// Dataplane serving certificates live a year and are re-issued when 30 days remain (at the
/// controller's next start).
const DATAPLANE_DAYS: i64 = 365;
const RENEW_BEFORE_DAYS: i64 = 30;
/// The controller's client certificate is held in memory only and lives 30 days.
pub const CONTROLLER_DAYS: i64 = 30;

/// The internal CA.
struct Ca {
    cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn params() -> CertificateParams {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, CA_NAME);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
    }

    fn generate() -> anyhow::Result<Self> {
        let key = KeyPair::generate()?;
        let mut params = Self::params();
        params.not_before = OffsetDateTime::now_utc() - Duration::hours(1);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(CA_DAYS);
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(Self::params(), key),
        })
    }

    /// The CA from its Secret. Certificates it issues name it by its DN and identify its key
    /// by the key's digest, both of which the stored certificate and key determine.
    fn from_secret(secret: &Secret) -> anyhow::Result<Self> {
        let field = |k: &str| {
            secret
                .data
                .as_ref()
                .and_then(|d| d.get(k))
                .and_then(|v| String::from_utf8(v.0.clone()).ok())
                .ok_or_else(|| anyhow::anyhow!("Secret {CA_SECRET}: {k} is missing; delete the Secret and the controller creates a new CA"))
        };
        let (cert_pem, key_pem) = (field("ca.crt")?, field("ca.key")?);
        let key = KeyPair::from_pem(&key_pem)?;
        Ok(Self {
            cert_pem,
            key_pem,
            issuer: Issuer::new(Self::params(), key),
        })
    }

    fn to_secret(&self, namespace: &str, owner: Option<&OwnerReference>) -> Secret {
        Secret {
            metadata: meta(CA_SECRET, namespace, owner),
            type_: Some("Opaque".into()),
            data: Some(data([
                ("ca.crt", &self.cert_pem),
                ("ca.key", &self.key_pem),
            ])),
            ..Secret::default()
        }
    }

    /// Issues a leaf for `name` with one extended key usage; returns `(cert PEM, key PEM)`.
    fn issue(
        &self,
        name: &str,
        usage: ExtendedKeyUsagePurpose,
        days: i64,
    ) -> anyhow::Result<(String, String)> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![name.to_owned()])?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.not_before = OffsetDateTime::now_utc() - Duration::hours(1);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(days);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// The metadata of a Secret the controller makes in its namespace: labelled as its own, owned
/// by `owner`.
pub(super) fn meta(name: &str, namespace: &str, owner: Option<&OwnerReference>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        owner_references: owner.map(|o| vec![o.clone()]),
        labels: Some(BTreeMap::from([(
            "app.kubernetes.io/managed-by".to_owned(),
            "portcullis-controller".to_owned(),
        )])),
        ..ObjectMeta::default()
    }
}

fn data<const N: usize>(items: [(&str, &String); N]) -> BTreeMap<String, ByteString> {
    items
        .into_iter()
        .map(|(k, v)| (k.to_owned(), ByteString(v.as_bytes().to_vec())))
        .collect()
}

/// Makes sure the CA and the dataplanes' Secret exist in `namespace` (creating or renewing
/// them, owned by `owner`), and returns a push client with a fresh controller certificate.
pub async fn ensure(
    client: &Client,
    namespace: &str,
    owner: Option<&OwnerReference>,
) -> anyhow::Result<PushClient> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let ca = match secrets.get_opt(CA_SECRET).await? {
        Some(s) => {
            adopt(&secrets, s.clone(), owner).await?;
            Ca::from_secret(&s)?
        }
        None => {
            let ca = Ca::generate()?;
            match secrets
                .create(&PostParams::default(), &ca.to_secret(namespace, owner))
                .await
            {
                Ok(_) => {
                    tracing::info!("created the push channel CA in Secret {namespace}/{CA_SECRET}");
                    ca
                }
                Err(e) if is_conflict(&e) => Ca::from_secret(&secrets.get(CA_SECRET).await?)?,
                Err(e) => return Err(e.into()),
            }
        }
    };

    let existing = secrets.get_opt(DATAPLANE_SECRET).await?;
    if needs_new_dataplane_cert(existing.as_ref(), &ca.cert_pem) {
        let (crt, key) = ca.issue(
            DATAPLANE_NAME,
            ExtendedKeyUsagePurpose::ServerAuth,
            DATAPLANE_DAYS,
        )?;
        let mut secret = Secret {
            metadata: meta(DATAPLANE_SECRET, namespace, owner),
            type_: Some("kubernetes.io/tls".into()),
            data: Some(data([
                ("tls.crt", &crt),
                ("tls.key", &key),
                ("ca.crt", &ca.cert_pem),
            ])),
            ..Secret::default()
        };
        match existing {
            // Replacing with the read resourceVersion: if another replica renewed it meanwhile,
            // this fails and the next start sees a valid one.
            Some(old) => {
                secret.metadata.resource_version = old.metadata.resource_version;
                secrets
                    .replace(DATAPLANE_SECRET, &PostParams::default(), &secret)
                    .await?;
            }
            None => match secrets.create(&PostParams::default(), &secret).await {
                Ok(_) => {}
                Err(e) if is_conflict(&e) => {}
                Err(e) => return Err(e.into()),
            },
        }
        tracing::info!(
            "issued the dataplanes' push certificate in Secret {namespace}/{DATAPLANE_SECRET}"
        );
    } else if let Some(s) = existing {
        adopt(&secrets, s, owner).await?;
    }

    let (crt, key) = ca.issue(
        CONTROLLER_NAME,
        ExtendedKeyUsagePurpose::ClientAuth,
        CONTROLLER_DAYS,
    )?;
    PushClient::new(ca.cert_pem.as_bytes(), crt.as_bytes(), key.as_bytes())
        .map_err(|e| anyhow::anyhow!("push client: {e}"))
}

/// Gives an existing Secret (made by an older version) its owner. Replacing with the read
/// resourceVersion: a conflict means another replica wrote it meanwhile, and does the same.
async fn adopt(
    secrets: &Api<Secret>,
    mut secret: Secret,
    owner: Option<&OwnerReference>,
) -> anyhow::Result<()> {
    if !super::owner::adopt(&mut secret.metadata, owner) {
        return Ok(());
    }
    let name = secret.metadata.name.clone().unwrap_or_default();
    match secrets
        .replace(&name, &PostParams::default(), &secret)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_conflict(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Whether the dataplanes' Secret is missing, from another CA, or close to expiry.
fn needs_new_dataplane_cert(secret: Option<&Secret>, ca_pem: &str) -> bool {
    let Some(data) = secret.and_then(|s| s.data.as_ref()) else {
        return true;
    };
    if data.get("ca.crt").map(|v| v.0.as_slice()) != Some(ca_pem.as_bytes()) {
        return true;
    }
    let not_after = data
        .get("tls.crt")
        .and_then(|v| dataplane::pki::pem::parse(&v.0).ok())
        .and_then(|blocks| blocks.into_iter().next())
        .and_then(|b| CertificateInfo::from_der(&b.der).ok())
        .map(|info| info.not_after);
    let renew_at = jiff::Timestamp::now().as_second() + RENEW_BEFORE_DAYS * 86_400;
    not_after.is_none_or(|t| t < renew_at)
}
