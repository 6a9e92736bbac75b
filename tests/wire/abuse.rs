//! Raw-socket HTTP abuse tests: malformed, ambiguous and hostile HTTP/1.x sent straight
//! to Portcullis (plain TCP, built-in default policy) in front of a fake daemon on a
//! unix socket that records every byte it receives.
//!
//! Each case ends in exactly one of:
//! * a **parse-level refusal** by hyper: one bodiless `4xx` written by hyper itself, then
//!   the connection closes (nothing reaches Portcullis' service, so no Docker JSON);
//! * a **Portcullis refusal**: a `4xx`/`5xx` in Docker's `{"message": …}` shape;
//! * a **correct forward**: the daemon receives the request Portcullis checked,
//!   re-framed, exactly once.
//!
//! In every case the daemon's recorded bytes are checked: nothing the policy did not see
//! (denied bodies, smuggled second requests, privileged HostConfigs) ever reaches it.

use crate::common::fake_daemon::{self, Record};
use crate::common::inproc::InProc;
use crate::common::wire::{exchange, find, read_reply, Reply, Resp, Seen, IO_TIMEOUT};

use std::time::{Duration, Instant};

use portcullis::audit::AuditSink;
use portcullis::proxy::body::Observers;
use portcullis::proxy::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Denied by the default policy (PC-1001).
const PRIV: &str = r#"{"Image":"x","HostConfig":{"Privileged":true}}"#;
/// Allowed by the default policy, and already in canonical form.
const OK: &str = r#"{"Image":"x"}"#;
/// [`OK`] as the daemon receives it: the default policy isolates tenants, so the
/// anonymous tenant's (plain TCP, no certificate) owner label is stamped in.
const STAMPED: &str = r#"{"Image":"x","Labels":{"io.portcullis.owner":"anonymous"}}"#;
/// The container list as the daemon receives it: narrowed to the anonymous tenant.
const LIST: &str = "GET /v1.41/containers/json?filters=%7B%22label%22%3A%7B%22io.portcullis.owner%3Danonymous%22%3Atrue%7D%7D HTTP/1.1";
/// `POST /build?t=a` as the daemon receives it: the image labelled for the tenant.
const BUILD: &str =
    "POST /v1.41/build?t=a&labels=%7B%22io.portcullis.owner%22%3A%22anonymous%22%7D ";
/// A marker put in smuggled bytes: it must never reach the daemon.
const SMUGGLED: &str = "smuggled";

// ---------------------------------------------------------------------------
// The proxy, in front of a fake daemon
// ---------------------------------------------------------------------------

/// Portcullis on 127.0.0.1:0, plain TCP, built-in default policy, default limits, in
/// front of a fresh fake daemon that knows no object.
async fn start() -> InProc {
    start_with(Limits::default(), 64).await
}

/// [`start`] with the given limits and connection limit.
async fn start_with(limits: Limits, max_connections: usize) -> InProc {
    start_observed(limits, max_connections, Observers::default()).await
}

/// [`start_with`] reporting to the given observers.
async fn start_observed(limits: Limits, max_connections: usize, observers: Observers) -> InProc {
    InProc::start_with(limits, max_connections, observers)
        .await
        .with_daemon(fake_daemon::docker_like)
}

/// Give anything in flight a moment to reach the daemon.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(100)).await;
}

// ---------------------------------------------------------------------------
// Expectations
// ---------------------------------------------------------------------------

/// A refusal written by hyper's parser: one bodiless response with `status`, then the
/// connection closes.
fn assert_parse_refusal(name: &str, reply: &Reply, status: u16) {
    assert_eq!(
        reply.responses.len(),
        1,
        "{name}: one response expected: {}",
        reply.raw
    );
    let r = &reply.responses[0];
    assert_eq!(r.status, status, "{name}: {}", reply.raw);
    assert!(
        r.body.is_empty(),
        "{name}: hyper's refusal has no body: {}",
        reply.raw
    );
    assert!(
        reply.closed,
        "{name}: the connection must close: {}",
        reply.raw
    );
}

/// A refusal by Portcullis in Docker's error shape.
fn assert_docker_error(name: &str, r: &Resp, status: u16, needle: &str) {
    assert_eq!(r.status, status, "{name}: {} {}", r.head, r.body_str());
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json"),
        "{name}: {}",
        r.head
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{name}: body is not JSON ({e}): {}", r.body_str()));
    let msg = v["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: no \"message\": {v}"));
    assert!(
        msg.contains(needle),
        "{name}: message {msg:?} lacks {needle:?}"
    );
}

/// Nothing was forwarded for a client (lookups aside), and no poisoned byte reached
/// the daemon.
fn assert_not_forwarded(name: &str, rec: &Record) {
    let fwd = rec.forwarded();
    assert!(fwd.is_empty(), "{name}: the daemon received {fwd:#?}");
    assert_clean(name, rec);
}

/// No denied body, privileged HostConfig or smuggled marker in the daemon's bytes.
fn assert_clean(name: &str, rec: &Record) {
    let raw = rec.raw();
    for poison in ["Privileged", SMUGGLED, "HostConfig"] {
        assert!(
            !raw.contains(poison),
            "{name}: {poison:?} reached the daemon:\n{raw}"
        );
    }
}

/// Exactly one request forwarded for the client: `line` (request line prefix) with
/// `body`, re-framed by Portcullis.
fn assert_forwarded_once(name: &str, rec: &Record, line: &str, body: &str) -> Seen {
    let fwd = rec.forwarded();
    assert_eq!(fwd.len(), 1, "{name}: expected one forward, got {fwd:#?}");
    let s = fwd[0].clone();
    assert!(
        s.line().starts_with(line),
        "{name}: daemon saw {:?}, expected {line:?}",
        s.line()
    );
    assert_eq!(String::from_utf8_lossy(&s.body), body, "{name}: body");
    assert!(
        s.line().ends_with(" HTTP/1.1"),
        "{name}: re-originated as HTTP/1.1: {:?}",
        s.line()
    );
    assert_clean(name, rec);
    s
}

/// How a single-request case must end.
enum Expect {
    /// hyper refuses at parse level with this status and closes.
    Parse(u16),
    /// Portcullis refuses: status and a substring of the message.
    Docker(u16, &'static str),
    /// Forwarded: request-line prefix and the exact body the daemon receives.
    Forward(&'static str, &'static str),
}

/// Run single-request cases, each on its own connection, against one proxy.
async fn run_cases(cases: Vec<(&str, Vec<u8>, Expect)>) {
    run_cases_on(start().await, cases).await
}

/// [`run_cases`] against the given proxy.
async fn run_cases_on(p: InProc, cases: Vec<(&str, Vec<u8>, Expect)>) {
    for (name, raw, expect) in cases {
        p.rec.clear();
        let reply = exchange(&p.addr, raw, 1).await;
        settle().await;
        match expect {
            Expect::Parse(status) => {
                assert_parse_refusal(name, &reply, status);
                assert!(
                    p.rec.requests().is_empty(),
                    "{name}: {:#?}",
                    p.rec.requests()
                );
                assert_clean(name, &p.rec);
            }
            Expect::Docker(status, needle) => {
                assert_docker_error(name, reply.only(), status, needle);
                assert_not_forwarded(name, &p.rec);
                if matches!(status, 400 | 408 | 413 | 501) {
                    assert!(
                        reply.closed,
                        "{name}: framing refusals close: {}",
                        reply.raw
                    );
                }
            }
            Expect::Forward(line, body) => {
                let r = reply.only();
                assert_eq!(r.status, 200, "{name}: {}", reply.raw);
                assert_forwarded_once(name, &p.rec, line, body);
            }
        }
    }
}

/// `POST path` with a JSON body and extra raw header lines.
fn post(path: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A chunked `POST /v1.41/containers/create` whose chunks are given raw.
fn chunked_create(extra: &str, chunks: &str) -> Vec<u8> {
    format!(
        "POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n{extra}\r\n{chunks}"
    )
    .into_bytes()
}

fn smuggled_create() -> String {
    format!(
        "POST /v1.41/containers/create?name={SMUGGLED} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{PRIV}",
        PRIV.len()
    )
}

// ---------------------------------------------------------------------------
// Framing: Content-Length / Transfer-Encoding
// ---------------------------------------------------------------------------

#[tokio::test]
async fn content_length_and_transfer_encoding() {
    let priv_chunk = format!("{:x}\r\n{PRIV}\r\n0\r\n\r\n", PRIV.len());
    let ok_chunk = format!("{:x}\r\n{OK}\r\n0\r\n\r\n", OK.len());
    run_cases(vec![
        // TE + CL (either order): hyper frames by chunked (RFC 9112 §6.3) and drops the
        // Content-Length, so the policy sees the chunked body.
        (
            "CL then TE, denied body",
            chunked_create("Content-Length: 4\r\n", &priv_chunk),
            Expect::Docker(403, "PC-1001"),
        ),
        (
            "TE then CL, denied body",
            format!("POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n{priv_chunk}").into_bytes(),
            Expect::Docker(403, "PC-1001"),
        ),
        (
            "CL then TE, allowed body",
            chunked_create(&format!("Content-Length: {}\r\n", OK.len()), &ok_chunk),
            Expect::Forward("POST /v1.41/containers/create HTTP/1.1", STAMPED),
        ),
        // Duplicate Content-Length.
        (
            "duplicate CL, different values",
            format!("POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nContent-Length: 4\r\n\r\n{OK}", OK.len()).into_bytes(),
            Expect::Parse(400),
        ),
        (
            "duplicate CL as a list",
            format!("POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {0}, {0}\r\n\r\n{OK}", OK.len()).into_bytes(),
            Expect::Parse(400),
        ),
        (
            "CL with a sign",
            format!("POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: +{}\r\n\r\n{OK}", OK.len()).into_bytes(),
            Expect::Parse(400),
        ),
        // Identical duplicates are one length (RFC 9112 §6.3 allows merging them, Go
        // does the same): hyper keeps one header; the body is checked and re-framed.
        (
            "duplicate CL, same value, denied body",
            post("/v1.41/containers/create", &format!("Content-Length: {}\r\n", PRIV.len()), PRIV),
            Expect::Docker(403, "PC-1001"),
        ),
        (
            "duplicate CL, same value, allowed body",
            post("/v1.41/containers/create", &format!("Content-Length: {}\r\n", OK.len()), OK),
            Expect::Forward("POST /v1.41/containers/create HTTP/1.1", STAMPED),
        ),
        // Transfer-Encoding variants.
        (
            "TE chunked then TE identity",
            chunked_create("Transfer-Encoding: identity\r\n", &priv_chunk),
            Expect::Parse(400),
        ),
        (
            "TE identity then TE chunked",
            format!("POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n{priv_chunk}").into_bytes(),
            Expect::Docker(501, "chunked"),
        ),
        (
            "TE identity, chunked (one line)",
            format!("POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: identity, chunked\r\n\r\n{priv_chunk}").into_bytes(),
            Expect::Docker(501, "chunked"),
        ),
        (
            "TE chunked twice",
            chunked_create("Transfer-Encoding: chunked\r\n", &priv_chunk),
            Expect::Docker(501, "chunked"),
        ),
        (
            "TE chunked, identity (one line)",
            format!("POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked, identity\r\n\r\n{priv_chunk}").into_bytes(),
            Expect::Parse(400),
        ),
        (
            "TE xchunked",
            format!("POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: xchunked\r\n\r\n{priv_chunk}").into_bytes(),
            Expect::Parse(400),
        ),
        (
            "TE on HTTP/1.0",
            format!("POST /v1.41/containers/create HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{priv_chunk}").into_bytes(),
            Expect::Parse(400),
        ),
    ])
    .await;
}

/// CL.TE smuggling: a front end framing by Content-Length would see one request; hyper
/// frames by chunked and the bytes after the chunked body look like a second request.
/// hyper closes the connection after a TE+CL request (RFC 9112 §6.3 "MUST close"), so
/// the second request is never parsed, let alone forwarded.
#[tokio::test]
async fn cl_te_smuggling_closes_after_first_request() {
    let p = start().await;
    let smuggled = smuggled_create();
    let raw = format!(
        "POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{OK}\r\n0\r\n\r\n{smuggled}",
        OK.len() + 15 + smuggled.len(),
        OK.len()
    );
    let reply = exchange(&p.addr, raw, 2).await;
    settle().await;
    assert_eq!(reply.responses.len(), 1, "{}", reply.raw);
    assert_eq!(reply.responses[0].status, 200, "{}", reply.raw);
    assert!(
        reply.closed,
        "TE+CL must close the connection: {}",
        reply.raw
    );
    assert_forwarded_once(
        "CL.TE",
        &p.rec,
        "POST /v1.41/containers/create HTTP/1.1",
        STAMPED,
    );
}

// ---------------------------------------------------------------------------
// Header syntax
// ---------------------------------------------------------------------------

#[tokio::test]
async fn header_syntax_abuse() {
    let mut cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        // obs-fold (RFC 9112 §5.2: a server MUST reject or replace it); httparse rejects.
        (
            "obs-fold in an ordinary header",
            b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n".to_vec(),
            Expect::Parse(400),
        ),
        (
            "obs-fold hiding Transfer-Encoding",
            format!("POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-A: b\r\n Transfer-Encoding: chunked\r\nContent-Length: {}\r\n\r\n{PRIV}", PRIV.len()).into_bytes(),
            Expect::Parse(400),
        ),
        (
            "obs-fold in Content-Type",
            format!("POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n\tapplication/json\r\nContent-Length: {}\r\n\r\n{PRIV}", PRIV.len()).into_bytes(),
            Expect::Parse(400),
        ),
        // Bare LF line endings: httparse accepts them (as Go's net/http does), so both
        // parsers see the same request; Portcullis re-originates it with CRLF.
        (
            "bare LF, allowed request",
            b"GET /v1.41/containers/json HTTP/1.1\nHost: x\n\n".to_vec(),
            Expect::Forward(LIST, ""),
        ),
        (
            "bare LF, denied body",
            format!("POST /v1.41/containers/create HTTP/1.1\nHost: x\nContent-Type: application/json\nContent-Length: {}\n\n{PRIV}", PRIV.len()).into_bytes(),
            Expect::Docker(403, "PC-1001"),
        ),
        (
            "bare LF in chunk size line",
            chunked_create("", &format!("{:x}\n{PRIV}\r\n0\r\n\r\n", PRIV.len())),
            Expect::Docker(400, "request body"),
        ),
        // NUL and CR inside header values and the request line.
        (
            "NUL in a header value",
            b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n".to_vec(),
            Expect::Parse(400),
        ),
        (
            "bare CR in a header value",
            format!("POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-A: a\rTransfer-Encoding: chunked\r\nContent-Length: {}\r\n\r\n{PRIV}", PRIV.len()).into_bytes(),
            Expect::Parse(400),
        ),
        (
            "NUL in the request target",
            b"GET /_pi\0ng HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            Expect::Parse(400),
        ),
        (
            "space before the colon",
            format!("POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding : chunked\r\nContent-Length: {}\r\n\r\n{PRIV}", PRIV.len()).into_bytes(),
            Expect::Parse(400),
        ),
    ];
    // 1 MiB of headers: above hyper's read buffer (~400 KiB) -> 431.
    let mut big = b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat(b'a').take(1 << 20));
    big.extend_from_slice(b"\r\n\r\n");
    cases.push(("1 MiB header", big, Expect::Parse(431)));
    // More headers than hyper's limit (100).
    let mut many = String::from("GET /_ping HTTP/1.1\r\nHost: x\r\n");
    for i in 0..200 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    cases.push(("200 headers", many.into_bytes(), Expect::Parse(431)));
    run_cases(cases).await;
}

/// A body in one-byte chunks (`1\r\n \r\n`, …): hyper hands each to Portcullis as a
/// slice of its read buffer. Portcullis copies each out (see the unit test
/// `inspected_frames_are_copied_not_kept`), so such a body is checked like any other
/// under the cap and refused over it.
#[tokio::test]
async fn bodies_in_many_tiny_chunks() {
    let cap = 64 << 10;
    let limits = Limits {
        max_body: cap,
        ..Limits::default()
    };
    let tiny = |body: &[u8]| -> String {
        let mut out = String::new();
        for &b in body {
            out.push_str(&format!("1\r\n{}\r\n", b as char));
        }
        out.push_str("0\r\n\r\n");
        out
    };
    let mut ok = OK.as_bytes().to_vec();
    ok.resize(cap - 1000, b' ');
    let mut over = OK.as_bytes().to_vec();
    over.resize(cap + 1, b' ');
    let mut priv_padded = PRIV.as_bytes().to_vec();
    priv_padded.resize(cap - 1000, b' ');
    let mut stray = vec![b' '; 20_000];
    stray.extend_from_slice(SMUGGLED.as_bytes());
    stray.resize(40_000, b' ');
    run_cases_on(
        start_with(limits, 64).await,
        vec![
            (
                "allowed body in one-byte chunks",
                chunked_create("", &tiny(&ok)),
                Expect::Forward("POST /v1.41/containers/create HTTP/1.1", STAMPED),
            ),
            (
                "denied body in one-byte chunks",
                chunked_create("", &tiny(&priv_padded)),
                Expect::Docker(403, "PC-1001"),
            ),
            (
                "one-byte chunks over the cap",
                chunked_create("", &tiny(&over)),
                Expect::Docker(413, "larger than"),
            ),
            (
                "one-byte chunks on a bodiless route",
                format!(
                    "POST /v1.41/containers/abc/start HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{}",
                    tiny(&stray)
                )
                .into_bytes(),
                Expect::Docker(400, "takes no request body"),
            ),
        ],
    )
    .await;
}

/// A body Portcullis must read before deciding that stops arriving is answered with
/// a Docker-shaped 408 once the configured body timeout passes, and the connection
/// closes; nothing reaches the daemon.
#[tokio::test]
async fn stalled_bodies_time_out() {
    let limits = Limits {
        body_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let partial = &OK[..5];
    run_cases_on(
        start_with(limits, 64).await,
        vec![
            (
                "Content-Length body cut short on create",
                format!(
                    "POST /v1.41/containers/create?name={SMUGGLED} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{partial}",
                    OK.len()
                )
                .into_bytes(),
                Expect::Docker(408, "did not arrive within"),
            ),
            (
                "chunked body without its last chunk",
                chunked_create("", &format!("{:x}\r\n{OK}\r\n", OK.len())),
                Expect::Docker(408, "did not arrive within"),
            ),
            (
                "stray body on a bodiless route",
                b"POST /v1.41/containers/abc/start HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n  "
                    .to_vec(),
                Expect::Docker(408, "did not arrive within"),
            ),
        ],
    )
    .await;
}

/// A denial that quotes a URL from the query (a build's `remote`, an import's
/// `fromSrc`) shows it without its user-info, to the client and in the audit record.
#[tokio::test]
async fn denials_redact_url_credentials() {
    let audit_dir = tempfile::tempdir().unwrap();
    let audit_path = audit_dir.path().join("audit.log");
    let observers = Observers {
        audit: Some(AuditSink::file(audit_path.clone()).unwrap()),
        ..Observers::default()
    };
    let p = start_observed(Limits::default(), 64, observers).await;
    let cases = [
        (
            "build remote",
            "POST /v1.41/build?remote=https%3A%2F%2Fci%3As3cr3t-t0ken%40git.example.com%2Fr.git HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            "PC-1024",
            "https://***@git.example.com/r.git",
        ),
        (
            "import fromSrc",
            "POST /v1.41/images/create?fromSrc=http%3A%2F%2Fs3cr3t-t0ken%40files.example.com%2Fx.tar HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            "",
            "http://***@files.example.com/x.tar",
        ),
    ];
    for (name, raw, rule, shown) in cases {
        p.rec.clear();
        let reply = exchange(&p.addr, raw, 1).await;
        let r = reply.only();
        assert_docker_error(name, r, 403, rule);
        let body = r.body_str();
        assert!(body.contains(shown), "{name}: {body}");
        assert!(!body.contains("s3cr3t"), "{name}: {body}");
        assert_not_forwarded(name, &p.rec);
    }
    settle().await;
    let audit = std::fs::read_to_string(&audit_path).unwrap();
    assert_eq!(audit.matches("\"deny\"").count(), 2, "{audit}");
    assert!(
        audit.contains("https://***@git.example.com/r.git"),
        "{audit}"
    );
    assert!(!audit.contains("s3cr3t"), "{audit}");
}

/// `POST path` with the given raw Content-Type value bytes and body.
fn post_typed(path: &str, content_type: &[u8], body: &str) -> Vec<u8> {
    let mut raw = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: ").into_bytes();
    raw.extend_from_slice(content_type);
    raw.extend_from_slice(format!("\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    raw
}

/// dockerd reads `networkmode`, `remote`, `cgroupparent`, `fromSrc`, `changes`, … with
/// Go's `r.FormValue`, which also parses the body whenever `mime.ParseMediaType` of the
/// (first) Content-Type reads as a form. Go lowercases and trims Unicode spaces
/// (U+00A0, U+0085) there, so a Content-Type that is not plain ASCII, or a second
/// Content-Type, must be refused: the body would carry parameters the policy never saw.
#[tokio::test]
async fn form_bodies_behind_content_type_spellings_never_reach_the_daemon() {
    let build_form = format!("networkmode=host&remote=http%3A%2F%2F{SMUGGLED}");
    let import_form = format!("fromSrc=http%3A%2F%2F{SMUGGLED}&changes=USER+root");
    let build_form: &'static str = Box::leak(build_form.into_boxed_str());
    let import_form: &'static str = Box::leak(import_form.into_boxed_str());
    let form = b"application/x-www-form-urlencoded";
    let with = |prefix: &[u8], suffix: &[u8]| [prefix, &form[..], suffix].concat();
    let two_types = post_typed(
        "/v1.41/build?t=a",
        b"application/x-tar\r\nContent-Type: application/x-www-form-urlencoded",
        build_form,
    );
    let obs_auth =
        b"POST /v1.41/images/create?fromImage=busybox&tag=latest HTTP/1.1\r\nHost: x\r\nX-Registry-Auth: e30\xC2\xA0\r\n\r\n"
            .to_vec();
    let no_ascii = "outside visible ASCII";
    run_cases(vec![
        (
            "form type + U+00A0 on build",
            post_typed("/v1.41/build?t=a", &with(b"", b"\xC2\xA0"), build_form),
            Expect::Docker(400, no_ascii),
        ),
        (
            "form type + U+0085 on build",
            post_typed("/v1.41/build?t=a", &with(b"", b"\xC2\x85"), build_form),
            Expect::Docker(400, no_ascii),
        ),
        (
            "U+00A0 + form type on image import",
            post_typed(
                "/v1.41/images/create?fromSrc=-",
                &with(b"\xC2\xA0", b""),
                import_form,
            ),
            Expect::Docker(400, no_ascii),
        ),
        (
            "form type + a lone Latin-1 NBSP byte",
            post_typed("/v1.41/build?t=a", &with(b"", b"\xA0"), build_form),
            Expect::Docker(400, no_ascii),
        ),
        (
            "multipart + U+00A0 before the parameters",
            post_typed(
                "/v1.41/build?t=a",
                b"multipart/form-data\xC2\xA0; boundary=b",
                build_form,
            ),
            Expect::Docker(400, no_ascii),
        ),
        (
            "form type in mixed case with spaces and tabs",
            post_typed(
                "/v1.41/build?t=a",
                b" \tApplication/X-WWW-Form-URLEncoded \t; charset=utf-8",
                build_form,
            ),
            Expect::Docker(400, "query string"),
        ),
        (
            "multipart without a space before the parameters",
            post_typed(
                "/v1.41/images/create?fromSrc=-",
                b"Multipart/Form-Data;boundary=b",
                import_form,
            ),
            Expect::Docker(400, "query string"),
        ),
        (
            "two Content-Type headers, the second a form",
            two_types,
            Expect::Docker(400, "more than one Content-Type"),
        ),
        (
            "obs-text in X-Registry-Auth",
            obs_auth,
            Expect::Docker(400, no_ascii),
        ),
        // A build context with an ordinary Content-Type still streams to the daemon.
        (
            "tar context",
            post_typed("/v1.41/build?t=a", b"application/x-tar", "context"),
            Expect::Forward(BUILD, "context"),
        ),
    ])
    .await;
}

// ---------------------------------------------------------------------------
// Chunked bodies
// ---------------------------------------------------------------------------

#[tokio::test]
async fn invalid_chunked_bodies_on_an_inspected_endpoint() {
    let n = PRIV.len();
    run_cases(vec![
        (
            "non-hex chunk size",
            chunked_create("", &format!("zz\r\n{PRIV}\r\n0\r\n\r\n")),
            Expect::Docker(400, "request body"),
        ),
        (
            "chunk size overflow",
            chunked_create("", &format!("ffffffffffffffffff\r\n{PRIV}\r\n0\r\n\r\n")),
            Expect::Docker(400, "request body"),
        ),
        (
            "negative chunk size",
            chunked_create("", &format!("-{n:x}\r\n{PRIV}\r\n0\r\n\r\n")),
            Expect::Docker(400, "request body"),
        ),
        (
            "0x-prefixed chunk size",
            chunked_create("", &format!("0x{n:x}\r\n{PRIV}\r\n0\r\n\r\n")),
            Expect::Docker(400, "request body"),
        ),
        (
            "missing CRLF after chunk data",
            chunked_create("", &format!("{n:x}\r\n{PRIV}0\r\n\r\n")),
            Expect::Docker(400, "request body"),
        ),
        (
            "chunk shorter than its size, next request smuggled in the gap",
            chunked_create(
                "",
                &format!(
                    "{:x}\r\n{OK}\r\n0\r\n\r\n{}",
                    OK.len() + 2,
                    smuggled_create()
                ),
            ),
            Expect::Docker(400, "request body"),
        ),
        // Chunk extensions are legal (RFC 9112 §7.1.1) and dropped by re-framing.
        (
            "chunk extension, denied body",
            chunked_create("", &format!("{n:x};ext=\"v\"\r\n{PRIV}\r\n0;x=y\r\n\r\n")),
            Expect::Docker(403, "PC-1001"),
        ),
        (
            "chunk extension, allowed body",
            chunked_create(
                "",
                &format!("{:x};{SMUGGLED}=1\r\n{OK}\r\n0\r\n\r\n", OK.len()),
            ),
            Expect::Forward("POST /v1.41/containers/create HTTP/1.1", STAMPED),
        ),
        (
            "trailer fields, allowed body",
            chunked_create(
                "",
                &format!("{:x}\r\n{OK}\r\n0\r\nX-{SMUGGLED}: 1\r\n\r\n", OK.len()),
            ),
            Expect::Forward("POST /v1.41/containers/create HTTP/1.1", STAMPED),
        ),
    ])
    .await;
}

/// A streamed (not inspected) body that turns invalid half way: whatever the daemon
/// got, it never got a complete request, and nothing after it.
#[tokio::test]
async fn invalid_chunk_on_a_streamed_body_never_completes_upstream() {
    let p = start().await;
    let raw = format!(
        "PUT /v1.41/containers/abc/archive?path=/tmp HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n{}",
        smuggled_create()
    );
    let reply = exchange(&p.addr, raw, 1).await;
    settle().await;
    assert!(
        reply.closed,
        "the client connection must end: {}",
        reply.raw
    );
    if let Some(r) = reply.responses.first() {
        assert!(
            r.status >= 400,
            "a broken body is no success: {}",
            reply.raw
        );
    }
    let fwd = p.rec.forwarded();
    assert!(
        fwd.iter().all(|s| !s.line().starts_with("PUT ")),
        "the daemon must not see a complete PUT: {fwd:#?}"
    );
    assert_clean("streamed invalid chunk", &p.rec);
}

/// The same broken streamed body is the client's fault: 400 in Docker's shape, not a
/// 502 "cannot reach the Docker daemon" (which also counts as a daemon error in the
/// metrics and the audit record).
#[tokio::test]
async fn invalid_chunk_on_a_streamed_body_is_the_clients_fault() {
    let p = start().await;
    let raw = "PUT /v1.41/containers/abc/archive?path=/tmp HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n";
    let reply = exchange(&p.addr, raw, 1).await;
    assert_docker_error("streamed invalid chunk", reply.only(), 400, "request body");
    assert!(reply.closed, "{}", reply.raw);
}

// ---------------------------------------------------------------------------
// Pipelining
// ---------------------------------------------------------------------------

#[tokio::test]
async fn pipelined_denied_second_request_never_reaches_the_daemon() {
    let p = start().await;
    // Allowed chunked create, then a privileged create, then an allowed request.
    let raw = format!(
        "{}{}GET /v1.41/containers/json HTTP/1.1\r\nHost: x\r\n\r\n",
        String::from_utf8(chunked_create(
            "",
            &format!("{:x}\r\n{OK}\r\n0\r\n\r\n", OK.len())
        ))
        .unwrap(),
        smuggled_create(),
    );
    let reply = exchange(&p.addr, raw, 3).await;
    settle().await;
    assert_eq!(reply.responses.len(), 3, "{}", reply.raw);
    assert_eq!(reply.responses[0].status, 200, "{}", reply.raw);
    assert_docker_error("second", &reply.responses[1], 403, "PC-1001");
    assert_eq!(reply.responses[2].status, 200, "{}", reply.raw);
    let fwd = p.rec.forwarded();
    let lines: Vec<&str> = fwd.iter().map(Seen::line).collect();
    assert_eq!(lines, ["POST /v1.41/containers/create HTTP/1.1", LIST]);
    assert_eq!(fwd[0].body, STAMPED.as_bytes());
    assert_clean("pipelined", &p.rec);
}

#[tokio::test]
async fn request_hidden_in_the_body_of_a_bodiless_route() {
    let smuggled = smuggled_create();
    let carry = |head: &str| {
        format!(
            "{head} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{smuggled}",
            smuggled.len()
        )
        .into_bytes()
    };
    run_cases(vec![
        (
            "GET /_ping with a body",
            carry("GET /_ping"),
            Expect::Docker(400, "takes no request body"),
        ),
        (
            "POST start with a body",
            carry("POST /v1.41/containers/abc/start"),
            Expect::Docker(400, "takes no request body"),
        ),
        (
            "attach upgrade with a body",
            format!(
                "POST /v1.41/containers/abc/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {}\r\n\r\n{smuggled}",
                smuggled.len()
            )
            .into_bytes(),
            Expect::Docker(400, "takes no request body"),
        ),
    ])
    .await;
}

/// After an upgrade the daemon refused (404: no such container), the bytes the client
/// sent behind it are HTTP again: parsed and checked like any request.
#[tokio::test]
async fn bytes_after_a_refused_upgrade_are_checked_as_requests() {
    let p = start().await;
    let raw = format!(
        "POST /v1.41/containers/missing/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n{}",
        smuggled_create()
    );
    let reply = exchange(&p.addr, raw, 2).await;
    settle().await;
    assert_eq!(reply.responses.len(), 2, "{}", reply.raw);
    assert_eq!(reply.responses[0].status, 404, "{}", reply.raw);
    assert_docker_error("after refused upgrade", &reply.responses[1], 403, "PC-1001");
    let fwd = p.rec.forwarded();
    assert_eq!(fwd.len(), 1, "{fwd:#?}");
    assert!(fwd[0]
        .line()
        .starts_with("POST /v1.41/containers/missing/attach"));
    assert_clean("after refused upgrade", &p.rec);
}

/// After a successful upgrade, bytes behind the request are the container's stdin: raw
/// bytes on the hijacked stream, never a request of their own.
#[tokio::test]
async fn bytes_after_an_accepted_upgrade_are_stdin() {
    let p = start().await;
    let raw = "POST /v1.41/containers/abc/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nGET /v1.41/info HTTP/1.1\r\nHost: x\r\n\r\n";
    let reply = exchange(&p.addr, raw, 1).await;
    settle().await;
    assert_eq!(reply.responses.len(), 1, "{}", reply.raw);
    assert_eq!(reply.responses[0].status, 101, "{}", reply.raw);
    // The fake daemon echoes the stream.
    assert_eq!(
        String::from_utf8_lossy(&reply.rest),
        "GET /v1.41/info HTTP/1.1\r\nHost: x\r\n\r\n"
    );
    let fwd = p.rec.forwarded();
    assert_eq!(fwd.len(), 1, "{fwd:#?}");
}

// ---------------------------------------------------------------------------
// Upgrades
// ---------------------------------------------------------------------------

/// Open an attach session: send the upgrade and read up to the `101`.
async fn open_attach(addr: &str) -> TcpStream {
    let mut s = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .unwrap();
    s.write_all(b"POST /v1.41/containers/abc/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(IO_TIMEOUT, s.read(&mut byte))
            .await
            .expect("the 101 in time")
            .unwrap();
        assert_eq!(
            n,
            1,
            "closed before the 101: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{:?}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// Hijacked sessions count against `max_connections` until they end: after the
/// upgrade the HTTP connection is over, but the spliced session still holds its slot.
#[tokio::test]
async fn hijacked_sessions_count_against_the_connection_limit() {
    let p = start_with(Limits::default(), 2).await;
    let mut first = open_attach(&p.addr).await;
    let mut second = open_attach(&p.addr).await;
    // Both sessions are live (the fake daemon echoes stdin).
    for s in [&mut first, &mut second] {
        s.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        tokio::time::timeout(IO_TIMEOUT, s.read_exact(&mut got))
            .await
            .expect("echo in time")
            .unwrap();
        assert_eq!(&got, b"ping");
    }
    let ping = "GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n";
    let reply = exchange(&p.addr, ping, 1).await;
    assert!(
        reply.responses.is_empty() && reply.closed,
        "a third connection beside two sessions must be closed unanswered: {}",
        reply.raw
    );
    // Ending a session frees its slot.
    drop(first);
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let reply = exchange(&p.addr, ping, 1).await;
        if reply.responses.len() == 1 {
            assert_eq!(reply.responses[0].status, 200, "{}", reply.raw);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no slot came free after a session ended: {}",
            reply.raw
        );
        settle().await;
    }
    // The other session is still there.
    second.write_all(b"pong").await.unwrap();
    let mut got = [0u8; 4];
    tokio::time::timeout(IO_TIMEOUT, second.read_exact(&mut got))
        .await
        .expect("echo in time")
        .unwrap();
    assert_eq!(&got, b"pong");
}

#[tokio::test]
async fn upgrade_to_other_protocols() {
    let attach = |upgrade: &str| {
        format!("POST /v1.41/containers/abc/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: {upgrade}\r\n\r\n").into_bytes()
    };
    run_cases(vec![
        ("attach, Upgrade: foo", attach("foo"), Expect::Docker(400, "upgrades to \"tcp\"")),
        ("attach, Upgrade: h2c", attach("h2c"), Expect::Docker(400, "upgrades to \"tcp\"")),
        (
            "attach, Upgrade: websocket",
            attach("websocket"),
            Expect::Docker(400, "upgrades to \"tcp\""),
        ),
        (
            "attach, Upgrade: tcp, foo",
            attach("tcp, foo"),
            Expect::Docker(400, "upgrades to \"tcp\""),
        ),
        (
            "websocket attach, Upgrade: tcp",
            b"GET /v1.41/containers/abc/attach/ws?stream=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".to_vec(),
            Expect::Docker(400, "upgrades to \"websocket\""),
        ),
        (
            "BuildKit session (denied group)",
            b"POST /session HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec(),
            Expect::Docker(403, "PC-0002"),
        ),
        (
            "create, Upgrade: tcp, denied body",
            post("/v1.41/containers/create", "Connection: Upgrade\r\nUpgrade: tcp\r\n", PRIV),
            Expect::Docker(403, "PC-1001"),
        ),
    ])
    .await;

    // Upgrade on a route that does not hijack: the request is served as ordinary HTTP
    // and the daemon never sees the upgrade asked for.
    let p = start().await;
    for (name, raw, line, body) in [
        (
            "ping, Upgrade: h2c",
            b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n".to_vec(),
            "GET /_ping HTTP/1.1",
            "",
        ),
        (
            "create, Upgrade: tcp, allowed body",
            post("/v1.41/containers/create", "Connection: Upgrade\r\nUpgrade: tcp\r\n", OK),
            "POST /v1.41/containers/create HTTP/1.1",
            STAMPED,
        ),
        (
            "create, Upgrade: foo, allowed body",
            post("/v1.41/containers/create", "Upgrade: foo\r\n", OK),
            "POST /v1.41/containers/create HTTP/1.1",
            STAMPED,
        ),
    ] {
        p.rec.clear();
        let reply = exchange(&p.addr, raw, 1).await;
        settle().await;
        assert_eq!(reply.only().status, 200, "{name}: {}", reply.raw);
        let seen = assert_forwarded_once(name, &p.rec, line, body);
        assert!(
            !seen.has_header("upgrade") && !seen.has_header("http2-settings"),
            "{name}: upgrade headers must not be forwarded: {}",
            seen.head
        );
    }
}

/// HTTP/1.0 has no protocol switching (RFC 9110 §7.8: a server must ignore `Upgrade` in
/// an HTTP/1.0 request; §15.2.2: no 101 to HTTP/1.0 clients), and hyper cannot upgrade an
/// HTTP/1.0 connection. The attach must be answered without switching (or refused), and
/// the daemon must not be asked to hijack a connection nobody can splice.
#[tokio::test]
async fn http10_upgrade_is_not_switched() {
    let p = start().await;
    let raw = "POST /v1.41/containers/abc/attach?stream=1&stdin=1 HTTP/1.0\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
    let reply = exchange(&p.addr, raw, 1).await;
    settle().await;
    let r = reply.only();
    assert_ne!(r.status, 101, "no 101 over HTTP/1.0: {}", reply.raw);
    assert!(
        reply.closed,
        "HTTP/1.0 without keep-alive closes: {}",
        reply.raw
    );
    let fwd = p.rec.forwarded();
    assert!(
        fwd.iter().all(|s| !s.has_header("upgrade")),
        "the daemon was asked to hijack: {fwd:#?}"
    );
}

// ---------------------------------------------------------------------------
// HTTP/1.0
// ---------------------------------------------------------------------------

#[tokio::test]
async fn http10_requests() {
    let p = start().await;
    // Without keep-alive: one answer in HTTP/1.0, then close.
    let reply = exchange(&p.addr, "GET /v1.41/containers/json HTTP/1.0\r\n\r\n", 1).await;
    settle().await;
    let r = reply.only();
    assert!(r.head.starts_with("HTTP/1.0 200"), "{}", reply.raw);
    assert!(reply.closed, "HTTP/1.0 closes: {}", reply.raw);
    assert_forwarded_once("HTTP/1.0", &p.rec, LIST, "");

    // With keep-alive: the next request is parsed and checked on its own.
    p.rec.clear();
    let raw = format!(
        "GET /v1.41/containers/json HTTP/1.0\r\nConnection: keep-alive\r\n\r\nPOST /v1.41/containers/create?name={SMUGGLED} HTTP/1.0\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{PRIV}",
        PRIV.len()
    );
    let reply = exchange(&p.addr, raw, 2).await;
    settle().await;
    assert_eq!(reply.responses.len(), 2, "{}", reply.raw);
    assert!(
        reply.responses[0].head.starts_with("HTTP/1.0 200"),
        "{}",
        reply.raw
    );
    assert_docker_error("HTTP/1.0 keep-alive", &reply.responses[1], 403, "PC-1001");
    assert_forwarded_once("HTTP/1.0 keep-alive", &p.rec, LIST, "");

    // An allowed body over HTTP/1.0 is checked and forwarded.
    p.rec.clear();
    let raw = format!(
        "POST /v1.41/containers/create HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{OK}",
        OK.len()
    );
    let reply = exchange(&p.addr, raw, 1).await;
    settle().await;
    assert!(
        reply.only().head.starts_with("HTTP/1.0 200"),
        "{}",
        reply.raw
    );
    assert_forwarded_once(
        "HTTP/1.0 create",
        &p.rec,
        "POST /v1.41/containers/create HTTP/1.1",
        STAMPED,
    );
}

// ---------------------------------------------------------------------------
// Request targets
// ---------------------------------------------------------------------------

#[tokio::test]
async fn request_target_forms() {
    run_cases(vec![
        (
            "absolute-form",
            b"GET http://docker/v1.41/containers/json HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            Expect::Docker(400, "absolute-form"),
        ),
        (
            "absolute-form, denied body",
            post("http://docker/v1.41/containers/create", "", PRIV),
            Expect::Docker(400, "absolute-form"),
        ),
        (
            "asterisk-form",
            b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            Expect::Docker(400, "canonical"),
        ),
        (
            "authority-form CONNECT, smuggled request behind",
            format!(
                "CONNECT docker:2375 HTTP/1.1\r\nHost: docker:2375\r\n\r\n{}",
                smuggled_create()
            )
            .into_bytes(),
            Expect::Docker(400, "absolute-form"),
        ),
    ])
    .await;
}

#[tokio::test]
async fn paths_route_as_dockerd_or_are_refused() {
    let long_name = "a".repeat(40_000);
    let long_path: &'static str =
        Box::leak(format!("GET /v1.41/containers/{long_name}/json HTTP/1.1").into_boxed_str());
    let mut too_long = b"GET /v1.41/containers/".to_vec();
    too_long.extend(std::iter::repeat(b'a').take(70_000));
    too_long.extend_from_slice(b"/json HTTP/1.1\r\nHost: x\r\n\r\n");
    run_cases(vec![
        // dockerd's router matches the percent-decoded path: %2F is a '/', so this is
        // container create there too, and is checked as one.
        (
            "%2F in the route, denied body",
            post("/containers%2Fcreate", "", PRIV),
            Expect::Docker(403, "PC-1001"),
        ),
        (
            "%2f in the route, allowed body",
            post("/v1.41/containers%2fcreate", "", OK),
            Expect::Forward("POST /v1.41/containers/create HTTP/1.1", STAMPED),
        ),
        (
            "%63 in the route, denied body",
            post("/v1.41/%63ontainers/create", "", PRIV),
            Expect::Docker(403, "PC-1001"),
        ),
        // Non-canonical paths dockerd would redirect: refused.
        (
            "dot-dot after the version",
            post("/v1.41/../containers/create", "", PRIV),
            Expect::Docker(400, "not canonical"),
        ),
        (
            "encoded dot-dot",
            post("/v1.41/%2e%2e/containers/create", "", PRIV),
            Expect::Docker(400, "not canonical"),
        ),
        (
            "encoded dot-dot with encoded slashes",
            post(
                "/v1.41/containers/abc%2F..%2F..%2Fcontainers%2Fcreate",
                "",
                PRIV,
            ),
            Expect::Docker(400, "not canonical"),
        ),
        (
            "single dot segment",
            post("/v1.41/./containers/create", "", PRIV),
            Expect::Docker(400, "not canonical"),
        ),
        (
            "leading double slash",
            post("//containers/create", "", PRIV),
            Expect::Docker(400, "not canonical"),
        ),
        (
            "double slash after the version",
            post("/v1.41//containers/create", "", PRIV),
            Expect::Docker(400, "not canonical"),
        ),
        (
            "encoded double slash",
            post("/v1.41/%2Fcontainers/create", "", PRIV),
            Expect::Docker(400, "not canonical"),
        ),
        (
            "trailing slash",
            post("/v1.41/containers/create/", "", PRIV),
            Expect::Docker(400, "not canonical"),
        ),
        (
            "bad escape",
            post("/v1.41/containers/create%zz", "", PRIV),
            Expect::Docker(400, "percent-encoding"),
        ),
        // Non-UTF-8: raw bytes are no URI (hyper refuses), escaped ones are refused.
        (
            "raw non-UTF-8 byte",
            b"GET /v1.41/containers/\xff/json HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            Expect::Parse(400),
        ),
        (
            "escaped non-UTF-8 byte",
            b"GET /v1.41/containers/%ff/json HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            Expect::Docker(400, "not allowed"),
        ),
        (
            "overlong UTF-8 slash",
            post("/v1.41/containers%c0%afcreate", "", PRIV),
            Expect::Docker(400, "not allowed"),
        ),
        (
            "encoded NUL",
            b"GET /v1.41/containers/a%00b/json HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            Expect::Docker(400, "not allowed"),
        ),
        // Long targets: above hyper's 64 KiB URI limit -> 414; below it, the daemon gets
        // the same path.
        ("70 KB target", too_long, Expect::Parse(414)),
        (
            "40 KB target",
            format!("{long_path}\r\nHost: x\r\n\r\n").into_bytes(),
            Expect::Forward(long_path, ""),
        ),
    ])
    .await;
}

// ---------------------------------------------------------------------------
// Expect: 100-continue
// ---------------------------------------------------------------------------

/// Send the head, wait for `100 Continue`, then send the body; returns the final reply.
async fn expect_continue(addr: &str, head: String, body: &str) -> (Reply, bool) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut got_continue = false;
    let deadline = Instant::now() + IO_TIMEOUT;
    while !got_continue {
        let wait = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(wait, s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            other => panic!(
                "no 100 Continue before {other:?}: {:?}",
                String::from_utf8_lossy(&buf)
            ),
        }
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            assert!(
                buf.starts_with(b"HTTP/1.1 100"),
                "expected 100 Continue first: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.drain(..end + 4);
            got_continue = true;
        }
    }
    s.write_all(body.as_bytes()).await.unwrap();
    let (mut rd, _wr) = s.into_split();
    (read_reply(&mut rd, buf, 1).await, got_continue)
}

#[tokio::test]
async fn expect_100_continue_on_inspected_endpoints() {
    let p = start().await;
    let head = |body: &str| {
        format!(
            "POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
    };

    // Denied body behind Expect: 100 Continue (the body must be read to be checked),
    // then 403, and nothing forwarded.
    let (reply, _) = expect_continue(&p.addr, head(PRIV), PRIV).await;
    settle().await;
    assert_docker_error("Expect, denied", reply.only(), 403, "PC-1001");
    assert_not_forwarded("Expect, denied", &p.rec);

    // Allowed body behind Expect: 100 Continue, then the daemon's answer; the daemon
    // gets the body and no Expect (Portcullis already answered it).
    p.rec.clear();
    let (reply, _) = expect_continue(&p.addr, head(OK), OK).await;
    settle().await;
    assert_eq!(reply.only().status, 200, "{}", reply.raw);
    let seen = assert_forwarded_once(
        "Expect, allowed",
        &p.rec,
        "POST /v1.41/containers/create HTTP/1.1",
        STAMPED,
    );
    assert!(!seen.has_header("expect"), "{}", seen.head);

    // Head and body in one write (a client that does not wait): same outcomes.
    p.rec.clear();
    let reply = exchange(&p.addr, head(PRIV) + PRIV, 1).await;
    settle().await;
    let finals: Vec<&Resp> = reply.responses.iter().filter(|r| r.status >= 200).collect();
    assert_eq!(finals.len(), 1, "{}", reply.raw);
    assert_docker_error("Expect, eager denied", finals[0], 403, "PC-1001");
    assert_not_forwarded("Expect, eager denied", &p.rec);

    // Refused before the body is read: the final status comes without 100 Continue.
    p.rec.clear();
    let raw = format!(
        "POST //containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        PRIV.len()
    );
    let reply = exchange(&p.addr, raw, 1).await;
    settle().await;
    assert_docker_error("Expect, refused early", reply.only(), 400, "not canonical");
    assert!(reply.closed, "{}", reply.raw);
    assert_not_forwarded("Expect, refused early", &p.rec);
}
