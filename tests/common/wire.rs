//! The wire-level HTTP/1.1 client and parser the raw-socket suites share: one message
//! read off a socket ([`read_message`], used by the fake daemon for requests and by
//! clients for simple responses), and the tolerant response parser behind
//! [`exchange`], which sends raw bytes and reports every response, the bytes after a
//! `101` and whether the proxy closed (RFC 9112 framing: Content-Length, chunked, or
//! until close).

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
