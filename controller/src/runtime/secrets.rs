//! The contents of the Secrets that SslProfiles and Listeners reference: fetched when their
//! metadata (watched) shows a new resourceVersion, dropped when no longer referenced. The
//! controller never holds the contents of a Secret nothing references.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector;

use super::watch::Watched;

/// The contents of referenced Secrets, fetched when their metadata shows a new
/// resourceVersion and dropped when no longer referenced.
pub(super) struct SecretCache {
    client: Client,
    held: BTreeMap<(String, String), Secret>,
}

impl SecretCache {
    /// An empty cache reading Secrets with `client`.
    pub(super) fn new(client: Client) -> Self {
        Self {
            client,
            held: BTreeMap::new(),
        }
    }

    /// The referenced Secrets, `wanted` by (namespace, name), as the API server holds them now.
    pub(super) async fn refresh(
        &mut self,
        wanted: &BTreeSet<(String, String)>,
        meta: &Watched<PartialObjectMeta<Secret>>,
    ) -> kube::Result<Vec<Secret>> {
        self.held.retain(|k, _| wanted.contains(k));
        for key in wanted {
            let found = meta.get(&reflector::ObjectRef::new(&key.1).within(&key.0));
            let Some(found) = found else {
                self.held.remove(key);
                continue;
            };
            let current = self
                .held
                .get(key)
                .and_then(|s| s.metadata.resource_version.as_ref());
            if current.is_some() && current == found.metadata.resource_version.as_ref() {
                continue;
            }
            match Api::<Secret>::namespaced(self.client.clone(), &key.0)
                .get_opt(&key.1)
                .await?
            {
                Some(secret) => self.held.insert(key.clone(), secret),
                None => self.held.remove(key),
            };
        }
        Ok(self.held.values().cloned().collect())
    }
}
