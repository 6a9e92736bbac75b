//! Request-target canonicalisation: the path exactly as dockerd's router sees it.
//!
//! dockerd (gorilla/mux without `UseEncodedPath`) matches routes on the percent-decoded
//! path, registers every route twice (with and without a `/v{version}` prefix) and
//! compares versions numerically per dot component (`/v01.041` is 1.41). Portcullis
//! decodes once as Go's `url.PathUnescape` does, refuses anything that is not already
//! clean (dockerd would answer those with a redirect), parses the version and hands
//! the route table the bare path. The upstream then receives the canonical form that
//! Portcullis rebuilt, never the client's spelling.
//!
//! A name or id segment may hold every character dockerd's router matches there
//! (`[^/]+`, or `.*` for image names): spaces (network `test 01`), any Unicode, `@`,
//! `:`, `+`, `%`, `?`, `#` once decoded. A `%2F` decodes to `/` before routing, as in
//! mux, so it separates segments (and is part of a greedy image name). Only what would
//! change routing is refused (empty, `.` and `..` segments, a trailing `/`), plus
//! invalid UTF-8 and control characters, which no object name the daemon creates
//! contains and which would garble logs and audit records.

use std::fmt;

/// A Docker API version, `major.minor` (e.g. 1.41).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u16,
    pub minor: u16,
}

impl ApiVersion {
    pub const fn new(major: u16, minor: u16) -> Self {
        ApiVersion { major, minor }
    }

    /// Parse `1.41`, `01.041` or `1.41.0` the way dockerd compares versions: numeric
    /// per component, missing components are zero. A third component other than zero
    /// makes a version dockerd does not have; it is refused.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split('.');
        let major = parse_component(parts.next()?)?;
        let minor = parse_component(parts.next()?)?;
        for rest in parts {
            if parse_component(rest)? != 0 {
                return None;
            }
        }
        Some(ApiVersion { major, minor })
    }
}

fn parse_component(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Why a request target cannot be routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// A `%` not followed by two hex digits (Go's `url.PathUnescape` fails).
    BadEscape,
    /// The decoded path is not in the clean form dockerd routes without redirecting.
    NotCanonical(&'static str),
    /// A control character or invalid UTF-8: no Docker object name contains one.
    BadCharacter(char),
    /// `/vX.Y` prefix that is not a version.
    BadVersion(String),
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::BadEscape => write!(f, "invalid percent-encoding in the request path"),
            PathError::NotCanonical(why) => write!(f, "request path is not canonical: {why}"),
            PathError::BadCharacter(c) => {
                write!(f, "request path contains a character not allowed: {c:?}")
            }
            PathError::BadVersion(v) => write!(f, "invalid API version in path: {v:?}"),
        }
    }
}

/// A decoded, canonical request path split into its version prefix and route path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath {
    pub version: Option<ApiVersion>,
    /// Route path without the version prefix, e.g. `/containers/abc/json`.
    pub path: String,
}

impl CanonicalPath {
    /// The path to send upstream, percent-encoded where needed.
    pub fn to_upstream(&self) -> String {
        let mut out = String::with_capacity(self.path.len() + 8);
        if let Some(v) = self.version {
            out.push_str("/v");
            out.push_str(&v.to_string());
        }
        for b in self.path.bytes() {
            if is_unreserved_path_byte(b) {
                out.push(b as char);
            } else {
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
        out
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn is_unreserved_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~' | b':' | b'@')
}

/// Characters allowed in a decoded path: every character but the controls (C0, DEL
/// and C1), which no object name contains.
fn allowed_path_char(c: char) -> bool {
    !c.is_control()
}

/// Percent-decode once, as Go's `url.PathUnescape`.
pub fn percent_decode(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16));
            let lo = bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16));
            match (hi, lo) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return Err(PathError::BadEscape),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PathError::BadCharacter('\u{fffd}'))
}

/// Decode and canonicalise the path part of a request target.
pub fn canonicalise(raw_path: &str) -> Result<CanonicalPath, PathError> {
    let decoded = percent_decode(raw_path)?;
    if !decoded.starts_with('/') {
        return Err(PathError::NotCanonical("it must start with '/'"));
    }
    if let Some(c) = decoded.chars().find(|c| !allowed_path_char(*c)) {
        return Err(PathError::BadCharacter(c));
    }
    if decoded.contains("//") {
        return Err(PathError::NotCanonical("empty path segment"));
    }
    if decoded.len() > 1 && decoded.ends_with('/') {
        return Err(PathError::NotCanonical("trailing '/'"));
    }
    if decoded.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(PathError::NotCanonical("'.' or '..' segment"));
    }
    // `/v{version:[0-9.]+}/rest`
    if let Some(rest) = decoded.strip_prefix("/v") {
        let end = rest.find('/').unwrap_or(rest.len());
        let candidate = &rest[..end];
        if !candidate.is_empty() && candidate.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            let version = ApiVersion::parse(candidate)
                .ok_or_else(|| PathError::BadVersion(candidate.to_string()))?;
            let path = if end == rest.len() {
                // `/v1.41` alone matches no route; keep it unroutable.
                String::new()
            } else {
                rest[end..].to_string()
            };
            return Ok(CanonicalPath {
                version: Some(version),
                path,
            });
        }
    }
    Ok(CanonicalPath {
        version: None,
        path: decoded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        for (s, want) in [
            ("1.41", Some((1, 41))),
            ("01.041", Some((1, 41))),
            ("1.41.0", Some((1, 41))),
            ("1.41.9", None),
            ("1..41", None),
            (".", None),
            ("1", None),
            ("1.", None),
        ] {
            assert_eq!(
                ApiVersion::parse(s).map(|v| (v.major, v.minor)),
                want,
                "{s}"
            );
        }
    }

    #[test]
    fn canonical_paths() {
        let ok = |raw: &str, v: Option<(u16, u16)>, p: &str| {
            let c = canonicalise(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(c.version.map(|v| (v.major, v.minor)), v, "{raw}");
            assert_eq!(c.path, p, "{raw}");
        };
        ok("/_ping", None, "/_ping");
        ok("/v1.41/containers/json", Some((1, 41)), "/containers/json");
        ok(
            "/v01.041/containers/json",
            Some((1, 41)),
            "/containers/json",
        );
        ok("/%63ontainers/json", None, "/containers/json");
        ok("/containers/X%2Fexec", None, "/containers/X/exec");
        ok(
            "/v1.41/images/reg:5000/a/b:1@sha256:00/json",
            Some((1, 41)),
            "/images/reg:5000/a/b:1@sha256:00/json",
        );
        // `/V1.41` is not a version prefix for dockerd either: it stays a path.
        ok("/V1.41/containers/json", None, "/V1.41/containers/json");
    }

    #[test]
    fn refused_paths() {
        for raw in [
            "/containers//json",
            "/containers/./json",
            "/containers/../json",
            "/containers/json/",
            "/v1.41//containers/json",
            "/containers/%zz/json",
            "/containers/%",
            "/containers/%2e%2e/json",
            "containers/json",
            "/v1..41/containers/json",
            "/v1.41.1/containers/json",
            "/containers/%00/json",
            "/containers/a%0Ab/json",
            "/containers/a%7Fb/json",
            "/containers/a%C2%85b/json",
            "/containers/%C3/json",
            "/networks/%2E%2E",
        ] {
            assert!(canonicalise(raw).is_err(), "{raw} should be refused");
        }
    }

    /// Every printable ASCII character, and Unicode, is accepted in a name segment: it
    /// routes as dockerd routes it and is forwarded encoded so that the daemon decodes
    /// the same name.
    #[test]
    fn names_with_every_printable_character_route_and_round_trip() {
        use super::super::route::{classify, OpKind};
        let mut names: Vec<String> = (0x20u8..0x7F)
            .filter(|b| *b != b'/')
            .map(|b| format!("a{}b", b as char))
            .collect();
        names.extend(
            [
                "test 01",
                " lead",
                "trail ",
                "é",
                "网络",
                "\u{1F600}",
                "\u{212A}",
                "%",
                ".x",
                "x.",
            ]
            .map(String::from),
        );
        names.extend(
            (0x20u8..0x7F)
                .filter(|b| *b != b'/' && *b != b'.')
                .map(|b| (b as char).to_string()),
        );
        for name in names {
            let encoded: String = name.bytes().map(|b| format!("%{b:02X}")).collect();
            let c = canonicalise(&format!("/v1.41/networks/{encoded}"))
                .unwrap_or_else(|e| panic!("{name:?}: {e}"));
            assert_eq!(c.path, format!("/networks/{name}"), "{name:?}");
            let op = classify(&http::Method::DELETE, &c.path);
            assert_eq!(op.kind, OpKind::NetworkDelete, "{name:?}");
            assert_eq!(op.target.as_deref(), Some(name.as_str()));
            let up = c.to_upstream();
            assert!(up.bytes().all(|b| b.is_ascii_graphic()), "{up}");
            assert_eq!(canonicalise(&up).unwrap(), c, "{name:?}");
            // Image names are greedy: `%2F` is a separator that stays in the name.
            let c = canonicalise(&format!("/images/reg%2Frepo{encoded}/json")).unwrap();
            let op = classify(&http::Method::GET, &c.path);
            assert_eq!(op.kind, OpKind::ImageInspect, "{name:?}");
            assert_eq!(op.target, Some(format!("reg/repo{name}")));
        }
    }

    #[test]
    fn upstream_form_round_trips() {
        let c = canonicalise("/v01.041/%63ontainers/abc/json").unwrap();
        assert_eq!(c.to_upstream(), "/v1.41/containers/abc/json");
        let c = canonicalise("/images/a+b=c,d/json").unwrap();
        assert_eq!(c.to_upstream(), "/images/a%2Bb%3Dc%2Cd/json");
        assert_eq!(
            canonicalise(&c.to_upstream()).unwrap().path,
            "/images/a+b=c,d/json"
        );
    }
}
