//! The scripted fake Docker daemon of the raw-socket suites: a unix socket that reads
//! HTTP/1.1 requests with [`read_message`], records each one (and every raw byte, and
//! every connection) in a [`Record`], and answers as a script says: JSON, raw bytes
//! followed by a close, or a `101 UPGRADED` hijack handed to a session.
//!
//! A request is recorded before it is answered, so once a client has its response the
//! request is in the record.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use super::wire::{read_message, Seen};

/// The head of the daemon's answer to an attach or exec upgrade.
const UPGRADED: &str = "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n";

/// The policy's own lookups (`GET /containers/X/json`, `/images/X/json`, `/volumes/X`,
/// `/services/X` without a version prefix), as opposed to requests forwarded for the client.
pub fn is_lookup_line(line: &str) -> bool {
    let Some(path) = line.strip_prefix("GET ").and_then(|r| r.split(' ').next()) else {
        return false;
    };
    let segs: Vec<&str> = path.split('/').collect();
    matches!(
        segs.as_slice(),
        ["", "containers" | "images", _, "json"] | ["", "volumes" | "services", _]
    )
}

/// Everything the daemon received: parsed requests, the raw bytes of every connection
/// (hijacked streams included) and the number of connections accepted.
#[derive(Clone, Default)]
pub struct Record {
    requests: Arc<Mutex<Vec<Seen>>>,
    raw: Arc<Mutex<Vec<u8>>>,
    connections: Arc<AtomicUsize>,
    feed: Option<mpsc::UnboundedSender<Seen>>,
}

impl Record {
    /// A record that also sends each request, in arrival order, to the receiver.
    pub fn with_feed() -> (Record, mpsc::UnboundedReceiver<Seen>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let record = Record {
            feed: Some(tx),
            ..Record::default()
        };
        (record, rx)
    }

    /// Every request received, lookups included.
    pub fn requests(&self) -> Vec<Seen> {
        self.requests.lock().unwrap().clone()
    }

    /// Requests forwarded on behalf of clients (lookups left out).
    pub fn forwarded(&self) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| !is_lookup_line(s.line()))
            .collect()
    }

    /// Every byte received, as text.
    pub fn raw(&self) -> String {
        String::from_utf8_lossy(&self.raw.lock().unwrap()).into_owned()
    }

    /// Connections accepted, whether or not a request followed.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Forget the requests and bytes seen so far (the connection count stays).
    pub fn clear(&self) {
        self.requests.lock().unwrap().clear();
        self.raw.lock().unwrap().clear();
    }

    fn push(&self, seen: Seen) {
        if let Some(feed) = &self.feed {
            let _ = feed.send(seen.clone());
        }
        self.requests.lock().unwrap().push(seen);
    }
}

/// A daemon-side connection that copies every byte read into the record.
pub struct Tee<S> {
    inner: S,
    raw: Arc<Mutex<Vec<u8>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tee<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let new = buf.filled()[before..].to_vec();
            self.raw.lock().unwrap().extend_from_slice(&new);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tee<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The daemon's side of a hijacked connection: read the client's stream from it,
/// write the daemon's through `get_mut()`.
pub type Session = BufReader<Tee<UnixStream>>;

/// How the daemon answers one request.
pub enum Answer {
    /// `status` (e.g. `200 OK`) with this JSON body, framed by Content-Length; the
    /// connection stays open for the next request.
    Json(&'static str, String),
    /// These bytes as they are; after `pause` the daemon drops the connection.
    ThenClose(Vec<u8>, Duration),
    /// `101 UPGRADED` with these bytes right behind the head, then the session.
    Upgrade(&'static [u8]),
}

/// `{"saw":"<request line>"}`: the body of an echo.
pub fn saw(seen: &Seen) -> String {
    format!("{{\"saw\":{:?}}}", seen.line())
}

/// A daemon that knows no object: lookups and the container `missing` get 404,
/// upgrades are hijacked, everything else gets 200 with an echo of the request line.
pub fn docker_like(seen: &Seen) -> Answer {
    let line = seen.line();
    if is_lookup_line(line) || line.contains("/containers/missing/") {
        Answer::Json("404 Not Found", r#"{"message":"No such object"}"#.into())
    } else if seen.has_header("upgrade") {
        Answer::Upgrade(b"")
    } else {
        Answer::Json("200 OK", saw(seen))
    }
}

/// Serve `script` on `sock` until the test's runtime ends, recording into `record`;
/// hijacked sessions echo the client's stream back until it ends.
pub fn spawn<S>(sock: &Path, record: Record, script: S)
where
    S: Fn(&Seen) -> Answer + Send + Sync + 'static,
{
    spawn_with_sessions(sock, record, script, echo_session);
}

/// [`spawn`], with `session` run on each hijacked connection.
pub fn spawn_with_sessions<S, F, Fut>(sock: &Path, record: Record, script: S, session: F)
where
    S: Fn(&Seen) -> Answer + Send + Sync + 'static,
    F: Fn(Session) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = UnixListener::bind(sock).unwrap();
    let script = Arc::new(script);
    let session = Arc::new(session);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            record.connections.fetch_add(1, Ordering::SeqCst);
            let record = record.clone();
            let script = script.clone();
            let session = session.clone();
            tokio::spawn(async move {
                let mut conn = BufReader::new(Tee {
                    inner: stream,
                    raw: record.raw.clone(),
                });
                while let Some(seen) = read_message(&mut conn).await {
                    let answer = script(&seen);
                    record.push(seen);
                    match answer {
                        Answer::Json(status, body) => {
                            if !respond_json(conn.get_mut(), status, &body).await {
                                return;
                            }
                        }
                        Answer::ThenClose(bytes, pause) => {
                            let _ = conn.get_mut().write_all(&bytes).await;
                            tokio::time::sleep(pause).await;
                            return;
                        }
                        Answer::Upgrade(early) => {
                            let mut head = UPGRADED.as_bytes().to_vec();
                            head.extend_from_slice(early);
                            if conn.get_mut().write_all(&head).await.is_ok() {
                                session(conn).await;
                            }
                            return;
                        }
                    }
                }
            });
        }
    });
}

/// Echo the client's stream until it ends, then end the daemon's side.
pub async fn echo_session(mut conn: Session) {
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if conn.get_mut().write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = conn.get_mut().shutdown().await;
}

/// The daemon's answer: `status` (e.g. `200 OK`) with a JSON body, framed by
/// Content-Length. `false` when the connection is gone.
pub async fn respond_json<W: AsyncWrite + Unpin>(w: &mut W, status: &str, body: &str) -> bool {
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    w.write_all(resp.as_bytes()).await.is_ok()
}
