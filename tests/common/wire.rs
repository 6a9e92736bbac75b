//! The wire-level HTTP/1.1 client and parser the raw-socket suites share: one message
//! read off a socket ([`read_message`], used by the fake daemon for requests and by
//! clients for simple responses), and the tolerant response parser behind
//! [`exchange`], which sends raw bytes and reports every response, the bytes after a
//! `101` and whether the proxy closed (RFC 9112 framing: Content-Length, chunked, or
//! until close). [`exchange_tls`] is the same over (mutual) TLS, for one whole answer.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::certs::ClientId;

/// Upper bound for any single wait on a socket.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait after the expected responses to see whether the proxy closes.
pub const LINGER: Duration = Duration::from_millis(400);

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

/// One response read back from the proxy.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        let want = format!("{}:", name.to_ascii_lowercase());
        self.head.lines().skip(1).find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with(&want)
                .then(|| l[want.len()..].trim().to_string())
        })
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What came back on one connection.
#[derive(Debug)]
pub struct Reply {
    pub responses: Vec<Resp>,
    /// Bytes after a `101` (the hijacked stream), or unparsed trailing bytes.
    pub rest: Vec<u8>,
    /// The proxy closed (EOF or reset) within the wait.
    pub closed: bool,
    pub raw: String,
}

impl Reply {
    pub fn only(&self) -> &Resp {
        assert_eq!(
            self.responses.len(),
            1,
            "expected exactly one response: {}",
            self.raw
        );
        &self.responses[0]
    }
}

/// Split complete responses off the front of `buf`. Stops after a `101`.
pub fn parse_responses(buf: &[u8], closed: bool) -> (Vec<Resp>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(end) = find(&buf[at..], b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&buf[at..at + end + 4]).into_owned();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body_start = at + end + 4;
        let lower = head.to_ascii_lowercase();
        let cl = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        let (body, next) = if (100..200).contains(&status) || status == 204 || status == 304 {
            (Vec::new(), body_start)
        } else if let Some(n) = cl {
            if buf.len() < body_start + n {
                break;
            }
            (buf[body_start..body_start + n].to_vec(), body_start + n)
        } else if lower.contains("transfer-encoding: chunked") {
            match dechunk(&buf[body_start..]) {
                Some((b, used)) => (b, body_start + used),
                None => break,
            }
        } else if closed {
            (buf[body_start..].to_vec(), buf.len())
        } else {
            break;
        };
        out.push(Resp { status, head, body });
        at = next;
        if status == 101 {
            break;
        }
    }
    (out, at)
}

/// A complete chunked body at the start of `buf`: the body and the bytes it used.
fn dechunk(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let eol = find(&buf[at..], b"\r\n")?;
        let size = std::str::from_utf8(&buf[at..at + eol]).ok()?;
        let n = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        at += eol + 2;
        if n == 0 {
            let end = find(&buf[at..], b"\r\n")?;
            return Some((body, at + end + 2));
        }
        if buf.len() < at + n + 2 {
            return None;
        }
        body.extend_from_slice(&buf[at..at + n]);
        at += n + 2;
    }
}

/// Where `needle` first occurs in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Read until `want` complete responses arrived (then linger briefly to see whether
/// the proxy closes), or the proxy closes, or `IO_TIMEOUT` passes.
pub async fn read_reply<R: AsyncRead + Unpin>(rd: &mut R, mut buf: Vec<u8>, want: usize) -> Reply {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut closed = false;
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let (parsed, _) = parse_responses(&buf, false);
        let enough = parsed.len() >= want || parsed.last().is_some_and(|r| r.status == 101);
        let wait = if enough {
            LINGER
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        if wait.is_zero() {
            break;
        }
        match tokio::time::timeout(wait, rd.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => break,
        }
    }
    let (responses, used) = parse_responses(&buf, closed);
    Reply {
        responses,
        rest: buf[used..].to_vec(),
        closed,
        raw: String::from_utf8_lossy(&buf).into_owned(),
    }
}

/// Send `raw` on a fresh connection (the write runs concurrently, so a proxy that
/// stops reading cannot block the test) and read up to `want` responses.
pub async fn exchange(addr: &str, raw: impl Into<Vec<u8>>, want: usize) -> Reply {
    let raw = raw.into();
    let s = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .unwrap();
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&raw).await;
        // Keep the write half open (no FIN) until the reader is done.
        wr
    });
    let reply = read_reply(&mut rd, Vec::new(), want).await;
    writer.abort();
    reply
}

/// The status code of the response at the start of `resp`.
pub fn status_of(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {resp:?}"))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS client trusting `ca_pem`, presenting `client`'s certificate if any.
pub fn connector(ca_pem: &Path, client: Option<&ClientId>) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut fs::read(ca_pem).unwrap().as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some(id) => {
            let certs: Vec<CertificateDer<'static>> =
                rustls_pemfile::certs(&mut id.cert_pem.as_bytes())
                    .collect::<Result<_, _>>()
                    .unwrap();
            let key: PrivateKeyDer<'static> =
                rustls_pemfile::private_key(&mut id.key_pem.as_bytes())
                    .unwrap()
                    .unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    TlsConnector::from(Arc::new(config))
}

/// Send `raw` (which should carry `Connection: close`) to `addr` over TLS as `client`
/// (server name `localhost`, trusting `ca_pem`) and read the whole answer, each step
/// within `io_timeout`. `Err` says where it failed: the handshake, the write or the
/// read.
pub async fn exchange_tls(
    addr: &str,
    ca_pem: &Path,
    client: Option<&ClientId>,
    raw: &str,
    io_timeout: Duration,
) -> Result<String, String> {
    let tls = connector(ca_pem, client);
    let tcp = tokio::time::timeout(io_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut s = match tokio::time::timeout(io_timeout, tls.connect(name, tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("handshake: {e}")),
        Err(_) => return Err("handshake timed out".into()),
    };
    if let Err(e) = s.write_all(raw.as_bytes()).await {
        return Err(format!("write: {e}"));
    }
    let _ = s.flush().await;
    let mut out = Vec::new();
    match tokio::time::timeout(io_timeout, s.read_to_end(&mut out)).await {
        Ok(Ok(_)) if out.is_empty() => Err("read: closed without a response".into()),
        Ok(Ok(_)) => Ok(String::from_utf8_lossy(&out).into_owned()),
        Ok(Err(e)) if out.is_empty() => Err(format!("read: {e}")),
        // Closed without close_notify after a complete `Connection: close` answer.
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
        Ok(Err(e)) => Err(format!(
            "read: {e} after {:?}",
            String::from_utf8_lossy(&out)
        )),
        Err(_) => Err(format!(
            "read timed out after {:?}",
            String::from_utf8_lossy(&out)
        )),
    }
}
