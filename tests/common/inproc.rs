//! Shared pieces of the raw-socket suites: Portcullis in-process (the real server and
//! proxy state, plain TCP on 127.0.0.1:0, the built-in default policy and default
//! limits) in front of a fake daemon's unix socket, and the fake daemon's HTTP/1.1
//! reading and answering.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use portcullis::policy::PolicySet;
use portcullis::proxy::body::Observers;
use portcullis::proxy::{upstream, Limits, ProxyState};
use portcullis::server::{ListenAddr, Server, ServerOptions};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bind Portcullis in front of `daemon_socket` with the given drain grace period.
pub async fn bind_plain(daemon_socket: PathBuf, grace_period: Duration) -> (Server, String) {
    bind_with(
        daemon_socket,
        grace_period,
        Limits::default(),
        64,
        Observers::default(),
    )
    .await
}

/// Bind Portcullis in front of `daemon_socket` with the given grace period, limits,
/// connection limit and observers (audit sink).
pub async fn bind_with(
    daemon_socket: PathBuf,
    grace_period: Duration,
    limits: Limits,
    max_connections: usize,
    observers: Observers,
) -> (Server, String) {
    let connector = upstream::Connector::new(
        upstream::UpstreamAddr::Unix(daemon_socket),
        Duration::from_secs(2),
    );
    let state = Arc::new(ProxyState::with_observers(
        connector,
        PolicySet::builtin(),
        limits,
        observers,
    ));
    let opts = ServerOptions {
        tls: None,
        mtls: false,
        handshake_timeout: Duration::from_secs(5),
        header_timeout: Duration::from_secs(5),
        grace_period,
        max_connections,
        workers: 2,
    };
    let server = Server::bind(&[ListenAddr::Tcp("127.0.0.1:0".into())], state, opts)
        .await
        .expect("bind 127.0.0.1:0");
    let addr = server.local_urls()[0]
        .trim_start_matches("tcp://")
        .to_string();
    (server, addr)
}

/// Start serving in front of `daemon_socket` until the test ends; returns `127.0.0.1:PORT`.
pub async fn serve_plain(daemon_socket: PathBuf) -> String {
    let (server, addr) = bind_plain(daemon_socket, Duration::from_secs(1)).await;
    tokio::spawn(server.run(std::future::pending()));
    addr
}

/// Like [`serve_plain`], with the given limits, connection limit and observers.
pub async fn serve_with(
    daemon_socket: PathBuf,
    limits: Limits,
    max_connections: usize,
    observers: Observers,
) -> String {
    let (server, addr) = bind_with(
        daemon_socket,
        Duration::from_secs(1),
        limits,
        max_connections,
        observers,
    )
    .await;
    tokio::spawn(server.run(std::future::pending()));
    addr
}

/// One HTTP/1.1 message as read off the wire (a request the fake daemon received, or a
/// response the client received).
#[derive(Debug, Clone)]
pub struct Seen {
    pub head: String,
    pub body: Vec<u8>,
}

impl Seen {
    /// The request or status line.
    pub fn line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }

    /// Values of header `name`, in order.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        let want = format!("{}:", name.to_ascii_lowercase());
        self.head
            .lines()
            .skip(1)
            .filter(|l| l.to_ascii_lowercase().starts_with(&want))
            .map(|l| l[want.len()..].trim().to_string())
            .collect()
    }

    pub fn has_header(&self, name: &str) -> bool {
        !self.header_values(name).is_empty()
    }
}

/// Read one HTTP/1.1 message (head + Content-Length or chunked body); `None` on EOF or
/// an incomplete or malformed message.
pub async fn read_message<R: AsyncBufRead + Unpin>(r: &mut R) -> Option<Seen> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let lower = head.to_ascii_lowercase();
    let mut body = Vec::new();
    if let Some(cl) = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
    {
        body.resize(cl.trim().parse().ok()?, 0);
        r.read_exact(&mut body).await.ok()?;
    } else if lower.contains("transfer-encoding: chunked") {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).await.ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Some(Seen { head, body })
}

/// The fake daemon's answer: `status` (e.g. `200 OK`) with a JSON body, framed by
/// Content-Length. `false` when the connection is gone.
pub async fn respond_json<W: AsyncWrite + Unpin>(w: &mut W, status: &str, body: &str) -> bool {
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    w.write_all(resp.as_bytes()).await.is_ok()
}
