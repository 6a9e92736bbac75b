//! Raw-socket transparency tests against a scripted fake daemon on a unix socket:
//! pipelining, smuggling attempts, upgrades with early bytes, half-close both ways,
//! an upstream dying mid-stream, an unreachable upstream.

use crate::common::fake_daemon::{self, saw, Answer, Record, Session};
use crate::common::inproc::{self, InProc};
use crate::common::wire::{read_message, Seen};

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Portcullis under the built-in default policy, which isolates tenants: the raw
/// clients here have no certificate, so they are the tenant "anonymous".
async fn start_proxy() -> InProc {
    InProc::start().await
}

/// The labels of an object the anonymous tenant owns (stamped on what it creates).
const ANONYMOUS_OWNS: &str = r#"{"io.portcullis.owner":"anonymous"}"#;

/// A fake daemon answering every request with 200 and echoing the request line.
fn echo_daemon(sock: PathBuf) -> mpsc::UnboundedReceiver<Seen> {
    scripted_daemon(sock, |_| None)
}

/// A keep-alive fake daemon that records every request and answers with `answer`'s JSON
/// body, or by echoing the request line.
fn scripted_daemon(
    sock: PathBuf,
    answer: fn(&Seen) -> Option<String>,
) -> mpsc::UnboundedReceiver<Seen> {
    let (record, seen) = Record::with_feed();
    fake_daemon::spawn(&sock, record, move |request| {
        Answer::Json("200 OK", answer(request).unwrap_or_else(|| saw(request)))
    });
    seen
}

/// Read one HTTP/1.1 response (head + Content-Length body) from the client side.
async fn read_response<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> (String, String) {
    let seen = read_message(r).await.expect("a response");
    (seen.head, String::from_utf8_lossy(&seen.body).into_owned())
}

#[tokio::test]
async fn pipelined_requests_are_each_checked_and_reframed() {
    let p = start_proxy().await;
    let mut seen = echo_daemon(p.sock.clone());
    let mut c = TcpStream::connect(&p.addr).await.unwrap();
    // Two requests in one write; the second is a privileged create smuggled behind a
    // `Content-Length: 0` request.
    let body = r#"{"Image":"x","HostConfig":{"Privileged":true}}"#;
    let raw = format!(
        "GET /_ping HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nPOST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}GET /v1.41/containers/json HTTP/1.1\r\nHost: x\r\n\r\n",
        body.len()
    );
    c.write_all(raw.as_bytes()).await.unwrap();
    let mut r = BufReader::new(c);
    let (h1, b1) = read_response(&mut r).await;
    assert!(h1.starts_with("HTTP/1.1 200"), "{h1}");
    assert!(b1.contains("GET /_ping"), "{b1}");
    let (h2, b2) = read_response(&mut r).await;
    assert!(h2.starts_with("HTTP/1.1 403"), "{h2}");
    assert!(b2.contains("PC-1001"), "{b2}");
    let (h3, b3) = read_response(&mut r).await;
    assert!(h3.starts_with("HTTP/1.1 200"), "{h3}");
    assert!(b3.contains("GET /v1.41/containers/json"), "{b3}");
    // The daemon saw exactly the two allowed requests.
    let a = seen.recv().await.unwrap();
    let b = seen.recv().await.unwrap();
    assert!(a.head.starts_with("GET /_ping HTTP/1.1"));
    // The list the daemon saw is narrowed to the client's tenant by its own filter.
    assert!(
        b.head.starts_with("GET /v1.41/containers/json?filters=%7B%22label%22%3A%7B%22io.portcullis.owner%3Danonymous%22%3Atrue%7D%7D HTTP/1.1"),
        "{}",
        b.head
    );
    assert!(
        seen.try_recv().is_err(),
        "the denied create must not reach the daemon"
    );
}

/// A create naming more existing objects than the policy looks up is refused before
/// any lookup: the daemon sees nothing, however many volumes the body names.
#[tokio::test]
async fn too_many_named_volumes_are_refused_without_lookups() {
    let p = start_proxy().await;
    let mut seen = echo_daemon(p.sock.clone());
    let binds: Vec<String> = (0..1000).map(|i| format!("\"v{i}:/d{i}\"")).collect();
    let body = format!(
        r#"{{"Image":"x","HostConfig":{{"Binds":[{}]}}}}"#,
        binds.join(",")
    );
    let raw = format!(
        "POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n",
        body.len()
    );
    let mut c = TcpStream::connect(&p.addr).await.unwrap();
    c.write_all(raw.as_bytes()).await.unwrap();
    let mut r = BufReader::new(c);
    let (h, b) = read_response(&mut r).await;
    assert!(h.starts_with("HTTP/1.1 403"), "{h}");
    assert!(b.contains("PC-1028"), "{b}");
    let (h2, _) = read_response(&mut r).await;
    assert!(h2.starts_with("HTTP/1.1 200"), "{h2}");
    // The only request the daemon saw is the ping after it.
    let first = seen.recv().await.unwrap();
    assert!(first.head.starts_with("GET /_ping"), "{}", first.head);
    assert!(seen.try_recv().is_err());
}

#[tokio::test]
async fn forwarded_body_is_the_checked_reserialisation() {
    let p = start_proxy().await;
    // The volume the body names is the client's own.
    let mut seen = scripted_daemon(p.sock.clone(), |seen| {
        seen.line().starts_with("GET /volumes/v ").then(|| {
            format!(r#"{{"Name":"v","Driver":"local","Options":{{}},"Labels":{ANONYMOUS_OWNS}}}"#)
        })
    });
    let mut c = TcpStream::connect(&p.addr).await.unwrap();
    // Escaped key, chunked framing, odd spacing: the daemon gets canonical JSON
    // (keys unescaped, in the client's order, no spacing).
    let body = "{ \"Im\\u0061ge\" : \"x\" ,\"HostConfig\":{\"Binds\":[\"v:\\/d\"]}}";
    let raw = format!(
        "POST /v01.041/%63ontainers/create?name=a%20b HTTP/1.1\r\nHost: x\r\nContent-Type: application/json; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    c.write_all(raw.as_bytes()).await.unwrap();
    let mut r = BufReader::new(c);
    let (h, _) = read_response(&mut r).await;
    // The lookups go first: the named volume (its driver and options; its owner) and
    // the image (for its working directory); then the create.
    let mut lookups = Vec::new();
    let got = loop {
        let next = seen.recv().await.unwrap();
        if next.head.starts_with("GET ") {
            lookups.push(next.line().to_string());
        } else {
            break next;
        }
    };
    lookups.sort();
    lookups.dedup();
    assert_eq!(
        lookups,
        ["GET /images/x/json HTTP/1.1", "GET /volumes/v HTTP/1.1"]
    );
    assert!(h.starts_with("HTTP/1.1 200"), "{h}");
    assert!(
        got.head
            .starts_with("POST /v1.41/containers/create?name=a+b HTTP/1.1"),
        "{}",
        got.head
    );
    assert_eq!(
        String::from_utf8(got.body).unwrap(),
        format!(r#"{{"Image":"x","HostConfig":{{"Binds":["v:/d"]}},"Labels":{ANONYMOUS_OWNS}}}"#)
    );
}

#[tokio::test]
async fn framing_attacks_are_refused() {
    let p = start_proxy().await;
    let _seen = echo_daemon(p.sock.clone());
    // hyper itself resolves TE + CL by chunked framing and drops the Content-Length
    // (RFC 9112 §6.3), so the empty chunked body is what Portcullis checks (and
    // refuses: a create needs a body); nothing is smuggled either way.
    for (raw, status) in [
        ("POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "403"),
        ("POST /containers/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "501"),
        ("POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}", "400"),
        ("POST /containers/x/rename?name=a HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 6\r\n\r\nname=b", "400"),
        ("POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}", "400"),
        ("GET http://evil/v1.41/containers/json HTTP/1.1\r\nHost: x\r\n\r\n", "400"),
        ("GET /v1.23/containers/json HTTP/1.1\r\nHost: x\r\n\r\n", "400"),
    ] {
        let mut c = TcpStream::connect(&p.addr).await.unwrap();
        c.write_all(raw.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut out)).await;
        let out = String::from_utf8_lossy(&out);
        assert!(
            out.starts_with(&format!("HTTP/1.1 {status}")),
            "{raw:?} -> {out}"
        );
        assert!(out.contains("\"message\""), "Docker error shape: {out}");
    }
}

#[tokio::test]
async fn oversize_inspected_body_is_413() {
    let p = start_proxy().await;
    let _seen = echo_daemon(p.sock.clone());
    let mut c = TcpStream::connect(&p.addr).await.unwrap();
    let big = 5 << 20;
    let head = format!("POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {big}\r\n\r\n");
    c.write_all(head.as_bytes()).await.unwrap();
    let filler = vec![b' '; 64 << 10];
    let mut sent = 0;
    while sent < big {
        if c.write_all(&filler).await.is_err() {
            break;
        }
        sent += filler.len();
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut out)).await;
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
}

/// A fake daemon that upgrades every request, writes `early` right behind the 101
/// head, then runs `session` on the raw stream. Other requests (the policy's lookups)
/// get 404.
fn upgrading_daemon<F, Fut>(sock: PathBuf, early: &'static [u8], session: F)
where
    F: Fn(Session) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let script = move |seen: &Seen| {
        if seen.head.to_ascii_lowercase().contains("upgrade: tcp") {
            Answer::Upgrade(early)
        } else {
            Answer::Json("404 Not Found", r#"{"message":"No such container"}"#.into())
        }
    };
    fake_daemon::spawn_with_sessions(&sock, Record::default(), script, session);
}

async fn upgrade_client(addr: &str) -> (BufReader<TcpStream>, String) {
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"POST /v1.41/containers/abc/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
        .await
        .unwrap();
    let mut r = BufReader::new(c);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        head.push_str(&line);
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    (r, head)
}

#[tokio::test]
async fn upgrade_keeps_early_bytes_and_client_half_close() {
    let p = start_proxy().await;
    // The daemon sends output at once, then reads stdin to EOF, then writes more.
    upgrading_daemon(p.sock.clone(), b"early-output\n", |mut r| async move {
        let mut input = Vec::new();
        r.read_to_end(&mut input).await.unwrap();
        let mut reply = b"got:".to_vec();
        reply.extend_from_slice(&input);
        reply.extend_from_slice(b"\ndone-after-eof\n");
        r.get_mut().write_all(&reply).await.unwrap();
        r.get_mut().shutdown().await.unwrap();
    });
    // The attach route needs the container lookup for protected-container checks.
    let (mut r, head) = upgrade_client(&p.addr).await;
    assert!(head.starts_with("HTTP/1.1 101 UPGRADED"), "{head}");
    assert!(head.to_ascii_lowercase().contains("upgrade: tcp"), "{head}");
    r.get_mut().write_all(b"stdin-data").await.unwrap();
    r.get_mut().shutdown().await.unwrap(); // half-close: stdin EOF
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), r.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out, "early-output\ngot:stdin-data\ndone-after-eof\n");
}

#[tokio::test]
async fn daemon_half_close_still_lets_client_send() {
    let p = start_proxy().await;
    upgrading_daemon(p.sock.clone(), b"", |mut r| async move {
        r.get_mut().write_all(b"bye\n").await.unwrap();
        r.get_mut().shutdown().await.unwrap(); // daemon output ends first
        let mut input = Vec::new();
        r.read_to_end(&mut input).await.unwrap();
        assert_eq!(input, b"late-input");
    });
    let (mut r, head) = upgrade_client(&p.addr).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), r.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out, "bye\n");
    r.get_mut().write_all(b"late-input").await.unwrap();
    r.get_mut().shutdown().await.unwrap();
}

#[tokio::test]
async fn upstream_dying_mid_stream_closes_cleanly_and_proxy_survives() {
    let p = start_proxy().await;
    // One request per connection, each answered and then dropped.
    fake_daemon::spawn(&p.sock, Record::default(), |seen| {
        if seen.head.contains("/logs") {
            // Chunked stream, then the daemon dies without the last chunk.
            let cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nline1\n\r\n";
            Answer::ThenClose(cut.to_vec(), Duration::from_millis(100))
        } else if seen.head.starts_with("GET /containers/abc/json ") {
            // The policy's lookup of the container (protected or not). This daemon
            // serves one request per connection, so it says so: a pooled connection it
            // then drops would fail the next request.
            let body = format!(
                r#"{{"Id":"abc","Name":"/abc","Config":{{"Labels":{ANONYMOUS_OWNS}}},"HostConfig":{{}}}}"#
            );
            let answer = format!(
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            Answer::ThenClose(answer.into_bytes(), Duration::ZERO)
        } else {
            let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK";
            Answer::ThenClose(ok.to_vec(), Duration::ZERO)
        }
    });
    let mut c = TcpStream::connect(&p.addr).await.unwrap();
    c.write_all(b"GET /v1.41/containers/abc/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut out)).await;
    assert!(
        r.is_ok(),
        "the client connection must be closed, not left hanging"
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("line1"),
        "streamed bytes arrive before the break: {text}"
    );
    assert!(
        !text.contains("0\r\n\r\n"),
        "a broken stream must not look complete: {text}"
    );
    // The proxy still serves.
    let mut c = TcpStream::connect(&p.addr).await.unwrap();
    c.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).await.unwrap();
    assert!(
        out.starts_with("HTTP/1.1 200") && out.ends_with("OK"),
        "{out}"
    );
}

#[tokio::test]
async fn unreachable_daemon_is_502_in_docker_shape() {
    let p = start_proxy().await; // nothing listens on the socket
    let mut c = TcpStream::connect(&p.addr).await.unwrap();
    c.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 502"), "{out}");
    assert!(
        out.contains("{\"message\":\"cannot reach the Docker daemon"),
        "{out}"
    );
}

#[tokio::test]
async fn graceful_shutdown_drains_sessions_and_stops_accepting() {
    let dir = tempfile::Builder::new()
        .prefix("pct")
        .tempdir_in("/tmp")
        .unwrap();
    let sock = dir.path().join("d.sock");
    let (server, addr) = inproc::bind_plain(sock.clone(), Duration::from_secs(10)).await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(server.run(async move {
        let _ = stop_rx.await;
    }));
    // An echo session: the daemon echoes stdin until EOF.
    upgrading_daemon(sock, b"", |mut r| async move {
        let mut buf = [0u8; 64];
        loop {
            let n = r.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            r.get_mut().write_all(&buf[..n]).await.unwrap();
        }
        r.get_mut().shutdown().await.unwrap();
    });
    let (mut r, head) = upgrade_client(&addr).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stop_tx.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // No new connections once shutdown began.
    assert!(
        TcpStream::connect(&addr).await.is_err(),
        "still accepting after shutdown"
    );
    assert!(!run.is_finished(), "run returned while a session was live");
    // The live session still relays both ways.
    r.get_mut().write_all(b"still-here").await.unwrap();
    let mut buf = [0u8; 10];
    tokio::time::timeout(Duration::from_secs(5), r.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"still-here");
    r.get_mut().shutdown().await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), r.read_to_end(&mut rest)).await;
    // With the session over, the server finishes well before the grace period.
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("drained")
        .unwrap();
}

/// What is forwarded names the container the policy checked by the full id its lookup
/// returned: a name (or id prefix) the client wrote cannot be re-pointed by a rename
/// between the lookup and the request.
#[tokio::test]
async fn checked_containers_are_forwarded_by_id() {
    let p = start_proxy().await;
    let mut seen = scripted_daemon(p.sock.clone(), |seen| {
        seen.line().starts_with("GET /containers/3f1a/json ").then(|| {
            format!(r#"{{"Id":"3f1a9c0000000000000000000000000000000000000000000000000000000000","Name":"/3f1a","Config":{{"Labels":{ANONYMOUS_OWNS}}},"HostConfig":{{}},"Mounts":[]}}"#)
        })
    });
    let body = r#"{"Image":"x","HostConfig":{"PidMode":"container:3f1a"}}"#;
    let raw = format!(
        "POST /v1.41/containers/3f1a/kill HTTP/1.1\r\nHost: x\r\n\r\nPOST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut c = TcpStream::connect(&p.addr).await.unwrap();
    c.write_all(raw.as_bytes()).await.unwrap();
    let mut r = BufReader::new(c);
    for _ in 0..2 {
        let (h, _) = read_response(&mut r).await;
        assert!(h.starts_with("HTTP/1.1 200"), "{h}");
    }
    let id = "3f1a9c0000000000000000000000000000000000000000000000000000000000";
    let lines: Vec<Seen> = std::iter::from_fn(|| seen.try_recv().ok()).collect();
    let heads: Vec<&str> = lines.iter().map(Seen::line).collect();
    assert!(
        heads.contains(&format!("POST /v1.41/containers/{id}/kill HTTP/1.1").as_str()),
        "{heads:?}"
    );
    let create = lines
        .iter()
        .find(|s| s.line().starts_with("POST /v1.41/containers/create"))
        .expect("the create was forwarded");
    assert_eq!(
        String::from_utf8_lossy(&create.body),
        format!(
            r#"{{"Image":"x","HostConfig":{{"PidMode":"container:{id}"}},"Labels":{ANONYMOUS_OWNS}}}"#
        )
    );
}

/// A tenant's network list: the daemon's answer under the owner filter, plus the
/// predefined networks that match the client's own filters (`type=builtin` added), asked
/// for apart; a client `type=custom` filter gets none.
#[tokio::test]
async fn a_tenants_network_list_adds_the_predefined_networks() {
    let p = InProc::start().await.with_daemon(|seen| {
        let line = seen.line();
        let body = if line.contains("%22type%22%3A%7B%22builtin%22%3Atrue%7D") {
            r#"[{"Id":"b1","Name":"bridge"},{"Id":"h1","Name":"host"},{"Id":"z1","Name":"none"}]"#
        } else {
            r#"[{"Id":"n1","Name":"mine"}]"#
        };
        Answer::Json("200 OK", body.into())
    });
    let list = |query: &str| {
        let addr = p.addr.clone();
        let req =
            format!("GET /v1.41/networks{query} HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n");
        async move { crate::common::wire::exchange(&addr, req, 1).await }
    };
    let names = |reply: &crate::common::wire::Reply| -> Vec<String> {
        let r = reply.only();
        assert_eq!(r.status, 200, "{}", reply.raw);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|n| n["Name"].as_str().unwrap().to_string())
            .collect()
    };
    let lines = |rec: &Record| -> Vec<String> {
        rec.forwarded()
            .iter()
            .map(|s| s.line().to_string())
            .collect()
    };

    assert_eq!(names(&list("").await), ["mine", "bridge", "host", "none"]);
    assert_eq!(
        lines(&p.rec),
        [
            "GET /v1.41/networks?filters=%7B%22label%22%3A%7B%22io.portcullis.owner%3Danonymous%22%3Atrue%7D%7D HTTP/1.1",
            "GET /v1.41/networks?filters=%7B%22type%22%3A%7B%22builtin%22%3Atrue%7D%7D HTTP/1.1",
        ]
    );
    p.rec.clear();

    // The client's filters apply to both requests: {"name":["b"]}.
    assert_eq!(
        names(&list("?filters=%7B%22name%22%3A%5B%22b%22%5D%7D").await),
        ["mine", "bridge", "host", "none"]
    );
    assert_eq!(
        lines(&p.rec)[1],
        "GET /v1.41/networks?filters=%7B%22name%22%3A%7B%22b%22%3Atrue%7D%2C%22type%22%3A%7B%22builtin%22%3Atrue%7D%7D HTTP/1.1"
    );
    p.rec.clear();

    // {"type":["custom"]}: the daemon's answer alone.
    assert_eq!(
        names(&list("?filters=%7B%22type%22%3A%5B%22custom%22%5D%7D").await),
        ["mine"]
    );
    assert_eq!(lines(&p.rec).len(), 1, "{:?}", lines(&p.rec));
}
