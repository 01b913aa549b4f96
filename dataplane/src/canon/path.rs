//! The canonical request path, and the looser readings a backend may take of it.
//!
//! [`canonical_path`] applies RFC 3986's syntax-based normalisation and nothing that needs a
//! guess: percent-escapes of unreserved characters are decoded (`%61` → `a`, `%2E` → `.`),
//! other escapes get uppercase hex, characters a path may not hold raw (`"`, `{`, `|`, …) are
//! percent-encoded, dot segments are removed (RFC 3986 §5.2.4) and repeated slashes merged. The
//! result is what every decision is made on and what the backend receives.
//!
//! What backends read in more than one way is refused ([`PathError`]): an encoded `/` or `\`
//! (decoded by some into a separator, by others not), a raw `\` (a separator to IIS), control
//! characters and NUL raw or encoded, malformed or double escapes (`%252e` is `.` to a backend
//! that decodes twice), a segment that is a dot segment once its `;parameters` or trailing dots
//! and spaces are dropped (`..;x` is `..` to Tomcat, `.. ` to Windows), a `..` after an empty or
//! parameters-only segment (`/a//..` is `/a/` by RFC 3986 and `/` to a server that merges
//! slashes first; Tomcat drops `;x` from `/a/;x/..` first), a `#`, and escapes that are not
//! UTF-8 (overlong `%C0%AE` is `.` to old decoders).
//!
//! Backends that still read a canonical path more loosely (IIS and ASP.NET fold case; Tomcat,
//! Jetty and Spring drop `;parameters`; Windows drops trailing dots and spaces of a segment;
//! many frameworks ignore a trailing slash) get [`loosen`]: the certificate requirement is
//! judged on that reading too, so it errs on the closed side.

use std::borrow::Cow;

/// Why a request path is refused (HTTP 400): each is a path that backends read differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// Not a path: neither starting with `/` nor `*` (for `OPTIONS` only).
    #[error("the request target must be a path starting with '/' ('*' only for OPTIONS)")]
    NotAPath,
    /// `%2F` or `%5C`.
    #[error("the path holds an encoded '/' or '\\' (%2F, %5C), which backends read differently")]
    EncodedSlash,
    /// A raw `\`.
    #[error("the path holds a '\\', which some backends read as '/'")]
    Backslash,
    /// A control character or NUL, raw or encoded.
    #[error("the path holds a control character or NUL, raw or percent-encoded")]
    ControlCharacter,
    /// `%` not followed by two hex digits.
    #[error("the path holds a malformed percent escape ('%' not followed by two hex digits)")]
    MalformedEscape,
    /// `%25` followed by two hex digits.
    #[error("the path holds a double percent escape (%25 followed by hex digits)")]
    DoubleEncoding,
    /// A segment that is a dot segment once `;parameters`, trailing dots or spaces are dropped,
    /// or a `..` after an empty or parameters-only segment.
    #[error(
        "the path has a dot segment backends resolve differently (dots with ';parameters', trailing dots or spaces, or '..' after an empty or parameters-only segment)"
    )]
    AmbiguousDotSegment,
    /// Escapes that decode to bytes that are not UTF-8 (overlong forms among them).
    #[error("the path's percent-escapes are not UTF-8")]
    NotUtf8,
    /// A space, `#`, or a byte that is not ASCII.
    #[error("the path holds a space, a '#' or a byte that is not ASCII")]
    InvalidCharacter,
}

impl PathError {
    /// Every refusal, for docs and metrics.
    pub const ALL: [Self; 9] = [
        Self::NotAPath,
        Self::EncodedSlash,
        Self::Backslash,
        Self::ControlCharacter,
        Self::MalformedEscape,
        Self::DoubleEncoding,
        Self::AmbiguousDotSegment,
        Self::NotUtf8,
        Self::InvalidCharacter,
    ];

    /// A stable label for metrics and the access log.
    pub fn label(self) -> &'static str {
        match self {
            Self::NotAPath => "NotAPath",
            Self::EncodedSlash => "EncodedSlash",
            Self::Backslash => "Backslash",
            Self::ControlCharacter => "ControlCharacter",
            Self::MalformedEscape => "MalformedEscape",
            Self::DoubleEncoding => "DoubleEncoding",
            Self::AmbiguousDotSegment => "AmbiguousDotSegment",
            Self::NotUtf8 => "NotUtf8",
            Self::InvalidCharacter => "InvalidCharacter",
        }
    }
}

/// The canonical form of `raw`, a request path without its query (see the module docs).
/// Borrowed when `raw` is canonical already, as nearly every request's path is.
pub fn canonical_path(raw: &str) -> Result<Cow<'_, str>, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAPath);
    }
    if is_canonical_plain(raw) {
        return Ok(Cow::Borrowed(raw));
    }
    let decoded = decode(raw)?;
    let path = remove_dot_segments(&decoded)?;
    Ok(if path == raw {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(path)
    })
}

/// The loosest reading of a canonical path a common backend may take: ASCII lowercase (and
/// the three non-ASCII letters that fold to ASCII ones), each segment without `;parameters`
/// (also written `%3B`) and without trailing dots and spaces (`%20`), empty segments merged,
/// no trailing slash (but for `/`), nothing from an encoded `?` or `#` on. Used to judge the
/// certificate requirement, never to route or forward.
pub fn loosen(canonical: &str) -> String {
    if canonical == "*" {
        return "/".into();
    }
    // A backend that decodes the whole target before it splits off the query or fragment
    // reads `/admin%3Fx` as `/admin`.
    let end = ["%3F", "%23"]
        .iter()
        .filter_map(|e| canonical.find(e))
        .min()
        .unwrap_or(canonical.len());
    let mut out = String::with_capacity(canonical.len());
    for segment in canonical[..end].split('/') {
        let segment = loose_segment(segment);
        if !segment.is_empty() {
            out.push('/');
            out.extend(segment.chars().map(|c| c.to_ascii_lowercase()));
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    // Letters outside ASCII that a case-insensitive file system (NTFS's upcase table) or a
    // Unicode case fold equates with ASCII ones: `ı` and `ſ` upcase to `I` and `S`, the
    // Kelvin sign lowercases to `k`.
    if out.contains('%') {
        for (escaped, ascii) in [("%c4%b1", "i"), ("%c5%bf", "s"), ("%e2%84%aa", "k")] {
            if out.contains(escaped) {
                out = out.replace(escaped, ascii);
            }
        }
    }
    out
}

/// Whether the path prefix `prefix` covers `path`, segment by segment: `/public` covers
/// `/public` and `/public/…`, never `/publicity`; a trailing slash on the prefix changes
/// nothing; `/` covers every path (and `*`). ASCII case is ignored when `fold_case` is set.
pub fn prefix_covers(prefix: &str, path: &str, fold_case: bool) -> bool {
    let eq = |a: &[u8], b: &[u8]| {
        if fold_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    let p = prefix.strip_suffix('/').unwrap_or(prefix).as_bytes();
    if p.is_empty() {
        return true;
    }
    let path = path.as_bytes();
    path.len() >= p.len()
        && eq(&path[..p.len()], p)
        && (path.len() == p.len() || path[p.len()] == b'/')
}

/// A segment without its `;parameters` and trailing dots and spaces.
fn loose_segment(segment: &str) -> &str {
    let mut s = without_parameters(segment);
    loop {
        let trimmed = s.strip_suffix('.').or_else(|| s.strip_suffix("%20"));
        match trimmed {
            Some(t) => s = t,
            None => return s,
        }
    }
}

/// A segment up to its first `;` (raw or `%3B`).
fn without_parameters(segment: &str) -> &str {
    let raw = segment.find(';');
    let encoded = segment
        .as_bytes()
        .windows(3)
        .position(|w| w[0] == b'%' && w[1] == b'3' && w[2] == b'B');
    match (raw, encoded) {
        (Some(a), Some(b)) => &segment[..a.min(b)],
        (Some(a), None) | (None, Some(a)) => &segment[..a],
        (None, None) => segment,
    }
}

/// Characters a path segment holds raw in canonical form: RFC 3986 `pchar` without `%`
/// (unreserved, sub-delims, `:` and `@`).
fn is_pchar(b: u8) -> bool {
    is_unreserved(b) || b"!$&'()*+,;=:@".contains(&b)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

/// The quick check that keeps the common request allocation-free: only raw `pchar`s and
/// slashes, no empty inner segment, no segment of dots alone.
fn is_canonical_plain(raw: &str) -> bool {
    if !raw.bytes().all(|b| b == b'/' || is_pchar(b)) {
        return false;
    }
    let mut segments = raw[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if (segment.is_empty() && !last) || is_dotted(segment) {
            return false;
        }
    }
    true
}

/// Whether a segment is made of dots once its parameters and trailing spaces are dropped
/// (`.`, `..`, `...`, `..;x`, `.%20`): what some backend reads as a dot segment.
fn is_dotted(segment: &str) -> bool {
    let mut s = without_parameters(segment);
    while let Some(t) = s.strip_suffix("%20") {
        s = t;
    }
    !s.is_empty() && s.bytes().all(|b| b == b'.')
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Decodes unreserved escapes, uppercases the others, encodes what may not appear raw, and
/// refuses what backends read differently.
fn decode(raw: &str) -> Result<String, PathError> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut high = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let value = match (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) {
                    (Some(h), Some(l)) => h * 16 + l,
                    _ => return Err(PathError::MalformedEscape),
                };
                match value {
                    b'/' | b'\\' => return Err(PathError::EncodedSlash),
                    0..=0x1f | 0x7f => return Err(PathError::ControlCharacter),
                    v if is_unreserved(v) => out.push(char::from(v)),
                    v => {
                        high |= v >= 0x80;
                        out.push('%');
                        out.push(char::from(HEX[usize::from(v >> 4)]));
                        out.push(char::from(HEX[usize::from(v & 0xf)]));
                    }
                }
                i += 3;
                continue;
            }
            b'\\' => return Err(PathError::Backslash),
            0..=0x1f | 0x7f => return Err(PathError::ControlCharacter),
            b' ' | b'#' | b'?' | 0x80.. => return Err(PathError::InvalidCharacter),
            b'/' => out.push('/'),
            b if is_pchar(b) => out.push(char::from(b)),
            // `"`, `<`, `>`, `[`, `]`, `^`, `` ` ``, `{`, `|`, `}`: not allowed raw in a path,
            // sent by some clients anyway; their escape is the one unambiguous form.
            b => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
        i += 1;
    }
    // Judged on the result: decoding `%33` after `%252` makes `%253…` too.
    let escaped_percent = out.match_indices("%25").any(|(at, _)| {
        let next = &out.as_bytes()[at + 3..];
        next.len() >= 2 && hex(next[0]).is_some() && hex(next[1]).is_some()
    });
    if escaped_percent {
        return Err(PathError::DoubleEncoding);
    }
    if high && std::str::from_utf8(&percent_decode_all(&out)).is_err() {
        return Err(PathError::NotUtf8);
    }
    Ok(out)
}

/// Every escape decoded (for the UTF-8 check only; the input's escapes are well-formed).
fn percent_decode_all(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
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
    out
}

/// RFC 3986 §5.2.4 on a decoded path, with repeated slashes merged; a trailing slash (or a
/// trailing dot segment, which stands for one) is kept. A `..` may not remove an empty segment
/// (`/a//..`) or one that is empty without its parameters (`/a/;x/..`): backends that merge
/// slashes or drop parameters first (Tomcat) let it remove the segment before instead.
fn remove_dot_segments(decoded: &str) -> Result<String, PathError> {
    let mut kept: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    let mut segments = decoded[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        match segment {
            "." => trailing_slash = last,
            ".." => {
                if kept.pop().is_some_and(|s| without_parameters(s).is_empty()) {
                    return Err(PathError::AmbiguousDotSegment);
                }
                trailing_slash = last;
            }
            s if is_dotted(s) => return Err(PathError::AmbiguousDotSegment),
            s => {
                kept.push(s);
                trailing_slash = s.is_empty() && last;
            }
        }
    }
    let mut path = String::with_capacity(decoded.len());
    for s in kept.iter().filter(|s| !s.is_empty()) {
        path.push('/');
        path.push_str(s);
    }
    if trailing_slash || path.is_empty() {
        path.push('/');
    }
    Ok(path)
}

#[cfg(test)]
mod tests;
