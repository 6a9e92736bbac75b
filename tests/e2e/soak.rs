//! Soak and fault test against the real daemon: many concurrent hijacked sessions
//! (attach streams held open, exec round trips with stdin EOF) and a steady stream of
//! API requests through Portcullis with mutual TLS, while the private dockerd is
//! restarted twice. Afterwards Portcullis still serves, its open file descriptors and
//! memory are back near their idle level, every client got its data or a clean
//! Docker-style error (502 `{"message": …}` while the daemon was down), no denied
//! request ever ran, and no stream or answer was corrupted or cut short without the
//! client seeing an error. (dockerd, on SIGTERM, stops accepting connections but keeps
//! serving the open ones until it exits, so an answer it is writing then breaks off;
//! streaming, Portcullis cannot take back the status it forwarded, and the client sees
//! the body fail. That is counted clean only when a restart overlapped the request.)
//!
//! The default is the short mode CI runs (100 attach sessions, ~40 s). The long run
//! reported in the README:
//! `SOAK_SESSIONS=1000 SOAK_EXEC_WORKERS=16 SOAK_SECS=300 cargo test --release --test e2e soak -- --nocapture`
//! (`SOAK_HOLD_SECS=N` keeps the proxy running N seconds after the run, for inspection).

use std::fs;
use std::path::Path;
use std::sync::atomic::{
    AtomicBool, AtomicU64,
    Ordering::{Relaxed, SeqCst},
};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;

use crate::common::{certs::*, clients::*, command::*, daemon::*, processes::*};

const API: &str = "/v1.41";
/// The owner label of the test client (CN=soak), for fixtures made on the daemon socket.
const OWNED: &str = "--label=io.portcullis.owner=soak";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What every client saw, by outcome.
#[derive(Default)]
struct Stats {
    api_ok: AtomicU64,
    api_denied: AtomicU64,
    api_unavailable: AtomicU64,
    api_daemon_error: AtomicU64,
    /// Answers whose body broke off while the daemon was being restarted.
    api_interrupted: AtomicU64,
    attach_opened: AtomicU64,
    attach_ticks: AtomicU64,
    attach_ended: AtomicU64,
    attach_refused: AtomicU64,
    exec_ok: AtomicU64,
    exec_bytes: AtomicU64,
    exec_interrupted: AtomicU64,
    exec_refused: AtomicU64,
    /// Restarts begun so far, and whether one is under way (an interrupted stream must
    /// overlap one).
    restarts: AtomicU64,
    restarting: AtomicBool,
    /// Every unclean outcome, described.
    bad: std::sync::Mutex<Vec<String>>,
}

impl Stats {
    /// An API exchange failed: clean only if its body was cut short while a restart
    /// happened (the restart count moved since the request was sent).
    fn api_failed(&self, n: usize, epoch: u64, what: String, cut_short: bool) {
        if cut_short && self.restart_overlapped(epoch) {
            self.api_interrupted.fetch_add(1, Relaxed);
        } else {
            self.bad(format!("api worker {n}: {what}"));
        }
    }

    /// Whether a restart began since `epoch` was read, or is under way now.
    fn restart_overlapped(&self, epoch: u64) -> bool {
        self.restarts.load(SeqCst) != epoch || self.restarting.load(SeqCst)
    }

    fn bad(&self, what: String) {
        // When it happened relative to the restarts, to tell a fault from its cause.
        let when = format!(
            "[after {} restart(s){}]",
            self.restarts.load(SeqCst),
            if self.restarting.load(SeqCst) {
                ", during a restart"
            } else {
                ""
            }
        );
        let mut bad = self.bad.lock().unwrap();
        if bad.len() < 50 {
            bad.push(format!("{when} {what}"));
        }
    }
}

struct Client {
    tls: TlsConnector,
    addr: String,
    stats: Arc<Stats>,
    stop: watch::Receiver<bool>,
}

type Sender = SendRequest<Full<Bytes>>;

impl Client {
    async fn connect(&self) -> std::io::Result<Sender> {
        let tcp = TcpStream::connect(&self.addr).await?;
        tcp.set_nodelay(true)?;
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let tls = self.tls.connect(name, tcp).await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(conn.with_upgrades());
        Ok(sender)
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }
}

fn request(method: &str, path: &str, body: Option<&str>) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("{API}{path}"))
        .header("host", "docker");
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    b.body(Full::new(Bytes::from(body.unwrap_or("").to_string())))
        .unwrap()
}

fn upgrade(path: &str, body: Option<&str>) -> Request<Full<Bytes>> {
    let mut req = request("POST", path, body);
    let h = req.headers_mut();
    h.insert("connection", "Upgrade".parse().unwrap());
    h.insert("upgrade", "tcp".parse().unwrap());
    req
}

/// A non-2xx answer must be Docker's error shape.
fn is_docker_error(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").map(|m| m.is_string()))
        .unwrap_or(false)
}

/// An error with its sources, which hyper keeps out of its own message.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}

/// Send one request and read the whole answer. `Err((what, cut_short))` describes an
/// unclean outcome; `cut_short` is set when the status came and the body then broke off
/// (clean only if the daemon went away meanwhile: the proxy streams, so it cannot take
/// back a status it has forwarded, and the client sees the body fail, never end early).
async fn exchange(
    sender: &mut Sender,
    req: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), (String, bool)> {
    let what = format!("{} {}", req.method(), req.uri());
    sender
        .ready()
        .await
        .map_err(|e| (format!("{what}: connection not reusable: {e}"), false))?;
    let resp = tokio::time::timeout(Duration::from_secs(60), sender.send_request(req))
        .await
        .map_err(|_| (format!("{what}: no answer within 60s"), false))?
        .map_err(|e| (format!("{what}: {}", chain(&e)), false))?;
    let status = resp.status();
    let body = tokio::time::timeout(Duration::from_secs(60), resp.into_body().collect())
        .await
        .map_err(|_| (format!("{what}: body not finished within 60s"), false))?
        .map_err(|e| {
            let why = chain(&e);
            (
                format!("{what}: {status}, then the body was cut short: {why}"),
                true,
            )
        })?
        .to_bytes();
    if !status.is_success() && status != StatusCode::SWITCHING_PROTOCOLS && !is_docker_error(&body)
    {
        return Err((
            format!(
                "{what}: {status} without a Docker error body: {:?}",
                String::from_utf8_lossy(&body)
            ),
            false,
        ));
    }
    Ok((status, body))
}

/// Classify a non-2xx answer to an allowed request.
fn count_error(stats: &Stats, status: StatusCode, what: &str, body: &[u8]) {
    match status {
        StatusCode::BAD_GATEWAY => stats.api_unavailable.fetch_add(1, Relaxed),
        s if s.is_server_error() || s == StatusCode::CONFLICT || s == StatusCode::NOT_FOUND => {
            // The daemon itself answered while coming up (container not running yet…).
            stats.api_daemon_error.fetch_add(1, Relaxed)
        }
        _ => {
            stats.bad(format!(
                "{what}: unexpected {status}: {}",
                String::from_utf8_lossy(body)
            ));
            0
        }
    };
}

/// Steady API traffic on one keep-alive connection: ping, list, an allowed create and
/// remove, and a privileged create that must always be refused.
async fn api_worker(c: Arc<Client>, n: usize) {
    let mut sender: Option<Sender> = None;
    let mut i = 0u64;
    while !c.stopped() {
        if !sender.as_ref().is_some_and(|s| !s.is_closed()) {
            match c.connect().await {
                Ok(s) => sender = Some(s),
                Err(e) => {
                    c.stats.bad(format!("api worker {n}: connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
        }
        let s = sender.as_mut().unwrap();
        if s.ready().await.is_err() {
            sender = None;
            continue;
        }
        i += 1;
        let name = format!("soak-{n}-{i}");
        let (req, kind) = match i % 4 {
            0 => (request("GET", "/_ping", None), "ping"),
            1 => (request("GET", "/containers/json?all=1", None), "list"),
            2 => (
                request(
                    "POST",
                    &format!("/containers/create?name={name}"),
                    Some(&format!(r#"{{"Image":"{TEST_IMAGE}","Cmd":["true"]}}"#)),
                ),
                "create",
            ),
            _ => (
                request(
                    "POST",
                    &format!("/containers/create?name={name}-priv"),
                    Some(&format!(
                        r#"{{"Image":"{TEST_IMAGE}","HostConfig":{{"Privileged":true}}}}"#
                    )),
                ),
                "privileged create",
            ),
        };
        let epoch = c.stats.restarts.load(SeqCst);
        match exchange(s, req).await {
            Err((e, cut_short)) => {
                c.stats.api_failed(n, epoch, e, cut_short);
                sender = None;
            }
            Ok((status, body)) if kind == "privileged create" => {
                if status == StatusCode::FORBIDDEN {
                    c.stats.api_denied.fetch_add(1, Relaxed);
                } else {
                    c.stats.bad(format!(
                        "privileged create answered {status}: {}",
                        String::from_utf8_lossy(&body)
                    ));
                }
            }
            Ok((status, body)) if status.is_success() => {
                if kind == "list"
                    && serde_json::from_slice::<Vec<serde_json::Value>>(&body).is_err()
                {
                    c.stats.bad(format!(
                        "container list is not a JSON array: {:?}",
                        String::from_utf8_lossy(&body)
                    ));
                }
                c.stats.api_ok.fetch_add(1, Relaxed);
                if kind == "create" {
                    let rm = request("DELETE", &format!("/containers/{name}?force=1"), None);
                    match exchange(s, rm).await {
                        Ok((st, _)) if st.is_success() => {
                            c.stats.api_ok.fetch_add(1, Relaxed);
                        }
                        Ok((st, b)) => count_error(&c.stats, st, "remove", &b),
                        Err((e, cut_short)) => {
                            c.stats.api_failed(n, epoch, e, cut_short);
                            sender = None;
                        }
                    }
                }
            }
            Ok((status, body)) => count_error(&c.stats, status, kind, &body),
        }
        if c.stats.api_unavailable.load(Relaxed) > 0 && i % 16 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Read multiplexed stdout frames; returns the payload, or why the stream is malformed.
fn demux(raw: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let mut rest = raw;
    while !rest.is_empty() {
        if rest.len() < 8 {
            return Err(format!(
                "stream ends inside a frame header ({} bytes)",
                rest.len()
            ));
        }
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        if rest[0] != 1 || rest[1..4] != [0, 0, 0] {
            return Err(format!("bad frame header {:?}", &rest[..8]));
        }
        if rest.len() < 8 + len {
            return Err(format!("stream ends inside a {len}-byte frame"));
        }
        out.extend_from_slice(&rest[8..8 + len]);
        rest = &rest[8 + len..];
    }
    Ok(())
}

/// One attach session held open on the ticking container: it must receive ticks
/// until the daemon goes away (EOF), then it reconnects.
async fn attach_session(c: Arc<Client>, n: usize) {
    let mut stop = c.stop.clone();
    while !c.stopped() {
        let mut sender = match c.connect().await {
            Ok(s) => s,
            Err(e) => {
                c.stats.bad(format!("attach {n}: connect: {e}"));
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let req = upgrade("/containers/ticker/attach?stream=1&stdout=1", None);
        let resp =
            match tokio::time::timeout(Duration::from_secs(60), sender.send_request(req)).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    c.stats.bad(format!("attach {n}: {e}"));
                    continue;
                }
                Err(_) => {
                    c.stats.bad(format!("attach {n}: no answer within 60s"));
                    continue;
                }
            };
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            let status = resp.status();
            let body = resp.into_body().collect().await.map(|b| b.to_bytes());
            match body {
                Ok(b) if is_docker_error(&b) => {
                    c.stats.attach_refused.fetch_add(1, Relaxed);
                }
                other => c.stats.bad(format!("attach {n}: {status} {other:?}")),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let mut io = match hyper::upgrade::on(resp).await {
            Ok(u) => TokioIo::new(u),
            Err(e) => {
                c.stats.bad(format!("attach {n}: upgrade: {e}"));
                continue;
            }
        };
        c.stats.attach_opened.fetch_add(1, Relaxed);
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let ended = loop {
            tokio::select! {
                r = io.read(&mut buf) => match r {
                    Ok(0) => break true,
                    Ok(k) => raw.extend_from_slice(&buf[..k]),
                    Err(e) => {
                        // A reset when the daemon dies is a clean end for the client.
                        let _ = e;
                        break true;
                    }
                },
                _ = stop.changed() => break false,
            }
            // Check and drop complete frames as they come.
            let keep = complete_frames(&raw);
            check_ticks(&c.stats, n, &raw[..keep]);
            raw.drain(..keep);
        };
        let keep = complete_frames(&raw);
        check_ticks(&c.stats, n, &raw[..keep]);
        if ended {
            c.stats.attach_ended.fetch_add(1, Relaxed);
            if keep != raw.len() {
                c.stats
                    .bad(format!("attach {n}: stream ended inside a frame ({raw:?})"));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

fn complete_frames(raw: &[u8]) -> usize {
    let mut at = 0;
    while raw.len() >= at + 8 {
        let len = u32::from_be_bytes([raw[at + 4], raw[at + 5], raw[at + 6], raw[at + 7]]) as usize;
        if raw.len() < at + 8 + len {
            break;
        }
        at += 8 + len;
    }
    at
}

fn check_ticks(stats: &Stats, n: usize, frames: &[u8]) {
    let mut out = Vec::new();
    match demux(frames, &mut out) {
        Ok(()) if out.chunks(5).all(|t| t == b"tick\n") && out.len() % 5 == 0 => {
            stats
                .attach_ticks
                .fetch_add((out.len() / 5) as u64, Relaxed);
        }
        Ok(()) => stats.bad(format!(
            "attach {n}: unexpected output {:?}",
            String::from_utf8_lossy(&out)
        )),
        Err(e) => stats.bad(format!("attach {n}: {e}")),
    }
}

/// Exec round trips: `cat` in the long-running container, a payload in, stdin EOF,
/// and exactly the payload back.
async fn exec_worker(c: Arc<Client>, n: usize) {
    let mut round = 0u64;
    while !c.stopped() {
        round += 1;
        let epoch = c.stats.restarts.load(SeqCst);
        match exec_round(&c, n, round).await {
            Ok(Some(bytes)) => {
                c.stats.exec_ok.fetch_add(1, Relaxed);
                c.stats.exec_bytes.fetch_add(bytes, Relaxed);
            }
            Ok(None) => {
                c.stats.exec_refused.fetch_add(1, Relaxed);
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err((what, cut_short)) => {
                // A stream cut short is clean only if the daemon went away meanwhile.
                if cut_short && c.stats.restart_overlapped(epoch) {
                    c.stats.exec_interrupted.fetch_add(1, Relaxed);
                } else {
                    c.stats.bad(format!("exec {n}/{round}: {what}"));
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}

/// `Ok(Some(bytes))`: the payload came back whole; `Ok(None)`: a clean Docker error;
/// `Err((what, cut_short))`.
async fn exec_round(c: &Client, n: usize, round: u64) -> Result<Option<u64>, (String, bool)> {
    let mut sender = c
        .connect()
        .await
        .map_err(|e| (format!("connect: {e}"), false))?;
    let create = request(
        "POST",
        "/containers/catbox/exec",
        Some(r#"{"AttachStdin":true,"AttachStdout":true,"Cmd":["cat"]}"#),
    );
    let (status, body) = exchange(&mut sender, create).await?;
    if !status.is_success() {
        count_error(&c.stats, status, "exec create", &body);
        return Ok(None);
    }
    let id = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["Id"].as_str().map(str::to_string))
        .ok_or_else(|| (format!("exec create answer {body:?}"), false))?;
    let start = upgrade(
        &format!("/exec/{id}/start"),
        Some(r#"{"Detach":false,"Tty":false}"#),
    );
    sender
        .ready()
        .await
        .map_err(|e| (format!("exec start: connection not reusable: {e}"), false))?;
    let resp = tokio::time::timeout(Duration::from_secs(60), sender.send_request(start))
        .await
        .map_err(|_| ("exec start: no answer within 60s".to_string(), false))?
        .map_err(|e| (format!("exec start: {e}"), false))?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if is_docker_error(&body) {
            count_error(&c.stats, status, "exec start", &body);
            return Ok(None);
        }
        return Err((format!("exec start: {status} {body:?}"), false));
    }
    let io = hyper::upgrade::on(resp)
        .await
        .map_err(|e| (format!("upgrade: {e}"), false))?;
    let (mut rd, mut wr) = tokio::io::split(TokioIo::new(io));
    // 64 KiB to 1 MiB of a pattern that differs per worker and round.
    let len = 65_536 + ((n as u64 * 7919 + round * 104_729) % (1 << 20)) as usize;
    let payload: Vec<u8> = (0..len)
        .map(|i| (i as u64 ^ round ^ (n as u64) << 3) as u8)
        .collect();
    let writer = {
        let payload = payload.clone();
        tokio::spawn(async move {
            let r = wr.write_all(&payload).await;
            let _ = wr.shutdown().await;
            r
        })
    };
    let mut raw = Vec::with_capacity(len + len / 2);
    let read = tokio::time::timeout(Duration::from_secs(120), rd.read_to_end(&mut raw)).await;
    let wrote = writer.await.map_err(|e| (format!("writer: {e}"), true))?;
    let mut out = Vec::with_capacity(len);
    let framed = demux(&raw[..complete_frames(&raw)], &mut out);
    match read {
        Err(_) => return Err(("output not finished within 120s".into(), false)),
        Ok(Err(e)) => return Err((format!("read: {e}; {} of {len} bytes", out.len()), true)),
        Ok(Ok(_)) => {}
    }
    if let Err(e) = framed {
        return Err((e, false));
    }
    if !payload.starts_with(&out) {
        return Err((
            format!("output differs from the input (got {} bytes)", out.len()),
            false,
        ));
    }
    if out.len() != len || complete_frames(&raw) != raw.len() || wrote.is_err() {
        return Err((
            format!("got {} of {len} bytes (write: {wrote:?})", out.len()),
            true,
        ));
    }
    Ok(Some(len as u64))
}

fn proc_status(pid: u32, field: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .map(|v| v.trim().trim_end_matches(" kB").to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Open descriptors of `pid`: (TCP sockets, unix sockets, everything else).
fn open_fds(pid: u32) -> (usize, usize, usize) {
    let inodes = |table: &str| -> Vec<String> {
        fs::read_to_string(format!("/proc/{pid}/net/{table}"))
            .unwrap_or_default()
            .lines()
            .skip(1)
            .filter_map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                let col = if table == "unix" { 6 } else { 9 };
                cols.get(col).map(|c| c.to_string())
            })
            .collect()
    };
    let tcp: Vec<String> = [inodes("tcp"), inodes("tcp6")].concat();
    let unix = inodes("unix");
    let (mut t, mut u, mut other) = (0, 0, 0);
    for fd in fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let link = fs::read_link(fd.path()).unwrap_or_default();
        let link = link.to_string_lossy();
        match link
            .strip_prefix("socket:[")
            .and_then(|l| l.strip_suffix(']'))
        {
            Some(inode) if tcp.iter().any(|i| i == inode) => t += 1,
            Some(inode) if unix.iter().any(|i| i == inode) => u += 1,
            _ => other += 1,
        }
    }
    (t, u, other)
}

fn client_config(client_dir: &Path) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in portcullis::tls::load_certs(&client_dir.join("ca.pem")).unwrap() {
        roots.add(cert).unwrap();
    }
    let certs = portcullis::tls::load_certs(&client_dir.join("cert.pem")).unwrap();
    let key = portcullis::tls::load_key(&client_dir.join("key.pem")).unwrap();
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .unwrap();
    Arc::new(config)
}

#[test]
fn soak_with_daemon_restarts() {
    if !require_daemon() {
        return;
    }
    let sessions = env_num("SOAK_SESSIONS", 100) as usize;
    let exec_workers = env_num("SOAK_EXEC_WORKERS", 4) as usize;
    let api_workers = env_num("SOAK_API_WORKERS", 4) as usize;
    let phase = Duration::from_secs(env_num("SOAK_SECS", 24) / 3);
    println!(
        "soak: {sessions} attach sessions, {exec_workers} exec workers, {api_workers} API workers, \
         3 phases of {}s with a daemon restart between them",
        phase.as_secs()
    );

    let mut daemon = DockerDaemon::start();
    let tmp = tempfile::Builder::new()
        .prefix("soak")
        .tempdir_in("/tmp")
        .unwrap();
    let certs = TestCerts::generate(&tmp.path().join("certs"), "soak");
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/default.toml");
    let mut proxy = Proxy::start(
        daemon.socket(),
        &certs,
        Some(&policy),
        &["--admin-listen", "tcp://127.0.0.1:0"],
    );
    // The fixtures are the client's (CN=soak) own: the default policy isolates tenants,
    // and these are made on the daemon's socket, where nothing stamps the owner label.
    daemon.direct_ok(&[
        "run",
        "-d",
        "--restart",
        "always",
        "--name",
        "ticker",
        OWNED,
        TEST_IMAGE,
        "sh",
        "-c",
        "while :; do echo tick; sleep 1; done",
    ]);
    daemon.direct_ok(&[
        "run",
        "-d",
        "--restart",
        "always",
        "--name",
        "catbox",
        OWNED,
        TEST_IMAGE,
        "sleep",
        "1000000",
    ]);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (stop_tx, stop_rx) = watch::channel(false);
    let stats = Arc::new(Stats::default());
    let client = Arc::new(Client {
        tls: TlsConnector::from(client_config(&certs.client_dir)),
        addr: proxy.addr.clone(),
        stats: stats.clone(),
        stop: stop_rx,
    });
    let pid = proxy.pid();

    // Idle level: after one warm-up exchange of each kind, nothing open.
    rt.block_on(async {
        let mut s = client.connect().await.expect("connect to portcullis");
        let (st, _) = exchange(&mut s, request("GET", "/_ping", None))
            .await
            .expect("warm-up ping");
        assert_eq!(st, StatusCode::OK);
        assert!(
            exec_round(&client, 0, 0).await.unwrap().is_some(),
            "warm-up exec round"
        );
    });
    std::thread::sleep(Duration::from_secs(1));
    let idle_fds = open_fds(pid);
    let idle_rss = proc_status(pid, "VmRSS:");
    println!("soak: idle: {idle_fds:?} fds (tcp, unix, other), {idle_rss} KiB RSS");

    let mut tasks = Vec::new();
    for n in 0..sessions {
        tasks.push(rt.spawn(attach_session(client.clone(), n)));
    }
    for n in 0..exec_workers {
        tasks.push(rt.spawn(exec_worker(client.clone(), n + 1)));
    }
    for n in 0..api_workers {
        tasks.push(rt.spawn(api_worker(client.clone(), n)));
    }

    let started = Instant::now();
    let mut peak_rss = 0;
    let mut peak_fds = (0, 0, 0);
    let mut watch_phase = |label: &str| {
        let end = Instant::now() + phase;
        while Instant::now() < end {
            std::thread::sleep(Duration::from_millis(500));
            peak_rss = peak_rss.max(proc_status(pid, "VmRSS:"));
            let now = open_fds(pid);
            peak_fds = (
                peak_fds.0.max(now.0),
                peak_fds.1.max(now.1),
                peak_fds.2.max(now.2),
            );
        }
        println!(
            "soak: {label} done at {:.0}s: {} attach sessions opened, {} ticks, {} exec rounds ok, {} API answers ok, {} denied, {} unavailable",
            started.elapsed().as_secs_f64(),
            stats.attach_opened.load(Relaxed),
            stats.attach_ticks.load(Relaxed),
            stats.exec_ok.load(Relaxed),
            stats.api_ok.load(Relaxed),
            stats.api_denied.load(Relaxed),
            stats.api_unavailable.load(Relaxed),
        );
    };
    watch_phase("phase 1");
    for r in 1..=2 {
        stats.restarting.store(true, SeqCst);
        stats.restarts.fetch_add(1, SeqCst);
        daemon.restart(Duration::from_secs(3));
        stats.restarting.store(false, SeqCst);
        println!(
            "soak: dockerd restart {r} done at {:.0}s",
            started.elapsed().as_secs_f64()
        );
        watch_phase(&format!("phase {}", r + 1));
    }
    stop_tx.send(true).unwrap();
    rt.block_on(async {
        for t in tasks {
            if tokio::time::timeout(Duration::from_secs(150), t)
                .await
                .is_err()
            {
                stats.bad("a client task did not finish within 150s of the stop".into());
            }
        }
    });
    drop(rt);

    // Portcullis still serves, and lets go of what the sessions held.
    assert!(proxy.is_running(), "portcullis exited during the soak");
    let ping = docker_via(
        &proxy,
        &certs.client_dir,
        &["version", "--format", "{{.Server.Version}}"],
        None,
    );
    assert_ok(&ping, "docker version through portcullis after the soak");
    // Client-side sockets and other descriptors return to the idle level; upstream
    // unix sockets may stay in the keep-alive pool (at most 64 idle, for 60 s).
    let settled = |fds: (usize, usize, usize)| {
        fds.0 <= idle_fds.0 && fds.1 <= idle_fds.1 + 64 && fds.2 <= idle_fds.2
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut fds = open_fds(pid);
    while !settled(fds) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        fds = open_fds(pid);
    }
    // Memory freed by the sessions goes back to the system within a few seconds.
    let mut rss = proc_status(pid, "VmRSS:");
    while rss > idle_rss + 32 * 1024 && Instant::now() < deadline + Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(500));
        rss = proc_status(pid, "VmRSS:");
    }
    println!(
        "soak: after: {fds:?} fds (idle {idle_fds:?}, peak {peak_fds:?}), {rss} KiB RSS (idle {idle_rss}, peak {peak_rss})"
    );
    // SOAK_HOLD_SECS keeps the proxy up after the run, to inspect it (gdb, /proc).
    if let Some(hold) = std::env::var("SOAK_HOLD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        println!("soak: holding portcullis (pid {pid}) for {hold}s");
        std::thread::sleep(Duration::from_secs(hold));
    }

    let s = &stats;
    println!(
        "soak: attach: {} opened, {} ticks, {} ended by the daemon, {} refused cleanly; exec: {} ok ({} MiB), {} cut short by a restart, {} refused cleanly; API: {} ok, {} denied, {} unavailable (502), {} daemon errors, {} cut short by a restart",
        s.attach_opened.load(Relaxed),
        s.attach_ticks.load(Relaxed),
        s.attach_ended.load(Relaxed),
        s.attach_refused.load(Relaxed),
        s.exec_ok.load(Relaxed),
        s.exec_bytes.load(Relaxed) >> 20,
        s.exec_interrupted.load(Relaxed),
        s.exec_refused.load(Relaxed),
        s.api_ok.load(Relaxed),
        s.api_denied.load(Relaxed),
        s.api_unavailable.load(Relaxed),
        s.api_daemon_error.load(Relaxed),
        s.api_interrupted.load(Relaxed),
    );
    let bad = s.bad.lock().unwrap().clone();
    assert!(bad.is_empty(), "unclean outcomes:\n{}", bad.join("\n"));

    // Nothing the policy refused ever ran.
    let ids = daemon.direct_ok(&["ps", "-aq"]);
    for id in ids.split_whitespace() {
        let privileged = daemon.direct_ok(&["inspect", "-f", "{{.HostConfig.Privileged}}", id]);
        assert_eq!(privileged.trim(), "false", "container {id} is privileged");
    }
    // Every kind of traffic happened, in every phase's conditions.
    assert!(
        s.attach_opened.load(Relaxed) >= 3 * sessions as u64 * 9 / 10,
        "attach sessions did not reconnect after restarts"
    );
    assert!(
        s.attach_ticks.load(Relaxed) > 0,
        "no attach session received data"
    );
    assert!(
        s.attach_ended.load(Relaxed) >= sessions as u64,
        "restarts did not end attach sessions"
    );
    assert!(
        s.exec_ok.load(Relaxed) > 0 && s.api_ok.load(Relaxed) > 0 && s.api_denied.load(Relaxed) > 0
    );
    assert!(
        s.api_unavailable.load(Relaxed) > 0,
        "no request met the daemon down (502)"
    );
    assert!(
        settled(fds),
        "open fds (tcp, unix, other) {fds:?} did not return to the idle level {idle_fds:?} (+ the upstream pool)"
    );
    assert!(
        rss <= idle_rss + 32 * 1024,
        "RSS {rss} KiB did not return near the idle level {idle_rss} KiB"
    );
}
