//! The framing phase: refuse framings on which two HTTP parsers could disagree
//! (RFC 9112), headers Go would read differently, and upgrades the route does not
//! take; and the hop-by-hop headers (RFC 9110 §7.6.1) that are never forwarded.

use http::header::{self, HeaderMap, HeaderName};
use http::{Request, Version};
use hyper::body::Incoming;

use crate::docker::route::{OpKind, Operation};
use crate::error::ClientError;
use crate::policy::pipeline;

/// Refuse framings on which two HTTP parsers could disagree (RFC 9112 §6).
pub fn check(req: &Request<Incoming>) -> Result<(), ClientError> {
    let h = req.headers();
    let te: Vec<_> = h.get_all(header::TRANSFER_ENCODING).iter().collect();
    let cl = h.get_all(header::CONTENT_LENGTH).iter().count();
    if !te.is_empty() {
        if req.version() == Version::HTTP_10 {
            return Err(ClientError::BadRequest(
                "Transfer-Encoding is not allowed on HTTP/1.0".into(),
            ));
        }
        if cl > 0 {
            return Err(ClientError::BadRequest(
                "both Transfer-Encoding and Content-Length given".into(),
            ));
        }
        let ok = te.len() == 1
            && te[0]
                .to_str()
                .map(|v| v.trim().eq_ignore_ascii_case("chunked"))
                .unwrap_or(false);
        if !ok {
            return Err(ClientError::NotImplemented(
                "only \"Transfer-Encoding: chunked\" is supported".into(),
            ));
        }
    }
    if cl > 1 {
        return Err(ClientError::BadRequest(
            "repeated Content-Length header".into(),
        ));
    }
    // Header values are forwarded as they came, and the daemon reads several of them
    // (Content-Type, X-Registry-Auth, Upgrade, …). Go trims Unicode spaces such as
    // U+00A0 and U+0085 where Portcullis would see a different string, so only visible
    // ASCII, space and tab are accepted; the docker CLI, compose and the SDKs send
    // nothing else (X-Registry-Auth is base64).
    for (name, value) in h {
        if !is_plain_ascii(value.as_bytes()) {
            return Err(ClientError::BadRequest(format!(
                "header {name} contains a byte outside visible ASCII: Portcullis accepts only ASCII header values"
            )));
        }
    }
    let mut content_types = h.get_all(header::CONTENT_TYPE).iter();
    if let Some(ct) = content_types.next() {
        if content_types.next().is_some() {
            return Err(ClientError::BadRequest(
                "more than one Content-Type header: send exactly one".into(),
            ));
        }
        let media = pipeline::media_type(ct);
        if media == "application/x-www-form-urlencoded" || media.starts_with("multipart/") {
            return Err(ClientError::BadRequest(format!(
                "{media} bodies are not accepted: pass parameters in the query string"
            )));
        }
    }
    if req.uri().authority().is_some() || req.uri().scheme().is_some() {
        return Err(ClientError::BadRequest(
            "absolute-form request targets are not accepted".into(),
        ));
    }
    Ok(())
}

/// Visible ASCII, space and horizontal tab only (no obs-text, no controls).
fn is_plain_ascii(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// Whether the request upgrades the connection (attach, exec start, BuildKit session),
/// refusing upgrades the daemon could not honour as asked. Only routes that hijack
/// upgrade; elsewhere an `Upgrade` header is dropped like any hop-by-hop header.
pub fn upgrade(req: &Request<Incoming>, op: &Operation) -> Result<bool, ClientError> {
    if !(req.headers().contains_key(header::UPGRADE) && op.kind.hijacks()) {
        return Ok(false);
    }
    if req.version() != Version::HTTP_11 {
        // RFC 9110 §7.8: Upgrade is an HTTP/1.1 mechanism; the server side could not
        // hand over an HTTP/1.0 connection, so the daemon must not start a session.
        return Err(ClientError::BadRequest(format!(
            "{} needs HTTP/1.1 to upgrade the connection",
            op.kind.name()
        )));
    }
    let want = expected_upgrade(op.kind);
    let got = req.headers()[header::UPGRADE].to_str().unwrap_or("");
    if !got.eq_ignore_ascii_case(want) {
        return Err(ClientError::BadRequest(format!(
            "{} upgrades to {want:?}, not {got:?}",
            op.kind.name()
        )));
    }
    Ok(true)
}

fn expected_upgrade(op: OpKind) -> &'static str {
    match op {
        OpKind::ContainerAttachWebsocket => "websocket",
        OpKind::Session | OpKind::Grpc => "h2c",
        _ => "tcp",
    }
}

/// The headers never forwarded: hop-by-hop (RFC 9110 §7.6.1) and framing.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "content-length"
            | "expect"
    )
}

/// `src` with only its end-to-end headers: `src` itself when it has nothing else (no
/// hop-by-hop or framing header, hence no `Connection` naming others), which spares
/// building a second map for most requests; else the copy [`copy_end_to_end`] makes.
pub fn end_to_end(src: HeaderMap) -> HeaderMap {
    if !src.keys().any(is_hop_by_hop) {
        return src;
    }
    let mut dst = HeaderMap::with_capacity(src.len());
    copy_end_to_end(&src, &mut dst, false);
    dst
}

/// Copy end-to-end headers (RFC 9110 §7.6.1 hop-by-hop ones and framing removed).
pub fn copy_end_to_end(src: &HeaderMap, dst: &mut HeaderMap, keep_upgrade: bool) {
    let mut connection_named: Vec<HeaderName> = Vec::new();
    for v in src.get_all(header::CONNECTION) {
        if let Ok(s) = v.to_str() {
            for t in s.split(',') {
                if let Ok(n) = HeaderName::from_bytes(t.trim().as_bytes()) {
                    connection_named.push(n);
                }
            }
        }
    }
    for (name, value) in src {
        if is_hop_by_hop(name) {
            continue;
        }
        if connection_named.contains(name) && !(keep_upgrade && name == header::UPGRADE) {
            continue;
        }
        dst.append(name.clone(), value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn pairs(h: &HeaderMap) -> Vec<(String, String)> {
        h.iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect()
    }

    #[test]
    fn end_to_end_drops_hop_by_hop_and_connection_named_headers() {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("host", "docker"),
            ("connection", "keep-alive, X-Foo"),
            ("x-foo", "1"),
            ("accept", "a"),
            ("content-length", "2"),
            ("accept", "b"),
            ("te", "trailers"),
            ("x-bar", "2"),
            ("x-foo", "3"),
        ] {
            h.append(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        let want = [
            ("host", "docker"),
            ("accept", "a"),
            ("accept", "b"),
            ("x-bar", "2"),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs(&end_to_end(h)), want);
    }

    #[test]
    fn end_to_end_passes_a_clean_map_as_it_is() {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("user-agent", "x"),
            ("accept", "a"),
            ("host", "h"),
            ("accept", "b"),
        ] {
            h.append(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        let before = pairs(&h);
        assert_eq!(pairs(&end_to_end(h)), before);
    }
}
