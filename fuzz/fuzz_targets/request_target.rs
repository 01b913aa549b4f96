//! The canonical request target: the path every decision is made on and the backend receives,
//! and the one host. Properties: canonicalisation is idempotent; its output holds no dot
//! segment, no `//`, no encoded `/` or `\`, no `\` and no control character, raw or encoded;
//! a path that a backend's normaliser (python's `http.server`, or an IIS/Tomcat-like reader)
//! maps under a protected prefix is refused, or judged under that prefix — never excused by an
//! exclusion path, never let past a rule that requires a certificate. A parsed host prints
//! back to itself and holds nothing a URL parser reads as another host.
#![no_main]

use dataplane::canon::path::{canonical_path, loosen, prefix_covers};
use dataplane::canon::Authority;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    host(raw);
    let Ok(canonical) = canonical_path(raw) else {
        return;
    };
    assert_eq!(
        canonical_path(&canonical).as_deref(),
        Ok(&*canonical),
        "idempotent"
    );
    assert!(canonical.starts_with('/'));
    assert!(!canonical.contains("//"), "{canonical}");
    assert!(!canonical.contains('\\'), "{canonical}");
    for segment in canonical.split('/') {
        assert!(segment != "." && segment != "..", "{canonical}");
    }
    for (i, b) in canonical.bytes().enumerate() {
        assert!(b.is_ascii_graphic(), "{canonical}");
        if b == b'%' {
            let escape = canonical[i + 1..i + 3].to_ascii_uppercase();
            assert!(escape != "2F" && escape != "5C", "{canonical}");
            let value = u8::from_str_radix(&escape, 16).expect("hex escape");
            assert!(value >= 0x20 && value != 0x7f, "{canonical}");
        }
    }
    let loose = loosen(&canonical);
    // Required, with `/public` excluded: nothing a backend reads under `/admin` is excused.
    let excluded =
        prefix_covers("/public", &canonical, false) && prefix_covers("/public", &loose, false);
    // Optional, with `/admin` requiring a certificate and `/` open.
    let judged_under_admin =
        prefix_covers("/admin", &canonical, false) || prefix_covers("/admin", &loose, false);
    // The backend receives the canonical path; a reader that decodes it whole before it splits
    // off a query or fragment must not find `/admin` in it either.
    let readers = [
        ("python", python(raw)),
        ("loose", loose_reader(raw)),
        ("decode-first", decode_first(&canonical)),
    ];
    for (reader, read) in readers {
        if prefix_covers("/admin", &read, false) {
            assert!(!excluded, "{raw:?} is excused as {canonical} but {reader} reads {read}");
            assert!(
                judged_under_admin,
                "{raw:?} is judged as {canonical} but {reader} reads {read}"
            );
        }
    }
});

/// python's `http.server`: the path before `?` and `#`, wholly percent-decoded, `..` and `.`
/// resolved, empty segments dropped.
fn python(raw: &str) -> String {
    normpath(&percent_decode(raw.split(['?', '#']).next().unwrap_or("")))
}

/// An IIS/Tomcat/Windows-like reader on top of python's: `\` as `/`, case folded as a
/// case-insensitive file system does (a letter whose capital is ASCII is that letter), each
/// segment without `;parameters` before dot segments are resolved (Tomcat), and without
/// trailing dots and spaces after (Windows).
fn loose_reader(raw: &str) -> String {
    let decoded: String = percent_decode(raw.split(['?', '#']).next().unwrap_or(""))
        .replace('\\', "/")
        .chars()
        .flat_map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(u), None) if u.is_ascii() => vec![u.to_ascii_lowercase()],
                _ => c.to_lowercase().collect(),
            }
        })
        .collect();
    let without_parameters: Vec<&str> = decoded
        .split('/')
        .map(|s| s.split(';').next().unwrap_or(""))
        .collect();
    let resolved = normpath(&without_parameters.join("/"));
    let trimmed: Vec<&str> = resolved
        .split('/')
        .map(|s| s.trim_end_matches(['.', ' ']))
        .collect();
    normpath(&trimmed.join("/"))
}

/// A reader that percent-decodes the whole target, then cuts it at `?` or `#`, then resolves
/// dot segments, with case folded.
fn decode_first(target: &str) -> String {
    let decoded = percent_decode(target).to_ascii_lowercase();
    normpath(decoded.split(['?', '#']).next().unwrap_or(""))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |j: usize| {
            bytes
                .get(j)
                .and_then(|b| char::from(*b).to_digit(16))
                .and_then(|d| u8::try_from(d).ok())
        };
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push(h * 16 + l);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn normpath(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            s => kept.push(s),
        }
    }
    format!("/{}", kept.join("/"))
}

fn host(raw: &str) {
    let Ok(a) = Authority::parse(raw) else {
        return;
    };
    let shown = a.to_string();
    assert_eq!(Authority::parse(&shown).as_ref(), Ok(&a), "{raw:?} prints as {shown:?}");
    assert!(
        !shown.contains(['@', '/', '\\', '?', '#', ' ', '%']),
        "{raw:?} prints as {shown:?}"
    );
}
