//! Unit tests of `path`.

use super::*;

fn canon(raw: &str) -> Result<String, PathError> {
    canonical_path(raw).map(Cow::into_owned)
}

#[test]
fn dot_segments_escapes_and_slashes_become_one_form() {
    for (raw, want) in [
        ("/", "/"),
        ("/admin/secret.txt", "/admin/secret.txt"),
        ("/public/../admin/secret.txt", "/admin/secret.txt"),
        ("/public/%2e%2e/admin/secret.txt", "/admin/secret.txt"),
        ("/public/%2E%2e/admin/secret.txt", "/admin/secret.txt"),
        ("/publicX/../admin/secret.txt", "/admin/secret.txt"),
        ("//admin/x", "/admin/x"),
        ("/./admin/x", "/admin/x"),
        ("/x/../admin/x", "/admin/x"),
        ("/%61dmin/x", "/admin/x"),
        ("/admin/secret.tx%74", "/admin/secret.txt"),
        ("/admin//secret.txt", "/admin/secret.txt"),
        ("/a/b/", "/a/b/"),
        ("/a/b/.", "/a/b/"),
        ("/a/b/..", "/a/"),
        ("/..", "/"),
        ("/../../..", "/"),
        ("/a//", "/a/"),
        ("//", "/"),
        ("/a%2b%3a", "/a%2B%3A"),
        ("/a{b}|c", "/a%7Bb%7D%7Cc"),
        ("/admin;x/secret", "/admin;x/secret"),
        ("/%25zz", "/%25zz"),
        ("/caf%C3%A9", "/caf%C3%A9"),
        ("/a/.b/..c/c..", "/a/.b/..c/c.."),
        // `..` takes away `admin.` whole, as Windows resolves it before trimming the dot.
        ("/./admin./..//..:::/pb/", "/..:::/pb/"),
    ] {
        assert_eq!(canon(raw).as_deref(), Ok(want), "{raw}");
        assert_eq!(canon(want).as_deref(), Ok(want), "idempotent on {want}");
    }
}

#[test]
fn what_backends_read_differently_is_refused() {
    use PathError::*;
    for (raw, why) in [
        ("admin", NotAPath),
        ("", NotAPath),
        ("*", NotAPath),
        ("/public%2f..%2fadmin/secret.txt", EncodedSlash),
        ("/admin%2Fsecret.txt", EncodedSlash),
        ("/%2fadmin/x", EncodedSlash),
        ("/admin%5cx", EncodedSlash),
        ("/admin\\secret.txt", Backslash),
        ("/admin%00.txt", ControlCharacter),
        ("/admin%0a", ControlCharacter),
        ("/admin%7F", ControlCharacter),
        ("/admin\t", ControlCharacter),
        ("/admin%", MalformedEscape),
        ("/admin%4", MalformedEscape),
        ("/admin%zz", MalformedEscape),
        ("/%252e%252e/admin", DoubleEncoding),
        // Found by the fuzzer: `%33` decodes to `3`, and `%252` + `3` is `%253`.
        ("/%252%333", DoubleEncoding),
        ("/public/..;/admin", AmbiguousDotSegment),
        ("/public/.;x/admin", AmbiguousDotSegment),
        ("/public/..%3Bx/admin", AmbiguousDotSegment),
        ("/public/.../admin", AmbiguousDotSegment),
        ("/public/..%20/admin", AmbiguousDotSegment),
        ("/public/%2e%2e%3b/admin", AmbiguousDotSegment),
        // Found by the fuzzer: Tomcat drops `;x` first, and `..` then removes `a`.
        ("/a;/;;a%3C%3B_/../admin", AmbiguousDotSegment),
        ("/admin/;x/../secret", AmbiguousDotSegment),
        ("/admin//../secret", AmbiguousDotSegment),
        ("/admin//./../secret", AmbiguousDotSegment),
        ("/%C0%AE%C0%AE/admin", NotUtf8),
        ("/%E9t%E9", NotUtf8),
        ("/a b", InvalidCharacter),
        ("/admin/secret#/../../public", InvalidCharacter),
        ("/caf\u{e9}", InvalidCharacter),
    ] {
        assert_eq!(canon(raw), Err(why), "{raw:?}");
    }
}

#[test]
fn the_loose_reading_folds_case_parameters_and_trailing_dots() {
    for (canonical, want) in [
        ("/", "/"),
        ("*", "/"),
        ("/ADMIN/Secret.TXT", "/admin/secret.txt"),
        ("/admin;x/secret", "/admin/secret"),
        ("/admin%3Bx/secret", "/admin/secret"),
        ("/;jsessionid=1/admin", "/admin"),
        ("/admin./secret.txt.", "/admin/secret.txt"),
        ("/admin%20/x", "/admin/x"),
        ("/admin/", "/admin"),
        ("/admin%3F/secret", "/admin"),
        ("/admin%23x/y", "/admin"),
        ("/adm%C4%B1n/%C5%BFecret", "/admin/secret"),
        ("/%E2%84%AAey", "/key"),
    ] {
        assert_eq!(loosen(canonical), want, "{canonical}");
    }
}

#[test]
fn prefixes_cover_whole_segments_only() {
    assert!(prefix_covers("/public", "/public", false));
    assert!(prefix_covers("/public", "/public/x", false));
    assert!(prefix_covers("/public/", "/public", false));
    assert!(prefix_covers("/public/", "/public/x", false));
    assert!(!prefix_covers("/public", "/publicity", false));
    assert!(!prefix_covers("/public", "/public-admin/x", false));
    assert!(!prefix_covers("/public", "/PUBLIC/x", false));
    assert!(prefix_covers("/public", "/PUBLIC/x", true));
    assert!(!prefix_covers("/public", "/pub", false));
    assert!(prefix_covers("/", "/anything", false));
    assert!(prefix_covers("/", "*", false));
    assert!(!prefix_covers("/a", "*", false));
}
