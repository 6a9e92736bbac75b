//! The served path and the pure path decide alike. Every request of the `decide` fuzz
//! corpus (captured from the docker CLI, compose and the SDK) and a table of edge cases
//! go through Portcullis in-process in front of a fake daemon that knows no object
//! (every lookup answers 404), and through `pipeline::check` with no facts (every
//! lookup taken as absent). Both must refuse alike, deny with the same message, or
//! forward the same request line and body.

use std::path::{Path, PathBuf};

use crate::common::fake_daemon::{self, Answer, Record};
use crate::common::inproc;
use crate::common::wire::{read_message, Seen};
use http::Method;
use portcullis::error::{Denial, ProxyError};
use portcullis::policy::pipeline::{self, Outcome};
use portcullis::policy::{Decision, Facts, PolicySet};
use portcullis::tls::Identity;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// What happened to one request.
#[derive(Debug, PartialEq, Eq)]
enum Fate {
    /// Refused before the policy (400).
    Refused,
    /// Denied by the policy (403), with the message.
    Denied(String),
    /// Forwarded: the request line and body the daemon received.
    Forwarded(String, Vec<u8>),
}

/// A fake daemon that records every request and answers each with 404.
fn empty_daemon(sock: PathBuf) -> mpsc::UnboundedReceiver<Seen> {
    let (rec, rx) = Record::with_feed();
    fake_daemon::spawn(&sock, rec, |_| {
        Answer::Json(
            "404 Not Found",
            r#"{"message":"fake: no such object"}"#.into(),
        )
    });
    rx
}

/// Portcullis in-process in front of `sock`, single tenant (see below).
async fn serve_plain(sock: PathBuf) -> String {
    // The built-in default with tenant isolation off: these tests are about how streamed
    // bodies (build contexts, image loads, archives) travel, and isolation refuses a
    // build tag or an image load that is not the tenant's before any byte streams.
    let single = portcullis::policy::BUILTIN_DEFAULT.replace("isolate = true", "isolate = false");
    assert_ne!(
        single,
        portcullis::policy::BUILTIN_DEFAULT,
        "default.toml sets isolate"
    );
    let policy = portcullis::policy::Policy::from_toml(&single, Path::new("single.toml"))
        .expect("the default policy without isolation");
    let (server, addr) = inproc::bind_with_policies(
        sock,
        std::time::Duration::from_secs(1),
        portcullis::proxy::Limits::default(),
        64,
        portcullis::proxy::body::Observers::default(),
        PolicySet::new(vec![policy]).expect("one policy"),
    )
    .await;
    tokio::spawn(server.run(std::future::pending()));
    addr
}

/// A request as the parity check sends it both ways.
struct Case {
    method: String,
    target: String,
    body: Option<Vec<u8>>,
}

impl Case {
    fn new(method: &str, target: &str, body: Option<&str>) -> Self {
        Case {
            method: method.into(),
            target: target.into(),
            body: body.map(|b| b.as_bytes().to_vec()),
        }
    }

    /// `METHOD TARGET\n` then the body, as in the `decide` fuzz corpus.
    fn from_corpus(data: &[u8]) -> Option<Self> {
        let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
        let line = std::str::from_utf8(&data[..split]).ok()?;
        let body = data.get(split + 1..).unwrap_or(&[]);
        let (method, target) = line.split_once(' ').unwrap_or(("POST", line));
        Some(Case {
            method: method.into(),
            target: target.into(),
            body: (!body.is_empty()).then(|| body.to_vec()),
        })
    }

    fn pure(&self, set: &PolicySet) -> Fate {
        let method = Method::from_bytes(self.method.as_bytes()).unwrap();
        let id = Identity::transport("plain");
        match pipeline::check(
            set,
            &id,
            &method,
            &self.target,
            self.body.as_deref(),
            &Facts::default(),
        ) {
            Outcome::Refused(_) => Fate::Refused,
            Outcome::Decided {
                decision: Decision::Deny(v),
                policy,
                ..
            } => {
                // As the client reads it (user-info of URLs redacted).
                let message = portcullis::policy::denial_message(&policy, &v);
                let e = ProxyError::from(Denial { message });
                Fate::Denied(e.message())
            }
            Outcome::Decided { upstream, body, .. } => {
                let forwarded = match (body, &self.body) {
                    (Some(v), _) => serde_json::to_vec(&v).unwrap(),
                    // A streamed body goes as it came; whitespace on a route that
                    // takes no body (or a JSON route) is dropped.
                    (None, Some(b)) if b.iter().any(|c| !c.is_ascii_whitespace()) => b.clone(),
                    (None, _) => Vec::new(),
                };
                Fate::Forwarded(format!("{} {upstream} HTTP/1.1", self.method), forwarded)
            }
        }
    }

    async fn served(&self, addr: &str, seen: &mut mpsc::UnboundedReceiver<Seen>) -> Fate {
        let mut raw = format!("{} {} HTTP/1.1\r\nHost: x\r\n", self.method, self.target);
        if self.body.is_some() {
            raw.push_str("Content-Type: application/json\r\n");
        }
        let body = self.body.clone().unwrap_or_default();
        raw.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut raw = raw.into_bytes();
        raw.extend_from_slice(&body);
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(&raw).await.unwrap();
        let mut r = BufReader::new(c);
        let resp = read_message(&mut r).await.expect("a response");
        let mut last = None;
        while let Ok(s) = seen.try_recv() {
            last = Some(s);
        }
        let message = || {
            let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
            v["message"].as_str().unwrap().to_string()
        };
        match resp.line() {
            l if l.starts_with("HTTP/1.1 400") => Fate::Refused,
            l if l.starts_with("HTTP/1.1 403") => Fate::Denied(message()),
            l if l.starts_with("HTTP/1.1 404") => {
                let last = last.expect("the daemon saw the forwarded request");
                Fate::Forwarded(last.line().trim_end().to_string(), last.body)
            }
            other => panic!("unexpected answer {other:?}: {}", message()),
        }
    }
}

/// Requests whose tenant rewrite shows: creates, lists with and without filters, a
/// forged owner, a build with labels.
fn tenant_cases() -> Vec<Case> {
    vec![
        Case::new(
            "POST",
            "/v1.41/containers/create?name=t1",
            Some(r#"{"Image":"busybox","Labels":{"app":"web"}}"#),
        ),
        Case::new(
            "POST",
            "/v1.41/volumes/create",
            Some(r#"{"Name":"v","Labels":{"io.portcullis.owner":"bob"}}"#),
        ),
        Case::new("POST", "/v1.41/networks/create", Some(r#"{"Name":"n"}"#)),
        Case::new("GET", "/v1.41/containers/json?all=1", None),
        Case::new(
            "GET",
            "/v1.41/volumes?filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D",
            None,
        ),
        Case::new("GET", "/v1.41/networks?filters=%7B", None),
        Case::new(
            "POST",
            "/v1.41/build?t=x&labels=%7B%22a%22%3A%22b%22%7D",
            None,
        ),
        Case::new("POST", "/v1.41/build/prune", None),
        Case::new(
            "POST",
            "/v1.41/containers/create",
            Some(
                r#"{"Image":"busybox","HostConfig":{"Memory":1048576,"NanoCpus":1000000,"Mounts":[{"Type":"volume","Source":"m","Target":"/m"}]}}"#,
            ),
        ),
        Case::new(
            "POST",
            "/v1.41/services/create",
            Some(
                r#"{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Mounts":[{"Type":"volume","Source":"m","Target":"/m"}]}}}"#,
            ),
        ),
    ]
}

fn corpus(dir: &Path) -> Vec<Case> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|f| Case::from_corpus(&std::fs::read(f).unwrap()))
        .collect()
}

fn edge_cases() -> Vec<Case> {
    let c = Case::new;
    vec![
        c("GET", "/_ping", None),
        c("GET", "/v1.41/containers/json?all=1", None),
        c("GET", "/v1.23/containers/json", None),
        c("GET", "/v1.41/no/such/route", None),
        c("POST", "/v1.41/no/such/route", Some(r#"{"a":1}"#)),
        c(
            "POST",
            "/v1.41/containers/c1/start",
            Some(r#"{"Binds":["/:/h"]}"#),
        ),
        c("POST", "/v1.41/containers/c1/start", Some("  \n")),
        c(
            "POST",
            "/v1.41/containers/create",
            Some(r#"{"Image":"busybox"}"#),
        ),
        c("POST", "/v1.41/containers/create", Some("")),
        c(
            "POST",
            "/v1.41/containers/create?name=x",
            Some(r#"{"image":"busybox","hostconfig":{"privileged":true}}"#),
        ),
        c(
            "POST",
            "/v1.41/containers/create",
            Some(r#"{"Image":"busybox","HostConfig":{"Binds":["/etc:/h"]}}"#),
        ),
        c(
            "POST",
            "/v1.41/containers/create",
            Some(r#"{"Image":"a","image":"b"}"#),
        ),
        c(
            "POST",
            "/v1.41/containers/create",
            Some(r#"{"Image":"a"} x"#),
        ),
        c("POST", "/v1.41/containers/create", Some("[1]")),
        c(
            "POST",
            "/v1.41/containers/create",
            Some(r#"{"Image":"a","HostConfig":{"VolumesFrom":["other"]}}"#),
        ),
        c(
            "POST",
            "/v1.41/containers/create",
            Some(r#"{"Image":"a","HostConfig":{"NetworkMode":"container:other"}}"#),
        ),
        c(
            "POST",
            "/v1.41/containers/c1/exec",
            Some(r#"{"Cmd":["sh"],"Privileged":true}"#),
        ),
        c("POST", "/v1.41/exec/e1/start", Some(r#"{"Detach":true}"#)),
        c("POST", "/v1.41/commit?container=c1&repo=r", None),
        c("POST", "/v1.41/volumes/create", Some(r#"{"Name":"v"}"#)),
        c(
            "POST",
            "/v1.41/volumes/create",
            Some(
                r#"{"Name":"v","Driver":"local","DriverOpts":{"type":"none","o":"bind","device":"/etc"}}"#,
            ),
        ),
        c("DELETE", "/v1.41/containers/c1?force=1", None),
        c("GET", "/v1.41/containers/c1/json", None),
        c("GET", "/v1.41/containers/%2e%2e/json", None),
        c("GET", "/v1.41/containers/json?filters=%zz", None),
        c("POST", "/v1.41/build?remote=https://u:p@h/r.git", None),
        c(
            "POST",
            "/v1.41/images/create?fromImage=busybox&tag=latest",
            None,
        ),
    ]
}

#[tokio::test]
async fn served_and_pure_paths_decide_alike() {
    decide_alike(PolicySet::builtin()).await;
}

/// The same under a policy isolating tenants (the plain listener's clients are the
/// tenant "anonymous"): owner labels stamped, owner filters added, forged owners and
/// unnarrowable filters denied alike.
#[tokio::test]
async fn served_and_pure_paths_decide_alike_for_a_tenant() {
    let policy = portcullis::policy::Policy::from_toml(
        "name = \"tenants\"\n[tenants]\nisolate = true\nmax_containers = 5\n",
        Path::new("tenants.toml"),
    )
    .unwrap();
    decide_alike(PolicySet::new(vec![policy]).unwrap()).await;
}

/// The same with memory, CPU and service quotas (looked up from the daemon).
#[tokio::test]
async fn served_and_pure_paths_decide_alike_under_resource_quotas() {
    let policy = portcullis::policy::Policy::from_toml(
        "name = \"q\"\n[tenants]\nmax_memory = \"1g\"\nmax_cpus = 2\nmax_services = 1\n",
        Path::new("q.toml"),
    )
    .unwrap();
    decide_alike(PolicySet::new(vec![policy]).unwrap()).await;
}

async fn decide_alike(set: PolicySet) {
    let dir = tempfile::Builder::new()
        .prefix("pcp")
        .tempdir_in("/tmp")
        .unwrap();
    let sock = dir.path().join("d.sock");
    let mut seen = empty_daemon(sock.clone());
    let (server, addr) = inproc::bind_with_policies(
        sock,
        std::time::Duration::from_secs(1),
        portcullis::proxy::Limits::default(),
        64,
        portcullis::proxy::body::Observers::default(),
        set.clone(),
    )
    .await;
    tokio::spawn(server.run(std::future::pending()));

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cases = corpus(&root.join("fuzz/corpus/decide"));
    assert!(cases.len() > 50, "the decide corpus is missing");
    cases.extend(edge_cases());
    cases.extend(tenant_cases());

    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    let mut differ = Vec::new();
    for case in &cases {
        let pure = case.pure(&set);
        let served = case.served(&addr, &mut seen).await;
        *kinds
            .entry(match &pure {
                Fate::Refused => "refused",
                Fate::Denied(_) => "denied",
                Fate::Forwarded(..) => "forwarded",
            })
            .or_default() += 1;
        if pure != served {
            differ.push(format!(
                "{} {}\n  pure:   {pure:?}\n  served: {served:?}",
                case.method, case.target
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    // The comparison covers every kind of fate.
    assert!(kinds.len() == 3, "{kinds:?}");
}

/// Send `raw` and read the answer; the requests the daemon saw meanwhile.
async fn exchange(
    addr: &str,
    raw: &[u8],
    seen: &mut mpsc::UnboundedReceiver<Seen>,
) -> (Seen, Vec<Seen>) {
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(raw).await.unwrap();
    let mut r = BufReader::new(c);
    let resp = read_message(&mut r).await.expect("a response");
    let mut got = Vec::new();
    while let Ok(s) = seen.try_recv() {
        got.push(s);
    }
    (resp, got)
}

/// A compressed body streams to the daemon with its Content-Encoding where the policy
/// does not read it, and is refused where it does.
#[tokio::test]
async fn content_encoding_streams_where_the_body_is_not_read() {
    let dir = tempfile::Builder::new()
        .prefix("pcp")
        .tempdir_in("/tmp")
        .unwrap();
    let sock = dir.path().join("d.sock");
    let mut seen = empty_daemon(sock.clone());
    let addr = serve_plain(sock).await;
    let gz: &[u8] = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03binary";
    for (target, ct) in [
        ("/v1.41/build?t=x", "application/x-tar"),
        ("/v1.41/images/load?quiet=1", "application/x-tar"),
        (
            "/v1.41/containers/c1/archive?path=/tmp",
            "application/x-tar",
        ),
    ] {
        let method = if target.contains("archive") {
            "PUT"
        } else {
            "POST"
        };
        let mut raw = format!(
            "{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            gz.len()
        )
        .into_bytes();
        raw.extend_from_slice(gz);
        let (resp, got) = exchange(&addr, &raw, &mut seen).await;
        assert!(
            resp.line().starts_with("HTTP/1.1 404"),
            "{target}: {resp:?}"
        );
        let last = got.last().expect("forwarded");
        assert_eq!(last.header_values("content-encoding"), ["gzip"], "{target}");
        assert_eq!(last.body, gz, "{target}");
    }
    let raw = b"POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}";
    let (resp, got) = exchange(&addr, raw, &mut seen).await;
    assert!(resp.line().starts_with("HTTP/1.1 400"), "{resp:?}");
    assert!(
        String::from_utf8_lossy(&resp.body).contains("uncompressed"),
        "{resp:?}"
    );
    assert!(got.is_empty(), "{got:?}");
}

/// A streamed body that breaks off on the client's side is the client's fault (400),
/// not the daemon's (502).
#[tokio::test]
async fn a_broken_streamed_body_is_the_clients_fault() {
    let dir = tempfile::Builder::new()
        .prefix("pcp")
        .tempdir_in("/tmp")
        .unwrap();
    let sock = dir.path().join("d.sock");
    // A daemon that reads the head, then the body until it ends or breaks, and only
    // then answers: the proxy is still sending when the client's chunking fails.
    fake_daemon::spawn(&sock, Record::default(), |_| {
        Answer::Json("200 OK", "{}".into())
    });
    let addr = serve_plain(sock).await;
    let raw = b"POST /v1.41/build?t=x HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\nzz\r\n";
    let mut c = TcpStream::connect(&addr).await.unwrap();
    c.write_all(raw).await.unwrap();
    let mut r = BufReader::new(c);
    let resp = read_message(&mut r).await.expect("a response");
    assert!(resp.line().starts_with("HTTP/1.1 400"), "{resp:?}");
    assert!(
        String::from_utf8_lossy(&resp.body).contains("the request body broke off"),
        "{resp:?}"
    );
}
