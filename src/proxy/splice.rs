//! Hijacked sessions (attach, exec start, websocket attach, BuildKit session): after
//! both sides switched protocols, bytes are copied both ways with half-close kept:
//! when the client shuts its write side (stdin EOF), the daemon's write side is shut
//! and the daemon's output keeps flowing until the daemon closes.
//!
//! Each direction starts with a small buffer, so that an idle session costs little,
//! and doubles it (up to 64 KiB) whenever a read fills it, so that a bulk stream
//! (`docker exec … cat`, a BuildKit context) moves in few large system calls. A
//! session keeps its grown buffers until it ends.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use super::record::RequestLog;
use super::{ConnInfo, ProxyState};

/// Counts live connections or sessions so shutdown can wait for them.
#[derive(Default)]
pub struct Tracker {
    live: AtomicUsize,
    ended: AtomicUsize,
    changed: Notify,
}

/// Held while a tracked connection or session is live.
pub struct TrackGuard(Arc<Tracker>);

impl Drop for TrackGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
        self.0.ended.fetch_add(1, Ordering::Relaxed);
        self.0.changed.notify_waiters();
    }
}

impl std::fmt::Debug for TrackGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrackGuard")
    }
}

impl Tracker {
    pub fn enter(self: &Arc<Self>) -> TrackGuard {
        self.live.fetch_add(1, Ordering::SeqCst);
        TrackGuard(self.clone())
    }

    /// Enter unless `limit` are already live (checked and counted in one step, so
    /// concurrent accept loops cannot overshoot it).
    pub fn try_enter(self: &Arc<Self>, limit: usize) -> Option<TrackGuard> {
        self.live
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()?;
        Some(TrackGuard(self.clone()))
    }

    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// How many tracked connections or sessions have ended so far.
    pub fn ended(&self) -> usize {
        self.ended.load(Ordering::Relaxed)
    }

    /// Wait until no session is live.
    pub async fn idle(&self) {
        loop {
            let notified = self.changed.notified();
            if self.live() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Start the splice task for an upgraded exchange. The task holds `conn`, and with it
/// the client connection's slot under the connection limit, until the session ends:
/// the HTTP connection itself is over once it has been upgraded.
pub fn spawn(
    state: &Arc<ProxyState>,
    conn: Arc<ConnInfo>,
    client: OnUpgrade,
    upstream: OnUpgrade,
    mut log: RequestLog,
) {
    let guard = state.sessions.enter();
    tokio::spawn(async move {
        let _guard = guard;
        let _conn = conn;
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(e) => {
                log.error = Some(format!("upgrade failed: {e}"));
                log.emit();
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        match splice(&mut client, &mut upstream).await {
            Ok((to_daemon, to_client)) => {
                log.bytes_in = to_daemon;
                log.bytes_out = to_client;
            }
            Err(e) => {
                tracing::debug!(error = %e, "hijacked session ended with an error");
                log.error = Some(format!("session: {e}"));
            }
        }
        log.emit();
    });
}

/// First buffer of each direction.
const START_BUF: usize = 8 * 1024;
/// Largest buffer of each direction.
const MAX_BUF: usize = 64 * 1024;

/// One direction of a splice.
struct Pump {
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    /// The last read filled the buffer: use a bigger one once it is written out.
    grow: bool,
    eof: bool,
    unflushed: bool,
    done: bool,
    total: u64,
}

impl Pump {
    fn new() -> Self {
        Pump {
            buf: vec![0; START_BUF].into_boxed_slice(),
            pos: 0,
            filled: 0,
            grow: false,
            eof: false,
            unflushed: false,
            done: false,
            total: 0,
        }
    }

    /// Move bytes from `r` to `w` until `r` ends (then shut `w`'s write side) or
    /// neither can make progress.
    fn poll<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut r: Pin<&mut R>,
        mut w: Pin<&mut W>,
    ) -> Poll<io::Result<u64>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        loop {
            if self.pos == self.filled && !self.eof {
                if self.grow {
                    let size = (self.buf.len() * 2).min(MAX_BUF);
                    self.buf = vec![0; size].into_boxed_slice();
                    self.grow = false;
                }
                let mut rb = ReadBuf::new(&mut self.buf);
                match r.as_mut().poll_read(cx, &mut rb) {
                    Poll::Pending => {
                        // Nothing to read now: push out what the writer still holds.
                        if self.unflushed {
                            ready!(w.as_mut().poll_flush(cx))?;
                            self.unflushed = false;
                        }
                        return Poll::Pending;
                    }
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        if n == 0 {
                            self.eof = true;
                        } else {
                            self.grow = n == self.buf.len() && n < MAX_BUF;
                            self.pos = 0;
                            self.filled = n;
                        }
                    }
                }
            }
            while self.pos < self.filled {
                let n = match ready!(w.as_mut().poll_write(cx, &self.buf[self.pos..self.filled])) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => r?,
                };
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.pos += n;
                self.total += n as u64;
                self.unflushed = true;
            }
            if self.eof {
                ready!(w.as_mut().poll_flush(cx))?;
                ready!(w.as_mut().poll_shutdown(cx))?;
                self.done = true;
                return Poll::Ready(Ok(self.total));
            }
        }
    }
}

/// Copy `a` to `b` and `b` to `a` until both directions have ended, keeping
/// half-close: when one side's reads end, the other side's write half is shut and
/// the opposite direction keeps flowing. Returns the bytes moved (a→b, b→a).
pub async fn splice<A, B>(a: &mut A, b: &mut B) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let (mut ab, mut ba) = (Pump::new(), Pump::new());
    let (mut ab_total, mut ba_total) = (0, 0);
    poll_fn(|cx| {
        if !ab.done {
            if let Poll::Ready(n) = ab.poll(cx, Pin::new(&mut *a), Pin::new(&mut *b)) {
                ab_total = n?;
            }
        }
        if !ba.done {
            if let Poll::Ready(n) = ba.poll(cx, Pin::new(&mut *b), Pin::new(&mut *a)) {
                ba_total = n?;
            }
        }
        if ab.done && ba.done {
            Poll::Ready(Ok((ab_total, ba_total)))
        } else {
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// Bulk data both ways arrives intact (through the buffer growth), and a
    /// half-close on one side reaches the other while the opposite direction keeps
    /// flowing.
    #[tokio::test]
    async fn both_directions_with_half_close() {
        let (mut client, mut proxy_client) = tokio::io::duplex(16 * 1024);
        let (mut proxy_daemon, mut daemon) = tokio::io::duplex(16 * 1024);
        let splicer =
            tokio::spawn(async move { splice(&mut proxy_client, &mut proxy_daemon).await });
        let stdin = pattern(1_000_003, 7);
        let stdout = pattern(2_500_001, 11);

        // The daemon reads stdin to EOF, and only then sends its whole output.
        let expect_stdin = stdin.clone();
        let daemon_out = stdout.clone();
        let daemon_task = tokio::spawn(async move {
            let mut got = Vec::new();
            daemon.read_to_end(&mut got).await.unwrap();
            assert_eq!(got.len(), expect_stdin.len());
            assert!(got == expect_stdin, "stdin corrupted on the way");
            daemon.write_all(&daemon_out).await.unwrap();
            daemon.shutdown().await.unwrap();
        });
        let (mut rd, mut wr) = tokio::io::split(&mut client);
        let writer = async {
            wr.write_all(&stdin).await.unwrap();
            wr.shutdown().await.unwrap();
        };
        let reader = async {
            let mut got = Vec::new();
            rd.read_to_end(&mut got).await.unwrap();
            got
        };
        // A lost half-close would hang here; fail instead.
        let ((), got) = tokio::time::timeout(Duration::from_secs(60), async {
            tokio::join!(writer, reader)
        })
        .await
        .expect("the splice stalled: stdin EOF did not reach the daemon");
        assert_eq!(got.len(), stdout.len());
        assert!(got == stdout, "stdout corrupted on the way");
        daemon_task.await.unwrap();
        let (to_daemon, to_client) = splicer.await.unwrap().unwrap();
        assert_eq!(to_daemon, stdin.len() as u64);
        assert_eq!(to_client, stdout.len() as u64);
    }

    /// A buffer that a read fills is replaced by a bigger one, up to the cap.
    #[tokio::test]
    async fn buffers_grow_under_bulk_and_stay_small_when_idle() {
        let data = pattern(MAX_BUF * 8, 3);
        let mut src: &[u8] = &data;
        let mut sink = Vec::new();
        let mut pump = Pump::new();
        let total = poll_fn(|cx| pump.poll(cx, Pin::new(&mut src), Pin::new(&mut sink))).await;
        assert_eq!(total.unwrap(), data.len() as u64);
        assert!(sink == data);
        assert_eq!(pump.buf.len(), MAX_BUF);
        assert_eq!(Pump::new().buf.len(), START_BUF);
    }
}
