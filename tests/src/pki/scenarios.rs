//! Application Gateway's documented issuer-DN scenarios as generated bundles.

use super::{Ca, bundle};

/// A valid bundle and what Application Gateway's issuer-DN rules make of it.
pub struct Scenario {
    /// What it shows.
    pub name: &'static str,
    /// The bundle file's bytes.
    pub bundle: Vec<u8>,
    /// CN of the CA whose subject `verifyClientCertIssuerDN` enforces.
    pub issuer_cn: &'static str,
    /// Chains in the file.
    pub chains: usize,
    /// Leaf certificates mixed in (each ignored with a warning).
    pub leaves: usize,
}

/// Application Gateway's five documented issuer-DN scenarios, plus a plain PEM chain, a DER
/// root and a reordered file.
pub fn issuer_dn_scenarios() -> Vec<Scenario> {
    let root = Ca::root("Root");
    let int1 = root.intermediate("Int1");
    let int2 = int1.intermediate("Int2");
    let int_b = root.intermediate("IntB");
    let int_c = int_b.intermediate("IntC");
    let leaf = |ca: &Ca| ca.client("client").pem();
    let s = |name, parts: &[String], issuer_cn, chains, leaves| Scenario {
        name,
        bundle: bundle(parts).into_bytes(),
        issuer_cn,
        chains,
        leaves,
    };
    vec![
        s(
            "root and intermediate, PEM",
            &[root.pem(), int1.pem()],
            "Int1",
            1,
            0,
        ),
        Scenario {
            name: "root alone, DER",
            bundle: root.der(),
            issuer_cn: "Root",
            chains: 1,
            leaves: 0,
        },
        s(
            "scenario 1: root, intermediate, leaf",
            &[root.pem(), int1.pem(), leaf(&int1)],
            "Int1",
            1,
            1,
        ),
        s(
            "scenario 2: root, int1, int2, leaf (any order)",
            &[leaf(&int2), int2.pem(), root.pem(), int1.pem()],
            "Int2",
            1,
            1,
        ),
        s(
            "scenario 3: root, leaf",
            &[root.pem(), leaf(&root)],
            "Root",
            1,
            1,
        ),
        s(
            "scenario 4: equal-length chains, the first wins",
            &[
                root.pem(),
                int1.pem(),
                leaf(&int1),
                int_b.pem(),
                leaf(&int_b),
            ],
            "Int1",
            2,
            2,
        ),
        s(
            "scenario 4, other order",
            &[root.pem(), int_b.pem(), int1.pem()],
            "IntB",
            2,
            0,
        ),
        s(
            "scenario 5: chains of different lengths, the longest wins",
            &[
                root.pem(),
                int1.pem(),
                leaf(&int1),
                int_b.pem(),
                int_c.pem(),
                leaf(&int_c),
            ],
            "IntC",
            2,
            2,
        ),
    ]
}
