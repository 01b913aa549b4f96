//! Client CA rotation through Secret updates, as an operator rotates an issuing CA under a
//! kept root: first the Secret holds the root with the old and the new intermediate, then with
//! the new one alone. Every dataplane replica follows (each is asked directly, on its pod IP),
//! and clients of a CA still trusted never see a failure.
//!
//! The profile checks chains only (`verifyClientCertIssuerDN` off, the default): with the
//! issuer DN pinned, one Secret pins one issuing CA, so the new one goes into a second Secret
//! listed beside the first (docs/troubleshooting.md).

use std::time::Duration;

use portcullis_tests::manifests::Manifests;
use portcullis_tests::node::Node;
use portcullis_tests::pki::{Ca, Leaf, bundle};

use super::tenant::{Tenant, assert_all_answered, dataplane_pods};

/// Replaces the tenant's `client-ca` Secret with `cas` as its bundle (one chain).
fn set_trusted(node: &Node, tenant: &Tenant, cas: &[&Ca]) {
    let pem = bundle(&cas.iter().map(|c| c.pem()).collect::<Vec<_>>());
    node.apply(
        &Manifests::new()
            .ca_secret(&tenant.ns, "client-ca", pem.as_bytes())
            .to_yaml(),
    );
}

/// Waits until every dataplane replica answers `id` with `status`; says what each answered
/// and what the SslProfile's status says when they do not.
fn every_replica_answers(node: &Node, tenant: &Tenant, id: &Leaf, status: u16, what: &str) {
    node.wait_for(what, Duration::from_secs(60), |n| {
        let answers: Vec<_> = dataplane_pods(n)
            .iter()
            .map(|(pod, ip)| (pod.clone(), tenant.get_from_pod(Some(id), ip)))
            .collect();
        if answers.len() == 2
            && answers
                .iter()
                .all(|(_, a)| matches!(a, Ok((s, _)) if *s == status))
        {
            return Ok(());
        }
        let profile = n.kubectl_ok(&[
            "get",
            "sslprofile",
            "mtls",
            "-n",
            &tenant.ns,
            "-o",
            "jsonpath={.status}",
        ]);
        Err((answers, profile))
    });
}

pub fn ca_rotation_reaches_every_replica(node: &Node) {
    let tenant = Tenant::create(node, "tenant-rotate");
    node.kubectl_ok(&[
        "patch",
        "sslprofile",
        "mtls",
        "-n",
        &tenant.ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"clientAuthConfiguration":{"verifyClientCertIssuerDN":false}}}"#,
    ]);
    let root = &tenant.client_ca;
    let (old, new) = (
        root.intermediate("Issuing 2026"),
        root.intermediate("Issuing 2027"),
    );
    let (old_client, new_client) = (old.client("device-1"), new.client("device-2"));
    set_trusted(node, &tenant, &[root, &old]);
    every_replica_answers(
        node,
        &tenant,
        &old_client,
        200,
        "every replica to trust Issuing 2026",
    );
    let refused = tenant.get_from_pod(Some(&new_client), &dataplane_pods(node)[0].1);
    assert_eq!(
        refused.map(|r| r.0),
        Ok(400),
        "Issuing 2027 is not trusted yet"
    );

    // Step 1: both issuing CAs. Old clients keep working throughout; new ones get in everywhere.
    let load = tenant.load(node, &old_client);
    set_trusted(node, &tenant, &[root, &old, &new]);
    every_replica_answers(
        node,
        &tenant,
        &new_client,
        200,
        "every replica to trust Issuing 2027",
    );
    assert_all_answered("old clients while the new CA is added", &load.stop());

    // Step 2: the new one alone. New clients keep working; old ones are refused everywhere.
    let load = tenant.load(node, &new_client);
    set_trusted(node, &tenant, &[root, &new]);
    every_replica_answers(
        node,
        &tenant,
        &old_client,
        400,
        "every replica to drop Issuing 2026",
    );
    assert_all_answered("new clients while the old CA is removed", &load.stop());
}
