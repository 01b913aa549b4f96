//! Splits PEM text into labelled DER blocks.
//!
//! This is deliberately our own small scanner rather than a library that silently skips labels
//! it does not know: the trust-bundle rules must *see* every block, so that a private key of any
//! flavour (`PRIVATE KEY`, `RSA PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`, ...) is refused instead of
//! passed over. Text outside blocks (comments, `openssl x509 -text` dumps) is ignored, as OpenSSL
//! does.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// One `-----BEGIN <label>-----` ... `-----END <label>-----` block, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemBlock {
    /// The label between `BEGIN ` and the trailing dashes, e.g. `CERTIFICATE`.
    pub label: String,
    /// The base64-decoded body.
    pub der: Vec<u8>,
}

/// Why a PEM text could not be split into blocks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PemError {
    /// A `BEGIN` line has no matching `END` line.
    #[error("PEM block \"{label}\" has no matching END line")]
    Unterminated {
        /// The label of the open block.
        label: String,
    },
    /// The body of a block is not valid base64.
    #[error("PEM block \"{label}\" is not valid base64")]
    BadBase64 {
        /// The label of the broken block.
        label: String,
    },
}

/// Whether `bytes` look like PEM text (contain a BEGIN marker) rather than DER.
pub fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Splits `text` into its PEM blocks, in file order.
pub fn parse(text: &[u8]) -> Result<Vec<PemBlock>, PemError> {
    let text = String::from_utf8_lossy(text);
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in text.lines() {
        let line = line.trim();
        match &mut open {
            None => {
                if let Some(label) = marker(line, "BEGIN") {
                    open = Some((label.to_owned(), String::new()));
                }
            }
            Some((label, body)) => {
                if marker(line, "END").is_some() {
                    let der =
                        STANDARD
                            .decode(body.as_bytes())
                            .map_err(|_| PemError::BadBase64 {
                                label: label.clone(),
                            })?;
                    blocks.push(PemBlock {
                        label: std::mem::take(label),
                        der,
                    });
                    open = None;
                } else if !line.contains(':') {
                    // RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`) carry a colon; base64 never does.
                    body.push_str(line);
                }
            }
        }
    }
    match open {
        Some((label, _)) => Err(PemError::Unterminated { label }),
        None => Ok(blocks),
    }
}

fn marker<'a>(line: &'a str, kind: &str) -> Option<&'a str> {
    line.strip_prefix("-----")?
        .strip_prefix(kind)?
        .strip_prefix(' ')?
        .strip_suffix("-----")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_blocks_and_ignores_surrounding_text() {
        let text = b"subject=CN=x\n-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n\
                     junk\n-----BEGIN ENCRYPTED PRIVATE KEY-----\nAw==\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let blocks = parse(text).expect("valid PEM");
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "CERTIFICATE");
        assert_eq!(blocks[0].der, vec![0, 1, 2]);
        assert_eq!(blocks[1].label, "ENCRYPTED PRIVATE KEY");
        assert_eq!(blocks[1].der, vec![3]);
    }

    #[test]
    fn unterminated_and_bad_base64_are_errors() {
        assert!(matches!(
            parse(b"-----BEGIN CERTIFICATE-----\nAAEC\n"),
            Err(PemError::Unterminated { .. })
        ));
        assert!(matches!(
            parse(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"),
            Err(PemError::BadBase64 { .. })
        ));
    }

    #[test]
    fn detects_pem_versus_der() {
        assert!(looks_like_pem(b"x\n-----BEGIN CERTIFICATE-----"));
        assert!(!looks_like_pem(&[0x30, 0x82, 0x01, 0x00]));
    }
}
