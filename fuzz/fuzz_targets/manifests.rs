//! Manifests as `portcullis run -f` and the controller read them: YAML, then translation to a
//! snapshot, then compiling the snapshot as a dataplane does.
#![no_main]

use std::path::Path;
use std::sync::{Arc, OnceLock};

use controller::manifests::load_text;
use controller::translate::translate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let loaded = load_text(Path::new("fuzz.yaml"), text);
    let translation = translate(&loaded.inputs, jiff::Timestamp::UNIX_EPOCH);
    static PROVIDER: OnceLock<Arc<rustls::crypto::CryptoProvider>> = OnceLock::new();
    let provider = PROVIDER.get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    // Translation's contract: a snapshot it calls clean compiles.
    if !translation.has_errors() {
        let compiled = dataplane::proxy::CompiledSnapshot::compile(&translation.snapshot, provider);
        assert!(
            compiled.is_ok(),
            "a clean translation did not compile: {:?}",
            compiled.err()
        );
    }
});
