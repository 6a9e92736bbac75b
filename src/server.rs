//! Listeners, TLS handshakes, per-connection HTTP/1.1 serving and graceful shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::io::{AsyncRead, AsyncWrite};

use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

use crate::proxy::splice::{TrackGuard, Tracker};
use crate::proxy::{handle, ConnInfo, ProxyState};
use crate::tls::{Identity, ReloadableTls};

/// A listen address: `tcp://HOST:PORT` or `unix:///path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(String),
    Unix(PathBuf),
}

impl ListenAddr {
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(rest) = s.strip_prefix("tcp://") {
            if rest.is_empty() || !rest.contains(':') {
                return Err(format!("{s:?}: expected tcp://HOST:PORT"));
            }
            Ok(ListenAddr::Tcp(rest.to_string()))
        } else if let Some(rest) = s.strip_prefix("unix://") {
            if !rest.starts_with('/') {
                return Err(format!("{s:?}: expected unix:///absolute/path"));
            }
            Ok(ListenAddr::Unix(PathBuf::from(rest)))
        } else {
            Err(format!(
                "{s:?}: a listen address starts with tcp:// or unix://"
            ))
        }
    }
}

/// One `--listen` entry: an address and, optionally, the policy that applies to every
/// client of it, written `ADDRESS?policy=NAME` (`unix:///run/portcullis/traefik.sock?policy=traefik`).
/// A listener-bound policy takes precedence over the policies' `[identities]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub addr: ListenAddr,
    /// The name of a loaded policy (checked when policies are loaded and reloaded).
    pub policy: Option<String>,
}

impl Listen {
    /// Parse `ADDRESS` or `ADDRESS?policy=NAME`; any other query is refused.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (addr, query) = match s.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (s, None),
        };
        let addr = ListenAddr::parse(addr)?;
        let policy = match query {
            None => None,
            Some(q) => match q.split_once('=') {
                Some(("policy", name)) if valid_policy_name(name) => Some(name.to_string()),
                Some(("policy", name)) => {
                    return Err(format!(
                        "{s:?}: policy name {name:?} must be non-empty letters, digits, '-', '_' or '.'"
                    ))
                }
                _ => {
                    return Err(format!(
                        "{s:?}: the only listener option is ?policy=NAME, got {q:?}"
                    ))
                }
            },
        };
        Ok(Listen { addr, policy })
    }
}

impl From<ListenAddr> for Listen {
    fn from(addr: ListenAddr) -> Self {
        Listen { addr, policy: None }
    }
}

fn valid_policy_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Server settings that are not about policy.
#[derive(Clone)]
pub struct ServerOptions {
    /// TLS for TCP listeners (`None` only with the explicit insecure flag).
    pub tls: Option<Arc<ReloadableTls>>,
    /// Whether client certificates are required (mutual TLS).
    pub mtls: bool,
    pub handshake_timeout: Duration,
    pub header_timeout: Duration,
    pub grace_period: Duration,
    /// Connections beyond this many are closed at once.
    pub max_connections: usize,
    /// Worker threads serving connections, each with its own single-threaded runtime
    /// and upstream pool (see [`Server::run`]).
    pub workers: usize,
}

enum Bound {
    Tcp(TcpListener, Option<Arc<str>>),
    Unix(UnixListener, PathBuf, Option<Arc<str>>),
}

/// Bound listeners, ready to serve.
pub struct Server {
    bound: Vec<Bound>,
    state: Arc<ProxyState>,
    opts: ServerOptions,
    conns: Arc<Tracker>,
}

impl Server {
    pub fn state(&self) -> &Arc<ProxyState> {
        &self.state
    }

    /// Bind every listener (port 0 picks a free port; see [`Server::local_urls`]).
    pub async fn bind(
        addrs: &[ListenAddr],
        state: Arc<ProxyState>,
        opts: ServerOptions,
    ) -> io::Result<Self> {
        let listens: Vec<Listen> = addrs.iter().cloned().map(Listen::from).collect();
        Server::bind_listeners(&listens, state, opts).await
    }

    /// Bind every listener, each with its bound policy if it names one.
    pub async fn bind_listeners(
        listens: &[Listen],
        state: Arc<ProxyState>,
        opts: ServerOptions,
    ) -> io::Result<Self> {
        let mut bound = Vec::new();
        for l in listens {
            let policy: Option<Arc<str>> = l.policy.as_deref().map(Arc::from);
            if let Some(p) = &policy {
                tracing::info!(listen = ?l.addr, policy = %p, "every client of this listener gets this policy");
            }
            match &l.addr {
                ListenAddr::Tcp(addr) => bound.push(Bound::Tcp(
                    TcpListener::bind(addr).await.map_err(|e| {
                        io::Error::new(e.kind(), format!("cannot listen on tcp://{addr}: {e}"))
                    })?,
                    policy,
                )),
                ListenAddr::Unix(path) => {
                    if path.exists() {
                        // A stale socket from an earlier run; refuse to remove anything else.
                        use std::os::unix::fs::FileTypeExt;
                        if std::fs::metadata(path)?.file_type().is_socket() {
                            std::fs::remove_file(path)?;
                        }
                    }
                    let l = UnixListener::bind(path).map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!("cannot listen on unix://{}: {e}", path.display()),
                        )
                    })?;
                    bound.push(Bound::Unix(l, path.clone(), policy));
                }
            }
        }
        let conns = state.connections.clone();
        Ok(Server {
            bound,
            state,
            opts,
            conns,
        })
    }

    /// The bound addresses as URLs (`tcp://127.0.0.1:45678`, `unix:///…`).
    pub fn local_urls(&self) -> Vec<String> {
        self.bound
            .iter()
            .map(|b| match b {
                Bound::Tcp(l, _) => match l.local_addr() {
                    Ok(a) => format!("tcp://{a}"),
                    Err(_) => "tcp://?".into(),
                },
                Bound::Unix(_, p, _) => format!("unix://{}", p.display()),
            })
            .collect()
    }

    /// Serve until `shutdown` resolves, then drain for the grace period.
    ///
    /// Connections are served by `workers` threads, each running a single-threaded
    /// runtime that accepts on its own duplicate of every listener: a connection, its
    /// requests, its upstream connection (from the thread's own pool, see
    /// [`crate::proxy::set_shard`]) and its hijacked session all stay on the thread that
    /// serves it, so a request costs no cross-thread wake-ups. The kernel hands each
    /// new connection to one waiting thread, which passes it on to the worker with the
    /// fewest live connections if that is another (see `Placement`).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (tx, rx) = watch::channel(false);
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut unix_paths = Vec::new();
        let mut listeners = Vec::new();
        for b in self.bound {
            let l = match b {
                Bound::Tcp(l, pol) => l.into_std().map(|l| StdBound::Tcp(l, pol)),
                Bound::Unix(l, p, pol) => {
                    unix_paths.push(p);
                    l.into_std().map(|l| StdBound::Unix(l, pol))
                }
            };
            match l {
                Ok(l) => listeners.push(l),
                Err(e) => tracing::error!(error = %e, "cannot hand a listener to the workers"),
            }
        }
        let workers = self.opts.workers.max(1);
        let (senders, inboxes): (Vec<_>, Vec<_>) =
            (0..workers).map(|_| mpsc::unbounded_channel()).unzip();
        let place = Arc::new(Placement {
            live: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
            dead: (0..workers).map(|_| AtomicBool::new(false)).collect(),
            inbox: senders.into_boxed_slice(),
        });
        let mut accepting = Vec::new();
        for (shard, inbox) in inboxes.into_iter().enumerate() {
            let copies: io::Result<Vec<StdBound>> =
                listeners.iter().map(StdBound::try_clone).collect();
            let copies = match copies {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(worker = shard, error = %e, "cannot duplicate a listener; worker not started");
                    place.retire(shard);
                    continue;
                }
            };
            let ctx = AcceptCtx {
                state: self.state.clone(),
                opts: self.opts.clone(),
                conns: self.conns.clone(),
                shutdown: rx.clone(),
                place: place.clone(),
                worker: shard,
            };
            let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
            accepting.push(done_rx);
            let mut stop = stop_rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("portcullis-w{shard}"))
                .spawn(move || {
                    let rt = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            tracing::error!(worker = shard, error = %e, "cannot start a worker runtime");
                            ctx.place.retire(shard);
                            return;
                        }
                    };
                    crate::proxy::set_shard(shard);
                    let armed = timer_period(ctx.opts.header_timeout);
                    rt.block_on(async move {
                        tokio::spawn(keep_timer_armed(armed));
                        tokio::spawn(take_handoffs(inbox, ctx.clone()));
                        let mut loops = Vec::new();
                        for l in copies {
                            match l.into_tokio() {
                                Ok(Bound::Tcp(l, pol)) => loops.push(tokio::spawn(accept_tcp(l, pol, ctx.clone()))),
                                Ok(Bound::Unix(l, _, pol)) => loops.push(tokio::spawn(accept_unix(l, pol, ctx.clone()))),
                                Err(e) => tracing::error!(worker = shard, error = %e, "cannot register a listener"),
                            }
                        }
                        for l in loops {
                            let _ = l.await;
                        }
                        drop(done_tx);
                        // Keep serving open connections until the server is done with them.
                        let _ = stop.wait_for(|s| *s).await;
                    });
                    // Dropping the runtime closes whatever outlived the grace period.
                });
            if let Err(e) = spawned {
                tracing::error!(worker = shard, error = %e, "cannot start a worker thread");
                place.retire(shard);
            }
        }
        drop(listeners);
        shutdown.await;
        tracing::info!(
            connections = self.conns.live(),
            sessions = self.state.sessions.live(),
            grace_secs = self.opts.grace_period.as_secs_f64(),
            "shutting down: no new connections; draining"
        );
        let _ = tx.send(true);
        for done in accepting {
            let _ = done.await;
        }
        for p in unix_paths {
            let _ = std::fs::remove_file(p);
        }
        let drained = tokio::time::timeout(self.opts.grace_period, async {
            self.conns.idle().await;
            self.state.sessions.idle().await;
        })
        .await;
        match drained {
            Ok(()) => tracing::info!("drained; bye"),
            Err(_) => tracing::warn!(
                connections = self.conns.live(),
                sessions = self.state.sessions.live(),
                "grace period over; closing what is left"
            ),
        }
        let _ = stop_tx.send(true);
    }
}

/// How often a worker's standing timer fires: sooner than any header-read deadline
/// (see [`keep_timer_armed`]), but at most once a second: a `header_timeout_secs` of 0
/// (still handed to hyper as it is) must not wake every worker every millisecond.
/// Below 2 s the timer only saves fewer wake-ups; the deadlines hold all the same.
fn timer_period(header_timeout: Duration) -> Duration {
    (header_timeout / 2).max(Duration::from_secs(1))
}

/// Keep one timer pending on the worker's runtime, due sooner than any header-read
/// deadline. hyper arms a `header_timeout` sleep each time a keep-alive connection
/// waits for its next request; tokio wakes its driver (an eventfd write and one more
/// `epoll_wait` return) whenever a new timer is due before every pending one. With
/// this timer always due first, arming the per-request deadline costs no system call:
/// one wake-up per period instead of one per request.
async fn keep_timer_armed(period: Duration) {
    loop {
        tokio::time::sleep(period).await;
    }
}

/// A listener detached from any runtime, to be duplicated into each worker's.
enum StdBound {
    Tcp(std::net::TcpListener, Option<Arc<str>>),
    Unix(std::os::unix::net::UnixListener, Option<Arc<str>>),
}

impl StdBound {
    fn try_clone(&self) -> io::Result<StdBound> {
        Ok(match self {
            StdBound::Tcp(l, p) => StdBound::Tcp(l.try_clone()?, p.clone()),
            StdBound::Unix(l, p) => StdBound::Unix(l.try_clone()?, p.clone()),
        })
    }

    /// Register with the current runtime (the duplicate shares the non-blocking flag).
    fn into_tokio(self) -> io::Result<Bound> {
        Ok(match self {
            StdBound::Tcp(l, p) => Bound::Tcp(TcpListener::from_std(l)?, p),
            StdBound::Unix(l, p) => Bound::Unix(UnixListener::from_std(l)?, PathBuf::new(), p),
        })
    }
}

#[derive(Clone)]
struct AcceptCtx {
    state: Arc<ProxyState>,
    opts: ServerOptions,
    conns: Arc<Tracker>,
    shutdown: watch::Receiver<bool>,
    place: Arc<Placement>,
    /// This worker's number.
    worker: usize,
}

/// Where new connections are served: on the worker with the fewest live connections.
///
/// Every worker accepts on the same listening socket, and the kernel gives a burst of
/// new connections to whichever worker is awake: 32 connections opened at once by a
/// load generator all landed on one of two workers in half of the runs measured,
/// leaving the other CPU's worker idle. So the accepting worker passes a connection
/// it should not serve to the least loaded one (once per connection, before the TLS
/// handshake); each connection then stays on its worker. A worker that did not start
/// (or stopped taking connections) is retired: never picked again, where its live count
/// of 0 would otherwise win every pick.
struct Placement {
    live: Box<[AtomicUsize]>,
    dead: Box<[AtomicBool]>,
    inbox: Box<[mpsc::UnboundedSender<Handoff>]>,
}

/// A connection passed to another worker, with what its accepting worker learnt.
enum Handoff {
    Tcp(
        std::net::TcpStream,
        SocketAddr,
        TrackGuard,
        Option<Arc<str>>,
        Load,
    ),
    Unix(std::os::unix::net::UnixStream, Identity, TrackGuard, Load),
}

/// A connection's place in its worker's live count.
struct Load(Arc<Placement>, usize);

impl Drop for Load {
    fn drop(&mut self) {
        self.0.live[self.1].fetch_sub(1, Ordering::Relaxed);
    }
}

impl Placement {
    /// The worker to serve a new connection accepted by `me` (`me` on a tie), counted
    /// as live there.
    fn pick(self: &Arc<Self>, me: usize) -> Load {
        let mut best = me.min(self.live.len() - 1);
        let mut least = self.live[best].load(Ordering::Relaxed);
        for (i, n) in self.live.iter().enumerate() {
            let n = n.load(Ordering::Relaxed);
            if n < least && !self.dead[i].load(Ordering::Relaxed) {
                (best, least) = (i, n);
            }
        }
        self.live[best].fetch_add(1, Ordering::Relaxed);
        Load(self.clone(), best)
    }

    /// Pick worker `w` no more: it takes no connections.
    fn retire(&self, w: usize) {
        self.dead[w].store(true, Ordering::Relaxed);
    }

    /// Count a connection on worker `w` without choosing.
    fn here(self: &Arc<Self>, w: usize) -> Load {
        self.live[w].fetch_add(1, Ordering::Relaxed);
        Load(self.clone(), w)
    }
}

/// Serve the connections other workers pass to this one.
async fn take_handoffs(mut inbox: mpsc::UnboundedReceiver<Handoff>, ctx: AcceptCtx) {
    while let Some(h) = inbox.recv().await {
        match h {
            Handoff::Tcp(sock, peer, slot, policy, load) => match TcpStream::from_std(sock) {
                Ok(sock) => serve_tcp(sock, peer, slot, policy, load, ctx.clone()),
                Err(e) => tracing::warn!(error = %e, "cannot take over a connection"),
            },
            Handoff::Unix(sock, identity, slot, load) => match UnixStream::from_std(sock) {
                Ok(sock) => serve_unix(sock, identity, slot, load, ctx.clone()),
                Err(e) => tracing::warn!(error = %e, "cannot take over a connection"),
            },
        }
    }
}

async fn accept_tcp(l: TcpListener, policy: Option<Arc<str>>, mut ctx: AcceptCtx) {
    loop {
        let (sock, peer) = tokio::select! {
            r = l.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = ctx.shutdown.changed() => return,
        };
        // The slot is held by the connection and then by any hijacked session spliced
        // from it (see `ConnInfo::slot`), so attach/exec sessions count as well.
        let Some(slot) = ctx.conns.try_enter(ctx.opts.max_connections) else {
            tracing::warn!(remote = %peer, limit = ctx.opts.max_connections, "connection limit reached; closing the new connection");
            drop(sock);
            continue;
        };
        let _ = sock.set_nodelay(true);
        let load = ctx.place.pick(ctx.worker);
        ctx.state.observers.metrics.connection(load.1);
        if load.1 == ctx.worker {
            serve_tcp(sock, peer, slot, policy.clone(), load, ctx.clone());
            continue;
        }
        let to = ctx.place.inbox[load.1].clone();
        match sock.into_std() {
            Ok(sock) => {
                // A worker that did not start (or has stopped) takes nothing: serve here.
                let w = load.1;
                if let Err(mpsc::error::SendError(Handoff::Tcp(sock, peer, slot, policy, _))) =
                    to.send(Handoff::Tcp(sock, peer, slot, policy.clone(), load))
                {
                    ctx.place.retire(w);
                    if let Ok(sock) = TcpStream::from_std(sock) {
                        let load = ctx.place.here(ctx.worker);
                        serve_tcp(sock, peer, slot, policy, load, ctx.clone());
                    }
                }
            }
            Err(e) => {
                tracing::warn!(remote = %peer, error = %e, "cannot pass a connection to another worker")
            }
        }
    }
}

/// Serve one TCP client connection on the calling worker.
fn serve_tcp(
    sock: TcpStream,
    peer: SocketAddr,
    slot: TrackGuard,
    policy: Option<Arc<str>>,
    load: Load,
    c: AcceptCtx,
) {
    tokio::spawn(async move {
        let _load = load;
        match c.opts.tls {
            Some(_) => tls_connection(sock, peer, slot, policy, c).await,
            None => {
                let info = ConnInfo {
                    identity: Arc::new(Identity {
                        listener_policy: policy,
                        ..Identity::transport("tcp")
                    }),
                    remote: peer.to_string(),
                    slot: Some(slot),
                };
                serve_connection(sock, info, c).await
            }
        }
    });
}

async fn tls_connection(
    sock: tokio::net::TcpStream,
    peer: SocketAddr,
    slot: TrackGuard,
    policy: Option<Arc<str>>,
    c: AcceptCtx,
) {
    let Some(tls) = c.opts.tls.as_ref().map(|t| t.get()) else {
        return;
    };
    let acceptor = TlsAcceptor::from(tls);
    let stream = match tokio::time::timeout(c.opts.handshake_timeout, acceptor.accept(sock)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(remote = %peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(remote = %peer, "TLS handshake timed out");
            return;
        }
    };
    let mut identity = match stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
    {
        Some(cert) => Identity::from_certificate(cert.as_ref()),
        None => Identity::transport(if c.opts.mtls { "mtls" } else { "tls" }),
    };
    identity.listener_policy = policy;
    let info = ConnInfo {
        identity: Arc::new(identity),
        remote: peer.to_string(),
        slot: Some(slot),
    };
    serve_connection(stream, info, c).await
}

async fn accept_unix(l: UnixListener, policy: Option<Arc<str>>, mut ctx: AcceptCtx) {
    loop {
        let sock = tokio::select! {
            r = l.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = ctx.shutdown.changed() => return,
        };
        let Some(slot) = ctx.conns.try_enter(ctx.opts.max_connections) else {
            tracing::warn!(
                limit = ctx.opts.max_connections,
                "connection limit reached; closing the new connection"
            );
            drop(sock);
            continue;
        };
        // SO_PEERCRED: who connected, as the kernel recorded it at connect time. Without
        // it the client is an anonymous `unix` client (no uid to match).
        let mut identity = match sock.peer_cred() {
            Ok(cred) => Identity::unix_peer(cred.uid(), cred.gid(), cred.pid()),
            Err(e) => {
                tracing::debug!(error = %e, "no peer credentials for a unix client");
                Identity::transport("unix")
            }
        };
        identity.listener_policy = policy.clone();
        let load = ctx.place.pick(ctx.worker);
        ctx.state.observers.metrics.connection(load.1);
        if load.1 == ctx.worker {
            serve_unix(sock, identity, slot, load, ctx.clone());
            continue;
        }
        let to = ctx.place.inbox[load.1].clone();
        match sock.into_std() {
            Ok(sock) => {
                let w = load.1;
                if let Err(mpsc::error::SendError(Handoff::Unix(sock, identity, slot, _))) =
                    to.send(Handoff::Unix(sock, identity, slot, load))
                {
                    ctx.place.retire(w);
                    if let Ok(sock) = UnixStream::from_std(sock) {
                        let load = ctx.place.here(ctx.worker);
                        serve_unix(sock, identity, slot, load, ctx.clone());
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot pass a connection to another worker"),
        }
    }
}

/// Serve one unix-socket client connection on the calling worker.
fn serve_unix(sock: UnixStream, identity: Identity, slot: TrackGuard, load: Load, c: AcceptCtx) {
    tokio::spawn(async move {
        let _load = load;
        let info = ConnInfo {
            identity: Arc::new(identity),
            remote: "unix".into(),
            slot: Some(slot),
        };
        serve_connection(sock, info, c).await;
    });
}

async fn serve_connection<I>(io: I, info: ConnInfo, mut c: AcceptCtx)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let info = Arc::new(info);
    let state = c.state.clone();
    let remote = info.remote.clone();
    let svc = service_fn(move |req| handle(state.clone(), info.clone(), req));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(c.opts.header_timeout)
        .half_close(true)
        .keep_alive(true);
    let conn = builder
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = c.shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(remote = %remote, error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placement(workers: usize) -> Arc<Placement> {
        let (senders, _): (Vec<_>, Vec<_>) =
            (0..workers).map(|_| mpsc::unbounded_channel()).unzip();
        Arc::new(Placement {
            live: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
            dead: (0..workers).map(|_| AtomicBool::new(false)).collect(),
            inbox: senders.into_boxed_slice(),
        })
    }

    /// A burst of connections accepted by one worker is spread evenly, the accepting
    /// worker keeps a connection on a tie, and a closed connection frees its place.
    #[test]
    fn connections_go_to_the_least_loaded_worker() {
        let place = placement(2);
        let loads: Vec<Load> = (0..32).map(|_| place.pick(1)).collect();
        let on = |w| loads.iter().filter(|l| l.1 == w).count();
        assert_eq!((on(0), on(1)), (16, 16));
        assert_eq!(
            loads[0].1, 1,
            "a tie keeps the connection where it was accepted"
        );

        let place = placement(3);
        let a = place.pick(0);
        let b = place.pick(0);
        let c = place.pick(0);
        assert_eq!((a.1, b.1, c.1), (0, 1, 2));
        drop(b);
        assert_eq!(place.live[1].load(Ordering::Relaxed), 0);
        assert_eq!(place.pick(0).1, 1);
    }

    /// A worker that takes no connections is not picked, though its count stays 0.
    #[test]
    fn a_retired_worker_is_never_picked() {
        let place = placement(3);
        place.retire(1);
        let loads: Vec<Load> = (0..30).map(|_| place.pick(0)).collect();
        let on = |w| loads.iter().filter(|l| l.1 == w).count();
        assert_eq!((on(0), on(1), on(2)), (15, 0, 15));
    }

    #[test]
    fn the_standing_timer_fires_at_most_once_a_second() {
        assert_eq!(timer_period(Duration::ZERO), Duration::from_secs(1));
        assert_eq!(timer_period(Duration::from_secs(1)), Duration::from_secs(1));
        assert_eq!(
            timer_period(Duration::from_secs(30)),
            Duration::from_secs(15)
        );
    }
}
