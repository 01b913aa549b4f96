//! What becomes a header: a rule's value with `{var_…}` server variables, rendered for each
//! verdict, and a hostname as a Listener or a Host header gives it.
#![no_main]

use dataplane::config::{HeaderPreset, HeaderRule, HeaderTemplate, Hostname};
use dataplane::proxy::request::identity;
use dataplane::proxy::verdict::{Reason, Untrusted, Verdict};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Hostname::parse(text);
    let encoded = identity::url_encode(text);
    assert!(encoded.bytes().all(|b| b.is_ascii_graphic()), "{encoded:?}");
    let Ok(value) = HeaderTemplate::parse(text) else {
        return;
    };
    let rules = [HeaderRule {
        name: "x-fuzz".into(),
        value,
    }];
    let presets = [
        HeaderPreset::ArrClientCert,
        HeaderPreset::NginxSslClient,
        HeaderPreset::NginxSslClientNoCert,
        HeaderPreset::EnvoyXfcc,
        HeaderPreset::Rfc9440ClientCert,
    ];
    for verdict in [
        Verdict::None,
        Verdict::Success,
        Verdict::Failed(Reason::UnknownCa(Untrusted::Leaf)),
    ] {
        let mut headers = http::HeaderMap::new();
        identity::set(&mut headers, &presets, &rules, None, &verdict);
        // A parsed template never renders a value that would split or corrupt the header.
        if let Some(v) = headers.get("x-fuzz") {
            assert!(
                !v.as_bytes()
                    .iter()
                    .any(|b| *b == b'\r' || *b == b'\n' || *b == 0)
            );
        }
    }
});
