//! Hijacked sessions (attach, exec start, websocket attach, BuildKit session): after
//! both sides switched protocols, bytes are copied both ways with half-close kept:
//! when the client shuts its write side (stdin EOF), the daemon's write side is shut
//! and the daemon's output keeps flowing until the daemon closes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;

use super::body::RequestLog;
use super::ProxyState;

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

impl Tracker {
    pub fn enter(self: &Arc<Self>) -> TrackGuard {
        self.live.fetch_add(1, Ordering::SeqCst);
        TrackGuard(self.clone())
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

/// Start the splice task for an upgraded exchange.
pub fn spawn(state: &Arc<ProxyState>, client: OnUpgrade, upstream: OnUpgrade, mut log: RequestLog) {
    let guard = state.sessions.enter();
    tokio::spawn(async move {
        let _guard = guard;
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
        match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
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
